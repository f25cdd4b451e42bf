package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/siloreg/silo/internal/api/library"
	siloapi "github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/api/status"
	"github.com/siloreg/silo/internal/registry"
)

// accountData is the account page.
type accountData struct {
	Account  *registry.Account
	Usage    *registry.Usage
	Tokens   []registry.TokenInfo
	Shares   []registry.ShareView
	Teams    []registry.TeamView // the teams the user is in
	Manager  bool                // may create teams
	NewToken *registry.NewToken  // just made: its secret, shown once
	Base     string
	Me       string
}

// loadAccount gathers the account page for the caller.
func (h *Handler) loadAccount(r *http.Request, q *req) (*accountData, error) {
	ctx := r.Context()
	acc, err := h.reg.Me(ctx, q.act)
	if err != nil {
		return nil, err
	}
	d := &accountData{Account: acc, Manager: q.act.Manager(), Base: library.BaseURL(h.cfg.PublicURL, r), Me: acc.Name}
	if d.Usage, err = h.reg.Usage(ctx, q.act); err != nil {
		return nil, err
	}
	if d.Tokens, err = h.reg.ListTokens(ctx, q.act, ""); err != nil {
		return nil, err
	}
	if d.Shares, err = h.reg.ListShares(ctx, q.act, false); err != nil {
		return nil, err
	}
	teams, err := h.reg.Teams(ctx, q.act)
	if err != nil {
		return nil, err
	}
	for _, t := range teams {
		for _, m := range t.Members {
			if m.Name == acc.Name {
				d.Teams = append(d.Teams, t)
				break
			}
		}
	}
	return d, nil
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request, q *req) {
	d, err := h.loadAccount(r, q)
	if err != nil {
		h.fail(w, r, q, err)
		return
	}
	h.render(w, r, q, http.StatusOK, "account", page{Title: "Your account", Nav: "account", Data: d})
}

// accountError shows the account page with an error about a form on it.
func (h *Handler) accountError(w http.ResponseWriter, r *http.Request, q *req, err error) {
	code := status.Of(err)
	if code == http.StatusInternalServerError || code == http.StatusUnauthorized {
		h.fail(w, r, q, err)
		return
	}
	d, lerr := h.loadAccount(r, q)
	if lerr != nil {
		h.fail(w, r, q, lerr)
		return
	}
	h.render(w, r, q, code, "account", page{Title: "Your account", Nav: "account", Error: err.Error(), Data: d})
}

// createToken makes an API token and shows it on the account page, once.
func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, q *req) {
	ttl, err := siloapi.ParseDuration(r.PostFormValue("expires"))
	if err != nil {
		h.accountError(w, r, q, &registry.Error{Kind: registry.Invalid, Msg: "Expires: " + err.Error()})
		return
	}
	var scopes []string
	for _, s := range r.PostForm["scope"] {
		if s != "" {
			scopes = append(scopes, s)
		}
	}
	nt, err := h.reg.CreateToken(r.Context(), q.act, registry.TokenSpec{Name: r.PostFormValue("name"), Scopes: scopes, TTL: ttl})
	if err != nil {
		h.accountError(w, r, q, err)
		return
	}
	d, err := h.loadAccount(r, q)
	if err != nil {
		h.fail(w, r, q, err)
		return
	}
	d.NewToken = nt
	h.render(w, r, q, http.StatusOK, "account", page{Title: "Your account", Nav: "account", Notice: "Token created. Copy it now: it is not shown again.", Data: d})
}

// formID reads a positive id from the path.
func formID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, q *req) {
	id, ok := formID(r)
	if !ok {
		h.accountError(w, r, q, &registry.Error{Kind: registry.NotFound, Msg: "no such token"})
		return
	}
	if err := h.reg.RevokeToken(r.Context(), q.act, id); err != nil {
		h.accountError(w, r, q, err)
		return
	}
	if q.act.Token != nil && q.act.Token.ID == id {
		// The session's own token: that was a logout.
		h.setCookie(w, r, sessionCookie, "", -1)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	back(w, r, "/account")
}

func (h *Handler) revokeShare(w http.ResponseWriter, r *http.Request, q *req) {
	id, ok := formID(r)
	if !ok {
		h.accountError(w, r, q, &registry.Error{Kind: registry.NotFound, Msg: "no such share link"})
		return
	}
	if _, err := h.reg.RevokeShare(r.Context(), q.act, id); err != nil {
		h.accountError(w, r, q, err)
		return
	}
	back(w, r, "/account")
}

func (h *Handler) createTeam(w http.ResponseWriter, r *http.Request, q *req) {
	if _, err := h.reg.CreateTeam(r.Context(), q.act, strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("description")); err != nil {
		h.accountError(w, r, q, err)
		return
	}
	back(w, r, "/account")
}

func (h *Handler) addMember(w http.ResponseWriter, r *http.Request, q *req) {
	_, err := h.reg.AddMember(r.Context(), q.act, r.PathValue("team"), strings.TrimSpace(r.PostFormValue("user")), r.PostFormValue("owner") == "1")
	if err != nil {
		h.accountError(w, r, q, err)
		return
	}
	back(w, r, "/account")
}

func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request, q *req) {
	if _, err := h.reg.RemoveMember(r.Context(), q.act, r.PathValue("team"), r.PathValue("user")); err != nil {
		h.accountError(w, r, q, err)
		return
	}
	back(w, r, "/account")
}

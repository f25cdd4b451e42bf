// Package authflow serves the browser side of logging in: the OpenID
// Connect login (/auth/oidc/<name>/login and its callback), which ends on a
// page that shows a new API token once with the commands that use it, and
// /auth/tokens, the page `apptainer remote login` tells people to visit for
// a token. Like the other protocol packages it only translates: the OIDC
// flow is internal/auth/oidc's and every decision about the account is
// internal/registry's.
package authflow

import (
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/api/library"
	"github.com/siloreg/silo/internal/api/status"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/auth/oidc"
	"github.com/siloreg/silo/internal/registry"
)

// Config is what the login pages need.
type Config struct {
	Registry *registry.Registry
	// OIDC are the OpenID Connect providers, by the name in their URLs
	// (/auth/oidc/<name>/...). Each provider's RedirectURL must route to
	// /auth/oidc/<name>/callback here.
	OIDC map[string]*oidc.Provider
	// PasswordProviders name the password providers in force ("LDAP",
	// "PAM"), for /auth/tokens to say which passwords `silo login --user`
	// takes.
	PasswordProviders []string
	// PublicURL is the base URL clients reach this server at, for the
	// commands the pages show; empty means the scheme and Host of each
	// request.
	PublicURL string
	// SetSession, when set, lets a login started with ?next=PATH end in a
	// browser session (the web interface's) instead of on the token page:
	// the login's token is a session's (registry.ProviderSession), handed
	// to SetSession to keep in a cookie, and the browser goes on to PATH.
	SetSession func(w http.ResponseWriter, r *http.Request, token string)
	Log        *slog.Logger
}

// sessionReturn marks, in the flow's return path, a login that is to end
// in a browser session; the page to go on to follows it, escaped.
const sessionReturn = "/login?oidc-session&next="

// Handler serves the login pages.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New returns the login pages' handler.
func New(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Handler{cfg: cfg, log: cfg.Log}
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /auth/tokens", h.options)
	mux.HandleFunc("GET /auth/oidc/{name}/login", h.start)
	mux.HandleFunc("GET /auth/oidc/{name}/callback", h.finish)
}

// baseURL is where clients reach this server, without a trailing slash.
func (h *Handler) baseURL(r *http.Request) string { return library.BaseURL(h.cfg.PublicURL, r) }

// loginPath is where the login with provider name starts.
func loginPath(name string) string { return "/auth/oidc/" + url.PathEscape(name) + "/login" }

type optionsData struct {
	Title             string
	URL               string
	Providers         []providerLink
	PasswordProviders string
}

type providerLink struct{ Name, LoginURL string }

// options lists the ways to get a token on this server.
func (h *Handler) options(w http.ResponseWriter, r *http.Request) {
	d := optionsData{Title: "Get an API token", URL: h.baseURL(r), PasswordProviders: strings.Join(h.cfg.PasswordProviders, " or ")}
	for _, name := range slices.Sorted(maps.Keys(h.cfg.OIDC)) {
		d.Providers = append(d.Providers, providerLink{Name: name, LoginURL: loginPath(name)})
	}
	writePage(w, h.log, http.StatusOK, optionsPage, d)
}

// provider finds the provider a request names, answering 404 itself when
// there is none.
func (h *Handler) provider(w http.ResponseWriter, r *http.Request) (*oidc.Provider, string, bool) {
	name := r.PathValue("name")
	if p, ok := h.cfg.OIDC[name]; ok {
		return p, name, true
	}
	h.fail(w, http.StatusNotFound, "This server has no login provider called "+strconv.Quote(name)+".", "/auth/tokens", "")
	return nil, "", false
}

// start sends the browser to the provider.
func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	p, _, ok := h.provider(w, r)
	if !ok {
		return
	}
	// The redirect carries a fresh state and sets its cookie: a cached
	// copy would send a second login with the first one's state.
	w.Header().Set("Cache-Control", "no-store")
	returnTo := "/"
	if next := r.URL.Query().Get("next"); next != "" && h.cfg.SetSession != nil {
		returnTo = sessionReturn + url.QueryEscape(oidc.LocalPath(next))
	}
	p.Start(w, r, returnTo)
}

type tokenData struct {
	Title       string
	User        string
	DisplayName string
	Provider    string
	Token       string
	Expires     string
	URL         string
}

// finish completes the login on the provider's callback and shows the new
// token.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request) {
	p, name, ok := h.provider(w, r)
	if !ok {
		return
	}
	retry := loginPath(name)
	remote := auth.Remote(r)
	id, returnTo, err := p.Finish(w, r)
	if err != nil {
		h.cfg.Registry.RecordProviderLoginFailure(r.Context(), p.Name(), remote, err.Error())
		var pe *oidc.ProviderError
		switch {
		case errors.Is(err, oidc.ErrInvalidState):
			h.fail(w, http.StatusBadRequest, "This login has expired, or was not started in this browser.", retry, "logins must be finished within ten minutes, in the browser that started them")
		case errors.As(err, &pe):
			msg := name + " refused the login: " + pe.Code
			if pe.Description != "" {
				msg += " (" + pe.Description + ")"
			}
			h.fail(w, http.StatusForbidden, msg+".", retry, "")
		default:
			// The code exchange or the ID token failed: a provider fault
			// or a forged callback. Either way the person can only start
			// again; the details are for the administrator.
			h.log.Warn("OIDC login failed", "provider", name, "remote", remote, "err", err)
			h.fail(w, http.StatusBadRequest, "The login with "+name+" could not be completed.", retry, "if it keeps failing, tell the administrator: the server log has the details")
		}
		return
	}
	next, session := strings.CutPrefix(returnTo, sessionReturn)
	session = session && h.cfg.SetSession != nil
	login := h.cfg.Registry.ProviderLogin
	if session {
		login = h.cfg.Registry.ProviderSession
	}
	res, err := login(r.Context(), id, remote)
	if err != nil {
		code := status.Of(err)
		msg := err.Error()
		if code == http.StatusInternalServerError {
			h.log.Error("OIDC login", "provider", name, "subject", id.Subject, "err", err)
			msg = "Silo could not finish the login."
		}
		h.fail(w, code, msg, retry, "if it keeps failing, tell the administrator")
		return
	}
	if session {
		h.cfg.SetSession(w, r, res.Token.Secret)
		to, _ := url.QueryUnescape(next)
		http.Redirect(w, r, oidc.LocalPath(to), http.StatusSeeOther)
		return
	}
	writePage(w, h.log, http.StatusOK, tokenPage, tokenData{
		Title:       "Your API token",
		User:        res.Account.Name,
		DisplayName: id.Name,
		Provider:    name,
		Token:       res.Token.Secret,
		Expires:     res.Token.Expires.UTC().Format(time.DateTime + " UTC"),
		URL:         h.baseURL(r),
	})
}

type errorData struct {
	Title, Message, Retry, Hint string
}

// fail shows a login error page.
func (h *Handler) fail(w http.ResponseWriter, code int, msg, retry, hint string) {
	writePage(w, h.log, code, errorPage, errorData{Title: "Login failed", Message: msg, Retry: retry, Hint: hint})
}

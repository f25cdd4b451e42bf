package web

import (
	"fmt"
	"math"

	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	siloapi "github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/api/status"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/registry"
)

// adminData is the admin page.
type adminData struct {
	Users    []registry.Account
	Teams    []registry.TeamView
	Settings registry.Settings
}

func (h *Handler) loadAdmin(r *http.Request, q *req) (*adminData, error) {
	ctx := r.Context()
	d := &adminData{}
	var err error
	if d.Users, err = h.reg.ListUsers(ctx, q.act); err != nil {
		return nil, err
	}
	if d.Teams, err = h.reg.Teams(ctx, q.act); err != nil {
		return nil, err
	}
	if d.Settings, err = h.reg.AdminSettings(ctx, q.act); err != nil {
		return nil, err
	}
	return d, nil
}

func (h *Handler) admin(w http.ResponseWriter, r *http.Request, q *req) {
	h.adminPage(w, r, q, http.StatusOK, "")
}

func (h *Handler) adminPage(w http.ResponseWriter, r *http.Request, q *req, code int, msg string) {
	d, err := h.loadAdmin(r, q)
	if err != nil {
		h.fail(w, r, q, err)
		return
	}
	h.render(w, r, q, code, "admin", page{Title: "Administration", Nav: "admin", Error: msg, Data: d})
}

// adminDone answers an admin form: back to the page, or the page with the
// registry's refusal.
func (h *Handler) adminDone(w http.ResponseWriter, r *http.Request, q *req, err error) {
	if err == nil {
		back(w, r, "/admin")
		return
	}
	code := status.Of(err)
	if code == http.StatusInternalServerError || code == http.StatusUnauthorized || code == http.StatusForbidden {
		h.fail(w, r, q, err)
		return
	}
	h.adminPage(w, r, q, code, err.Error())
}

func invalid(msg string) error { return &registry.Error{Kind: registry.Invalid, Msg: msg} }

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, q *req) {
	_, err := h.reg.CreateUser(r.Context(), q.act, registry.NewUser{
		Name: strings.TrimSpace(r.PostFormValue("name")), Email: strings.TrimSpace(r.PostFormValue("email")),
		Role: r.PostFormValue("role"), Password: r.PostFormValue("password"),
	})
	h.adminDone(w, r, q, err)
}

// parseSize reads a size such as "10GiB", "500MB" or "0" (none); "" is nil.
func parseSize(s string) (*int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n > math.MaxInt64 {
		return nil, invalid(fmt.Sprintf("%q is not a size: write e.g. 10GiB, 500MB or 0", s))
	}
	v := int64(n)
	return &v, nil
}

func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request, q *req) {
	var ch registry.UserChange
	if role := r.PostFormValue("role"); role != "" {
		ch.Role = &role
	}
	if v := r.PostFormValue("disabled"); v != "" {
		b := v == "1"
		ch.Disabled = &b
	}
	quota, err := parseSize(r.PostFormValue("quota"))
	if err != nil {
		h.adminDone(w, r, q, err)
		return
	}
	ch.QuotaBytes = quota
	_, err = h.reg.UpdateUser(r.Context(), q.act, r.PathValue("name"), ch)
	h.adminDone(w, r, q, err)
}

func (h *Handler) updateTeam(w http.ResponseWriter, r *http.Request, q *req) {
	quota, err := parseSize(r.PostFormValue("quota"))
	if err != nil {
		h.adminDone(w, r, q, err)
		return
	}
	_, err = h.reg.UpdateTeam(r.Context(), q.act, r.PathValue("name"), nil, quota)
	h.adminDone(w, r, q, err)
}

func (h *Handler) updateSettings(w http.ResponseWriter, r *http.Request, q *req) {
	f := r.PostForm
	on := func(k string) *bool { b := f.Get(k) == "1"; return &b }
	ch := registry.SettingsChange{PrivateMode: on("private_mode"), ManagersOnly: on("managers_only"), DefaultPrivate: on("default_private")}
	n, err := strconv.Atoi(strings.TrimSpace(orZero(f.Get("collection_limit"))))
	if err != nil || n < 0 {
		h.adminDone(w, r, q, invalid("Collection limit: a number, 0 for none."))
		return
	}
	ch.CollectionLimit = &n
	if ch.UserQuota, err = parseSize(orZero(f.Get("user_quota"))); err != nil {
		h.adminDone(w, r, q, err)
		return
	}
	if ch.TeamQuota, err = parseSize(orZero(f.Get("team_quota"))); err != nil {
		h.adminDone(w, r, q, err)
		return
	}
	_, err = h.reg.ChangeSettings(r.Context(), q.act, ch)
	h.adminDone(w, r, q, err)
}

func orZero(s string) string {
	if strings.TrimSpace(s) == "" {
		return "0"
	}
	return s
}

type auditData struct {
	Actor, Action, Since string
	Events               []meta.AuditEvent
}

func (h *Handler) audit(w http.ResponseWriter, r *http.Request, q *req) {
	v := r.URL.Query()
	d := auditData{Actor: strings.TrimSpace(v.Get("actor")), Action: strings.TrimSpace(v.Get("action")), Since: strings.TrimSpace(v.Get("since"))}
	aq := meta.AuditQuery{Actor: d.Actor, Action: d.Action, Limit: registry.DefaultAuditLimit}
	if d.Since != "" {
		ago, err := siloapi.ParseDuration(d.Since)
		if err != nil {
			h.render(w, r, q, http.StatusBadRequest, "audit", page{Title: "Audit log", Nav: "admin", Error: "Since: " + err.Error(), Data: d})
			return
		}
		aq.Since = time.Now().Add(-ago)
	}
	evs, err := h.reg.AuditLog(r.Context(), q.act, aq)
	if err != nil {
		h.fail(w, r, q, err)
		return
	}
	d.Events = evs
	h.render(w, r, q, http.StatusOK, "audit", page{Title: "Audit log", Nav: "admin", Data: d})
}

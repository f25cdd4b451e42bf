package silo

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/registry"
)

// The wire types of accounts, tokens, logins and the audit log.

// LoginRequest is POST login's body (Basic auth is accepted instead).
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginResponse is a successful login: a new token, shown this once.
type LoginResponse struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	User    User      `json:"user"`
}

// User is an account. It never carries a password or its hash.
type User struct {
	Name        string    `json:"name"`
	Email       string    `json:"email"`
	Role        string    `json:"role"` // admin, manager or user
	Disabled    bool      `json:"disabled"`
	Source      string    `json:"source"`            // "local" or the provider that made it
	Subject     string    `json:"subject,omitempty"` // the provider's id for the person
	QuotaBytes  int64     `json:"quotaBytes"`        // 0: the registry default
	HasPassword bool      `json:"hasPassword"`
	Created     time.Time `json:"created"`
	Teams       []string  `json:"teams,omitzero"` // GET me only; [] for none there
}

// UserList is GET users.
type UserList struct {
	Users []User `json:"users"`
}

// NewUserRequest is POST users' body.
type NewUserRequest struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Role     string `json:"role"`               // default user
	Password string `json:"password,omitempty"` // none: the account logs in with tokens only
}

// UserPatch is PATCH users/{name}'s body; absent fields stay as they are.
// Users may change their own email and password (with oldPassword);
// admins anything.
type UserPatch struct {
	Role        *string `json:"role,omitempty"`
	Disabled    *bool   `json:"disabled,omitempty"`
	Email       *string `json:"email,omitempty"`
	QuotaBytes  *int64  `json:"quotaBytes,omitempty"`
	Password    *string `json:"password,omitempty"`
	OldPassword *string `json:"oldPassword,omitempty"`
}

// Token is an API token as listed: never its secret.
type Token struct {
	ID       int64     `json:"id"`
	User     string    `json:"user"`
	Name     string    `json:"name"`
	Scopes   []string  `json:"scopes"` // [] means everything the user may do
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"`  // absent: never
	LastUsed time.Time `json:"lastUsed,omitzero"` // absent: never; kept to the minute
	Revoked  bool      `json:"revoked"`
	Expired  bool      `json:"expired"`
	Current  bool      `json:"current"` // the token this request was made with
}

// TokenList is GET tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// TokenRequest is POST tokens' body.
type TokenRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"` // read, push, admin; none: everything the user may do
	// Expires is a lifetime such as "720h" or "30d"; "" or "0" never expires.
	Expires string `json:"expires"`
}

// NewToken is a token just created, with its secret: it cannot be shown again.
type NewToken struct {
	Token
	Secret string `json:"token"`
}

// AuditEvent is one line of the audit log.
type AuditEvent struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // a user, "anonymous", "local:<login>" (offline commands), "share:<id>"
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	Remote string    `json:"remote,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// AuditList is GET audit, newest first.
type AuditList struct {
	Events []AuditEvent `json:"events"`
}

// ParseDuration reads a lifetime or a look-back: Go's durations ("720h",
// "90m") and whole days ("30d"), which is how people count token
// lifetimes. "" and "0" are zero.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("%q is not a number of days such as 30d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 720h, 90m or 30d", s)
	}
	return d, nil
}

// accountRoutes lists the endpoints for users, tokens, logins and the audit log.
func (a *API) accountRoutes() []route {
	return []route{
		{"POST", "login", a.login},
		{"GET", "me", a.me},
		{"GET", "tokens", a.listTokens},
		{"POST", "tokens", a.createToken},
		{"DELETE", "tokens/{id}", a.revokeToken},
		{"GET", "users", a.listUsers},
		{"POST", "users", a.createUser},
		{"PATCH", "users/{name}", a.updateUser},
		{"GET", "audit", a.auditLog},
	}
}

// caller is actor, plus an audit line for credentials that were refused:
// someone holding an expired or stolen token, or guessing.
func (a *API) caller(w http.ResponseWriter, r *http.Request) (access.Actor, bool) {
	act, err := a.auth.Request(r)
	if err == nil {
		return act, true
	}
	if errors.Is(err, auth.ErrInvalidCredentials) {
		a.reg.RecordLoginFailure(r.Context(), auth.Remote(r), r.Method+" "+r.URL.Path)
		writeError(w, http.StatusUnauthorized, "invalid or expired token: log in again (silo login)")
	} else {
		a.fail(w, r, err)
	}
	return access.Anonymous, false
}

// secretJSON sends an answer holding a secret, which no cache may keep.
func secretJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, v)
}

func toUser(acc *registry.Account) User {
	return User{
		Name: acc.Name, Email: acc.Email, Role: acc.Role, Disabled: acc.Disabled, Source: acc.Source,
		Subject: acc.Subject, QuotaBytes: acc.QuotaBytes, HasPassword: acc.HasPassword, Created: acc.Created, Teams: acc.Teams,
	}
}

func toToken(t *registry.TokenInfo) Token {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return Token{
		ID: t.ID, User: t.User, Name: t.Name, Scopes: scopes, Created: t.Created, Expires: t.Expires,
		LastUsed: t.LastUsed, Revoked: t.Revoked, Expired: t.Expired, Current: t.Current,
	}
}

// login exchanges a user name and password for a token. The password
// comes as JSON or as Basic auth (what curl -u and other tools send); a
// Bearer token here is ignored, since logging in is how one gets one.
func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if user, pass, ok := r.BasicAuth(); ok {
		req = LoginRequest{Username: user, Password: pass}
	} else if !readBody(w, r, &req) {
		return
	}
	if req.Username == "" || req.Password == "" {
		writeError(w, http.StatusBadRequest, `give "username" and "password" (as JSON, or with Basic auth)`)
		return
	}
	res, err := a.reg.Login(r.Context(), req.Username, req.Password, auth.Remote(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	secretJSON(w, http.StatusOK, LoginResponse{Token: res.Token.Secret, Expires: res.Token.Expires, User: toUser(&res.Account)})
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	act, ok := a.caller(w, r)
	if !ok {
		return
	}
	acc, err := a.reg.Me(r.Context(), act)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUser(acc))
}

// listTokens lists the caller's tokens, or with ?user= (admins) another's.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	act, ok := a.caller(w, r)
	if !ok {
		return
	}
	ts, err := a.reg.ListTokens(r.Context(), act, r.URL.Query().Get("user"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := TokenList{Tokens: make([]Token, 0, len(ts))}
	for i := range ts {
		out.Tokens = append(out.Tokens, toToken(&ts[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	act, ok := a.caller(w, r)
	if !ok {
		return
	}
	var req TokenRequest
	if !readBody(w, r, &req) {
		return
	}
	ttl, err := ParseDuration(req.Expires)
	if err != nil {
		writeError(w, http.StatusBadRequest, "expires: "+err.Error())
		return
	}
	nt, err := a.reg.CreateToken(r.Context(), act, registry.TokenSpec{Name: req.Name, Scopes: req.Scopes, TTL: ttl})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	secretJSON(w, http.StatusCreated, NewToken{Token: toToken(&nt.TokenInfo), Secret: nt.Secret})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	act, ok := a.caller(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "a token id is a positive number, as `silo token list` shows")
		return
	}
	if err := a.reg.RevokeToken(r.Context(), act, id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	act, ok := a.caller(w, r)
	if !ok {
		return
	}
	us, err := a.reg.ListUsers(r.Context(), act)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := UserList{Users: make([]User, 0, len(us))}
	for i := range us {
		out.Users = append(out.Users, toUser(&us[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	act, ok := a.caller(w, r)
	if !ok {
		return
	}
	var req NewUserRequest
	if !readBody(w, r, &req) {
		return
	}
	acc, err := a.reg.CreateUser(r.Context(), act, registry.NewUser{Name: req.Name, Email: req.Email, Role: req.Role, Password: req.Password})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toUser(acc))
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) {
	act, ok := a.caller(w, r)
	if !ok {
		return
	}
	var p UserPatch
	if !readBody(w, r, &p) {
		return
	}
	acc, err := a.reg.UpdateUser(r.Context(), act, r.PathValue("name"), registry.UserChange{
		Role: p.Role, Disabled: p.Disabled, Email: p.Email, QuotaBytes: p.QuotaBytes, Password: p.Password, OldPassword: p.OldPassword,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUser(acc))
}

// auditLog answers GET audit?actor=&action=&since=&limit=. since is a
// time (RFC 3339) or a look-back such as 24h or 7d.
func (a *API) auditLog(w http.ResponseWriter, r *http.Request) {
	act, ok := a.caller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	query := meta.AuditQuery{Actor: q.Get("actor"), Action: q.Get("action")}
	if s := q.Get("since"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			query.Since = t
		} else if d, err := ParseDuration(s); err == nil && d > 0 {
			query.Since = time.Now().Add(-d)
		} else {
			writeError(w, http.StatusBadRequest, "since: give a time (2025-01-31T12:00:00Z) or a look-back such as 24h or 7d")
			return
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, "limit must be a positive number")
			return
		}
		query.Limit = n
	}
	evs, err := a.reg.AuditLog(r.Context(), act, query)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := AuditList{Events: make([]AuditEvent, 0, len(evs))}
	for _, e := range evs {
		out.Events = append(out.Events, AuditEvent{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Remote: e.Remote, Detail: e.Detail})
	}
	writeJSON(w, http.StatusOK, out)
}

package oci

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/registry"
)

// tokenPrefix marks Silo's OCI tokens, telling them apart from API tokens.
const tokenPrefix = "silo-oci."

// claims is what an OCI token grants. It is signed, not encrypted: the
// client may read it.
type claims struct {
	User      int64    `json:"u,omitempty"`
	TokenHash string   `json:"t,omitempty"` // the API token it was issued for, if any
	Scopes    []string `json:"s,omitempty"` // "repository:<name>:<action>,..."
	Expires   int64    `json:"e"`
}

func (a *API) sign(c claims) string {
	b, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, a.cfg.TokenKey)
	m.Write([]byte(p))
	return tokenPrefix + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *API) verify(tok string) (*claims, bool) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	p, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return nil, false
	}
	m := hmac.New(sha256.New, a.cfg.TokenKey)
	m.Write([]byte(p))
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, m.Sum(nil)) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	var c claims
	if err != nil || json.Unmarshal(b, &c) != nil || a.cfg.Now().Unix() >= c.Expires {
		return nil, false
	}
	return &c, true
}

// caller is who a request comes from, and what its OCI token (if it used
// one) allows.
type caller struct {
	access.Actor
	scopes []string // nil: no OCI token, the actor's own rights apply
}

// allows reports whether the caller's token covers action on repository name.
func (c caller) allows(name, action string) bool {
	if c.scopes == nil {
		return true
	}
	for _, s := range c.scopes {
		if rn, acts, ok := cutScope(s); ok && rn == name && slices.Contains(strings.Split(acts, ","), action) {
			return true
		}
		if s == "repository:"+name+":*" {
			return true
		}
	}
	return false
}

func cutScope(s string) (name, actions string, ok bool) {
	rest, ok := strings.CutPrefix(s, "repository:")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, ":")
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// caller resolves the request's credentials: an OCI token, an API token
// (Bearer or as the Basic password), or a user name and password.
func (a *API) caller(r *http.Request) (caller, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, _ := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case h == "":
		return caller{Actor: access.Actor{Remote: auth.Remote(r)}}, nil
	case strings.EqualFold(scheme, "bearer") && strings.HasPrefix(rest, tokenPrefix):
		c, ok := a.verify(rest)
		if !ok {
			return caller{}, auth.ErrInvalidCredentials
		}
		act := access.Actor{Remote: auth.Remote(r)}
		if c.User != 0 {
			var err error
			if act, err = a.reg.ActorFor(r.Context(), c.User, c.TokenHash, auth.Remote(r)); err != nil {
				return caller{}, err
			}
		}
		return caller{Actor: act, scopes: append([]string{}, c.Scopes...)}, nil
	case strings.EqualFold(scheme, "basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return caller{}, auth.ErrInvalidCredentials
		}
		if act, err := a.cfg.Auth.Token(r.Context(), pass); err == nil && act.LoggedIn() {
			act.Remote = auth.Remote(r)
			return caller{Actor: act}, nil
		}
		act, err := a.reg.PasswordActor(r.Context(), user, pass, auth.Remote(r))
		return caller{Actor: act}, err
	}
	act, err := a.cfg.Auth.Request(r)
	return caller{Actor: act}, err
}

// challenge answers 401 with where to get a token for scope.
func (a *API) challenge(w http.ResponseWriter, r *http.Request, scope, msg string) {
	base := a.baseURL(r)
	v := fmt.Sprintf(`Bearer realm="%s/v2/token",service="%s"`, base, service(base))
	if scope != "" {
		v += fmt.Sprintf(`,scope="%s"`, scope)
	}
	w.Header().Set("WWW-Authenticate", v)
	writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", msg)
}

func service(base string) string {
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return "silo"
}

// base answers GET /v2/: 200 to anyone with credentials, else the
// challenge that starts every client's login.
func (a *API) base(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	c, err := a.caller(r)
	if err != nil || (!c.LoggedIn() && c.scopes == nil) {
		a.challenge(w, r, "", "authentication required")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("{}"))
}

// token is the token endpoint: Basic credentials (a password or an API
// token) or none (anonymous), and the scopes asked for. It grants pull to
// anyone (each request is still checked against the access rules, and a
// repository the caller may not see answers like a missing one) and push
// and delete to logged-in callers whose API token allows pushing.
func (a *API) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, "GET, POST")
		return
	}
	var act access.Actor
	if h := r.Header.Get("Authorization"); h != "" {
		c, err := a.caller(r)
		if err != nil || c.scopes != nil {
			a.challenge(w, r, "", authMessage(err))
			return
		}
		act = c.Actor
	}
	if err := r.ParseForm(); err != nil {
		writeErr(w, http.StatusBadRequest, "UNSUPPORTED", "bad query: "+err.Error())
		return
	}
	var scopes []string
	for _, s := range r.Form["scope"] {
		for f := range strings.FieldsSeq(s) {
			name, acts, ok := cutScope(f)
			if !ok {
				continue // registry:catalog:* and the like: nothing to grant
			}
			var granted []string
			for _, act1 := range strings.Split(acts, ",") {
				switch act1 {
				case "pull":
					granted = append(granted, "pull")
				case "push", "delete", "*":
					if act.LoggedIn() && act.Has(access.ScopePush) {
						granted = append(granted, act1)
					}
				}
			}
			if len(granted) > 0 {
				scopes = append(scopes, "repository:"+name+":"+strings.Join(granted, ","))
			}
		}
	}
	c := claims{Scopes: scopes, Expires: a.cfg.Now().Add(a.cfg.TokenTTL).Unix()}
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	if act.LoggedIn() {
		c.User = act.ID()
		if act.Token != nil {
			c.TokenHash = act.Token.Hash
		}
	}
	tok := a.sign(c)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{
		"token": tok, "access_token": tok, "expires_in": int(a.cfg.TokenTTL.Seconds()),
		"issued_at": a.cfg.Now().UTC().Format(time.RFC3339),
	})
}

func authMessage(err error) string {
	if err == nil || errors.Is(err, auth.ErrInvalidCredentials) {
		return "invalid credentials"
	}
	if registry.KindOf(err) == registry.Unauthorized {
		return err.Error()
	}
	return "the credentials could not be checked"
}

// Token issues an OCI token for actor with scopes, for /v1/oci-redirect.
func (a *API) Token(act access.Actor, name string, actions []string) string {
	c := claims{Expires: a.cfg.Now().Add(a.cfg.TokenTTL).Unix(), Scopes: []string{}}
	var granted []string
	for _, x := range actions {
		if x == "pull" || (act.LoggedIn() && act.Has(access.ScopePush)) {
			granted = append(granted, x)
		}
	}
	if len(granted) > 0 {
		c.Scopes = []string{"repository:" + name + ":" + strings.Join(granted, ",")}
	}
	if act.LoggedIn() {
		c.User = act.ID()
		if act.Token != nil {
			c.TokenHash = act.Token.Hash
		}
	}
	return a.sign(c)
}

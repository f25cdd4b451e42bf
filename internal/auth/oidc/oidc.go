// Package oidc logs people in through an OpenID Connect provider (Google,
// Keycloak, dex, Azure AD, any provider with discovery) with the
// authorization code flow and PKCE.
//
// The flow keeps no server-side memory: Start puts the state, the nonce and
// the PKCE verifier into a short-lived cookie signed with Config.StateKey,
// and Finish checks that cookie on the callback. Any of several Silo nodes
// behind a load balancer can therefore finish a login that another began,
// as long as they share the key.
package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/siloreg/silo/internal/auth/provider"
)

// DefaultScopes are requested when Config.Scopes is empty: enough for the
// ID token to carry a name and an e-mail address.
var DefaultScopes = []string{gooidc.ScopeOpenID, "profile", "email"}

// Defaults for the claim names left empty in Config. preferred_username is
// what Keycloak, dex and Azure AD send; "groups" is the common name for the
// group list (Keycloak's group mapper, dex, Okta).
const (
	DefaultUsernameClaim = "preferred_username"
	DefaultGroupsClaim   = "groups"
)

// MinStateKeyLen is the shortest StateKey accepted: an HMAC-SHA256 key
// shorter than the hash adds no strength and is likely a mistake.
const MinStateKeyLen = 32

// stateTTL bounds how long a login may take between Start and Finish; it is
// long enough to type a password and answer a second factor at the
// provider, short enough that a cookie left behind is soon useless.
const stateTTL = 10 * time.Minute

// cookiePrefix starts the name of every state cookie. The state itself
// completes the name, so that logins begun in two tabs do not overwrite
// each other's cookie.
const cookiePrefix = "silo_oidc_"

// ErrInvalidState means the callback does not belong to a login this
// browser began here recently: the state cookie is missing, expired or
// forged, or the state does not match. The person should simply start
// again; it is not the provider's fault.
var ErrInvalidState = errors.New("oidc: login expired or not started from this browser; please log in again")

// ProviderError is an error the provider sent back to the callback instead
// of a code, such as access_denied when the person declines.
type ProviderError struct {
	Code        string // the OAuth 2.0 error code
	Description string // the provider's explanation, may be empty
}

// Error describes the provider's error.
func (e *ProviderError) Error() string {
	if e.Description == "" {
		return "oidc: the provider refused the login: " + e.Code
	}
	return fmt.Sprintf("oidc: the provider refused the login: %s: %s", e.Code, e.Description)
}

// Config describes one OpenID provider and Silo's registration with it.
type Config struct {
	// Name tells several OIDC providers apart ("google", "keycloak"); the
	// identities it makes say "oidc:<Name>".
	Name string
	// Issuer is the provider's issuer URL, where discovery starts
	// (Issuer + "/.well-known/openid-configuration").
	Issuer string
	// ClientID and ClientSecret are Silo's registration at the provider.
	ClientID     string
	ClientSecret string
	// RedirectURL is Silo's callback URL as registered at the provider; it
	// must route to Finish.
	RedirectURL string
	// Scopes requested; default DefaultScopes. "openid" is always added.
	Scopes []string
	// UsernameClaim is the ID token claim proposed as the Silo user name;
	// default DefaultUsernameClaim. When absent, the local part of the
	// e-mail address is proposed instead (Google sends no
	// preferred_username).
	UsernameClaim string
	// GroupsClaim is the ID token claim listing the person's groups;
	// default DefaultGroupsClaim.
	GroupsClaim string
	// StateKey signs the state cookie, at least MinStateKeyLen bytes.
	// Every Silo node must use the same key so that any can finish a
	// login.
	StateKey []byte
	// HTTPClient, when set, is used to reach the provider (for a private
	// CA, or a proxy); default http.DefaultClient.
	HTTPClient *http.Client
}

// Provider runs logins against one OpenID provider. It is safe for
// concurrent use.
type Provider struct {
	cfg      Config
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	secure   bool   // state cookies only over HTTPS
	path     string // the callback's path, where state cookies are sent

	// now is the clock for state expiry, replaceable in tests.
	now func() time.Time
}

// New checks cfg and fetches the provider's discovery document, so that a
// wrong issuer is a start-up error. The signing keys are fetched later, when
// the first ID token arrives, and again when one is signed with a key not
// seen before (key rotation).
func New(ctx context.Context, cfg Config) (*Provider, error) {
	switch {
	case cfg.Name == "":
		return nil, errors.New("oidc: Name is required")
	case cfg.Issuer == "":
		return nil, fmt.Errorf("oidc %s: Issuer is required", cfg.Name)
	case cfg.ClientID == "":
		return nil, fmt.Errorf("oidc %s: ClientID is required", cfg.Name)
	case len(cfg.StateKey) < MinStateKeyLen:
		return nil, fmt.Errorf("oidc %s: StateKey must be at least %d bytes", cfg.Name, MinStateKeyLen)
	}
	redirect, err := url.Parse(cfg.RedirectURL)
	if err != nil || (redirect.Scheme != "https" && redirect.Scheme != "http") || redirect.Host == "" {
		return nil, fmt.Errorf("oidc %s: RedirectURL %q: want an absolute http(s) URL", cfg.Name, cfg.RedirectURL)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = slices.Clone(DefaultScopes)
	}
	if !slices.Contains(cfg.Scopes, gooidc.ScopeOpenID) {
		// Without it the provider answers as plain OAuth 2.0, with no ID
		// token to verify.
		cfg.Scopes = append([]string{gooidc.ScopeOpenID}, cfg.Scopes...)
	}
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = DefaultUsernameClaim
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = DefaultGroupsClaim
	}

	op, err := gooidc.NewProvider(withClient(ctx, cfg.HTTPClient), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc %s: discovery at %s: %w", cfg.Name, cfg.Issuer, err)
	}
	path := redirect.EscapedPath()
	if path == "" {
		path = "/"
	}
	return &Provider{
		cfg: cfg,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     op.Endpoint(),
			RedirectURL:  cfg.RedirectURL,
			Scopes:       cfg.Scopes,
		},
		// The verifier checks the signature against the provider's
		// published keys, the issuer, that Silo's client id is in the
		// audience, and the expiry.
		verifier: op.Verifier(&gooidc.Config{ClientID: cfg.ClientID}),
		secure:   redirect.Scheme == "https",
		path:     path,
		now:      time.Now,
	}, nil
}

// withClient makes go-oidc and oauth2 use client, which both read from the
// context.
func withClient(ctx context.Context, client *http.Client) context.Context {
	if client == nil {
		return ctx
	}
	return gooidc.ClientContext(ctx, client)
}

// Name returns "oidc:<Name>", the provider name in every Identity it makes.
func (p *Provider) Name() string { return "oidc:" + p.cfg.Name }

// flow is what Start hands to Finish through the signed cookie.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
}

// Start sends the browser to the provider's login page. returnTo is where
// the person goes once logged in; Finish hands it back. Only a path on this
// site is kept (anything else becomes "/"), so that the login cannot be used
// to redirect people to another site.
func (p *Provider) Start(w http.ResponseWriter, r *http.Request, returnTo string) {
	f := flow{
		State:    randomString(),
		Nonce:    randomString(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: LocalPath(returnTo),
		Expires:  p.now().Add(stateTTL).Unix(),
	}
	http.SetCookie(w, &http.Cookie{
		Name:  cookiePrefix + f.State,
		Value: p.seal(f),
		// Sent only to the callback, and never readable by scripts.
		Path:     p.path,
		MaxAge:   int(stateTTL / time.Second),
		HttpOnly: true,
		Secure:   p.secure,
		// Lax, not Strict: the callback is a top-level navigation coming
		// from the provider's site, which Strict would strip the cookie
		// from.
		SameSite: http.SameSiteLaxMode,
	})
	dest := p.oauth.AuthCodeURL(f.State, gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	http.Redirect(w, r, dest, http.StatusFound)
}

// Finish completes the login on the callback request: it checks the state
// against the signed cookie (and removes the cookie, so a callback cannot be
// replayed), exchanges the code with the PKCE verifier, verifies the ID
// token (signature, issuer, audience, expiry, nonce) and returns who logged
// in and the returnTo given to Start.
//
// Errors: ErrInvalidState when the callback does not match a login begun in
// this browser, *ProviderError when the provider sent an error instead of a
// code, and other errors when the exchange or the token fails.
func (p *Provider) Finish(w http.ResponseWriter, r *http.Request) (*provider.Identity, string, error) {
	q := r.URL.Query()
	state := q.Get("state")
	f, err := p.takeFlow(w, r, state)
	if code := q.Get("error"); code != "" {
		// The provider's answer counts only for a login begun here;
		// otherwise it is someone else's callback and says nothing.
		if err != nil {
			return nil, "", err
		}
		return nil, "", &ProviderError{Code: code, Description: q.Get("error_description")}
	}
	if err != nil {
		return nil, "", err
	}
	code := q.Get("code")
	if code == "" {
		return nil, "", fmt.Errorf("oidc %s: the callback carries no code", p.cfg.Name)
	}

	ctx := withClient(r.Context(), p.cfg.HTTPClient)
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, "", fmt.Errorf("oidc %s: exchanging the code: %w", p.cfg.Name, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, "", fmt.Errorf("oidc %s: the token response has no ID token", p.cfg.Name)
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, "", fmt.Errorf("oidc %s: ID token: %w", p.cfg.Name, err)
	}
	// The nonce ties the ID token to this login: a token issued for
	// another session and replayed here carries another nonce.
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return nil, "", fmt.Errorf("oidc %s: ID token: nonce does not match this login", p.cfg.Name)
	}
	id, err := p.identity(idt)
	if err != nil {
		return nil, "", err
	}
	return id, f.ReturnTo, nil
}

// takeFlow finds, removes and checks the state cookie for state.
func (p *Provider) takeFlow(w http.ResponseWriter, r *http.Request, state string) (flow, error) {
	var f flow
	if !validState(state) {
		return f, ErrInvalidState
	}
	c, err := r.Cookie(cookiePrefix + state)
	if err != nil {
		return f, ErrInvalidState
	}
	http.SetCookie(w, &http.Cookie{
		Name: c.Name, Path: p.path, MaxAge: -1,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
	})
	f, ok := p.open(c.Value)
	if !ok || f.Expires < p.now().Unix() || subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return flow{}, ErrInvalidState
	}
	return f, nil
}

// identity reads the claims Silo uses from a verified ID token.
func (p *Provider) identity(idt *gooidc.IDToken) (*provider.Identity, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("oidc %s: ID token claims: %w", p.cfg.Name, err)
	}
	str := func(name string) string { s, _ := claims[name].(string); return s }

	id := &provider.Identity{
		Provider: p.Name(),
		Subject:  idt.Subject,
		Name:     str("name"),
	}
	// An address the provider says it has not verified is left out: Silo
	// may link accounts by e-mail, and anyone can type any address into
	// some providers' profile pages.
	if verified, ok := claims["email_verified"].(bool); !ok || verified {
		id.Email = str("email")
	}
	username := str(p.cfg.UsernameClaim)
	if username == "" {
		username, _, _ = strings.Cut(id.Email, "@")
	}
	id.Username = provider.Username(username)

	switch g := claims[p.cfg.GroupsClaim].(type) {
	case []any:
		for _, v := range g {
			if s, ok := v.(string); ok && s != "" {
				id.Groups = append(id.Groups, s)
			}
		}
	case string:
		// Some providers send a lone group as a plain string.
		if g != "" {
			id.Groups = []string{g}
		}
	}
	return id, nil
}

// maxReturnTo bounds what is kept of returnTo: browsers drop cookies over
// about 4 KiB, which would make the login fail for no visible reason.
const maxReturnTo = 1024

// LocalPath returns s when it is a path on this site ("/images?q=x"), and
// "/" otherwise. "//host/x" and "/\host" are refused because browsers treat
// them as links to another host; paths longer than 1 KiB are refused so the
// state cookie stays small.
func LocalPath(s string) string {
	if len(s) > maxReturnTo || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.ContainsAny(s, "\r\n\t\\") {
		return "/"
	}
	return s
}

// seal serialises f and signs it. The MAC covers the provider's name, so a
// cookie made for one provider is refused by another sharing the key.
func (p *Provider) seal(f flow) string {
	body, _ := json.Marshal(f)
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(p.mac(payload))
}

// open checks the MAC of a sealed flow and decodes it.
func (p *Provider) open(s string) (flow, bool) {
	var f flow
	payload, sig, ok := strings.Cut(s, ".")
	if !ok {
		return f, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, p.mac(payload)) {
		return f, false
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(body, &f) != nil {
		return f, false
	}
	return f, true
}

func (p *Provider) mac(payload string) []byte {
	m := hmac.New(sha256.New, p.cfg.StateKey)
	// The domain string keeps these MACs apart from anything else Silo
	// might sign with a shared key.
	m.Write([]byte("silo oidc state\x00" + p.cfg.Name + "\x00" + payload))
	return m.Sum(nil)
}

// randomString returns 128 random bits, base64url: unguessable, and made
// only of characters allowed in a cookie name.
func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program first)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validState accepts only what randomString makes, so that a forged state
// cannot name an arbitrary cookie.
func validState(s string) bool {
	if len(s) != 22 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Package oidctest is an OpenID provider for tests, written from the
// standard library and go-jose: discovery, a JWKS, an /authorize that
// approves the configured person at once (no login page), and a /token
// that checks the client secret and the PKCE verifier and returns an
// RS256-signed ID token. It is strict about what a real provider checks,
// so that a client bug shows up as a refusal, and its knobs make it
// misbehave the ways a hostile or broken provider could. The OIDC client's
// own tests and the server's end-to-end login tests share it.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Provider is a running test OpenID provider. Its fields may be set
// directly before the first login; while logins may be running, change
// them only inside Set.
type Provider struct {
	// Issuer is the provider's URL, where discovery starts.
	Issuer string

	// ClientID and ClientSecret are the one client registered here, and
	// RedirectURL its one redirect URI, which the test must set before the
	// first login (the client's callback URL is rarely known earlier).
	ClientID, ClientSecret, RedirectURL string

	// Claims are the person's claims, besides iss, aud, exp, iat and nonce.
	Claims map[string]any

	// KeyID names the provider's signing key in the JWKS and in tokens.
	KeyID string

	// Deny makes /authorize answer access_denied, as when the person
	// declines.
	Deny bool
	// EditToken, when set, changes an ID token's claims just before it is
	// signed.
	EditToken func(claims map[string]any)
	// SignWith, when set, signs ID tokens with another key, named
	// SignWithKeyID, that the JWKS does not publish.
	SignWith      *rsa.PrivateKey
	SignWithKeyID string

	t   testing.TB
	srv *httptest.Server
	key *rsa.PrivateKey

	mu sync.Mutex
	// codes are the grants /authorize issued and /token has not used.
	codes map[string]grant
	// authorizeQueries records what each /authorize request asked.
	authorizeQueries []url.Values
}

type grant struct {
	challenge, nonce, redirectURI string
}

// New starts a provider, stopped when the test ends. The person it logs in
// is Jane Doe: sub 248289761001, preferred_username Jane.Doe, a verified
// e-mail address jane@example.org, and the groups physics and hpc-admins.
// The client is "silo" with the secret "silo-client-secret".
func New(t testing.TB) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{
		t:            t,
		ClientID:     "silo",
		ClientSecret: "silo-client-secret",
		key:          key,
		KeyID:        "key-1",
		codes:        map[string]grant{},
		Claims: map[string]any{
			"sub":                "248289761001",
			"preferred_username": "Jane.Doe",
			"name":               "Jane Doe",
			"email":              "jane@example.org",
			"email_verified":     true,
			"groups":             []string{"physics", "hpc-admins"},
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /keys", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.Issuer = p.srv.URL
	return p
}

// Set changes the provider's fields while logins may be running.
func (p *Provider) Set(f func(p *Provider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// AuthorizeQueries returns what each /authorize request asked, in order.
func (p *Provider) AuthorizeQueries() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.authorizeQueries)
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.Issuer,
		"authorization_endpoint":                p.Issuer + "/authorize",
		"token_endpoint":                        p.Issuer + "/token",
		"jwks_uri":                              p.Issuer + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	keyID := p.KeyID
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &p.key.PublicKey, KeyID: keyID, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	p.authorizeQueries = append(p.authorizeQueries, q)
	deny, clientID, redirectURL := p.Deny, p.ClientID, p.RedirectURL
	p.mu.Unlock()

	// Errors about the client itself are shown to the person, never sent
	// to an unverified redirect URI (RFC 6749 §4.1.2.1).
	if q.Get("client_id") != clientID || q.Get("redirect_uri") != redirectURL {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(redirectURL)
	answer := url.Values{"state": {q.Get("state")}}
	switch {
	case q.Get("response_type") != "code":
		answer.Set("error", "unsupported_response_type")
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		answer.Set("error", "invalid_scope")
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		answer.Set("error", "invalid_request")
		answer.Set("error_description", "PKCE with S256 is required")
	case deny:
		answer.Set("error", "access_denied")
		answer.Set("error_description", "The user declined")
	default:
		code := randomString()
		p.mu.Lock()
		p.codes[code] = grant{q.Get("code_challenge"), q.Get("nonce"), q.Get("redirect_uri")}
		p.mu.Unlock()
		answer.Set("code", code)
	}
	back.RawQuery = answer.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		// RFC 6749 §2.3.1: the basic credentials are form-encoded.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	p.mu.Lock()
	clientID, clientSecret := p.ClientID, p.ClientSecret
	p.mu.Unlock()
	if id != clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(clientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	p.mu.Lock()
	code := r.PostForm.Get("code")
	g, found := p.codes[code]
	delete(p.codes, code) // a code is good for one try only
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case !found, g.redirectURI != r.PostForm.Get("redirect_uri"):
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		tokenError(w, http.StatusBadRequest, "invalid_grant") // PKCE verifier does not match
		return
	}

	now := time.Now()
	claims := map[string]any{
		"iss":   p.Issuer,
		"aud":   clientID,
		"exp":   now.Add(5 * time.Minute).Unix(),
		"iat":   now.Unix(),
		"nonce": g.nonce,
	}
	p.mu.Lock()
	maps.Copy(claims, p.Claims)
	edit, key, keyID := p.EditToken, p.key, p.KeyID
	if p.SignWith != nil {
		key, keyID = p.SignWith, p.SignWithKeyID
	}
	p.mu.Unlock()
	if edit != nil {
		edit(claims)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": randomString(),
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token":     p.sign(claims, key, keyID),
	})
}

// sign makes a compact JWS of claims, RS256 with the key id in the header
// as providers do, so that clients can pick the key from the JWKS.
func (p *Provider) sign(claims map[string]any, key *rsa.PrivateKey, keyID string) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID))
	if err != nil {
		p.t.Error(err)
		return ""
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		p.t.Error(err)
		return ""
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		p.t.Error(err)
		return ""
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		p.t.Error(err)
		return ""
	}
	return s
}

// randomString returns 128 random bits, base64url, for codes and access
// tokens.
func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program first)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func tokenError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

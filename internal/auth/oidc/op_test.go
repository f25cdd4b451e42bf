package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
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

// testOP is an OpenID provider written for these tests from the standard
// library and go-jose: discovery, a JWKS, an /authorize that approves the
// configured user at once, and a /token that checks the client secret and
// the PKCE verifier and returns an RS256-signed ID token. It is strict about
// what a real provider checks, so that a client bug shows up as a refusal,
// and its knobs make it misbehave the ways a hostile or broken provider
// could.
type testOP struct {
	t      *testing.T
	srv    *httptest.Server
	issuer string

	clientID, clientSecret, redirectURL string

	key    *rsa.PrivateKey
	keyID  string
	claims map[string]any // the user's claims, besides iss, sub, aud, exp, iat, nonce

	mu sync.Mutex
	// codes are the grants /authorize issued and /token has not used.
	codes map[string]grant
	// authorizeQueries records what each /authorize request asked.
	authorizeQueries []url.Values
	// deny makes /authorize answer access_denied.
	deny bool
	// editToken changes the ID token's claims just before signing.
	editToken func(claims map[string]any)
	// signWith signs ID tokens with another key, with that key id.
	signWith      *rsa.PrivateKey
	signWithKeyID string
}

type grant struct {
	challenge, nonce, redirectURI string
}

func newTestOP(t *testing.T) *testOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	op := &testOP{
		t:            t,
		clientID:     "silo",
		clientSecret: "silo-client-secret",
		key:          key,
		keyID:        "key-1",
		codes:        map[string]grant{},
		claims: map[string]any{
			"sub":                "248289761001",
			"preferred_username": "Jane.Doe",
			"name":               "Jane Doe",
			"email":              "jane@example.org",
			"email_verified":     true,
			"groups":             []string{"physics", "hpc-admins"},
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /keys", op.jwks)
	mux.HandleFunc("GET /authorize", op.authorize)
	mux.HandleFunc("POST /token", op.token)
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	op.issuer = op.srv.URL
	return op
}

func (op *testOP) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                op.issuer,
		"authorization_endpoint":                op.issuer + "/authorize",
		"token_endpoint":                        op.issuer + "/token",
		"jwks_uri":                              op.issuer + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func (op *testOP) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &op.key.PublicKey, KeyID: op.keyID, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

func (op *testOP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	op.mu.Lock()
	op.authorizeQueries = append(op.authorizeQueries, q)
	deny := op.deny
	op.mu.Unlock()

	// Errors about the client itself are shown to the person, never sent
	// to an unverified redirect URI (RFC 6749 §4.1.2.1).
	if q.Get("client_id") != op.clientID || q.Get("redirect_uri") != op.redirectURL {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(op.redirectURL)
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
		op.mu.Lock()
		op.codes[code] = grant{q.Get("code_challenge"), q.Get("nonce"), q.Get("redirect_uri")}
		op.mu.Unlock()
		answer.Set("code", code)
	}
	back.RawQuery = answer.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (op *testOP) token(w http.ResponseWriter, r *http.Request) {
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
	if id != op.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(op.clientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	op.mu.Lock()
	code := r.PostForm.Get("code")
	g, found := op.codes[code]
	delete(op.codes, code) // a code is good for one try only
	op.mu.Unlock()
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
		"iss":   op.issuer,
		"aud":   op.clientID,
		"exp":   now.Add(5 * time.Minute).Unix(),
		"iat":   now.Unix(),
		"nonce": g.nonce,
	}
	op.mu.Lock()
	for k, v := range op.claims {
		claims[k] = v
	}
	edit, key, keyID := op.editToken, op.key, op.keyID
	if op.signWith != nil {
		key, keyID = op.signWith, op.signWithKeyID
	}
	op.mu.Unlock()
	if edit != nil {
		edit(claims)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": randomString(),
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token":     op.sign(claims, key, keyID),
	})
}

// sign makes a compact JWS of claims, RS256 with the key id in the header
// as providers do, so that clients can pick the key from the JWKS.
func (op *testOP) sign(claims map[string]any, key *rsa.PrivateKey, keyID string) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID))
	if err != nil {
		op.t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		op.t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		op.t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		op.t.Fatal(err)
	}
	return s
}

func (op *testOP) set(f func(op *testOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
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

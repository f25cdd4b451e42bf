package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/auth/provider"
)

var stateKey = []byte("0123456789abcdef0123456789abcdef")

// silo is the part of a Silo server that uses the provider: /login calls
// Start and /callback calls Finish and hands the result to the test.
type silo struct {
	srv     *httptest.Server
	p       *Provider
	results chan result
}

type result struct {
	id       *provider.Identity
	returnTo string
	err      error
}

func newSilo(t *testing.T, op *testOP, edit func(*Config)) *silo {
	t.Helper()
	s := &silo{results: make(chan result, 8)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		s.p.Start(w, r, r.URL.Query().Get("return"))
	})
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		id, ret, err := s.p.Finish(w, r)
		s.results <- result{id, ret, err}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("welcome " + id.Username))
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)

	op.redirectURL = s.srv.URL + "/callback"
	cfg := Config{
		Name:         "test",
		Issuer:       op.issuer,
		ClientID:     op.clientID,
		ClientSecret: op.clientSecret,
		RedirectURL:  op.redirectURL,
		StateKey:     stateKey,
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.p = p
	return s
}

// browser is a real http.Client with a cookie jar. When stopAtCallback is
// set it does not follow the provider's redirect back to Silo, so that the
// test can tamper with the callback first.
type browser struct {
	client         *http.Client
	jar            *cookiejar.Jar
	stopAtCallback bool
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{jar: jar}
	b.client = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if b.stopAtCallback && req.URL.Path == "/callback" {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	return b
}

func (b *browser) get(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp
}

// login runs the whole flow and returns what Finish returned.
func (s *silo) login(t *testing.T, b *browser, returnTo string) result {
	t.Helper()
	b.get(t, s.srv.URL+"/login?return="+url.QueryEscape(returnTo))
	return s.result(t)
}

// begin runs the flow up to the provider's redirect back to Silo and
// returns the callback URL, not yet visited.
func (s *silo) begin(t *testing.T, b *browser) *url.URL {
	t.Helper()
	b.stopAtCallback = true
	defer func() { b.stopAtCallback = false }()
	resp := b.get(t, s.srv.URL+"/login?return=/after")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("expected the provider's redirect to the callback, got %s", resp.Status)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || u.Path != "/callback" {
		t.Fatalf("redirect to %q, want the callback", resp.Header.Get("Location"))
	}
	return u
}

// finish visits a callback URL and returns what Finish returned.
func (s *silo) finish(t *testing.T, b *browser, u *url.URL) result {
	t.Helper()
	b.get(t, u.String())
	return s.result(t)
}

func (s *silo) result(t *testing.T) result {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	default:
		t.Fatal("the callback was never reached")
		return result{}
	}
}

func (b *browser) stateCookies(u string) []*http.Cookie {
	parsed, _ := url.Parse(u)
	var out []*http.Cookie
	for _, c := range b.jar.Cookies(parsed) {
		if strings.HasPrefix(c.Name, cookiePrefix) {
			out = append(out, c)
		}
	}
	return out
}

// putCookie replaces a state cookie. The jar does not say a cookie's path,
// and one set without it would sit beside the original, not replace it.
func (b *browser) putCookie(u *url.URL, c *http.Cookie) {
	c.Path = "/callback"
	b.jar.SetCookies(u, []*http.Cookie{c})
}

func TestLogin(t *testing.T) {
	op := newTestOP(t)
	s := newSilo(t, op, nil)
	b := newBrowser(t)

	r := s.login(t, b, "/images?q=lab")
	if r.err != nil {
		t.Fatalf("Finish: %v", r.err)
	}
	want := &provider.Identity{
		Provider: "oidc:test",
		Subject:  "248289761001",
		Username: "jane.doe",
		Email:    "jane@example.org",
		Name:     "Jane Doe",
		Groups:   []string{"physics", "hpc-admins"},
	}
	if !reflect.DeepEqual(r.id, want) {
		t.Errorf("identity = %+v, want %+v", r.id, want)
	}
	if r.returnTo != "/images?q=lab" {
		t.Errorf("returnTo = %q", r.returnTo)
	}
	if c := b.stateCookies(s.srv.URL + "/callback"); len(c) != 0 {
		t.Errorf("state cookie left behind after the login: %v", c)
	}

	// What the provider was asked for: a code, with PKCE S256, a nonce,
	// a state, and the openid scope.
	op.mu.Lock()
	q := op.authorizeQueries[len(op.authorizeQueries)-1]
	op.mu.Unlock()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" ||
		q.Get("scope") != "openid profile email" || q.Get("response_type") != "code" {
		t.Errorf("authorize request = %v", q)
	}
}

func TestLoginSecondTimeGetsFreshState(t *testing.T) {
	op := newTestOP(t)
	s := newSilo(t, op, nil)
	b := newBrowser(t)
	for range 2 {
		if r := s.login(t, b, "/"); r.err != nil {
			t.Fatalf("Finish: %v", r.err)
		}
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	a, c := op.authorizeQueries[0], op.authorizeQueries[1]
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if a.Get(k) == c.Get(k) {
			t.Errorf("%s repeated across logins: %q", k, a.Get(k))
		}
	}
}

// Two logins begun in two tabs of one browser both finish, whichever
// callback comes first.
func TestTwoTabs(t *testing.T) {
	op := newTestOP(t)
	s := newSilo(t, op, nil)
	b := newBrowser(t)
	first, second := s.begin(t, b), s.begin(t, b)
	for _, u := range []*url.URL{second, first} {
		if r := s.finish(t, b, u); r.err != nil {
			t.Fatalf("Finish: %v", r.err)
		}
	}
}

// Another Silo node, sharing only the configuration and the key, finishes
// a login this one began: nothing is kept in memory.
func TestAnotherNodeFinishes(t *testing.T) {
	op := newTestOP(t)
	s := newSilo(t, op, nil)
	b := newBrowser(t)
	cb := s.begin(t, b)

	other, err := New(context.Background(), s.p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, cb.String(), nil)
	for _, c := range b.jar.Cookies(cb) {
		req.AddCookie(c)
	}
	id, ret, err := other.Finish(httptest.NewRecorder(), req)
	if err != nil || id.Subject != "248289761001" || ret != "/after" {
		t.Fatalf("Finish on another node = %+v, %q, %v", id, ret, err)
	}
}

func TestRefused(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		// misbehave sets the provider up to misbehave.
		misbehave func(op *testOP)
		// tamper changes the callback (or the browser) before it is
		// visited.
		tamper func(t *testing.T, s *silo, b *browser, cb *url.URL)
		// wantErr, when set, is what Finish must return (errors.Is);
		// otherwise any error that mentions wantText.
		wantErr  error
		wantText string
	}{
		{
			name: "tampered state",
			tamper: func(t *testing.T, s *silo, b *browser, cb *url.URL) {
				q := cb.Query()
				q.Set("state", randomString())
				cb.RawQuery = q.Encode()
			},
			wantErr: ErrInvalidState,
		},
		{
			name: "state not made by us",
			tamper: func(t *testing.T, s *silo, b *browser, cb *url.URL) {
				q := cb.Query()
				q.Set("state", "x; Path=/")
				cb.RawQuery = q.Encode()
			},
			wantErr: ErrInvalidState,
		},
		{
			name: "tampered state cookie",
			tamper: func(t *testing.T, s *silo, b *browser, cb *url.URL) {
				c := b.stateCookies(cb.String())[0]
				payload, sig, _ := strings.Cut(c.Value, ".")
				body, _ := base64.RawURLEncoding.DecodeString(payload)
				body = []byte(strings.Replace(string(body), `"r":"/after"`, `"r":"/evil"`, 1))
				c.Value = base64.RawURLEncoding.EncodeToString(body) + "." + sig
				b.putCookie(cb, c)
			},
			wantErr: ErrInvalidState,
		},
		{
			name: "callback in a browser that did not start the login",
			tamper: func(t *testing.T, s *silo, b *browser, cb *url.URL) {
				fresh := newBrowser(t)
				*b = *fresh
			},
			wantErr: ErrInvalidState,
		},
		{
			name: "state cookie expired",
			tamper: func(t *testing.T, s *silo, b *browser, cb *url.URL) {
				s.p.now = func() time.Time { return time.Now().Add(stateTTL + time.Minute) }
			},
			wantErr: ErrInvalidState,
		},
		{
			name: "state cookie signed with another key",
			tamper: func(t *testing.T, s *silo, b *browser, cb *url.URL) {
				s.p.cfg.StateKey = []byte("another key, another key, another key")
			},
			wantErr: ErrInvalidState,
		},
		{
			// The code is good and the state is good, but the verifier
			// in the (validly signed) cookie is not the one whose
			// challenge went to the provider: PKCE must make the
			// provider refuse the exchange.
			name: "bad PKCE verifier",
			tamper: func(t *testing.T, s *silo, b *browser, cb *url.URL) {
				c := b.stateCookies(cb.String())[0]
				f, ok := s.p.open(c.Value)
				if !ok {
					t.Fatal("cannot open the state cookie")
				}
				f.Verifier = strings.Repeat("A", 43)
				c.Value = s.p.seal(f)
				b.putCookie(cb, c)
			},
			wantText: "invalid_grant",
		},
		{
			// An attacker's code injected into the victim's callback:
			// the victim's state and cookie are valid, but the code was
			// issued against the attacker's challenge.
			name: "code from another login",
			tamper: func(t *testing.T, s *silo, b *browser, cb *url.URL) {
				attacker := s.begin(t, newBrowser(t))
				q := cb.Query()
				q.Set("code", attacker.Query().Get("code"))
				cb.RawQuery = q.Encode()
			},
			wantText: "invalid_grant",
		},
		{
			name: "wrong client secret",
			misbehave: func(op *testOP) {
				op.clientSecret = "rotated"
			},
			wantText: "invalid_client",
		},
		{
			name:      "wrong nonce",
			misbehave: func(op *testOP) { op.editToken = func(c map[string]any) { c["nonce"] = randomString() } },
			wantText:  "nonce",
		},
		{
			name:      "no nonce",
			misbehave: func(op *testOP) { op.editToken = func(c map[string]any) { delete(c, "nonce") } },
			wantText:  "nonce",
		},
		{
			name: "expired ID token",
			misbehave: func(op *testOP) {
				op.editToken = func(c map[string]any) {
					c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
					c["exp"] = time.Now().Add(-time.Hour).Unix()
				}
			},
			wantText: "expired",
		},
		{
			name:      "wrong audience",
			misbehave: func(op *testOP) { op.editToken = func(c map[string]any) { c["aud"] = "another-client" } },
			wantText:  "audience",
		},
		{
			name:      "wrong issuer",
			misbehave: func(op *testOP) { op.editToken = func(c map[string]any) { c["iss"] = "https://evil.example" } },
			wantText:  "different provider",
		},
		{
			name: "signed by an unknown key with a known key id",
			misbehave: func(op *testOP) {
				op.signWith, op.signWithKeyID = otherKey, op.keyID
			},
			wantText: "signature",
		},
		{
			name: "signed by an unknown key with an unknown key id",
			misbehave: func(op *testOP) {
				op.signWith, op.signWithKeyID = otherKey, "key-unknown"
			},
			wantText: "signature",
		},
		{
			name:      "provider denies",
			misbehave: func(op *testOP) { op.deny = true },
			wantText:  "access_denied",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := newTestOP(t)
			s := newSilo(t, op, nil)
			b := newBrowser(t)
			if tc.misbehave != nil {
				op.set(tc.misbehave)
			}
			cb := s.begin(t, b)
			if tc.tamper != nil {
				tc.tamper(t, s, b, cb)
			}
			r := s.finish(t, b, cb)
			switch {
			case r.err == nil:
				t.Fatalf("Finish accepted: %+v", r.id)
			case r.id != nil || r.returnTo != "":
				t.Errorf("Finish returned an identity or a returnTo with its error: %+v %q", r.id, r.returnTo)
			case tc.wantErr != nil && !errors.Is(r.err, tc.wantErr):
				t.Fatalf("Finish = %v, want %v", r.err, tc.wantErr)
			case tc.wantErr == nil && (errors.Is(r.err, ErrInvalidState) || !strings.Contains(r.err.Error(), tc.wantText)):
				t.Fatalf("Finish = %v, want an error about %q", r.err, tc.wantText)
			}
			t.Logf("refused: %v", r.err)
		})
	}
}

func TestProviderErrorIsTyped(t *testing.T) {
	op := newTestOP(t)
	s := newSilo(t, op, nil)
	op.set(func(op *testOP) { op.deny = true })
	r := s.login(t, newBrowser(t), "/")
	var pe *ProviderError
	if !errors.As(r.err, &pe) || pe.Code != "access_denied" || pe.Description != "The user declined" {
		t.Fatalf("Finish = %v, want a ProviderError", r.err)
	}
}

// A callback replayed after a successful login is refused: the cookie is
// gone and the code is used.
func TestReplay(t *testing.T) {
	op := newTestOP(t)
	s := newSilo(t, op, nil)
	b := newBrowser(t)
	cb := s.begin(t, b)
	saved := b.stateCookies(cb.String())
	if r := s.finish(t, b, cb); r.err != nil {
		t.Fatalf("Finish: %v", r.err)
	}
	if r := s.finish(t, b, cb); !errors.Is(r.err, ErrInvalidState) {
		t.Fatalf("replay in the same browser = %v, want ErrInvalidState", r.err)
	}
	// Even with the cookie put back (stolen before it was cleared), the
	// provider refuses a used code.
	b.putCookie(cb, saved[0])
	if r := s.finish(t, b, cb); r.err == nil || !strings.Contains(r.err.Error(), "invalid_grant") {
		t.Fatalf("replay with the cookie restored = %v, want invalid_grant", r.err)
	}
}

func TestClaims(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(c map[string]any)
		cfg    func(*Config)
		verify func(t *testing.T, id *provider.Identity)
	}{
		{
			name: "no preferred_username: the e-mail's local part",
			edit: func(c map[string]any) { delete(c, "preferred_username") },
			verify: func(t *testing.T, id *provider.Identity) {
				if id.Username != "jane" {
					t.Errorf("Username = %q", id.Username)
				}
			},
		},
		{
			name: "unverified e-mail is left out",
			edit: func(c map[string]any) { c["email_verified"] = false },
			verify: func(t *testing.T, id *provider.Identity) {
				if id.Email != "" {
					t.Errorf("Email = %q", id.Email)
				}
			},
		},
		{
			name: "other claim names",
			edit: func(c map[string]any) { c["login"] = "JDoe"; c["roles"] = "admins" },
			cfg:  func(c *Config) { c.UsernameClaim, c.GroupsClaim = "login", "roles" },
			verify: func(t *testing.T, id *provider.Identity) {
				if id.Username != "jdoe" || !reflect.DeepEqual(id.Groups, []string{"admins"}) {
					t.Errorf("identity = %+v", id)
				}
			},
		},
		{
			name: "no groups",
			edit: func(c map[string]any) { delete(c, "groups") },
			verify: func(t *testing.T, id *provider.Identity) {
				if id.Groups != nil {
					t.Errorf("Groups = %q", id.Groups)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := newTestOP(t)
			s := newSilo(t, op, tc.cfg)
			op.set(func(op *testOP) { op.editToken = tc.edit })
			r := s.login(t, newBrowser(t), "/")
			if r.err != nil {
				t.Fatalf("Finish: %v", r.err)
			}
			tc.verify(t, r.id)
		})
	}
}

func TestStartCookie(t *testing.T) {
	op := newTestOP(t)
	for _, tc := range []struct {
		redirect   string
		wantSecure bool
	}{
		{"https://silo.example/auth/oidc/callback", true},
		{"http://127.0.0.1:8080/auth/oidc/callback", false},
	} {
		op.redirectURL = tc.redirect
		p, err := New(context.Background(), Config{
			Name: "test", Issuer: op.issuer, ClientID: op.clientID, RedirectURL: tc.redirect, StateKey: stateKey,
		})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		p.Start(w, httptest.NewRequest(http.MethodGet, "/login", nil), "https://evil.example/")
		resp := w.Result()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("Start: %s", resp.Status)
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		cookies := resp.Cookies()
		if len(cookies) != 1 {
			t.Fatalf("Start set %d cookies", len(cookies))
		}
		c := cookies[0]
		if c.Name != cookiePrefix+loc.Query().Get("state") || !c.HttpOnly || c.Secure != tc.wantSecure ||
			c.SameSite != http.SameSiteLaxMode || c.Path != "/auth/oidc/callback" || c.MaxAge != 600 {
			t.Errorf("%s: cookie = %+v", tc.redirect, c)
		}
		f, ok := p.open(c.Value)
		if !ok {
			t.Fatal("cannot open the state cookie")
		}
		// The challenge sent is the S256 of the verifier kept.
		sum := sha256.Sum256([]byte(f.Verifier))
		if loc.Query().Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) ||
			loc.Query().Get("nonce") != f.Nonce || f.ReturnTo != "/" {
			t.Errorf("authorize URL %s does not match the flow %+v", loc, f)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                                    "/",
		"/images?q=lab":                        "/images?q=lab",
		"/a/b#frag":                            "/a/b#frag",
		"":                                     "/",
		"images":                               "/",
		"https://evil.example":                 "/",
		"//evil.example/x":                     "/",
		"/\\evil.example":                      "/",
		"/x\r\nSet-Cookie: a":                  "/",
		"javascript:alert(1)":                  "/",
		"/" + strings.Repeat("a", maxReturnTo): "/",
	} {
		if got := LocalPath(in); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNew(t *testing.T) {
	op := newTestOP(t)
	good := Config{Name: "t", Issuer: op.issuer, ClientID: "silo", RedirectURL: "https://silo.example/cb", StateKey: stateKey}
	for name, edit := range map[string]func(*Config){
		"no name":           func(c *Config) { c.Name = "" },
		"no issuer":         func(c *Config) { c.Issuer = "" },
		"no client":         func(c *Config) { c.ClientID = "" },
		"short key":         func(c *Config) { c.StateKey = stateKey[:16] },
		"relative redirect": func(c *Config) { c.RedirectURL = "/cb" },
		"issuer mismatch":   func(c *Config) { c.Issuer = op.issuer + "/other" },
		"issuer down": func(c *Config) {
			dead := httptest.NewServer(http.NotFoundHandler())
			dead.Close()
			c.Issuer = dead.URL
		},
	} {
		cfg := good
		edit(&cfg)
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	p, err := New(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "oidc:t" || strings.Join(p.oauth.Scopes, " ") != "openid profile email" {
		t.Errorf("provider = %s %v", p.Name(), p.oauth.Scopes)
	}
	good.Scopes = []string{"groups"}
	if p, err = New(context.Background(), good); err != nil || strings.Join(p.oauth.Scopes, " ") != "openid groups" {
		t.Errorf("scopes without openid = %v, %v", p.oauth.Scopes, err)
	}
}

package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/auth/oidc/oidctest"
	"github.com/siloreg/silo/internal/auth/provider"
)

func TestLogin(t *testing.T) {
	op := oidctest.New(t)
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
	qs := op.AuthorizeQueries()
	q := qs[len(qs)-1]
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" ||
		q.Get("scope") != "openid profile email" || q.Get("response_type") != "code" {
		t.Errorf("authorize request = %v", q)
	}
}

func TestLoginSecondTimeGetsFreshState(t *testing.T) {
	op := oidctest.New(t)
	s := newSilo(t, op, nil)
	b := newBrowser(t)
	for range 2 {
		if r := s.login(t, b, "/"); r.err != nil {
			t.Fatalf("Finish: %v", r.err)
		}
	}
	qs := op.AuthorizeQueries()
	a, c := qs[0], qs[1]
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if a.Get(k) == c.Get(k) {
			t.Errorf("%s repeated across logins: %q", k, a.Get(k))
		}
	}
}

// Two logins begun in two tabs of one browser both finish, whichever
// callback comes first.
func TestTwoTabs(t *testing.T) {
	op := oidctest.New(t)
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
	op := oidctest.New(t)
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
		misbehave func(op *oidctest.Provider)
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
			misbehave: func(op *oidctest.Provider) {
				op.ClientSecret = "rotated"
			},
			wantText: "invalid_client",
		},
		{
			name:      "wrong nonce",
			misbehave: func(op *oidctest.Provider) { op.EditToken = func(c map[string]any) { c["nonce"] = randomString() } },
			wantText:  "nonce",
		},
		{
			name:      "no nonce",
			misbehave: func(op *oidctest.Provider) { op.EditToken = func(c map[string]any) { delete(c, "nonce") } },
			wantText:  "nonce",
		},
		{
			name: "expired ID token",
			misbehave: func(op *oidctest.Provider) {
				op.EditToken = func(c map[string]any) {
					c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
					c["exp"] = time.Now().Add(-time.Hour).Unix()
				}
			},
			wantText: "expired",
		},
		{
			name:      "wrong audience",
			misbehave: func(op *oidctest.Provider) { op.EditToken = func(c map[string]any) { c["aud"] = "another-client" } },
			wantText:  "audience",
		},
		{
			name: "wrong issuer",
			misbehave: func(op *oidctest.Provider) {
				op.EditToken = func(c map[string]any) { c["iss"] = "https://evil.example" }
			},
			wantText: "different provider",
		},
		{
			name: "signed by an unknown key with a known key id",
			misbehave: func(op *oidctest.Provider) {
				op.SignWith, op.SignWithKeyID = otherKey, op.KeyID
			},
			wantText: "signature",
		},
		{
			name: "signed by an unknown key with an unknown key id",
			misbehave: func(op *oidctest.Provider) {
				op.SignWith, op.SignWithKeyID = otherKey, "key-unknown"
			},
			wantText: "signature",
		},
		{
			name:      "provider denies",
			misbehave: func(op *oidctest.Provider) { op.Deny = true },
			wantText:  "access_denied",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := oidctest.New(t)
			s := newSilo(t, op, nil)
			b := newBrowser(t)
			if tc.misbehave != nil {
				op.Set(tc.misbehave)
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
	op := oidctest.New(t)
	s := newSilo(t, op, nil)
	op.Set(func(op *oidctest.Provider) { op.Deny = true })
	r := s.login(t, newBrowser(t), "/")
	var pe *ProviderError
	if !errors.As(r.err, &pe) || pe.Code != "access_denied" || pe.Description != "The user declined" {
		t.Fatalf("Finish = %v, want a ProviderError", r.err)
	}
}

// A callback replayed after a successful login is refused: the cookie is
// gone and the code is used.
func TestReplay(t *testing.T) {
	op := oidctest.New(t)
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
			op := oidctest.New(t)
			s := newSilo(t, op, tc.cfg)
			op.Set(func(op *oidctest.Provider) { op.EditToken = tc.edit })
			r := s.login(t, newBrowser(t), "/")
			if r.err != nil {
				t.Fatalf("Finish: %v", r.err)
			}
			tc.verify(t, r.id)
		})
	}
}

func TestStartCookie(t *testing.T) {
	op := oidctest.New(t)
	for _, tc := range []struct {
		redirect   string
		wantSecure bool
	}{
		{"https://silo.example/auth/oidc/callback", true},
		{"http://127.0.0.1:8080/auth/oidc/callback", false},
	} {
		op.RedirectURL = tc.redirect
		p, err := New(context.Background(), Config{
			Name: "test", Issuer: op.Issuer, ClientID: op.ClientID, RedirectURL: tc.redirect, StateKey: stateKey,
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
	op := oidctest.New(t)
	good := Config{Name: "t", Issuer: op.Issuer, ClientID: "silo", RedirectURL: "https://silo.example/cb", StateKey: stateKey}
	for name, edit := range map[string]func(*Config){
		"no name":           func(c *Config) { c.Name = "" },
		"no issuer":         func(c *Config) { c.Issuer = "" },
		"no client":         func(c *Config) { c.ClientID = "" },
		"short key":         func(c *Config) { c.StateKey = stateKey[:16] },
		"relative redirect": func(c *Config) { c.RedirectURL = "/cb" },
		"issuer mismatch":   func(c *Config) { c.Issuer = op.Issuer + "/other" },
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

package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/auth/oidc/oidctest"
	"github.com/siloreg/silo/internal/auth/provider"
)

// stateKey signs the state cookies of every test login.
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

func newSilo(t *testing.T, op *oidctest.Provider, edit func(*Config)) *silo {
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

	op.RedirectURL = s.srv.URL + "/callback"
	cfg := Config{
		Name:         "test",
		Issuer:       op.Issuer,
		ClientID:     op.ClientID,
		ClientSecret: op.ClientSecret,
		RedirectURL:  op.RedirectURL,
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

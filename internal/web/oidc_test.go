package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/siloreg/silo/internal/auth/oidc/oidctest"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestBrowserOIDCLogin logs in with the login page's provider button: the
// browser goes to the provider and back, and ends logged in on the page it
// started from, with a web session rather than the token page.
func TestBrowserOIDCLogin(t *testing.T) {
	proc := browserProcess(t)
	op := oidctest.New(t)
	// The provider must know the callback URL before the server starts,
	// so the server sits behind a proxy whose address is known first.
	var proxy atomic.Pointer[httputil.ReverseProxy]
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxy.Load().ServeHTTP(w, r) }))
	t.Cleanup(front.Close)
	op.RedirectURL = front.URL + "/auth/oidc/sso/callback"
	in := servertest.Start(t, server.Config{PublicURL: front.URL, OIDC: []server.OIDCProvider{{
		Name: "sso", Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
	}}})
	backend, _ := url.Parse(in.URL)
	proxy.Store(httputil.NewSingleHostReverseProxy(backend))

	b := newBrowser(t, proc, front.URL, "oidc")
	b.open("/search")
	b.open("/login?next=%2Fsearch%3Fq%3Dbwa")
	b.shot("login-oidc")
	b.submit(`a[href^="/auth/oidc/sso/login"]`)
	user := b.text("header .who span")
	if user == "" {
		t.Fatalf("not logged in after the provider login; page:\n%s", b.text("body"))
	}
	if loc := b.location(); loc != front.URL+"/search?q=bwa" {
		t.Errorf("after the provider login the browser is at %s, want the page it came from", loc)
	}
	b.open("/account")
	if got := b.text("#tokens"); !strings.Contains(got, "web session") || !strings.Contains(got, "this session") {
		t.Errorf("the session is not a web session token:\n%s", got)
	}
	// The command-line flow is unchanged: without next, the token page.
	b2 := newBrowser(t, proc, front.URL, "oidc-cli")
	b2.open("/auth/oidc/sso/login")
	if got := b2.text("body"); !strings.Contains(got, "Your API token") || strings.Contains(got, "Log out") {
		t.Errorf("the plain provider login no longer ends on the token page:\n%s", got)
	}
}

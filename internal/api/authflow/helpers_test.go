package authflow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/auth/oidc/oidctest"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// site is a real Silo server with an OpenID provider, reached as a browser
// would reach it: through a front end at the public URL.
//
// The front end is there because the provider must know Silo's callback
// URL before Silo starts, and servertest picks Silo's port only then; so
// Silo runs behind a reverse proxy whose URL is known first, as it would
// behind a load balancer, with --url set to the proxy's.
type site struct {
	op    *oidctest.Provider
	in    *servertest.Instance
	url   string // the public URL
	proxy atomic.Pointer[httputil.ReverseProxy]
}

// providerName is the test provider's name in Silo.
const providerName = "sso"

func startSite(t *testing.T) *site {
	t.Helper()
	s := &site{op: oidctest.New(t)}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.proxy.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	s.url = front.URL
	s.op.RedirectURL = s.url + "/auth/oidc/" + providerName + "/callback"
	s.in = servertest.Start(t, server.Config{
		PublicURL: s.url,
		OIDC: []server.OIDCProvider{{
			Name: providerName, Issuer: s.op.Issuer, ClientID: s.op.ClientID, ClientSecret: s.op.ClientSecret,
		}},
	})
	backend, err := url.Parse(s.in.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.proxy.Store(httputil.NewSingleHostReverseProxy(backend))
	return s
}

// browser is a real http.Client with a cookie jar. With stopAtCallback
// set it does not follow the provider's redirect back to Silo, so that
// the test can tamper with the callback first.
type browser struct {
	client         *http.Client
	stopAtCallback bool
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{}
	b.client = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if b.stopAtCallback && strings.HasSuffix(req.URL.Path, "/callback") {
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

// page is one answer as the browser got it.
type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) get(t *testing.T, u string) page {
	t.Helper()
	res, err := b.client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{status: res.StatusCode, header: res.Header, body: string(body)}
}

// login runs the whole flow and returns the page the callback showed.
func (s *site) login(t *testing.T, b *browser) page {
	t.Helper()
	return b.get(t, s.url+"/auth/oidc/"+providerName+"/login")
}

// begin runs the flow up to the provider's redirect back to Silo and
// returns the callback URL, not yet visited.
func (s *site) begin(t *testing.T, b *browser) *url.URL {
	t.Helper()
	b.stopAtCallback = true
	defer func() { b.stopAtCallback = false }()
	p := s.login(t, b)
	u, err := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusFound || err != nil || !strings.HasPrefix(u.String(), s.op.RedirectURL) {
		t.Fatalf("want the provider's redirect to the callback, got %d to %q", p.status, p.header.Get("Location"))
	}
	return u
}

var tokenRE = regexp.MustCompile(`silo_[A-Za-z0-9_-]{190,}`)

// token is the API token a page shows, "" for none.
func (p page) token() string { return tokenRE.FindString(p.body) }

// checkHTML checks what every login page must be: HTML that is not
// cached, under a policy that lets nothing but its own style sheet load.
func (p page) checkHTML(t *testing.T, what string, status int) {
	t.Helper()
	if p.status != status {
		t.Errorf("%s: status %d, want %d; page:\n%s", what, p.status, status, p.body)
	}
	h := p.header
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'; ") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: headers %v", what, h)
	}
}

// apiGet sends an authenticated GET to Silo and decodes a 200 JSON answer
// into out, returning the status.
func (s *site) apiGet(t *testing.T, path, token string, out any) int {
	t.Helper()
	return s.apiDo(t, http.MethodGet, path, token, nil, out)
}

func (s *site) apiDo(t *testing.T, method, path, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
	return res.StatusCode
}

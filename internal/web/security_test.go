package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// TestBrowserEscapesImageText pushes an image whose labels and definition
// file carry markup and script, opens its page in Chromium, and checks
// that none of it ran or became markup, and that the text shows as typed.
func TestBrowserEscapesImageText(t *testing.T) {
	proc := browserProcess(t)
	s := startSite(t, "mallory")
	const (
		labelKey   = `<img src=x onerror="window.pwned='key'">`
		labelValue = `<script>window.pwned='label';document.cookie='pwned=1'</script>`
		definition = "Bootstrap: docker\nFrom: alpine\n</pre><script>window.pwned='def'</script><pre>\n%labels\n  x <b onmouseover=alert(1)>bold</b>\n"
	)
	s.push(t, "mallory", "mallory/evil/xss", "latest", siftest.Options{Seed: 7,
		Labels: map[string]string{labelKey: labelValue, "note": `"><svg onload="window.pwned='svg'">`}, Definition: definition})

	for _, who := range []string{"anonymous", "mallory"} {
		b := newBrowser(t, proc, s.URL, who)
		if who != "anonymous" {
			b.login("mallory", password)
		}
		for _, path := range []string{"/c/mallory/evil/xss", "/search?q=script", "/", "/storage"} {
			if who == "anonymous" && path == "/storage" {
				continue
			}
			b.open(path)
			state := run(b, "page state", chromedp.Evaluate[map[string]any](`({
				pwned: typeof window.pwned === "undefined" ? null : String(window.pwned),
				cookie: document.cookie,
				scripts: document.querySelectorAll("script").length,
				handlers: document.querySelectorAll("[onerror],[onload],[onmouseover]").length,
				injected: document.querySelectorAll("img, svg:not(.chart), pre.definition :not(span), pre.definition span *, table.labels td *").length
			})`))
			if state["pwned"] != nil || strings.Contains(state["cookie"].(string), "pwned") {
				t.Errorf("%s %s: script from the image ran: %v", who, path, state)
			}
			if state["scripts"].(float64) != 0 || state["handlers"].(float64) != 0 || state["injected"].(float64) != 0 {
				t.Errorf("%s %s: image text became markup: %v", who, path, state)
			}
		}
		b.open("/c/mallory/evil/xss")
		labels := b.text("table.labels")
		for _, want := range []string{labelKey, labelValue, `"><svg onload="window.pwned='svg'">`} {
			if !strings.Contains(labels, want) {
				t.Errorf("%s: the labels do not show %q as text; they show:\n%s", who, want, labels)
			}
		}
		if def := b.text("pre.definition"); !strings.Contains(def, "</pre><script>window.pwned='def'</script><pre>") {
			t.Errorf("%s: the definition file is not shown as typed:\n%s", who, def)
		}
		b.shot("xss-" + who)
	}
}

// TestBrowserPrivateCollection checks that a collection made private on
// its page vanishes, exactly like a missing one, for another user and for
// someone not logged in, from every page.
func TestBrowserPrivateCollection(t *testing.T) {
	proc := browserProcess(t)
	s := startSite(t, "alice", "bob")
	s.push(t, "alice", "alice/secret/plans", "v1", siftest.Options{Seed: 11})
	s.push(t, "alice", "alice/public/tool", "v1", siftest.Options{Seed: 12})

	alice := newBrowser(t, proc, s.URL, "alice")
	alice.login("alice", password)
	alice.open("/c/alice/secret")
	alice.submit(`form[action$="/privacy"] button`)
	if got := alice.text("h1"); !strings.Contains(got, "private") {
		t.Fatalf("after making it private the title says %q", got)
	}
	alice.shot("collection-private")

	bob := newBrowser(t, proc, s.URL, "bob")
	bob.login("bob", password)
	anon := newBrowser(t, proc, s.URL, "anonymous")
	for _, b := range []*browser{bob, anon} {
		b.open("/c/alice/secret/plans")
		hidden := b.text("main")
		b.open("/c/alice/nothing-here/plans")
		missing := b.text("main")
		if strings.ReplaceAll(hidden, "secret", "X") != strings.ReplaceAll(missing, "nothing-here", "X") || !strings.Contains(hidden, "not found") {
			t.Errorf("%s: a private container's page %q differs from a missing one's %q", b.name, hidden, missing)
		}
		b.open("/c/alice/secret")
		if got := b.text("main"); strings.Contains(got, "plans") || !strings.Contains(got, "not found") {
			t.Errorf("%s: the private collection's page says %q", b.name, got)
		}
		for _, path := range []string{"/", "/search?q=plans", "/search?owner=alice"} {
			b.open(path)
			if got := b.text("main"); strings.Contains(got, "secret") || strings.Contains(got, "plans") {
				t.Errorf("%s: %s shows the private collection:\n%s", b.name, path, got)
			}
		}
		b.open("/search?owner=alice")
		if !strings.Contains(b.text("main"), "alice/public/tool") {
			t.Errorf("%s: the public collection is not found", b.name)
		}
	}
	bob.open("/storage")
	if got := bob.text("main"); strings.Contains(got, "secret") {
		t.Errorf("bob's storage summary shows the private collection:\n%s", got)
	}
	anon.open("/storage")
	if loc := anon.location(); !strings.Contains(loc, "/login?next=%2Fstorage") {
		t.Errorf("anonymous storage page went to %s", loc)
	}
	// Its owner still sees it.
	alice.open("/search?q=plans")
	if !strings.Contains(alice.text("main"), "alice/secret/plans") {
		t.Error("alice cannot find her own private container")
	}
}

// TestCSRF checks that a form posted without this browser's token, or with
// another browser's, is refused, and that the same form with the token
// works (so the refusal is the token's doing).
func TestCSRF(t *testing.T) {
	s := startSite(t, "alice")
	victim := loginClient(t, s, "alice")
	attacker := loginClient(t, s, "alice")
	attackerToken := csrfOf(t, get(t, attacker, s.URL+"/account"))

	post := func(c *http.Client, token string, extra http.Header) int {
		form := url.Values{"name": {"stolen"}, "expires": {"1d"}}
		if token != "" {
			form.Set("csrf", token)
		}
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/account/tokens", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range extra {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(victim, "", nil); code != http.StatusForbidden {
		t.Errorf("POST without a CSRF token: %d, want 403", code)
	}
	if code := post(victim, attackerToken, nil); code != http.StatusForbidden {
		t.Errorf("POST with another browser's CSRF token: %d, want 403", code)
	}
	own := csrfOf(t, get(t, victim, s.URL+"/account"))
	if code := post(victim, own, http.Header{"Sec-Fetch-Site": {"cross-site"}}); code != http.StatusForbidden {
		t.Errorf("cross-site POST with the right token: %d, want 403", code)
	}
	if code := post(victim, own, nil); code != http.StatusOK {
		t.Errorf("POST with the right token: %d, want 200", code)
	}
	var list struct{ Tokens []struct{ Name string } }
	s.apiGet(t, "/api/silo/v1/tokens", s.tokens["alice"], &list)
	n := 0
	for _, tk := range list.Tokens {
		if tk.Name == "stolen" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d tokens named stolen exist, want exactly the one posted with the right CSRF token", n)
	}

	// Logging out needs the token too: a forged logout would revoke the session.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/logout", nil)
	resp, err := victim.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without a token: %d, want 403", resp.StatusCode)
	}
}

// TestSecurityHeaders checks the headers every page carries and the
// session cookie's flags.
func TestSecurityHeaders(t *testing.T) {
	s := startSite(t, "alice")
	c := loginClient(t, s, "alice")
	resp, err := c.Get(s.URL + "/account")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q allows script or unsafe sources", csp)
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	// The login's Set-Cookie, seen without a jar.
	form := url.Values{"username": {"alice"}, "password": {password}}
	jar, _ := cookiejar.New(nil)
	bare := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form.Set("csrf", csrfOf(t, get(t, bare, s.URL+"/login")))
	resp, err = bare.PostForm(s.URL+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session string
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "silo_session=") {
			session = sc
		}
	}
	if session == "" {
		t.Fatalf("login set no session cookie (status %d)", resp.StatusCode)
	}
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie %q lacks %s", session, want)
		}
	}
}

// TestSecureCookies checks that cookies are Secure when the public URL is
// https, as when TLS ends at a proxy in front of Silo.
func TestSecureCookies(t *testing.T) {
	in := servertest.Start(t, server.Config{PublicURL: "https://silo.example.org"})
	resp, err := http.Get(in.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, "silo_csrf=") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") {
		t.Errorf("cookie behind an https URL: %q", sc)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

func get(t testing.TB, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// loginClient is an HTTP client with its own cookies, logged in as user
// through the login form.
func loginClient(t testing.TB, s *site, user string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	tok := csrfOf(t, get(t, c, s.URL+"/login"))
	resp, err := c.PostForm(s.URL+"/login", url.Values{"username": {user}, "password": {password}, "csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `<span>`+user+`</span>`) {
		t.Fatalf("logging in as %s through the form failed (%d):\n%s", user, resp.StatusCode, body)
	}
	return c
}

package authflow_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/auth/oidc/oidctest"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestOIDCLogin logs in with a browser (a real http.Client with a cookie
// jar) through the provider, and uses the token the page shows.
func TestOIDCLogin(t *testing.T) {
	s := startSite(t)
	// Jane's groups are physics and hpc-admins; physics is a team.
	if st := s.apiDo(t, "POST", "/api/silo/v1/teams", s.in.AdminToken, silo.NewTeam{Name: "physics"}, nil); st != http.StatusCreated {
		t.Fatalf("creating team physics: %d", st)
	}

	p := s.login(t, newBrowser(t))
	p.checkHTML(t, "token page", http.StatusOK)
	tok := p.token()
	if tok == "" {
		t.Fatalf("no token on the page:\n%s", p.body)
	}
	// The token works where `apptainer remote login` checks it.
	var st struct {
		Data struct{ Status, Username string }
	}
	if code := s.apiGet(t, "/v1/token-status", tok, &st); code != http.StatusOK || st.Data.Status != "valid" || st.Data.Username != "jane.doe" {
		t.Fatalf("token-status: %d %+v", code, st)
	}
	var me silo.User
	s.apiGet(t, "/api/silo/v1/me", tok, &me)
	if me.Source != "oidc:"+providerName || me.Subject != "248289761001" || me.Email != "jane@example.org" || !slices.Equal(me.Teams, []string{"physics"}) {
		t.Errorf("me = %+v", me)
	}
	// The page tells how to use it, with the public URL.
	for _, want := range []string{
		"apptainer remote add --no-login silo " + s.url,
		"apptainer remote login --tokenfile silo.token silo",
		"silo login " + s.url + " --token-file silo.token",
		"Jane Doe", "jane.doe",
	} {
		if !strings.Contains(html.UnescapeString(p.body), want) {
			t.Errorf("the token page does not say %q:\n%s", want, p.body)
		}
	}
	// The inline style sheet is the one the policy names by its hash, so
	// browsers apply it; nothing else is allowed.
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(p.body)
	if style == nil {
		t.Fatal("no style sheet on the page")
	}
	sum := sha256.Sum256([]byte(style[1]))
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") ||
		strings.Contains(csp, "script-src") || strings.Contains(p.body, "<script") {
		t.Errorf("policy %q does not match the page's style sheet, or the page has scripts", csp)
	}

	// Each login shows a new token, for the same account.
	again := s.login(t, newBrowser(t))
	if tok2 := again.token(); tok2 == "" || tok2 == tok {
		t.Errorf("second login token %q (first %q)", tok2, tok)
	}
	var users silo.UserList
	s.apiGet(t, "/api/silo/v1/users", s.in.AdminToken, &users)
	if n := len(users.Users); n != 2 { // admin and jane.doe
		t.Errorf("%d accounts after two logins, want 2", n)
	}
}

// A display name is the provider's to choose; on the page it is text.
func TestOIDCPageEscapes(t *testing.T) {
	s := startSite(t)
	s.op.Set(func(op *oidctest.Provider) {
		op.Claims["name"] = `<script>alert("name")</script><img src=x onerror=alert(1)>`
	})
	p := s.login(t, newBrowser(t))
	p.checkHTML(t, "token page", http.StatusOK)
	if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "<img") {
		t.Fatalf("the display name went into the page as markup:\n%s", p.body)
	}
	if !strings.Contains(p.body, "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the display name is not shown escaped:\n%s", p.body)
	}
	if p.token() == "" {
		t.Error("no token on the page")
	}
}

func TestOIDCRefused(t *testing.T) {
	s := startSite(t)

	t.Run("tampered state", func(t *testing.T) {
		b := newBrowser(t)
		cb := s.begin(t, b)
		q := cb.Query()
		q.Set("state", strings.Repeat("A", 22))
		cb.RawQuery = q.Encode()
		p := b.get(t, cb.String())
		p.checkHTML(t, "tampered state", http.StatusBadRequest)
		if p.token() != "" || !strings.Contains(p.body, "expired, or was not started in this browser") ||
			!strings.Contains(p.body, `href="/auth/oidc/`+providerName+`/login"`) {
			t.Errorf("tampered state page:\n%s", p.body)
		}
	})
	t.Run("callback in another browser", func(t *testing.T) {
		cb := s.begin(t, newBrowser(t))
		p := newBrowser(t).get(t, cb.String())
		p.checkHTML(t, "another browser", http.StatusBadRequest)
	})
	t.Run("provider denies", func(t *testing.T) {
		s.op.Set(func(op *oidctest.Provider) { op.Deny = true })
		defer s.op.Set(func(op *oidctest.Provider) { op.Deny = false })
		p := s.login(t, newBrowser(t))
		p.checkHTML(t, "denied", http.StatusForbidden)
		if p.token() != "" || !strings.Contains(p.body, "access_denied") {
			t.Errorf("denied page:\n%s", p.body)
		}
	})
	t.Run("forged ID token", func(t *testing.T) {
		s.op.Set(func(op *oidctest.Provider) { op.EditToken = func(c map[string]any) { c["aud"] = "another-client" } })
		defer s.op.Set(func(op *oidctest.Provider) { op.EditToken = nil })
		p := s.login(t, newBrowser(t))
		p.checkHTML(t, "forged token", http.StatusBadRequest)
		// What exactly failed is for the administrator, not the page.
		if p.token() != "" || strings.Contains(p.body, "audience") {
			t.Errorf("forged token page:\n%s", p.body)
		}
	})
	t.Run("disabled account", func(t *testing.T) {
		if p := s.login(t, newBrowser(t)); p.token() == "" {
			t.Fatalf("first login failed:\n%s", p.body)
		}
		disabled := true
		if st := s.apiDo(t, "PATCH", "/api/silo/v1/users/jane.doe", s.in.AdminToken, silo.UserPatch{Disabled: &disabled}, nil); st != http.StatusOK {
			t.Fatalf("disabling jane.doe: %d", st)
		}
		p := s.login(t, newBrowser(t))
		p.checkHTML(t, "disabled", http.StatusForbidden)
		if p.token() != "" || !strings.Contains(p.body, "disabled") {
			t.Errorf("disabled page:\n%s", p.body)
		}
	})
	t.Run("unknown provider", func(t *testing.T) {
		p := newBrowser(t).get(t, s.url+"/auth/oidc/nobody/login")
		p.checkHTML(t, "unknown provider", http.StatusNotFound)
	})

	// Every refusal is in the audit log; no token or code is.
	var audit silo.AuditList
	s.apiGet(t, "/api/silo/v1/audit?action=login-failed", s.in.AdminToken, &audit)
	var targets []string
	for _, ev := range audit.Events {
		targets = append(targets, ev.Target+" "+ev.Actor)
	}
	// Newest first: disabled, forged, denied, another browser, tampered.
	if want := []string{" jane.doe", "oidc:sso anonymous", "oidc:sso anonymous", "oidc:sso anonymous", "oidc:sso anonymous"}; !slices.Equal(targets, want) {
		t.Errorf("login-failed audit %q, want %q", targets, want)
	}
}

func TestTokensPage(t *testing.T) {
	s := startSite(t)
	p := newBrowser(t).get(t, s.url+"/auth/tokens")
	p.checkHTML(t, "tokens page", http.StatusOK)
	if !strings.Contains(p.body, `href="/auth/oidc/`+providerName+`/login"`) {
		t.Errorf("the tokens page has no login link:\n%s", p.body)
	}
	// Following the link is a whole login.
	if tok := newBrowser(t).get(t, s.url+"/auth/oidc/"+providerName+"/login").token(); tok == "" {
		t.Error("the login link gave no token")
	}

	// Without OIDC the page says how else to get a token.
	in := servertest.Start(t, server.Config{})
	p = newBrowser(t).get(t, in.URL+"/auth/tokens")
	p.checkHTML(t, "tokens page without OIDC", http.StatusOK)
	body := html.UnescapeString(p.body)
	for _, want := range []string{"silo login " + in.URL + " --user NAME", "silo token create --name apptainer > silo.token", "silo token create NAME"} {
		if !strings.Contains(body, want) {
			t.Errorf("the tokens page does not say %q:\n%s", want, p.body)
		}
	}
	if strings.Contains(body, "/auth/oidc/") {
		t.Errorf("the tokens page offers a browser login the server does not have:\n%s", p.body)
	}
}

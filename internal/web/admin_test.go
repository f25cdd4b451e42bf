package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/siloreg/silo/internal/sif/siftest"
)

// TestBrowserAdmin drives the admin pages: create a user who then logs
// in, change a role, set a quota, disable an account, switch private mode
// on, and read the audit log. A plain user is refused the pages.
func TestBrowserAdmin(t *testing.T) {
	proc := browserProcess(t)
	s := startSite(t, "alice")
	s.push(t, "alice", "alice/tools/bwa", "v1", siftest.Options{Seed: 21})

	alice := newBrowser(t, proc, s.URL, "alice")
	alice.login("alice", password)
	if alice.has(`header a[href="/admin"]`) {
		t.Error("a plain user sees the admin link")
	}
	alice.open("/admin")
	if got := alice.text("main"); !strings.Contains(got, "may not") {
		t.Errorf("a plain user's admin page: %s", got)
	}

	admin := newBrowser(t, proc, s.URL, "admin")
	admin.login("admin", password)
	admin.open("/admin")
	admin.fill(`form[action="/admin/users"] input[name=name]`, "carol")
	admin.fill(`form[action="/admin/users"] input[name=email]`, "carol@example.org")
	admin.fill(`form[action="/admin/users"] input[name=password]`, password)
	admin.submit(`form[action="/admin/users"] button`)
	if got := admin.text("#users"); !strings.Contains(got, "carol@example.org") {
		t.Fatalf("the new user is not listed:\n%s", got)
	}
	carol := newBrowser(t, proc, s.URL, "carol")
	carol.login("carol", password)

	// Role and quota, each its own form in carol's row.
	row := `#users tbody tr:has(form[action="/admin/users/carol"])`
	admin.do("pick manager", chromedp.SetValue(chromedp.CSS(row+` select[name=role]`), "manager"))
	admin.submit(row + ` form:has(select) button`)
	admin.fill(row+` input[name=quota]`, "5MiB")
	admin.submit(row + ` form:has(input[name=quota]) button`)
	if v := run(admin, "quota", chromedp.Value(chromedp.CSS(row+` input[name=quota]`))); v != "5.0 MiB" {
		t.Errorf("carol's quota shows %q, want 5.0 MiB", v)
	}
	if v := run(admin, "role", chromedp.Value(chromedp.CSS(row+` select[name=role]`))); v != "manager" {
		t.Errorf("carol's role shows %q, want manager", v)
	}
	// A manager may create teams on the account page.
	carol.open("/account")
	if !carol.has(`form[action="/account/teams"]`) {
		t.Error("a manager is not offered to create a team")
	}
	admin.fill(row+` input[name=quota]`, "lots")
	admin.submit(row + ` form:has(input[name=quota]) button`)
	if got := admin.text(".msg.error"); !strings.Contains(got, "not a size") {
		t.Errorf("a bad quota: %q", got)
	}

	admin.submit(row + ` form:has(input[name=disabled]) button`)
	if got := admin.text(row); !strings.Contains(got, "disabled") {
		t.Errorf("carol's row after disabling: %q", got)
	}
	carol.open("/account")
	if loc := carol.location(); !strings.Contains(loc, "/login") {
		t.Errorf("a disabled user's session still works: %s", loc)
	}

	// Private mode hides everything from anonymous visitors.
	anon := newBrowser(t, proc, s.URL, "anonymous")
	anon.open("/")
	if !strings.Contains(anon.text("main"), "alice/tools/bwa") {
		t.Fatal("before private mode anonymous visitors do not see the public image")
	}
	admin.open("/admin")
	admin.do("tick private mode", chromedp.Click(chromedp.CSS(`input[name=private_mode]`)))
	admin.submit(`form[action="/admin/settings"] button`)
	if !run(admin, "private mode", chromedp.Evaluate[bool](`document.querySelector("input[name=private_mode]").checked`)) {
		t.Error("private mode did not stay ticked")
	}
	admin.shot("admin")
	anon.open("/")
	if got := anon.text("main"); strings.Contains(got, "bwa") {
		t.Errorf("in private mode anonymous visitors see:\n%s", got)
	}

	admin.open("/admin/audit")
	audit := admin.text("#audit")
	for _, want := range []string{"settings", "login", "user-create"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log lacks %q", want)
		}
	}
	admin.shot("audit")
	admin.open("/admin/audit?action=login-failed")
	if got := admin.text("main"); strings.Contains(got, "user-create") {
		t.Errorf("filtered audit log shows other actions:\n%s", got)
	}
}

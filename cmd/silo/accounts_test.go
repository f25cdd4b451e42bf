package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// tokenLine is what `token create` prints: the token alone on a line.
var tokenLine = regexp.MustCompile(`^silo_[A-Za-z0-9_-]{195,}\n$`)

// loginAsAdmin saves a login with the bootstrap admin's token.
func (c *cli) loginAsAdmin() {
	c.t.Helper()
	f := filepath.Join(c.t.TempDir(), "admin.token")
	if err := os.WriteFile(f, []byte(c.in.AdminToken+"\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.ok("login", c.in.URL, "--token-file", f)
}

// with runs a command with stdin that must succeed, returning stdout.
func (c *cli) with(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.e != nil {
		c.t.Fatalf("silo %s: %v\nstderr: %s", strings.Join(args, " "), r.e, r.err)
	}
	return r.out
}

// failsWith runs a command with stdin that must fail with an error
// containing each of want.
func (c *cli) failsWith(stdin string, args []string, want ...string) {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.e == nil {
		c.t.Fatalf("silo %s succeeded, want an error; stdout: %s", strings.Join(args, " "), r.out)
	}
	for _, w := range want {
		if !strings.Contains(r.e.Error(), w) {
			c.t.Errorf("silo %s: error %q does not contain %q", strings.Join(args, " "), r.e, w)
		}
	}
}

// TestPasswordLogin: an account made offline with a password logs in
// online with it, and the saved token is what later verbs use.
func TestPasswordLogin(t *testing.T) {
	c := newCLI(t)
	r := c.run("alice-password\n", c.in.Offline("user", "add", "alice", "--password", "--email", "alice@example.org")...)
	if r.e != nil || r.err != "created user alice\n" || r.out != "" {
		t.Fatalf("user add: %v, stdout %q, stderr %q", r.e, r.out, r.err)
	}

	c.failsWith("alice-passwort\n", []string{"login", c.in.URL, "--user", "alice"}, "login failed, nothing saved", "invalid user name or password")
	if s, _ := savedLogin(t); s != nil {
		t.Fatalf("a failed login saved %+v", s)
	}
	c.failsWith("", []string{"login", c.in.URL, "--user", "alice"}, "nothing given")
	c.failsWith("x\n", []string{"login", c.in.URL, "--user", "alice", "--token-file", "f"}, "not both")

	out := c.with("alice-password\n", "login", c.in.URL, "--user", "alice")
	if !strings.HasPrefix(out, "logged in to "+c.in.URL+" as alice (saved in ") || !strings.Contains(out, "the token expires") {
		t.Errorf("login said %q", out)
	}
	s, mode := savedLogin(t)
	if s == nil || s.Server != c.in.URL || !strings.HasPrefix(s.Token, "silo_") || mode != 0o600 {
		t.Fatalf("saved %+v (mode %o)", s, mode)
	}
	// The saved token is the login's: it is listed as the one in use.
	list := c.ok("token", "list")
	if !regexp.MustCompile(`(?m)^\d+\s+login \d{4}-\d\d-\d\d .*active \(in use now\)$`).MatchString(list) {
		t.Errorf("token list:\n%s", list)
	}
	c.sif("a.sif", siftest.Options{Seed: 4})
	c.ok("push", "a.sif", "alice/tools/a:1")
}

// TestTokenVerbs: create for yourself (shown once, alone on stdout),
// list, use with scopes, revoke; and the offline form.
func TestTokenVerbs(t *testing.T) {
	c := newCLI(t)
	c.login("alice")
	c.sif("a.sif", siftest.Options{Seed: 5})
	c.ok("push", "a.sif", "alice/tools/a:1")

	r := c.run("", "token", "create", "--name", "cluster", "--scope", "read", "--expires", "30d")
	if r.e != nil || !tokenLine.MatchString(r.out) {
		t.Fatalf("token create: %v, stdout %q", r.e, r.out)
	}
	if !strings.Contains(r.err, `"cluster" for alice: scopes read, expires `) {
		t.Errorf("token create stderr %q", r.err)
	}
	readTok := strings.TrimSpace(r.out)

	list := c.ok("token", "list")
	row := regexp.MustCompile(`(?m)^(\d+)\s+cluster\s+read\s+.*\s+active$`).FindStringSubmatch(list)
	if row == nil || strings.Contains(list, readTok) {
		t.Fatalf("token list:\n%s", list)
	}
	var tl silo.TokenList
	if err := json.Unmarshal([]byte(c.ok("token", "list", "--json")), &tl); err != nil || len(tl.Tokens) != 2 {
		t.Fatalf("token list --json: %+v, %v", tl, err)
	}

	// The read token pulls, and cannot push.
	t.Setenv("SILO_TOKEN", readTok)
	c.ok("pull", "alice/tools/a:1", "-o", "pulled.sif")
	c.fails([]string{"push", "a.sif", "alice/tools/b:1"}, "may not")
	c.fails([]string{"token", "create"}, "scopes read")
	t.Setenv("SILO_TOKEN", "")

	c.fails([]string{"token", "create", "--scope", "admin"}, "admin scope")
	c.fails([]string{"token", "create", "--scope", "everything"}, "unknown scope")
	c.fails([]string{"token", "create", "--expires", "soon"}, "--expires")
	c.fails([]string{"token", "revoke", "abc"}, "not a token id")
	c.fails([]string{"token", "revoke", "99999"}, "not found")
	if out := c.ok("token", "revoke", row[1]); out != "revoked token "+row[1]+"\n" {
		t.Errorf("revoke said %q", out)
	}
	if list := c.ok("token", "list"); !regexp.MustCompile(`(?m)^` + row[1] + `\s+cluster\s+.*\s+revoked$`).MatchString(list) {
		t.Errorf("after revoking:\n%s", list)
	}
	t.Setenv("SILO_TOKEN", readTok)
	c.fails([]string{"ls"}, "invalid or expired token")
	t.Setenv("SILO_TOKEN", "")

	// Offline, for a named user, with scopes too; --data and --server
	// each belong to one form.
	out := c.ok(c.in.Offline("token", "create", "alice", "--scope", "read", "--name", "offline")...)
	if !tokenLine.MatchString(out) {
		t.Errorf("offline token create printed %q", out)
	}
	if list := c.ok("token", "list"); !regexp.MustCompile(`(?m)^\d+\s+offline\s+read\s`).MatchString(list) {
		t.Errorf("the offline token is not listed:\n%s", list)
	}
	c.fails(c.in.Offline("token", "create"), "name the user")
	c.fails([]string{"token", "create", "alice", "--server", c.in.URL}, "offline")
}

// TestUserVerbs: an admin lists, changes, disables and re-enables
// accounts and sets passwords; the audit log shows it all.
func TestUserVerbs(t *testing.T) {
	c := newCLI(t)
	if r := c.run("", c.in.Offline("user", "add", "bob")...); r.e != nil {
		t.Fatal(r.e)
	}
	bobTok := strings.TrimSpace(c.ok(c.in.Offline("token", "create", "bob")...))
	c.loginAsAdmin()

	list := c.ok("user", "list")
	for _, re := range []string{`(?m)^NAME\s+ROLE\s+STATUS`, `(?m)^admin\s+admin\s+enabled\s+local\s+no\s+default`, `(?m)^bob\s+user\s+enabled\s+local\s+no\s+default\s+-\s`} {
		if !regexp.MustCompile(re).MatchString(list) {
			t.Errorf("user list does not match %s:\n%s", re, list)
		}
	}
	out := c.ok("user", "set", "bob", "--role", "manager", "--quota", "10GiB", "--email", "bob@example.org")
	if out != "bob: manager, enabled, quota 10 GiB, e-mail bob@example.org\n" {
		t.Errorf("user set said %q", out)
	}
	c.fails([]string{"user", "set", "bob"}, "nothing to change")
	c.fails([]string{"user", "set", "bob", "--disable", "--enable"}, "not both")
	c.fails([]string{"user", "set", "bob", "--quota", "lots"}, "--quota")
	c.fails([]string{"user", "set", "bob", "--role", "king"}, "unknown role")
	c.fails([]string{"user", "set", "admin", "--disable"}, "last enabled admin")

	// Disabled: bob's token stops at once, and works again when enabled.
	if out := c.ok("user", "set", "bob", "--disable"); !strings.Contains(out, "disabled") {
		t.Errorf("disable said %q", out)
	}
	t.Setenv("SILO_TOKEN", bobTok)
	c.fails([]string{"ls"}, "invalid or expired token")
	t.Setenv("SILO_TOKEN", "")
	c.ok("user", "set", "bob", "--enable")
	t.Setenv("SILO_TOKEN", bobTok)
	c.ok("ls")
	c.fails([]string{"user", "list"}, "bob may not list accounts")
	c.fails([]string{"audit"}, "bob may not read the audit log")
	t.Setenv("SILO_TOKEN", "")

	// An admin sets bob's password without knowing the old one.
	if out := c.with("bob-password-1\n", "user", "passwd", "bob"); out != "password set for bob\n" {
		t.Errorf("passwd said %q", out)
	}
	c.fails([]string{"user", "passwd", "bob"}, "nothing given")

	audit := c.ok("audit", "--since", "1h")
	for _, re := range []string{`(?m)^TIME\s+ACTOR\s+ACTION`, `\slocal:\S+\s+user-create\s+bob\s+local\s+role user`,
		`\sadmin\s+user-update\s+bob\s+127\.0\.0\.1\s+.*role user → manager`, `\sadmin\s+user-disable\s+bob\s`,
		`\sadmin\s+user-enable\s+bob\s`, `\sadmin\s+password\s+bob\s`, `\slocal:\S+\s+token-create\s+bob\s`} {
		if !regexp.MustCompile(re).MatchString(audit) {
			t.Errorf("audit does not match %s:\n%s", re, audit)
		}
	}
	var al silo.AuditList
	if err := json.Unmarshal([]byte(c.ok("audit", "--action", "user-disable", "--json")), &al); err != nil || len(al.Events) != 1 || al.Events[0].Target != "bob" {
		t.Errorf("audit --json: %+v, %v", al, err)
	}
	if out := c.ok("audit", "--actor", "nobody"); out != "no events\n" {
		t.Errorf("audit for nobody: %q", out)
	}
	c.fails([]string{"audit", "--since", "a while"}, "--since")
	if strings.Contains(c.ok("audit", "--limit", "10000"), "bob-password-1") {
		t.Error("the audit log shows a password")
	}

	// bob logs in with the password the admin set, and changes it: the
	// current one first, then the new one, a line each.
	c.with("bob-password-1\n", "login", c.in.URL, "--user", "bob")
	c.failsWith("wrong-password\nbob-password-2\n", []string{"user", "passwd"}, "current password is wrong")
	c.with("bob-password-1\nbob-password-2\n", "user", "passwd")
	c.failsWith("bob-password-1\n", []string{"login", c.in.URL, "--user", "bob"}, "invalid user name or password")
	c.with("bob-password-2\n", "login", c.in.URL, "--user", "bob")
}

// TestOfflinePasswd: the operator gives the bootstrap admin a password on
// the data directory, and the admin logs in with it.
func TestOfflinePasswd(t *testing.T) {
	c := newCLI(t)
	c.failsWith("x\n", c.in.Offline("user", "passwd"), "name the account")
	c.failsWith("short\n", c.in.Offline("user", "passwd", "admin"), "too short")
	if out := c.with("admin-password\n", c.in.Offline("user", "passwd", "admin")...); out != "password set for admin\n" {
		t.Errorf("offline passwd said %q", out)
	}
	if out := c.with("admin-password\n", "login", c.in.URL, "--user", "admin"); !strings.Contains(out, " as admin ") {
		t.Errorf("login said %q", out)
	}
	if list := c.ok("user", "list"); !regexp.MustCompile(`(?m)^admin\s+admin\s+enabled\s+local\s+yes\s`).MatchString(list) {
		t.Errorf("user list:\n%s", list)
	}
}

// TestAccountHelp: every account verb explains itself.
func TestAccountHelp(t *testing.T) {
	root := newRoot()
	for _, path := range [][]string{{"user"}, {"user", "add"}, {"user", "list"}, {"user", "set"}, {"user", "passwd"},
		{"token"}, {"token", "create"}, {"token", "list"}, {"token", "revoke"}, {"audit"}, {"login"}} {
		cmd, _, err := root.Find(path)
		if err != nil || cmd == root {
			t.Errorf("silo %s: not found (%v)", strings.Join(path, " "), err)
			continue
		}
		if cmd.Short == "" || len(cmd.Long) < 80 {
			t.Errorf("silo %s: help text missing or too short", strings.Join(path, " "))
		}
		if cmd.Runnable() && cmd.Example == "" {
			t.Errorf("silo %s: no example", strings.Join(path, " "))
		}
	}
	login, _, _ := root.Find([]string{"login"})
	if f := login.Flags().Lookup("user"); f == nil || !strings.Contains(login.Long, "--user NAME") {
		t.Error("silo login does not explain --user")
	}
}

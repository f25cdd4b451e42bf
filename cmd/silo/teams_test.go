package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// as runs f with SILO_TOKEN set to token, so that one CLI session can act
// as several people while its saved login stays the same.
func (c *cli) as(token string, f func()) {
	c.t.Helper()
	c.t.Setenv("SILO_TOKEN", token)
	defer c.t.Setenv("SILO_TOKEN", "")
	f()
}

// has fails unless out matches each regular expression in want.
func has(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !regexp.MustCompile(w).MatchString(out) {
			t.Errorf("%s printed:\n%s\nwhich does not match %s", what, out, w)
		}
	}
}

func TestTeamCLI(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	if _, err := auth.CreateUser(ctx, c.in.Server.Meta, "mgr", "", meta.RoleManager); err != nil {
		t.Fatal(err)
	}
	mgr, err := auth.IssueToken(ctx, c.in.Server.Meta, "mgr", "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c.in.User(t, "bob", false)
	c.login("alice")

	c.fails([]string{"team", "create", "lab"}, "alice may not create teams")
	c.fails([]string{"team", "create", "Lab"}, "invalid name")
	c.as(mgr, func() {
		has(t, "team create", c.ok("team", "create", "lab", "--description", "The lab"), `created team lab; its members push to lab/`)
		has(t, "team add", c.ok("team", "add", "lab", "alice", "--owner"), `alice is an owner of team lab \(alice\*, mgr\*\)`)
	})
	has(t, "team add", c.ok("team", "add", "lab", "bob"), `bob is a member of team lab \(alice\*, bob, mgr\*\)`)
	has(t, "team list", c.ok("team", "list"), `(?m)^TEAM\s+MEMBERS \(\*: OWNER\)\s+DESCRIPTION$`, `(?m)^lab\s+alice\*, bob, mgr\*\s+The lab$`)
	has(t, "team remove", c.ok("team", "remove", "lab", "bob"), `bob is no longer in team lab \(alice\*, mgr\*\)`)
	c.fails([]string{"team", "remove", "lab", "bob"}, "bob is not a member of team lab")
	c.fails([]string{"team", "add", "nope", "bob"}, `team "nope" not found`)

	c.sif("app.sif", siftest.Options{Seed: 1})
	c.ok("push", "app.sif", "lab/tools/app:v1")
	has(t, "collection private", c.ok("collection", "private", "lab/tools"), `^lab/tools is now private\n$`)
	has(t, "collection public", c.ok("collection", "public", "lab/tools"), `^lab/tools is now public\n$`)
	c.ok("push", "app.sif", "tools/app:v1")
	has(t, "collection give", c.ok("collection", "give", "tools", "lab"), `^default/tools now belongs to team lab\n$`)
	c.fails([]string{"collection", "private", "a/b/c"}, "not a collection")
	c.fails([]string{"collection", "private", "gone"}, "collection default/gone not found")

	has(t, "freeze", c.ok("freeze", "tools/app"), `^default/tools/app is frozen\n$`)
	c.fails([]string{"delete", "-F", "tools/app:v1"}, "frozen")
	c.fails([]string{"freeze", "tools/app:v1"}, "without a tag")
	has(t, "unfreeze", c.ok("unfreeze", "default/tools/app"), `^default/tools/app is unfrozen\n$`)
	c.ok("delete", "-F", "tools/app:v1")

	c.fails([]string{"settings"}, "alice may not read the registry's settings")
	c.as(c.in.AdminToken, func() {
		has(t, "settings", c.ok("settings"), `(?m)^private-mode\s+false$`, `(?m)^user-quota\s+no limit$`)
		out := c.ok("settings", "--private-mode=true", "--user-quota", "10MiB", "--collection-limit", "5")
		has(t, "settings change", out, `(?m)^private-mode\s+true$`, `(?m)^user-quota\s+10 MiB$`, `(?m)^collection-limit\s+5$`, `(?m)^team-quota\s+no limit$`)
		has(t, "settings change", c.ok("settings", "--private-mode=false"), `(?m)^private-mode\s+false$`, `(?m)^user-quota\s+10 MiB$`)
		c.fails([]string{"settings", "--user-quota", "lots"}, "not a size")
	})

	out := c.ok("usage")
	has(t, "usage", out, `(?m)^OWNER\s+USED\s+QUOTA$`, `(?m)^alice\s+0 B\s+10 MiB$`, `(?m)^team lab\s+\d+ KiB\s+no limit$`)
	if n := len(lines(out)); n != 3 {
		t.Errorf("usage printed %d lines, want 3:\n%s", n, out)
	}
}

// TestServeRateLimitFlags: a rate limit that is not a count is an error
// before anything starts, whether it comes from a flag or the environment
// (the unusable --listen makes a missed check fail rather than serve).
func TestServeRateLimitFlags(t *testing.T) {
	data := t.TempDir()
	if _, _, err := runSilo(t, "serve", "--data", data, "--listen", "256.0.0.1:0", "--rate-limit-ip", "-1"); err == nil || !strings.Contains(err.Error(), "--rate-limit-ip (SILO_RATE_LIMIT_IP) -1") {
		t.Errorf("negative limit: %v", err)
	}
	t.Setenv("SILO_RATE_LIMIT_TOKEN", "lots")
	if _, _, err := runSilo(t, "serve", "--data", data, "--listen", "256.0.0.1:0"); err == nil || !strings.Contains(err.Error(), `SILO_RATE_LIMIT_TOKEN="lots"`) {
		t.Errorf("bad environment value: %v", err)
	}
}

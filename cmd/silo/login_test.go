package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/client"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

func savedLogin(t *testing.T) (*client.Saved, fs.FileMode) {
	t.Helper()
	p, err := client.ConfigPath()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p, os.Getenv("XDG_CONFIG_HOME")) {
		t.Fatalf("config path %s is outside the test's config dir", p)
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	var s client.Saved
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s, st.Mode().Perm()
}

func TestLoginBadToken(t *testing.T) {
	c := newCLI(t)
	f := filepath.Join(t.TempDir(), "token")
	os.WriteFile(f, []byte("silo_not-a-token\n"), 0o600)
	c.fails([]string{"login", c.in.URL, "--token-file", f}, "login failed", "invalid or expired token")
	if s, _ := savedLogin(t); s != nil {
		t.Errorf("a refused login was saved: %+v", s)
	}

	// Nothing on stdin is no token, not an empty one sent to the server.
	r := c.run("", "login", c.in.URL)
	if r.e == nil || !strings.Contains(r.e.Error(), "no token given") {
		t.Errorf("login with empty stdin: %v", r.e)
	}
	c.fails([]string{"login", "127.0.0.1:8080"}, "not an http:// or https:// URL")
	c.fails([]string{"login"}, "give the server's URL")
}

func TestLoginSavesAndIsUsed(t *testing.T) {
	c := newCLI(t)
	tok := c.in.User(t, "alice", false)

	// Token as one line on a non-terminal stdin, as in `... | silo login URL`.
	r := c.run(tok+"\n", "login", c.in.URL+"/")
	if r.e != nil {
		t.Fatal(r.e)
	}
	if !strings.HasPrefix(r.out, "logged in to "+c.in.URL+" as alice") || r.err != "" {
		t.Errorf("stdout %q, stderr %q", r.out, r.err)
	}
	s, mode := savedLogin(t)
	if s == nil || s.Server != c.in.URL || s.Token != tok {
		t.Fatalf("saved %+v", s)
	}
	if mode != 0o600 {
		t.Errorf("config mode %o, want 600", mode)
	}

	// The saved login is what push uses with no flags or variables.
	c.sif("a.sif", siftest.Options{Seed: 1})
	c.ok("push", "a.sif", "tools/a:1")

	// SILO_TOKEN works for login too, and replaces the saved login.
	bob := c.in.User(t, "bob", false)
	t.Setenv("SILO_TOKEN", bob)
	if out := c.ok("login", c.in.URL); !strings.Contains(out, " as bob") {
		t.Errorf("login with SILO_TOKEN: %q", out)
	}
	t.Setenv("SILO_TOKEN", "")
	if s, _ := savedLogin(t); s.Token != bob {
		t.Error("SILO_TOKEN login did not replace the saved token")
	}
}

func TestNotLoggedIn(t *testing.T) {
	c := newCLI(t)
	c.sif("a.sif", siftest.Options{})
	for _, args := range [][]string{{"ls"}, {"push", "a.sif", "tools/a:1"}, {"pull", "tools/a"}, {"search", "bwa"}, {"delete", "-F", "tools/a"}} {
		c.fails(args, "silo login")
	}

	// A server but no token: reads work anonymously, writes say to log in.
	t.Setenv("SILO_SERVER", c.in.URL)
	if out := c.ok("ls"); !strings.Contains(out, "0 images") {
		t.Errorf("anonymous ls: %q", out)
	}
	c.fails([]string{"push", "a.sif", "tools/a:1"}, "push needs a token", "silo login "+c.in.URL)
	c.fails([]string{"delete", "-F", "tools/a"}, "delete needs a token")
}

// TestSavedTokenStaysWithItsServer: pointing the CLI at another server
// must not send it the saved token.
func TestSavedTokenStaysWithItsServer(t *testing.T) {
	c := newCLI(t)
	c.login("alice")
	c.sif("a.sif", siftest.Options{})
	other := servertest.Start(t, server.Config{})

	c.fails([]string{"push", "--server", other.URL, "a.sif", "tools/a:1"}, "push needs a token for "+other.URL)
	t.Setenv("SILO_SERVER", other.URL)
	c.fails([]string{"push", "a.sif", "tools/a:1"}, "push needs a token for "+other.URL)

	// With its own token, CI's one-line push works against the other server.
	t.Setenv("SILO_TOKEN", other.AdminToken)
	if out := c.ok("push", "a.sif", "tools/a:1"); !strings.HasPrefix(out, "pushed default/tools/a:1 ") {
		t.Errorf("push: %q", out)
	}
}

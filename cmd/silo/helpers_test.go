package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// cli runs the silo command in-process, the way a user's shell would,
// against a real server. Each test gets its own home, config directory
// and working directory, and no SILO_* variables from outside.
type cli struct {
	t   *testing.T
	in  *servertest.Instance
	dir string // the working directory
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	return newCLIWith(t, server.Config{})
}

// newCLIWith is newCLI on a server configured with cfg.
func newCLIWith(t *testing.T, cfg server.Config) *cli {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("SILO_SERVER", "")
	t.Setenv("SILO_TOKEN", "")
	dir := t.TempDir()
	t.Chdir(dir)
	return &cli{t: t, in: servertest.Start(t, cfg), dir: dir}
}

// result is what one command printed.
type result struct {
	out, err string
	e        error
}

// run executes `silo args...` with stdin, returning what it printed.
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	root := newRoot()
	var out, errw bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errw)
	root.SetIn(strings.NewReader(stdin))
	e := root.ExecuteContext(context.Background())
	return result{out: out.String(), err: errw.String(), e: e}
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run("", args...)
	if r.e != nil {
		c.t.Fatalf("silo %s: %v\nstderr: %s", strings.Join(args, " "), r.e, r.err)
	}
	return r.out
}

// fails runs a command that must fail and returns its error text, which
// must contain every one of want.
func (c *cli) fails(args []string, want ...string) string {
	c.t.Helper()
	r := c.run("", args...)
	if r.e == nil {
		c.t.Fatalf("silo %s succeeded, want an error; stdout: %s", strings.Join(args, " "), r.out)
	}
	for _, w := range want {
		if !strings.Contains(r.e.Error(), w) {
			c.t.Errorf("silo %s: error %q does not contain %q", strings.Join(args, " "), r.e, w)
		}
	}
	return r.e.Error()
}

// login saves a login for a new user and returns the user's token.
func (c *cli) login(user string) string {
	c.t.Helper()
	tok := c.in.User(c.t, user, false)
	f := filepath.Join(c.t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.ok("login", c.in.URL, "--token-file", f)
	return tok
}

// sif writes a test image in the working directory and returns its bytes.
func (c *cli) sif(name string, o siftest.Options) []byte {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if _, _, err := siftest.Write(p, o); err != nil {
		c.t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// sameFile fails unless the file at path holds exactly want.
func (c *cli) sameFile(path string, want []byte) {
	c.t.Helper()
	got, err := os.ReadFile(filepath.Join(c.dir, path))
	if err != nil {
		c.t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		c.t.Fatalf("%s: %d bytes differ from the %d pushed", path, len(got), len(want))
	}
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// pretendTerminal makes stdin and stderr count as terminals for the test.
func pretendTerminal(t *testing.T) {
	prev := isTerminal
	isTerminal = func(any) bool { return true }
	t.Cleanup(func() { isTerminal = prev })
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/backend/backendtest"
)

// runSilo runs the root command in-process and returns stdout and stderr.
func runSilo(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestUserAndTokenOffline(t *testing.T) {
	cfg := backendtest.Config(t, t.TempDir())
	if _, _, err := runSilo(t, backendtest.Args(cfg, "user", "add", "alice", "--email", "a@example.org")...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runSilo(t, backendtest.Args(cfg, "user", "add", "alice")...); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("adding alice twice: %v", err)
	}
	if _, _, err := runSilo(t, backendtest.Args(cfg, "user", "add", "Bad Name")...); err == nil {
		t.Error("an invalid user name was accepted")
	}
	out, _, err := runSilo(t, backendtest.Args(cfg, "token", "create", "alice")...)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^silo_[A-Za-z0-9_-]{195,}\n$`).MatchString(out) {
		t.Errorf("token create printed %q; want the token alone on a line", out)
	}
	// The same stores through the environment, as `silo serve` reads it.
	for _, kv := range backendtest.Environ(cfg) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if _, _, err := runSilo(t, "token", "create", "nobody"); err == nil || !strings.Contains(err.Error(), "silo user add") {
		t.Errorf("token for a missing user: %v", err)
	}
}

// TestServeBinary runs the real binary: it binds where told, answers, and
// exits cleanly on SIGTERM.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildSilo(t)
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), backendtest.Environ(backendtest.Config(t, filepath.Join(t.TempDir(), "data")))...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	urlRE := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)
	var url string
	var log []string
	for sc.Scan() {
		log = append(log, sc.Text())
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	if url == "" {
		t.Fatalf("no listening line in the log:\n%s", strings.Join(log, "\n"))
	}
	if !strings.Contains(strings.Join(log, "\n"), "admin.token") {
		t.Errorf("first start did not say where the admin token is:\n%s", strings.Join(log, "\n"))
	}
	go io.Copy(io.Discard, stderr)
	res, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("silo serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("silo serve did not stop after SIGTERM")
	}
}

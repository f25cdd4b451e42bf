// Package servertest starts a real Silo server on 127.0.0.1 for tests:
// the same code `silo serve` runs, on a fresh data directory.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/server"
)

// Instance is a running test server.
type Instance struct {
	URL        string // http://127.0.0.1:PORT
	Data       string // its data directory
	AdminToken string // the bootstrap admin's token
	Server     *server.Server
}

// Start runs a server on a new data directory (or cfg.Data, which must be
// new) until the test ends. Set SILO_TEST_LOG=1 to see the server's log.
func Start(t testing.TB, cfg server.Config) *Instance {
	t.Helper()
	in := StartExisting(t, cfg)
	tok, err := os.ReadFile(filepath.Join(in.Data, "admin.token"))
	if err != nil {
		t.Fatalf("reading admin token: %v", err)
	}
	in.AdminToken = strings.TrimSpace(string(tok))
	return in
}

// StartExisting runs a server on cfg.Data whatever it holds; AdminToken
// is left empty.
func StartExisting(t testing.TB, cfg server.Config) *Instance {
	t.Helper()
	if cfg.Data == "" {
		cfg.Data = t.TempDir()
	}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = -1
	}
	if cfg.Log == nil {
		var w io.Writer = io.Discard
		if os.Getenv("SILO_TEST_LOG") != "" {
			w = os.Stderr
		}
		cfg.Log = slog.New(slog.NewTextHandler(w, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("starting silo: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Error("server did not shut down")
		}
		srv.Close()
	})
	return &Instance{URL: "http://" + ln.Addr().String(), Data: cfg.Data, Server: srv}
}

// User creates an account and returns a token for it.
func (in *Instance) User(t testing.TB, name string, admin bool) string {
	t.Helper()
	ctx := context.Background()
	role := meta.RoleUser
	if admin {
		role = meta.RoleAdmin
	}
	if _, err := auth.CreateUser(ctx, in.Server.Meta, name, name+"@example.org", role); err != nil {
		t.Fatal(err)
	}
	tok, err := auth.IssueToken(ctx, in.Server.Meta, name, "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Package servertest starts a real Silo server on 127.0.0.1 for tests:
// the same code `silo serve` runs, on a fresh data directory and on the
// stores SILO_TEST_BACKEND chooses (see internal/backend/backendtest):
// SQLite and files by default, a fresh PostgreSQL schema and S3 prefix
// with postgres+s3.
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
	"github.com/siloreg/silo/internal/backend"
	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/server"
)

// Instance is a running test server.
type Instance struct {
	URL        string // http://127.0.0.1:PORT
	Data       string // its data directory
	DB, Store  string // its --db and --store ("" for SQLite and files in Data)
	AdminToken string // the bootstrap admin's token
	Server     *server.Server
}

// Start runs a server on a new data directory (or cfg.Data, which must be
// new) and new stores (or cfg.DB and cfg.Store, which must be new) until
// the test ends. With SILO_TEST_BACKEND=postgres+s3 an empty cfg.DB or
// cfg.Store is a fresh schema or S3 prefix; otherwise SQLite and files. Set SILO_TEST_LOG=1 to see the server's log.
func Start(t testing.TB, cfg server.Config) *Instance {
	t.Helper()
	if cfg.Data == "" {
		cfg.Data = t.TempDir()
	}
	if backendtest.ScaleOut(t) {
		if cfg.DB == "" {
			cfg.DB = backendtest.FreshDB(t)
		}
		if cfg.Store == "" {
			// The bucket by another host name than Silo's 127.0.0.1, as
			// in production: clients following a redirect to another
			// host drop their Authorization, which S3 refuses beside a
			// presigned URL's signature.
			cfg.Store = strings.Replace(backendtest.FreshStore(t), "http%3A%2F%2F127.0.0.1", "http%3A%2F%2Flocalhost", 1)
		}
	}
	in := StartExisting(t, cfg)
	tok, err := os.ReadFile(filepath.Join(in.Data, "admin.token"))
	if err != nil {
		t.Fatalf("reading admin token: %v", err)
	}
	in.AdminToken = strings.TrimSpace(string(tok))
	return in
}

// StartExisting runs a server on cfg's stores whatever they hold (to
// restart a registry, pass the Data, DB and Store of an earlier Instance);
// AdminToken is left empty.
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
	return &Instance{URL: "http://" + ln.Addr().String(), Data: cfg.Data, DB: cfg.DB, Store: cfg.Store, Server: srv}
}

// Config is what reopens this registry's stores: pass it to StartExisting
// (with any other settings) to restart it.
func (in *Instance) Config() server.Config {
	return server.Config{Data: in.Data, DB: in.DB, Store: in.Store}
}

// Offline returns args followed by the flags that point an offline `silo`
// verb (user, token, gc, fsck, migrate) at this registry's stores.
func (in *Instance) Offline(args ...string) []string {
	return backendtest.Args(in.Backend(), args...)
}

// Backend names this registry's stores.
func (in *Instance) Backend() backend.Config {
	return backend.Config{Data: in.Data, DB: in.DB, Store: in.Store}
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

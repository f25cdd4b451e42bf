// Package pgtest gives tests an empty PostgreSQL schema of their own on the
// test server, so that the store's own tests and the suites that run on
// postgres+s3 make and drop schemas one way.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultDSN is the server the tests use unless SILO_TEST_POSTGRES names
// another.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerDSN is the PostgreSQL server the tests use.
func ServerDSN() string {
	if dsn := os.Getenv("SILO_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

var admin struct {
	sync.Mutex
	pool *pgxpool.Pool
}

// Admin returns one connection pool per test process for making and
// dropping schemas, or skips the test when there is no server: loudly,
// since a skipped backend suite is easy to mistake for a passing one, and
// not at all in CI, where a missing server is a broken setup.
func Admin(t testing.TB) *pgxpool.Pool {
	t.Helper()
	admin.Lock()
	defer admin.Unlock()
	if admin.pool != nil {
		return admin.pool
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, ServerDSN())
	if err == nil {
		if err = pool.Ping(ctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("START POSTGRES: this test needs a PostgreSQL server (SILO_TEST_POSTGRES, default %s): %v", DefaultDSN, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	admin.pool = pool
	return pool
}

// FreshDSN makes an empty schema, dropped when the test ends, and returns
// ServerDSN with its search_path set to that schema: a new database per
// test would be cleaner, but CREATE DATABASE costs a few hundred
// milliseconds each and the suites make hundreds of stores.
func FreshDSN(t testing.TB) string {
	t.Helper()
	pool := Admin(t)
	var b [8]byte
	rand.Read(b[:])
	schema := "silo_test_" + hex.EncodeToString(b[:])
	if _, err := pool.Exec(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is done by now; the drop must still happen.
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, ServerDSN(), schema)
}

// withSearchPath adds search_path to a URL or key=value DSN; pgx sends
// parameters it does not know itself to the server as run-time settings.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("SILO_TEST_POSTGRES: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

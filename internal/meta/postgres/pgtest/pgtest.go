// Package pgtest gives tests outside the postgres package a PostgreSQL
// database of their own: a fresh schema on the test server, dropped when the
// test ends, so the database is left as found.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultServer is the server tests use unless SILO_TEST_POSTGRES names another.
const DefaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Server returns the test server's DSN.
func Server() string {
	if dsn := os.Getenv("SILO_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultServer
}

// Schema makes an empty schema and returns a postgres:// URL whose
// search_path is that schema. Without a server the test is skipped, loudly,
// unless CI=true, where it fails.
func Schema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, Server())
	if err == nil {
		if err = pool.Ping(ctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		msg := "START POSTGRES: this test needs a PostgreSQL server (SILO_TEST_POSTGRES, default " + DefaultServer + "): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "silo_test_" + hex.EncodeToString(b[:])
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		pool.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		defer pool.Close()
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	dsn := Server()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		t.Fatalf("SILO_TEST_POSTGRES must be a postgres:// URL for this test, not %q", dsn)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("SILO_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

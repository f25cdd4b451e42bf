// Package pgschema gives a benchmark run a PostgreSQL schema of its own,
// so that runs start empty and never touch what anyone else made.
package pgschema

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultDSN is the server used when SILO_TEST_POSTGRES is not set.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Fresh creates a schema on the server SILO_TEST_POSTGRES names and
// returns a connection string whose search_path is that schema, and a
// function that drops it.
func Fresh(ctx context.Context) (dsn string, drop func(), err error) {
	server := os.Getenv("SILO_TEST_POSTGRES")
	if server == "" {
		server = DefaultDSN
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", nil, fmt.Errorf("SILO_TEST_POSTGRES: %w", err)
	}
	pool, err := pgxpool.New(ctx, server)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "silo_bench_" + hex.EncodeToString(b[:])
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		pool.Close()
		return "", nil, fmt.Errorf("PostgreSQL (SILO_TEST_POSTGRES): %w", err)
	}
	// pgx passes parameters it does not know to the server as settings.
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		pool.Close()
	}, nil
}

// Package backendtest chooses the stores tests run on, so that one suite
// covers both configurations: SILO_TEST_BACKEND=sqlite+fs (the default:
// SQLite and files in the test's data directory) or postgres+s3 (a fresh
// PostgreSQL schema and a fresh key prefix in a versitygw bucket for each
// registry a test makes).
//
// PostgreSQL is SILO_TEST_POSTGRES, default
// postgres://postgres@127.0.0.1:5432/postgres; without it (or without
// versitygw) a postgres+s3 test is skipped loudly, and fails when CI=true.
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/siloreg/silo/internal/backend"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/blob/s3"
	"github.com/siloreg/silo/internal/blob/s3/s3test"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/meta/postgres/pgtest"
)

// Env is the variable that chooses the configuration.
const Env = "SILO_TEST_BACKEND"

// The configurations Env may name.
const (
	SQLiteFS   = "sqlite+fs"
	PostgresS3 = "postgres+s3"
)

// DefaultPostgres is the server used unless SILO_TEST_POSTGRES names another.
const DefaultPostgres = pgtest.DefaultDSN

// Kind is the configuration this test process runs on. An unknown value
// fails the test rather than silently testing the default.
func Kind(t testing.TB) string {
	t.Helper()
	switch k := os.Getenv(Env); k {
	case "", SQLiteFS:
		return SQLiteFS
	case PostgresS3:
		return PostgresS3
	default:
		t.Fatalf("%s=%q: want %s or %s", Env, k, SQLiteFS, PostgresS3)
		return ""
	}
}

// ScaleOut reports whether tests run on PostgreSQL and S3.
func ScaleOut(t testing.TB) bool { return Kind(t) == PostgresS3 }

// SkipScaleOut skips a test that is about the local filesystem (sendfile,
// file modes, files removed by hand) when it runs on postgres+s3.
func SkipScaleOut(t testing.TB, why string) {
	t.Helper()
	if ScaleOut(t) {
		t.Skipf("filesystem-specific under %s=%s: %s", Env, PostgresS3, why)
	}
}

// Config returns stores for a new registry with its local files in data:
// on sqlite+fs, data alone; on postgres+s3, also a schema and a key prefix
// of its own, emptied and dropped when the test ends.
func Config(t testing.TB, data string) backend.Config {
	t.Helper()
	cfg := backend.Config{Data: data}
	if !ScaleOut(t) {
		return cfg
	}
	cfg.DB = FreshDB(t)
	cfg.Store = FreshStore(t)
	return cfg
}

func randomName(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// FreshDB makes an empty schema, dropped when the test ends, and returns a
// postgres:// URL whose search_path is that schema. A URL, since a test
// hands it to `silo` as --db, which takes nothing else.
func FreshDB(t testing.TB) string {
	t.Helper()
	dsn := pgtest.FreshDSN(t)
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		t.Fatalf("SILO_TEST_POSTGRES=%q: want a postgres:// URL", pgtest.ServerDSN())
	}
	return dsn
}

var awsEnv sync.Once

// FreshStore returns an s3:// URL for a new key prefix in the shared
// versitygw's bucket, emptied when the test ends. The server's credentials
// are put in the process's AWS environment, where the S3 store (and any
// `silo` verb a test runs in-process) finds them as it would in production.
func FreshStore(t testing.TB) string {
	t.Helper()
	srv := s3test.Shared(t)
	awsEnv.Do(func() {
		os.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		os.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		os.Unsetenv("AWS_SESSION_TOKEN")
		os.Unsetenv("AWS_PROFILE")
	})
	prefix := randomName("t-")
	u := fmt.Sprintf("s3://%s/%s?endpoint=%s&path-style=true", srv.Bucket, prefix, url.QueryEscape(srv.Endpoint))
	t.Cleanup(func() {
		if err := empty(u); err != nil {
			t.Errorf("emptying %s: %v", prefix, err)
		}
	})
	return u
}

// empty removes every blob and upload under a store URL's prefix.
func empty(storeURL string) error {
	cfg, err := backend.ParseStore(storeURL)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := s3.New(ctx, *cfg)
	if err != nil {
		return err
	}
	var digests, uploads []string
	if err := st.Walk(ctx, func(i blob.Info) error { digests = append(digests, i.Digest); return nil }); err != nil {
		return err
	}
	if err := st.Uploads(ctx, func(u blob.UploadInfo) error { uploads = append(uploads, u.ID); return nil }); err != nil {
		return err
	}
	for _, d := range digests {
		if err := st.Delete(ctx, d); err != nil {
			return err
		}
	}
	for _, id := range uploads {
		if err := st.Cancel(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// Args returns args followed by the flags that point a `silo` verb at
// cfg's stores.
func Args(cfg backend.Config, args ...string) []string {
	out := append(args[:len(args):len(args)], "--data", cfg.Data)
	if cfg.DB != "" {
		out = append(out, "--db", cfg.DB)
	}
	if cfg.Store != "" {
		out = append(out, "--store", cfg.Store)
	}
	return out
}

// Environ returns the SILO_DATA, SILO_DB and SILO_STORE settings that
// point a `silo` process at cfg's stores (the AWS credentials are already
// in this process's environment).
func Environ(cfg backend.Config) []string {
	return []string{"SILO_DATA=" + cfg.Data, "SILO_DB=" + cfg.DB, "SILO_STORE=" + cfg.Store}
}

// DatabaseText returns everything the metadata database holds, as bytes to
// search for what must not be stored (secrets in clear): the SQLite files,
// or every row of every table of the PostgreSQL schema as text.
func DatabaseText(t testing.TB, cfg backend.Config) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if cfg.DB == "" {
		files, _ := filepath.Glob(filepath.Join(cfg.Data, "meta.db*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(f)] = b
		}
		return out
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range tables {
		rows, err := pool.Query(ctx, `SELECT t::text FROM `+pgx.Identifier{tbl}.Sanitize()+` t`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out[tbl] = []byte(strings.Join(texts, "\n"))
	}
	return out
}

// Open opens new stores (Config(t, a new directory)) for a test that
// builds a registry itself rather than through a server; they are closed
// when the test ends.
func Open(t testing.TB) (meta.Store, blob.Store) {
	t.Helper()
	m, b, err := backend.Open(context.Background(), Config(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, b
}

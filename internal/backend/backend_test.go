package backend_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/backend"
	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/blob/fs"
	"github.com/siloreg/silo/internal/blob/s3"
	"github.com/siloreg/silo/internal/meta/postgres"
	"github.com/siloreg/silo/internal/meta/sqlite"
)

func TestParseDB(t *testing.T) {
	for _, in := range []string{"", "postgres://silo@db/silo", "postgresql://silo:pw@db:5433/silo?sslmode=require"} {
		got, err := backend.ParseDB(in)
		if err != nil || got != in {
			t.Errorf("ParseDB(%q) = %q, %v; want it back", in, got, err)
		}
	}
	for in, want := range map[string]string{
		"mysql://root:hunter2@db/silo": `unknown kind of database "mysql"`,
		"/srv/silo/meta.db":            `unknown kind of database ""`,
		"postgres:///silo":             "no host",
		"postgres://u:hunter2@db:x/y":  "not a URL",
	} {
		_, err := backend.ParseDB(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDB(%q) = %v; want an error saying %q", in, err, want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseDB(%q): the error shows the password: %v", in, err)
		}
	}
}

func TestParseStore(t *testing.T) {
	if c, err := backend.ParseStore(""); c != nil || err != nil {
		t.Errorf(`ParseStore("") = %+v, %v; want nil, nil (files)`, c, err)
	}
	c, err := backend.ParseStore("s3://silo-images/prod/eu/?endpoint=http://127.0.0.1:7070&region=eu-west-1&path-style=true")
	if err != nil {
		t.Fatal(err)
	}
	want := s3.Config{Bucket: "silo-images", Prefix: "prod/eu", Endpoint: "http://127.0.0.1:7070", Region: "eu-west-1", PathStyle: true}
	if *c != want {
		t.Errorf("got %+v\nwant %+v", *c, want)
	}
	c, err = backend.ParseStore("s3://bucket")
	if err != nil || *c != (s3.Config{Bucket: "bucket"}) {
		t.Errorf("s3://bucket: %+v, %v", c, err)
	}
	for in, want := range map[string]string{
		"/srv/blobs":                               `unknown kind of store ""`,
		"gs://bucket":                              `unknown kind of store "gs"`,
		"s3://":                                    `bucket ""`,
		"s3://Bucket_Name":                         `bucket "Bucket_Name"`,
		"s3://bucket:9000/x":                       `bucket "bucket:9000"`,
		"s3://key:secret@bucket":                   "credentials do not belong in the URL",
		"s3://bucket?endpoint=127.0.0.1:9000":      "endpoint",
		"s3://bucket?endpoint=ftp://h":             "endpoint",
		"s3://bucket?path-style=yes":               "path-style",
		"s3://bucket?pathstyle=true":               `unknown parameter "pathstyle"`,
		"s3://bucket?region=a&region=b":            "region given 2 times",
		"s3://bucket?endpoint=http://h&endpoint=x": "endpoint given 2 times",
	} {
		_, err := backend.ParseStore(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseStore(%q) = %v; want an error saying %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") && !strings.Contains(err.Error(), "SECRET") {
			t.Errorf("ParseStore(%q): the error shows the secret: %v", in, err)
		}
	}
}

// TestOpenRefusesBadURLsFirst: nothing is created when a URL is wrong.
func TestOpenRefusesBadURLsFirst(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, cfg := range []backend.Config{{Data: data, DB: "mysql://x/y"}, {Data: data, Store: "gs://b"}} {
		if _, _, err := backend.Open(context.Background(), cfg); err == nil {
			t.Errorf("Open(%+v) succeeded", cfg)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("Open(%+v) created the data directory (%v)", cfg, err)
		}
	}
}

func TestOpenDefaults(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	m, b, err := backend.Open(context.Background(), backend.Config{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, ok := m.(*sqlite.Store); !ok {
		t.Errorf("metadata store %T, want SQLite", m)
	}
	if _, ok := b.(*fs.Store); !ok {
		t.Errorf("blob store %T, want files", b)
	}
	if _, err := os.Stat(filepath.Join(data, "meta.db")); err != nil {
		t.Errorf("no meta.db in the data directory: %v", err)
	}
}

// TestOpenScaleOut opens PostgreSQL and S3 through their URLs (the
// selection backendtest makes when SILO_TEST_BACKEND=postgres+s3).
func TestOpenScaleOut(t *testing.T) {
	t.Setenv(backendtest.Env, backendtest.PostgresS3)
	cfg := backendtest.Config(t, t.TempDir())
	m, b, err := backend.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, ok := m.(*postgres.Store); !ok {
		t.Errorf("metadata store %T, want PostgreSQL", m)
	}
	if _, ok := b.(*s3.Store); !ok {
		t.Errorf("blob store %T, want S3", b)
	}
	if err := m.Ping(t.Context()); err != nil {
		t.Error(err)
	}
	if err := b.Ping(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestConfigString(t *testing.T) {
	for cfg, want := range map[backend.Config]string{
		{Data: "/srv/silo"}: "sqlite /srv/silo/meta.db, files in /srv/silo",
		{Data: "d", DB: "postgres://silo:hunter2@db/silo", Store: "s3://b/p?endpoint=http://s3"}: "postgres://silo:xxxxx@db/silo, s3://b/p?endpoint=http://s3",
	} {
		if got := cfg.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", cfg, got, want)
		}
	}
}

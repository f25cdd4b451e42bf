package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/api/sregistry/sregistrytest"
	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/blob/s3/s3test"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

func TestSregistrySecretCommand(t *testing.T) {
	c := &cli{t: t}
	stores := backendtest.Config(t, t.TempDir())
	c.ok(backendtest.Args(stores, "user", "add", "erin")...)
	out := c.ok(backendtest.Args(stores, "sregistry-secret", "erin", "--base", "http://example.org")...)
	var cfg struct {
		Registry struct{ Base, Username, Token string }
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("not the ~/.sregistry JSON: %v\n%s", err, out)
	}
	if cfg.Registry.Base != "http://example.org" || cfg.Registry.Username != "erin" || len(cfg.Registry.Token) != 40 {
		t.Fatalf("~/.sregistry: %+v", cfg)
	}
	if r := c.run("", backendtest.Args(stores, "sregistry-secret", "nobody")...); r.e == nil || !strings.Contains(r.e.Error(), "nobody") {
		t.Errorf("secret for a missing user: %v", r.e)
	}

	// The secret signs sregistry-cli requests to a server on those stores.
	in := servertest.StartExisting(t, server.Config{Data: stores.Data, DB: stores.DB, Store: stores.Store})
	p := filepath.Join(t.TempDir(), "x.sif")
	if _, _, err := siftest.Write(p, siftest.Options{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if _, up := sregistrytest.New(t, in.URL, "erin", cfg.Registry.Token).Push(p, "erins/tool:1"); up.Status != 200 {
		t.Errorf("push with the printed secret: %d %s", up.Status, up.Body)
	}
}

func TestImportCommandArguments(t *testing.T) {
	c := &cli{t: t}
	stores := backendtest.Config(t, t.TempDir())
	if r := c.run("", backendtest.Args(stores, "import")...); r.e == nil || !strings.Contains(r.e.Error(), "--from") {
		t.Errorf("import without --from: %v", r.e)
	}
	if r := c.run("", backendtest.Args(stores, "import", "--from", "postgres://x", "--images", "/nonexistent")...); r.e == nil || !strings.Contains(r.e.Error(), "not a directory") {
		t.Errorf("import with a missing --images: %v", r.e)
	}
	images := t.TempDir()
	t.Setenv("MINIO_ACCESS_KEY", "")
	t.Setenv("MINIO_SECRET_KEY", "")
	if r := c.run("", backendtest.Args(stores, "import", "--from", "postgres://x", "--images", images, "--minio-endpoint", "http://127.0.0.1:1")...); r.e == nil || !strings.Contains(r.e.Error(), "MINIO_ACCESS_KEY") {
		t.Errorf("import from MinIO without credentials: %v", r.e)
	}
	t.Setenv("MINIO_ACCESS_KEY", "a")
	t.Setenv("MINIO_SECRET_KEY", "b")
	if r := c.run("", backendtest.Args(stores, "import", "--from", "postgres://x", "--images", images, "--minio-endpoint", "minio:9000")...); r.e == nil || !strings.Contains(r.e.Error(), "http://minio:9000") {
		t.Errorf("import from a MinIO endpoint that is no URL: %v", r.e)
	}
}

// TestImportCommandMinIO checks the MinIO flags reach the bucket: wrong
// credentials and a missing bucket stop the import before it reads the
// database.
func TestImportCommandMinIO(t *testing.T) {
	endpoint, bucket, access, secret := s3test.Start(t)
	c := &cli{t: t}
	stores := backendtest.Config(t, t.TempDir())
	images := t.TempDir()
	t.Setenv("MINIO_ACCESS_KEY", access)
	t.Setenv("MINIO_SECRET_KEY", "wrong")
	if r := c.run("", backendtest.Args(stores, "import", "--from", "postgres://x", "--images", images, "--minio-endpoint", endpoint, "--minio-bucket", bucket)...); r.e == nil || !strings.Contains(r.e.Error(), "reading MinIO bucket "+bucket) {
		t.Errorf("wrong MinIO secret: %v", r.e)
	}
	t.Setenv("MINIO_SECRET_KEY", secret)
	if r := c.run("", backendtest.Args(stores, "import", "--from", "postgres://x", "--images", images, "--minio-endpoint", endpoint)...); r.e == nil || !strings.Contains(r.e.Error(), "bucket sregistry") || !strings.Contains(r.e.Error(), "no such bucket") {
		t.Errorf("the default bucket, missing: %v", r.e)
	}
	// Right credentials and bucket: on to the database, which is not there.
	if r := c.run("", backendtest.Args(stores, "import", "--from", "postgres://127.0.0.1:1/x", "--images", images, "--minio-endpoint", endpoint, "--minio-bucket", bucket)...); r.e == nil || !strings.Contains(r.e.Error(), "sregistry database") {
		t.Errorf("with MinIO right, the database error: %v", r.e)
	}
}

package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/api/sregistry/sregistrytest"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

func TestSregistrySecretCommand(t *testing.T) {
	c := &cli{t: t}
	data := t.TempDir()
	c.ok("user", "add", "erin", "--data", data)
	out := c.ok("sregistry-secret", "erin", "--data", data, "--base", "http://example.org")
	var cfg struct {
		Registry struct{ Base, Username, Token string }
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("not the ~/.sregistry JSON: %v\n%s", err, out)
	}
	if cfg.Registry.Base != "http://example.org" || cfg.Registry.Username != "erin" || len(cfg.Registry.Token) != 40 {
		t.Fatalf("~/.sregistry: %+v", cfg)
	}
	if r := c.run("", "sregistry-secret", "nobody", "--data", data); r.e == nil || !strings.Contains(r.e.Error(), "nobody") {
		t.Errorf("secret for a missing user: %v", r.e)
	}

	// The secret signs sregistry-cli requests to a server on that data.
	in := servertest.StartExisting(t, server.Config{Data: data})
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
	if r := c.run("", "import", "--data", t.TempDir()); r.e == nil || !strings.Contains(r.e.Error(), "--from") {
		t.Errorf("import without --from: %v", r.e)
	}
	if r := c.run("", "import", "--from", "postgres://x", "--images", "/nonexistent", "--data", t.TempDir()); r.e == nil || !strings.Contains(r.e.Error(), "not a directory") {
		t.Errorf("import with a missing --images: %v", r.e)
	}
}

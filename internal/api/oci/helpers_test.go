package oci_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

func adminActor(t *testing.T, in *servertest.Instance) access.Actor {
	t.Helper()
	return actorOf(t, in, "admin")
}

// actorOf is the user called name, as the registry sees them without a token.
func actorOf(t *testing.T, in *servertest.Instance, name string) access.Actor {
	t.Helper()
	u, err := in.Server.Meta.UserByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return access.Actor{User: u}
}

func collectionID(t *testing.T, in *servertest.Instance, entity, name string) int64 {
	t.Helper()
	e, err := in.Server.Meta.EntityByName(t.Context(), entity)
	if err != nil {
		t.Fatal(err)
	}
	c, err := in.Server.Meta.CollectionByName(t.Context(), e.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func sprint(v ...any) string            { return fmt.Sprint(v...) }
func sprintf(f string, v ...any) string { return fmt.Sprintf(f, v...) }

// writeArch makes a real SIF of another architecture.
func writeArch(t *testing.T, seed int64, arch string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img.sif")
	if _, _, err := siftest.Write(p, siftest.Options{Seed: seed, Arch: arch}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(rc io.ReadCloser) ([]byte, error) {
	defer rc.Close()
	return io.ReadAll(rc)
}

func metaQuery(container string) meta.Query { return meta.Query{Container: container} }

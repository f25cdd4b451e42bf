package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lib "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// pushSIF pushes a fresh SIF through apptainer's library client.
func pushSIF(t *testing.T, in *servertest.Instance, token, path string, seed int64) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "img.sif")
	digest, _, err := siftest.Write(file, siftest.Options{Size: 64 << 10, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	c, err := lib.NewClient(&lib.Config{BaseURL: in.URL, AuthToken: token})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := c.UploadImage(context.Background(), f, path, "amd64", []string{"latest"}, "", nil); err != nil {
		t.Fatal(err)
	}
	return digest
}

func TestFsckAndGC(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	keep := pushSIF(t, in, in.AdminToken, "admin/lab/keep", 1)
	gone := pushSIF(t, in, in.AdminToken, "admin/lab/gone", 2)
	blobPath := func(d string) string { return filepath.Join(in.Data, "blobs", "sha256", d[:2], d) }

	out, _, err := runSilo(t, "fsck", "--verify", "--data", in.Data)
	if err != nil || !strings.Contains(out, "2 images, 2 blobs checked; 0 unused") {
		t.Fatalf("fsck of a sound registry: %v\n%s", err, out)
	}

	// Deleting a name leaves its bytes to gc, which removes them once
	// they are older than the grace period.
	c, _ := lib.NewClient(&lib.Config{BaseURL: in.URL, AuthToken: in.AdminToken})
	if err := c.DeleteImage(context.Background(), "admin/lab/gone:latest", "amd64"); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runSilo(t, "fsck", "--data", in.Data)
	if !strings.Contains(out, "1 unused") {
		t.Errorf("fsck after a delete: %s", out)
	}
	if out, _, err := runSilo(t, "gc", "--grace", "24h", "--data", in.Data); err != nil || !strings.Contains(out, "0 blobs") {
		t.Errorf("gc within the grace period removed something: %v %s", err, out)
	}
	if out, _, err := runSilo(t, "gc", "--grace", "0s", "--data", in.Data); err != nil || !strings.Contains(out, "1 blobs") {
		t.Errorf("gc: %v %s", err, out)
	}
	if _, err := os.Stat(blobPath(gone)); !os.IsNotExist(err) {
		t.Errorf("the deleted image's bytes are still there (%v)", err)
	}
	if _, err := os.Stat(blobPath(keep)); err != nil {
		t.Errorf("gc removed bytes a name still uses: %v", err)
	}

	// A flipped byte is found by --verify; a lost file by plain fsck.
	f, err := os.OpenFile(blobPath(keep), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff}, 1000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, _, err := runSilo(t, "fsck", "--verify", "--data", in.Data); err == nil || !strings.Contains(out, "corrupt: sha256."+keep) {
		t.Errorf("fsck --verify missed a corrupt blob: %v\n%s", err, out)
	}
	if err := os.Remove(blobPath(keep)); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runSilo(t, "fsck", "--data", in.Data); err == nil || !strings.Contains(out, "missing: admin/lab/keep@sha256."+keep) {
		t.Errorf("fsck missed a missing blob: %v\n%s", err, out)
	}
}

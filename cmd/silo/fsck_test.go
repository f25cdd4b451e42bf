package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lib "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/blob"
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
	// The library path, which stores one blob per image (through
	// /v1/oci-redirect the client also stores its config blob).
	in := servertest.Start(t, server.Config{NoOCIRedirect: true})
	keep := pushSIF(t, in, in.AdminToken, "admin/lab/keep", 1)
	gone := pushSIF(t, in, in.AdminToken, "admin/lab/gone", 2)
	ctx := context.Background()
	blobs := in.Server.Blobs

	out, _, err := runSilo(t, in.Offline("fsck", "--verify")...)
	if err != nil || !strings.Contains(out, "2 images, 2 blobs checked; 0 unused") {
		t.Fatalf("fsck of a sound registry: %v\n%s", err, out)
	}

	// Deleting a name leaves its bytes to gc, which removes them once
	// they are older than the grace period.
	c, _ := lib.NewClient(&lib.Config{BaseURL: in.URL, AuthToken: in.AdminToken})
	if err := c.DeleteImage(context.Background(), "admin/lab/gone:latest", "amd64"); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runSilo(t, in.Offline("fsck")...)
	if !strings.Contains(out, "1 unused") {
		t.Errorf("fsck after a delete: %s", out)
	}
	if out, _, err := runSilo(t, in.Offline("gc", "--grace", "24h")...); err != nil || !strings.Contains(out, "0 blobs") {
		t.Errorf("gc within the grace period removed something: %v %s", err, out)
	}
	if out, _, err := runSilo(t, in.Offline("gc", "--grace", "0s")...); err != nil || !strings.Contains(out, "1 blobs") {
		t.Errorf("gc: %v %s", err, out)
	}
	if _, err := blobs.Stat(ctx, gone); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("the deleted image's bytes are still there (%v)", err)
	}
	if _, err := blobs.Stat(ctx, keep); err != nil {
		t.Errorf("gc removed bytes a name still uses: %v", err)
	}

	// A flipped byte is found by --verify; a lost blob by plain fsck. The
	// damage is done through the blob store, which does not hash, so the
	// same test runs on files and on S3.
	rd, err := blobs.Open(ctx, keep)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rd)
	rd.Close()
	if err != nil {
		t.Fatal(err)
	}
	data[1000] ^= 0xff
	if err := blobs.Delete(ctx, keep); err != nil {
		t.Fatal(err)
	}
	id, err := blobs.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blobs.WriteAt(ctx, id, 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := blobs.Commit(ctx, id, keep, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runSilo(t, in.Offline("fsck", "--verify")...); err == nil || !strings.Contains(out, "corrupt: sha256."+keep) {
		t.Errorf("fsck --verify missed a corrupt blob: %v\n%s", err, out)
	}
	if err := blobs.Delete(ctx, keep); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runSilo(t, in.Offline("fsck")...); err == nil || !strings.Contains(out, "missing: admin/lab/keep@sha256."+keep) {
		t.Errorf("fsck missed a missing blob: %v\n%s", err, out)
	}
}

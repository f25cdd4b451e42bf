package regcopy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/blob/fs"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/meta/sqlite"
	"github.com/siloreg/silo/internal/regcopy"
)

// The registry-level tests (a real registry through the API, PostgreSQL
// and S3) are cmd/silo's TestCopy*; these check the copier's own promises
// on the embedded stores, where a blob's file can be tampered with.

func open(t *testing.T, dir string) regcopy.Stores {
	t.Helper()
	m, err := sqlite.Open(t.Context(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return regcopy.Stores{Meta: m, Blobs: b}
}

func put(t *testing.T, b blob.Store, data []byte) string {
	t.Helper()
	ctx := t.Context()
	id, err := b.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteAt(ctx, id, 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	d := hex.EncodeToString(sum[:])
	if err := b.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	return d
}

func has(t *testing.T, b blob.Store, digest string) bool {
	t.Helper()
	_, err := b.Stat(t.Context(), digest)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestCorruptSourceBlob: bytes that no longer hash to their name are not
// copied under it, and the copy says which blob and why.
func TestCorruptSourceBlob(t *testing.T) {
	srcDir := t.TempDir()
	src, dst := open(t, srcDir), open(t, t.TempDir())
	put(t, src.Blobs, []byte("good bytes"))
	bad := put(t, src.Blobs, []byte("bytes to be damaged"))
	if err := os.WriteFile(filepath.Join(srcDir, "blobs", "sha256", bad[:2], bad), []byte("bytes to be DAMAGED"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := regcopy.Copy(t.Context(), src, dst, regcopy.Options{})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("copy with a corrupt source blob: %v", err)
	}
	if has(t, dst.Blobs, bad) {
		t.Error("the damaged bytes were committed under the blob's name")
	}
	var ups int
	dst.Blobs.Uploads(t.Context(), func(blob.UploadInfo) error { ups++; return nil })
	if ups != 0 {
		t.Errorf("%d uploads left at the destination", ups)
	}
}

// TestInterruptedBlobs: a copy cut off between blobs is finished by the
// next run, which copies only what is missing.
func TestInterruptedBlobs(t *testing.T) {
	src, dst := open(t, t.TempDir()), open(t, t.TempDir())
	var ds []string
	for _, s := range []string{"one", "two", "three", "four"} {
		ds = append(ds, put(t, src.Blobs, []byte(strings.Repeat(s, 1000))))
	}
	if err := src.Meta.CreateUser(t.Context(), &meta.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	// Cancel once the first blob is at the destination.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stop := &stoppingStore{Store: dst.Blobs, after: 1, cancel: cancel}
	_, err := regcopy.Copy(ctx, src, regcopy.Stores{Meta: dst.Meta, Blobs: stop}, regcopy.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted copy: %v", err)
	}
	if _, err := dst.Meta.UserByName(t.Context(), "alice"); err == nil {
		t.Error("rows were copied before the blobs they may name")
	}
	rep, err := regcopy.Copy(t.Context(), src, dst, regcopy.Options{})
	if err != nil {
		t.Fatalf("resumed copy: %v", err)
	}
	if rep.BlobsCopied != 3 || rep.BlobsKept != 1 {
		t.Errorf("resumed copy copied %d blobs and kept %d, want 3 and 1", rep.BlobsCopied, rep.BlobsKept)
	}
	for _, d := range ds {
		if !has(t, dst.Blobs, d) {
			t.Errorf("blob %s missing after the resumed copy", d)
		}
	}
	if _, err := dst.Meta.UserByName(t.Context(), "alice"); err != nil {
		t.Errorf("alice after the resumed copy: %v", err)
	}
}

// stoppingStore cancels the copy after a number of commits: the interrupt
// lands between blobs, as a killed process's would.
type stoppingStore struct {
	blob.Store
	after  int
	cancel func()
}

func (s *stoppingStore) Commit(ctx context.Context, id, digest string, size int64) error {
	err := s.Store.Commit(ctx, id, digest, size)
	if s.after--; s.after == 0 {
		s.cancel()
	}
	return err
}

package fs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/blob/blobtest"
	"github.com/siloreg/silo/internal/blob/fs"
)

// aging lets the conformance suite set a blob's mtime, which is how garbage
// collection ages it.
type aging struct{ *fs.Store }

func (a aging) Backdate(_ context.Context, digest string, t time.Time) error {
	return os.Chtimes(blobPath(a.Store, digest), t, t)
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s := newStore(t)
		t.Cleanup(func() { checkNoDebris(t, s) })
		return aging{s}
	})
}

func newStore(t *testing.T) *fs.Store {
	t.Helper()
	s, err := fs.New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func blobPath(s *fs.Store, digest string) string {
	return filepath.Join(s.Root(), "blobs", "sha256", digest[:2], digest)
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func put(t *testing.T, s *fs.Store, data []byte) string {
	t.Helper()
	ctx := t.Context()
	id, err := s.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt(ctx, id, 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	d := digestOf(data)
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	return d
}

// files lists every non-directory under the store's root, relative to it.
func files(t *testing.T, s *fs.Store) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(s.Root(), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(s.Root(), p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkNoDebris checks that every file in the store is a blob in its place or
// an upload the store reports, so no operation left temporary files behind.
func checkNoDebris(t *testing.T, s *fs.Store) {
	t.Helper()
	known := map[string]bool{}
	s.Walk(context.Background(), func(i blob.Info) error {
		known[filepath.Join("blobs", "sha256", i.Digest[:2], i.Digest)] = true
		return nil
	})
	s.Uploads(context.Background(), func(u blob.UploadInfo) error {
		known[filepath.Join("uploads", u.ID)] = true
		return nil
	})
	for _, f := range files(t, s) {
		if !known[f] {
			t.Errorf("stray file %s left in the store", f)
		}
	}
}

func TestLayoutAndModes(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	id, err := s.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("upload id %q is not 128 bits of lower-case hex", id)
	}
	up := filepath.Join(s.Root(), "uploads", id)
	checkMode(t, up, 0o600)

	data := []byte("layout")
	if _, err := s.WriteAt(ctx, id, 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	d := digestOf(data)
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	checkMode(t, blobPath(s, d), 0o640)
	got, err := os.ReadFile(blobPath(s, d))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("blob file holds %q, %v; want %q", got, err, data)
	}
	if _, err := os.Stat(up); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("upload file still there after Commit: %v", err)
	}
	for _, dir := range []string{"", "blobs", "blobs/sha256", "blobs/sha256/" + d[:2], "uploads"} {
		fi, err := os.Stat(filepath.Join(s.Root(), dir))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o027 != 0 || !fi.IsDir() {
			t.Errorf("%s/: mode %v, want a directory closed to others and to group writes", dir, fi.Mode())
		}
	}
	if slices.Compare(files(t, s), []string{filepath.Join("blobs", "sha256", d[:2], d)}) != 0 {
		t.Errorf("store holds %v, want only the blob", files(t, s))
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
}

func TestReaderFile(t *testing.T) {
	s := newStore(t)
	data := bytes.Repeat([]byte("sendfile "), 1000)
	d := put(t, s, data)
	r, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fr, ok := r.(interface{ File() *os.File })
	if !ok {
		t.Fatalf("Open returned %T, which has no File method", r)
	}
	f := fr.File()
	if f.Name() != blobPath(s, d) {
		t.Errorf("File().Name() = %s, want %s", f.Name(), blobPath(s, d))
	}
	// The HTTP layer reads through the file while the reader stays the owner.
	got, err := io.ReadAll(io.NewSectionReader(f, 0, r.Size()))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("reading File(): %d bytes, %v; want %d bytes", len(got), err, len(data))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("File() still open after Close: %v", err)
	}

	// ReadUpload's reader offers the file as well.
	id, err := s.NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ur, err := s.ReadUpload(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer ur.Close()
	if _, ok := ur.(interface{ File() *os.File }); !ok {
		t.Errorf("ReadUpload returned %T, which has no File method", ur)
	}
}

func TestDeletedWhileOpen(t *testing.T) {
	// Garbage collection may remove a blob a download is still sending.
	s := newStore(t)
	data := bytes.Repeat([]byte{7}, 5000)
	d := put(t, s, data)
	r, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := s.Delete(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("read %d bytes, %v after Delete; want %d bytes", len(got), err, len(data))
	}
}

func TestForgedIDsStayInside(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	victim := filepath.Join(s.Root(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := put(t, s, []byte("blob"))
	for _, id := range []string{"../victim", "../blobs/sha256/" + d[:2] + "/" + d, victim} {
		if _, err := s.WriteAt(ctx, id, 0, strings.NewReader("overwritten")); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("WriteAt(%q) = %v, want ErrNotFound", id, err)
		}
		if err := s.Commit(ctx, id, digestOf([]byte("precious")), 8); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Commit(%q) = %v, want ErrNotFound", id, err)
		}
		if err := s.Cancel(ctx, id); err != nil {
			t.Errorf("Cancel(%q) = %v", id, err)
		}
	}
	if got, err := os.ReadFile(victim); err != nil || string(got) != "precious" {
		t.Errorf("file outside uploads/ now %q, %v", got, err)
	}
	if got, err := os.ReadFile(blobPath(s, d)); err != nil || string(got) != "blob" {
		t.Errorf("blob now %q, %v", got, err)
	}
}

func TestListingsSkipDebris(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	d := put(t, s, []byte("real"))
	other := digestOf([]byte("elsewhere"))
	for _, p := range []string{
		"blobs/sha256/README",
		"blobs/sha256/" + d[:2] + "/notes.txt",
		"blobs/sha256/" + d[:2] + "/" + other, // in the wrong fan-out directory
		"blobs/sha256/" + strings.ToUpper(d[:2]) + "/" + strings.ToUpper(d),
		"blobs/sha256/zz/" + other,
		"uploads/.ping-123",
		"uploads/" + strings.Repeat("A", 32),
		"uploads/" + strings.Repeat("a", 31),
	} {
		full := filepath.Join(s.Root(), p)
		if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("debris"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A directory named like a blob, and a symlink named like one.
	dirBlob := digestOf([]byte("dir"))
	if err := os.MkdirAll(blobPath(s, dirBlob), 0o750); err != nil {
		t.Fatal(err)
	}
	link := digestOf([]byte("link"))
	os.MkdirAll(filepath.Dir(blobPath(s, link)), 0o750)
	if err := os.Symlink(blobPath(s, d), blobPath(s, link)); err != nil {
		t.Fatal(err)
	}

	var got []string
	if err := s.Walk(ctx, func(i blob.Info) error { got = append(got, i.Digest); return nil }); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if !slices.Equal(got, []string{d}) {
		t.Errorf("Walk listed %v, want only %s", got, d)
	}
	n := 0
	if err := s.Uploads(ctx, func(u blob.UploadInfo) error { n++; return nil }); err != nil {
		t.Fatalf("Uploads: %v", err)
	}
	if n != 0 {
		t.Errorf("Uploads listed %d uploads, want none", n)
	}
	if _, err := s.Stat(ctx, dirBlob); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat of a directory named like a blob = %v, want ErrNotFound", err)
	}
	if _, err := s.Open(ctx, dirBlob); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open of a directory named like a blob = %v, want ErrNotFound", err)
	}
}

func TestSharedDirectory(t *testing.T) {
	// Two servers on one volume: an upload begun by one is finished by the other.
	a := newStore(t)
	b, err := fs.New(a.Root())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	id, err := a.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("shared by two servers")
	if _, err := b.WriteAt(ctx, id, 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	d := digestOf(data)
	if err := b.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	r, err := a.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(r); !bytes.Equal(got, data) {
		t.Errorf("read %q, want %q", got, data)
	}
}

func TestFanoutRemoved(t *testing.T) {
	// An operator (or fsck) removing an empty fan-out directory must not break
	// later commits into it, even though this Store already made it once.
	s := newStore(t)
	d := put(t, s, []byte("first"))
	if err := s.Delete(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Dir(blobPath(s, d))); err != nil {
		t.Fatal(err)
	}
	put(t, s, []byte("first"))
	if _, err := os.Stat(blobPath(s, d)); err != nil {
		t.Errorf("blob not in place after its directory was remade: %v", err)
	}
}

func TestNewAndPing(t *testing.T) {
	if _, err := fs.New(""); err == nil {
		t.Error("New(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.New(file); err == nil {
		t.Error("New on a regular file succeeded")
	}

	s := newStore(t)
	if !filepath.IsAbs(s.Root()) {
		t.Errorf("Root() = %s, want an absolute path", s.Root())
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping of a fresh store: %v", err)
	}
	if f := files(t, s); len(f) != 0 {
		t.Errorf("Ping left %v behind", f)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Ping(cancelled); err == nil {
		t.Error("Ping with a cancelled context succeeded")
	}

	// A volume that went away (unmounted, wiped) must make the server unready.
	if err := os.RemoveAll(filepath.Join(s.Root(), "uploads")); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping succeeded without an uploads directory")
	}
	if err := s.Uploads(t.Context(), func(blob.UploadInfo) error { return nil }); err == nil {
		t.Error("Uploads succeeded without an uploads directory")
	}
	// Re-opening repairs it.
	if _, err := fs.New(s.Root()); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping after New repaired the store: %v", err)
	}
}

func TestBrokenBodyKeepsWhatArrived(t *testing.T) {
	// A resumed push continues from the last byte the store holds, so every
	// byte that arrived before the connection broke is kept and counted.
	s := newStore(t)
	id, err := s.NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sent := bytes.Repeat([]byte("partial "), 200000)
	n, err := s.WriteAt(t.Context(), id, 0, io.MultiReader(bytes.NewReader(sent), iotest.ErrReader(io.ErrUnexpectedEOF)))
	if n != int64(len(sent)) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("WriteAt = %d, %v; want %d, %v", n, err, len(sent), io.ErrUnexpectedEOF)
	}
	got, err := os.ReadFile(filepath.Join(s.Root(), "uploads", id))
	if err != nil || !bytes.Equal(got, sent) {
		t.Errorf("upload holds %d bytes, %v; want %d", len(got), err, len(sent))
	}
}

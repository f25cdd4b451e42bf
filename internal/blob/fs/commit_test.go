package fs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/siloreg/silo/internal/blob"
)

// These tests use the step hook to see Commit's durable steps in order and to
// make each one fail, which is as close to pulling the plug as a unit test gets.

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// record makes s log each step as "op name" and fail the one named failAt.
func record(s *Store, failAt string) *[]string {
	var log []string
	s.step = func(op, path string) error {
		log = append(log, op+" "+filepath.Base(path))
		if op == failAt {
			return errors.New("injected failure at " + op)
		}
		return nil
	}
	return &log
}

func startUpload(t *testing.T, s *Store, data []byte) string {
	t.Helper()
	id, err := s.NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt(t.Context(), id, 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return id
}

func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCommitOrder(t *testing.T) {
	s := newTestStore(t)
	data := []byte("durable")
	d := digest(data)
	id := startUpload(t, s, data)
	log := record(s, "")
	if err := s.Commit(t.Context(), id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	// Data before name, name before return; the fan-out directory's own
	// entry made durable before anything is renamed into it.
	want := []string{"sync " + id, "mkdir " + d[:2], "rename " + d, "syncdir " + d[:2]}
	if !slices.Equal(*log, want) {
		t.Errorf("steps %q, want %q", *log, want)
	}

	// The directory is made durable once, not on every commit.
	more := []byte("durable too")
	for digest(more)[:2] != d[:2] {
		more = append(more, '!')
	}
	id = startUpload(t, s, more)
	*log = nil
	if err := s.Commit(t.Context(), id, digest(more), int64(len(more))); err != nil {
		t.Fatal(err)
	}
	want = []string{"sync " + id, "rename " + digest(more), "syncdir " + d[:2]}
	if !slices.Equal(*log, want) {
		t.Errorf("second commit: steps %q, want %q", *log, want)
	}

	// An existing blob is touched before the upload goes, so a blob collected
	// meanwhile never costs the only copy of the bytes.
	id = startUpload(t, s, data)
	*log = nil
	if err := s.Commit(t.Context(), id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	want = []string{"touch " + d, "remove " + id}
	if !slices.Equal(*log, want) {
		t.Errorf("re-used blob: steps %q, want %q", *log, want)
	}
}

func TestCommitFailureBeforeRename(t *testing.T) {
	for _, step := range []string{"sync", "mkdir", "rename"} {
		t.Run(step, func(t *testing.T) {
			s := newTestStore(t)
			data := []byte("retry me")
			d := digest(data)
			id := startUpload(t, s, append(data, "trailing"...))
			record(s, step)
			if err := s.Commit(t.Context(), id, d, int64(len(data))); err == nil {
				t.Fatal("Commit succeeded despite the failure")
			}
			if _, err := s.Stat(t.Context(), d); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("Stat after failed Commit = %v, want ErrNotFound", err)
			}
			// The upload is still there and a retry finishes the job.
			s.step = nil
			if err := s.Commit(t.Context(), id, d, int64(len(data))); err != nil {
				t.Fatalf("retried Commit: %v", err)
			}
			checkFile(t, s.blobPath(d), data)
			checkOnly(t, s, s.blobPath(d))
		})
	}
}

func TestCommitFailureAfterRename(t *testing.T) {
	s := newTestStore(t)
	data := []byte("orphan")
	d := digest(data)
	id := startUpload(t, s, data)
	record(s, "syncdir")
	if err := s.Commit(t.Context(), id, d, int64(len(data))); err == nil {
		t.Fatal("Commit succeeded although its directory was not synced")
	}
	// The caller was told it failed, so it records no reference; the blob is
	// an orphan for garbage collection, and nothing else is left.
	checkOnly(t, s, s.blobPath(d))
}

func TestCommitReuseFailure(t *testing.T) {
	for _, step := range []string{"touch", "remove"} {
		t.Run(step, func(t *testing.T) {
			s := newTestStore(t)
			data := []byte("twice")
			d := digest(data)
			id := startUpload(t, s, data)
			if err := s.Commit(t.Context(), id, d, int64(len(data))); err != nil {
				t.Fatal(err)
			}
			id = startUpload(t, s, data)
			record(s, step)
			if err := s.Commit(t.Context(), id, d, int64(len(data))); err == nil {
				t.Fatal("Commit succeeded despite the failure")
			}
			checkFile(t, s.blobPath(d), data)
			checkFile(t, s.uploadPath(id), data)
			s.step = nil
			if err := s.Commit(t.Context(), id, d, int64(len(data))); err != nil {
				t.Fatalf("retried Commit: %v", err)
			}
			checkOnly(t, s, s.blobPath(d))
		})
	}
}

func TestCommitReplacesDamagedBlob(t *testing.T) {
	// A blob file of the wrong size cannot hold the digest's bytes; a verified
	// upload of them replaces it rather than being thrown away.
	s := newTestStore(t)
	data := []byte("the real bytes")
	d := digest(data)
	p := s.blobPath(d)
	if err := os.MkdirAll(filepath.Dir(p), dirPerm); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("torn"), blobPerm); err != nil {
		t.Fatal(err)
	}
	id := startUpload(t, s, data)
	if err := s.Commit(t.Context(), id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, data)
	checkOnly(t, s, p)
}

func TestShortCommitTouchesNothing(t *testing.T) {
	s := newTestStore(t)
	data := []byte("0123456789")
	id := startUpload(t, s, data)
	log := record(s, "")
	if err := s.Commit(t.Context(), id, digest(append(data, 'x')), 11); err == nil {
		t.Fatal("short Commit succeeded")
	}
	if len(*log) != 0 {
		t.Errorf("short Commit went as far as %q", *log)
	}
	checkFile(t, s.uploadPath(id), data)
}

func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s holds %q, %v; want %q", path, got, err, want)
	}
}

// checkOnly checks that the store's tree holds exactly the files named.
func checkOnly(t *testing.T, s *Store, want ...string) {
	t.Helper()
	var got []string
	filepath.WalkDir(s.Root(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			got = append(got, p)
		}
		return err
	})
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("store holds %q, want %q", got, want)
	}
}

// Package blobtest is the conformance suite for blob.Store backends. Every
// backend runs it from its own tests, so that the HTTP layer can rely on one
// behaviour whichever store is configured. The suite sees a store only through
// blob.Store: anything that needs to look inside a backend belongs in that
// backend's own tests.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/blob"
)

// Backdater may be implemented by the store handed to Run (typically a test
// wrapper around the real one) to set a blob's modification time. With it the
// suite checks that committing a blob that already exists makes it look
// fresh again, which garbage collection's grace period depends on; without it
// that check is weaker, since a store's clock may not move between two quick
// commits.
type Backdater interface {
	Backdate(ctx context.Context, digest string, t time.Time) error
}

// Run runs the conformance suite against stores made by newStore, which must
// return a fresh, empty store for each subtest and arrange its cleanup.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"SingleWrite", testSingleWrite},
		{"EmptyBlob", testEmptyBlob},
		{"PartsOutOfOrder", testPartsOutOfOrder},
		{"ConcurrentParts", testConcurrentParts},
		{"ReadUpload", testReadUpload},
		{"CommitPrefix", testCommitPrefix},
		{"CommitShort", testCommitShort},
		{"CommitExisting", testCommitExisting},
		{"Cancel", testCancel},
		{"InvalidDigest", testInvalidDigest},
		{"UnknownUpload", testUnknownUpload},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"Walk", testWalk},
		{"Uploads", testUploads},
		{"NegativeOffset", testNegativeOffset},
		{"BrokenBody", testBrokenBody},
		{"WriteAtCancelled", testWriteAtCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// content returns n reproducible pseudo-random bytes: random so that a
// misplaced range cannot go unnoticed, seeded so that failures repeat.
func content(n int, seed uint64) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newUpload starts an upload holding data.
func newUpload(t *testing.T, s blob.Store, data []byte) string {
	t.Helper()
	ctx := t.Context()
	id, err := s.NewUpload(ctx)
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	if len(data) == 0 {
		return id
	}
	n, err := s.WriteAt(ctx, id, 0, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("WriteAt(%s, 0, %d bytes) = %d, %v", id, len(data), n, err)
	}
	return id
}

// put stores data as a blob and returns its digest.
func put(t *testing.T, s blob.Store, data []byte) string {
	t.Helper()
	id := newUpload(t, s, data)
	d := digestOf(data)
	if err := s.Commit(t.Context(), id, d, int64(len(data))); err != nil {
		t.Fatalf("Commit(%s, %s, %d): %v", id, d, len(data), err)
	}
	return d
}

// checkBlob checks that the blob digest holds exactly want, through every
// way a download reads it.
func checkBlob(t *testing.T, s blob.Store, digest string, want []byte) {
	t.Helper()
	info, err := s.Stat(t.Context(), digest)
	if err != nil {
		t.Fatalf("Stat(%s): %v", digest, err)
	}
	if info.Digest != digest || info.Size != int64(len(want)) {
		t.Errorf("Stat(%s) = %s, %d bytes; want %s, %d bytes", digest, info.Digest, info.Size, digest, len(want))
	}
	r, err := s.Open(t.Context(), digest)
	if err != nil {
		t.Fatalf("Open(%s): %v", digest, err)
	}
	defer r.Close()
	if r.Size() != int64(len(want)) {
		t.Errorf("Open(%s).Size() = %d, want %d", digest, r.Size(), len(want))
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %s: %v", digest, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("blob %s: read %d bytes (sha256 %s), want %d bytes", digest, len(got), digestOf(got), len(want))
	}
}

// blobs lists the store's blobs as digest → size.
func blobs(t *testing.T, s blob.Store) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	err := s.Walk(t.Context(), func(i blob.Info) error {
		if _, dup := m[i.Digest]; dup {
			t.Errorf("Walk listed %s twice", i.Digest)
		}
		m[i.Digest] = i.Size
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return m
}

// uploads lists the store's unfinished uploads as id → size.
func uploads(t *testing.T, s blob.Store) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	err := s.Uploads(t.Context(), func(u blob.UploadInfo) error {
		if _, dup := m[u.ID]; dup {
			t.Errorf("Uploads listed %s twice", u.ID)
		}
		m[u.ID] = u.Size
		return nil
	})
	if err != nil {
		t.Fatalf("Uploads: %v", err)
	}
	return m
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

func wantMap(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
		return
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
	}
}

// recent reports whether tm is plausibly "now" for a store whose clock may
// differ a little from the test's.
func recent(tm time.Time) bool {
	return time.Since(tm).Abs() < 10*time.Minute
}

// chunked hands out its bytes a few at a time, like a request body arriving
// over the network, so that a store's copy loop goes round many times.
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.n, len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// endless is a body that never ends. It cancels its context once it has
// handed out after bytes, and fails if it is still being read long after.
type endless struct {
	read, after, slack int64
	cancel             func()
}

var errKeptReading = errors.New("WriteAt kept reading long after its context was cancelled")

func (e *endless) Read(p []byte) (int, error) {
	if e.read >= e.after {
		e.cancel()
		if e.read >= e.after+e.slack {
			return 0, errKeptReading
		}
	}
	e.read += int64(len(p))
	return len(p), nil
}

package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/siloreg/silo/internal/blob"
)

func testSingleWrite(t *testing.T, s blob.Store) {
	// Not a multiple of any plausible buffer size, so the last copy is partial.
	data := content(3<<20+17, 1)
	id := newUpload(t, s, data)
	d := digestOf(data)
	if err := s.Commit(t.Context(), id, d, int64(len(data))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkBlob(t, s, d, data)

	r, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if !recent(r.ModTime()) {
		t.Errorf("ModTime = %v, want about now", r.ModTime())
	}
	checkRanges(t, r, data)

	// Read, ReadAt and Seek in every combination, on a blob small enough for
	// iotest's byte-at-a-time reads.
	small := content(20000, 17)
	sr, err := s.Open(t.Context(), put(t, s, small))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer sr.Close()
	if err := iotest.TestReader(sr, small); err != nil {
		t.Errorf("reader: %v", err)
	}

	wantErr(t, "Commit of a committed upload", s.Commit(t.Context(), id, d, int64(len(data))), blob.ErrNotFound)
	wantMap(t, "Uploads after Commit", uploads(t, s), map[string]int64{})
	wantMap(t, "Walk", blobs(t, s), map[string]int64{d: int64(len(data)), digestOf(small): int64(len(small))})
}

// checkRanges reads r the way ranged, parallel downloads do.
func checkRanges(t *testing.T, r blob.Reader, data []byte) {
	t.Helper()
	size := int64(len(data))
	for _, rg := range [][2]int64{{0, 1}, {1 << 20, 1<<20 + 1}, {1<<20 - 5, 1<<20 + 5}, {size - 700000, size}, {size - 1, size}, {12345, 2 << 20}} {
		off, end := rg[0], rg[1]
		buf := make([]byte, end-off)
		if n, err := r.ReadAt(buf, off); n != len(buf) || (err != nil && err != io.EOF) || !bytes.Equal(buf, data[off:end]) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v, matching %v", len(buf), off, n, err, bytes.Equal(buf, data[off:end]))
		}
		if pos, err := r.Seek(off, io.SeekStart); pos != off || err != nil {
			t.Fatalf("Seek(%d) = %d, %v", off, pos, err)
		}
		if _, err := io.ReadFull(r, buf); err != nil || !bytes.Equal(buf, data[off:end]) {
			t.Errorf("Read of %d bytes after Seek(%d): %v, matching %v", len(buf), off, err, bytes.Equal(buf, data[off:end]))
		}
	}
	if n, err := r.ReadAt(make([]byte, 10), size-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d, %v; want 4, EOF", n, err)
	}
	if pos, err := r.Seek(-10, io.SeekEnd); pos != size-10 || err != nil {
		t.Errorf("Seek(-10, SeekEnd) = %d, %v; want %d", pos, err, size-10)
	}
	if rest, err := io.ReadAll(r); err != nil || !bytes.Equal(rest, data[size-10:]) {
		t.Errorf("Read after Seek from the end = %x, %v", rest, err)
	}
}

func testEmptyBlob(t *testing.T, s blob.Store) {
	d := put(t, s, nil)
	checkBlob(t, s, d, nil)
	wantMap(t, "Walk", blobs(t, s), map[string]int64{d: 0})
}

func testPartsOutOfOrder(t *testing.T, s blob.Store) {
	data := content(2<<20+5000, 2)
	cuts := []int{0, 100, 700 << 10, 1 << 20, 2<<20 + 1, len(data)}
	ctx := t.Context()
	id := newUpload(t, s, nil)

	// A part whose transfer failed is retried: first garbage, then the real bytes.
	junk := bytes.Repeat([]byte{0xAA}, cuts[3]-cuts[2])
	if _, err := s.WriteAt(ctx, id, int64(cuts[2]), bytes.NewReader(junk)); err != nil {
		t.Fatalf("WriteAt junk: %v", err)
	}
	for _, i := range []int{3, 0, 4, 2, 1} {
		part := data[cuts[i]:cuts[i+1]]
		n, err := s.WriteAt(ctx, id, int64(cuts[i]), &chunked{b: part, n: 3001})
		if err != nil || n != int64(len(part)) {
			t.Fatalf("WriteAt(part %d at %d) = %d, %v; want %d", i, cuts[i], n, err, len(part))
		}
	}
	d := digestOf(data)
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkBlob(t, s, d, data)
}

func testConcurrentParts(t *testing.T, s blob.Store) {
	const parts, partSize = 8, 384 << 10
	data := content(parts*partSize-123, 3)
	ctx := t.Context()
	id := newUpload(t, s, nil)

	start := make(chan struct{})
	errs := make(chan error, parts)
	var wg sync.WaitGroup
	for i := range parts {
		off := i * partSize
		part := data[off:min(off+partSize, len(data))]
		wg.Go(func() {
			<-start
			n, err := s.WriteAt(ctx, id, int64(off), &chunked{b: part, n: 8192})
			if err == nil && n != int64(len(part)) {
				err = fmt.Errorf("wrote %d of %d bytes", n, len(part))
			}
			if err != nil {
				err = fmt.Errorf("part at %d: %w", off, err)
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	d := digestOf(data)
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkBlob(t, s, d, data)
}

func testReadUpload(t *testing.T, s blob.Store) {
	data := content(30000, 4)
	half := len(data) / 2
	id := newUpload(t, s, data[:half])
	ctx := t.Context()

	read := func(want []byte) {
		t.Helper()
		r, err := s.ReadUpload(ctx, id)
		if err != nil {
			t.Fatalf("ReadUpload: %v", err)
		}
		defer r.Close()
		if r.Size() != int64(len(want)) {
			t.Errorf("ReadUpload size = %d, want %d", r.Size(), len(want))
		}
		if err := iotest.TestReader(r, want); err != nil {
			t.Errorf("ReadUpload: %v", err)
		}
	}
	read(data[:half])
	if _, err := s.WriteAt(ctx, id, int64(half), bytes.NewReader(data[half:])); err != nil {
		t.Fatalf("WriteAt: %v", err)
	}
	read(data)

	// Reading an upload must not consume or finish it.
	d := digestOf(data)
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatalf("Commit after ReadUpload: %v", err)
	}
	checkBlob(t, s, d, data)
}

func testCommitPrefix(t *testing.T, s blob.Store) {
	// A client may have sent more than it declared (or a failed retry left
	// trailing bytes): only the declared size becomes the blob.
	data := content(1000, 5)
	id := newUpload(t, s, data)
	d := digestOf(data[:600])
	if err := s.Commit(t.Context(), id, d, 600); err != nil {
		t.Fatalf("Commit of 600 of 1000 bytes: %v", err)
	}
	checkBlob(t, s, d, data[:600])
}

func testCommitShort(t *testing.T, s blob.Store) {
	data := content(200, 6)
	ctx := t.Context()
	id := newUpload(t, s, data[:100])
	d := digestOf(data)
	if err := s.Commit(ctx, id, d, int64(len(data))); err == nil {
		t.Fatal("Commit of 200 bytes from a 100-byte upload succeeded")
	}
	wantErr(t, "Stat after short Commit", statErr(t, s, d), blob.ErrNotFound)
	wantMap(t, "Walk after short Commit", blobs(t, s), map[string]int64{})
	// The upload is left as it was, so the client can send the rest.
	wantMap(t, "Uploads after short Commit", uploads(t, s), map[string]int64{id: 100})
	if _, err := s.WriteAt(ctx, id, 100, bytes.NewReader(data[100:])); err != nil {
		t.Fatalf("WriteAt of the rest: %v", err)
	}
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatalf("Commit of the completed upload: %v", err)
	}
	checkBlob(t, s, d, data)
}

func statErr(t *testing.T, s blob.Store, d string) error {
	t.Helper()
	_, err := s.Stat(t.Context(), d)
	return err
}

func testCommitExisting(t *testing.T, s blob.Store) {
	data := content(50000, 7)
	ctx := t.Context()
	d := put(t, s, data)
	before, err := s.Stat(ctx, d)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	bd, canAge := s.(Backdater)
	if canAge {
		old := time.Now().Add(-48 * time.Hour)
		if err := bd.Backdate(ctx, d, old); err != nil {
			t.Fatalf("Backdate: %v", err)
		}
		if before, err = s.Stat(ctx, d); err != nil {
			t.Fatalf("Stat: %v", err)
		}
		if recent(before.ModTime) {
			t.Fatalf("after Backdate, ModTime = %v, still recent", before.ModTime)
		}
	}

	id := newUpload(t, s, data)
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatalf("Commit of an existing blob: %v", err)
	}
	wantMap(t, "Walk", blobs(t, s), map[string]int64{d: int64(len(data))})
	wantMap(t, "Uploads", uploads(t, s), map[string]int64{})
	checkBlob(t, s, d, data)

	after, err := s.Stat(ctx, d)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if after.ModTime.Before(before.ModTime) {
		t.Errorf("ModTime went back from %v to %v", before.ModTime, after.ModTime)
	}
	if canAge && !recent(after.ModTime) {
		t.Errorf("re-used blob's ModTime = %v, want about now (garbage collection would take it)", after.ModTime)
	}
}

func testCancel(t *testing.T, s blob.Store) {
	data := content(10000, 8)
	ctx := t.Context()
	id := newUpload(t, s, data)
	if err := s.Cancel(ctx, id); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	wantMap(t, "Uploads after Cancel", uploads(t, s), map[string]int64{})
	_, err := s.WriteAt(ctx, id, 0, bytes.NewReader(data))
	wantErr(t, "WriteAt after Cancel", err, blob.ErrNotFound)
	_, err = s.ReadUpload(ctx, id)
	wantErr(t, "ReadUpload after Cancel", err, blob.ErrNotFound)
	err = s.Commit(ctx, id, digestOf(data), int64(len(data)))
	wantErr(t, "Commit after Cancel", err, blob.ErrNotFound)
	if err := s.Cancel(ctx, id); err != nil {
		t.Errorf("second Cancel: %v", err)
	}
	wantMap(t, "Walk after Cancel", blobs(t, s), map[string]int64{})
	wantMap(t, "Uploads after all", uploads(t, s), map[string]int64{})
}

var badDigests = []string{
	"",
	"sha256:" + digestOf(nil),
	"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
	digestOf(nil)[:63],
	digestOf(nil) + "0",
	"g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"../../../../../../../../../../../../../../../../../../etc/passwd",
	"e3/../../../../../../../../../../../../../../../../../../../../",
}

func testInvalidDigest(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data := content(64, 9)
	id := newUpload(t, s, data)
	for _, d := range badDigests {
		_, err := s.Open(ctx, d)
		wantErr(t, fmt.Sprintf("Open(%q)", d), err, blob.ErrInvalidDigest)
		_, err = s.Stat(ctx, d)
		wantErr(t, fmt.Sprintf("Stat(%q)", d), err, blob.ErrInvalidDigest)
		wantErr(t, fmt.Sprintf("Delete(%q)", d), s.Delete(ctx, d), blob.ErrInvalidDigest)
		wantErr(t, fmt.Sprintf("Commit(%q)", d), s.Commit(ctx, id, d, int64(len(data))), blob.ErrInvalidDigest)
	}
	// None of that may have used up the upload.
	wantMap(t, "Uploads", uploads(t, s), map[string]int64{id: int64(len(data))})
	d := digestOf(data)
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatalf("Commit after invalid attempts: %v", err)
	}
	checkBlob(t, s, d, data)
}

func testUnknownUpload(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data := content(64, 10)
	d := digestOf(data)
	keep := newUpload(t, s, data)
	gone := newUpload(t, s, data)
	if err := s.Cancel(ctx, gone); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	ids := []string{
		gone, "", ".", "..", "/", "../../etc/passwd", "../uploads/" + keep,
		keep + "/..", "./" + keep, keep + "x", keep[:len(keep)-1],
		"../blobs/sha256/" + d[:2] + "/" + d, "/etc/passwd", "nul\x00byte",
	}
	for _, id := range ids {
		_, err := s.WriteAt(ctx, id, 0, bytes.NewReader(data))
		wantErr(t, fmt.Sprintf("WriteAt(%q)", id), err, blob.ErrNotFound)
		_, err = s.ReadUpload(ctx, id)
		wantErr(t, fmt.Sprintf("ReadUpload(%q)", id), err, blob.ErrNotFound)
		err = s.Commit(ctx, id, d, int64(len(data)))
		wantErr(t, fmt.Sprintf("Commit(%q)", id), err, blob.ErrNotFound)
		if err := s.Cancel(ctx, id); err != nil {
			t.Errorf("Cancel(%q) = %v, want nil", id, err)
		}
	}
	wantMap(t, "Walk", blobs(t, s), map[string]int64{})
	wantMap(t, "Uploads", uploads(t, s), map[string]int64{keep: int64(len(data))})
}

func testMissing(t *testing.T, s blob.Store) {
	ctx := t.Context()
	d := digestOf([]byte("never stored"))
	_, err := s.Stat(ctx, d)
	wantErr(t, "Stat of a missing blob", err, blob.ErrNotFound)
	_, err = s.Open(ctx, d)
	wantErr(t, "Open of a missing blob", err, blob.ErrNotFound)
	if err := s.Delete(ctx, d); err != nil {
		t.Errorf("Delete of a missing blob = %v, want nil", err)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := t.Context()
	a, b := content(1000, 11), content(2000, 12)
	da, db := put(t, s, a), put(t, s, b)
	if err := s.Delete(ctx, da); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.Open(ctx, da)
	wantErr(t, "Open after Delete", err, blob.ErrNotFound)
	wantErr(t, "Stat after Delete", statErr(t, s, da), blob.ErrNotFound)
	if err := s.Delete(ctx, da); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	checkBlob(t, s, db, b)
	wantMap(t, "Walk after Delete", blobs(t, s), map[string]int64{db: 2000})

	// A deleted blob can be pushed again.
	if got := put(t, s, a); got != da {
		t.Fatalf("put returned %s, want %s", got, da)
	}
	checkBlob(t, s, da, a)
}

func testWalk(t *testing.T, s blob.Store) {
	ctx := t.Context()
	wantMap(t, "Walk of an empty store", blobs(t, s), map[string]int64{})
	want := map[string]int64{}
	for i, n := range []int{0, 1, 4096, 70001} {
		want[put(t, s, content(n, uint64(100+i)))] = int64(n)
	}
	newUpload(t, s, content(10, 99)) // Unfinished uploads are not blobs.
	wantMap(t, "Walk", blobs(t, s), want)

	err := s.Walk(ctx, func(i blob.Info) error {
		if !recent(i.ModTime) {
			t.Errorf("Walk: %s ModTime = %v, want about now", i.Digest, i.ModTime)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}

	stop := errors.New("stop")
	calls := 0
	err = s.Walk(ctx, func(blob.Info) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk with a failing fn: %d calls, err = %v; want 1 call, %v", calls, err, stop)
	}
}

func testUploads(t *testing.T, s blob.Store) {
	ctx := t.Context()
	wantMap(t, "Uploads of an empty store", uploads(t, s), map[string]int64{})
	a := newUpload(t, s, content(10, 13))
	b := newUpload(t, s, nil)
	if a == b {
		t.Fatalf("NewUpload returned %s twice", a)
	}
	put(t, s, content(20, 14)) // Committed uploads are not listed.
	wantMap(t, "Uploads", uploads(t, s), map[string]int64{a: 10, b: 0})

	err := s.Uploads(ctx, func(u blob.UploadInfo) error {
		if !recent(u.ModTime) {
			t.Errorf("Uploads: %s ModTime = %v, want about now", u.ID, u.ModTime)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Uploads: %v", err)
	}
	stop := errors.New("stop")
	calls := 0
	err = s.Uploads(ctx, func(blob.UploadInfo) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Uploads with a failing fn: %d calls, err = %v; want 1 call, %v", calls, err, stop)
	}
}

func testNegativeOffset(t *testing.T, s blob.Store) {
	data := content(10, 15)
	id := newUpload(t, s, data)
	if _, err := s.WriteAt(t.Context(), id, -1, bytes.NewReader(data)); err == nil {
		t.Error("WriteAt at offset -1 succeeded")
	}
	wantMap(t, "Uploads", uploads(t, s), map[string]int64{id: 10})
}

func testBrokenBody(t *testing.T, s blob.Store) {
	// io.ErrUnexpectedEOF is what net/http returns for a truncated body; a
	// store that takes it for the end of the body commits short data.
	for _, broken := range []error{errors.New("client went away"), io.ErrUnexpectedEOF} {
		t.Run(broken.Error(), func(t *testing.T) { brokenBody(t, s, broken) })
	}
}

func brokenBody(t *testing.T, s blob.Store, broken error) {
	ctx := t.Context()
	data := content(2<<20+100, 18)
	sent := 1<<20 + 50
	id := newUpload(t, s, nil)
	body := io.MultiReader(&chunked{b: data[:sent], n: 10000}, iotest.ErrReader(broken))
	n, err := s.WriteAt(ctx, id, 0, body)
	// The body's own error lets the caller tell a broken request from a
	// broken store.
	if !errors.Is(err, broken) {
		t.Fatalf("WriteAt with a failing body = %d, %v; want the body's error", n, err)
	}
	if n < 0 || n > int64(sent) {
		t.Fatalf("WriteAt reported %d bytes written of the %d the body held", n, sent)
	}
	// What it reports as written is in place, so the client resumes from there.
	r, err := s.ReadUpload(ctx, id)
	if err != nil {
		t.Fatalf("ReadUpload: %v", err)
	}
	got := make([]byte, n)
	_, err = r.ReadAt(got, 0)
	r.Close()
	if (err != nil && err != io.EOF) || !bytes.Equal(got, data[:n]) {
		t.Fatalf("the %d bytes WriteAt reported are not in the upload (%v)", n, err)
	}
	if _, err := s.WriteAt(ctx, id, n, bytes.NewReader(data[n:])); err != nil {
		t.Fatalf("WriteAt resuming at %d: %v", n, err)
	}
	d := digestOf(data)
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkBlob(t, s, d, data)
}

func testWriteAtCancelled(t *testing.T, s blob.Store) {
	id := newUpload(t, s, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	body := &endless{after: 3 << 20, slack: 64 << 20, cancel: cancel}
	n, err := s.WriteAt(ctx, id, 0, body)
	if errors.Is(err, errKeptReading) {
		t.Fatalf("WriteAt read %d bytes after its context was cancelled", body.read-body.after)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteAt with a cancelled context = %d, %v; want %v", n, err, context.Canceled)
	}
	if n > body.read {
		t.Errorf("WriteAt reported %d bytes written, but only %d were read", n, body.read)
	}

	// A context cancelled before the call stops it before any work.
	n, err = s.WriteAt(ctx, id, 0, &chunked{b: content(100, 16), n: 100})
	if err == nil {
		t.Errorf("WriteAt with an already cancelled context = %d, nil; want an error", n)
	}
	if err := s.Cancel(t.Context(), id); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
}

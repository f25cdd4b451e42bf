package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/siloreg/silo/internal/blob"
)

// idLen is the length of an upload id: 128 random bits in hex.
const idLen = 32

// bufSize is the copy buffer for WriteAt. Large enough that a multi-GiB image
// costs few syscalls, small enough that many concurrent uploads fit in memory.
const bufSize = 1 << 20

// bufs pools copy buffers so that WriteAt does not allocate per call; it holds
// pointers because a slice in an interface would itself allocate.
var bufs = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// validID reports whether id has the exact shape NewUpload makes. Anything
// else is refused before it reaches a path, so an id cannot name a file
// outside uploads/.
func validID(id string) bool { return len(id) == idLen && isLowerHex(id) }

// isLowerHex reports whether s is made only of 0-9 and a-f, the one spelling
// of hex the store writes.
func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func uploadNotFound(id string) error {
	return fmt.Errorf("blob/fs: upload %q: %w", id, blob.ErrNotFound)
}

// NewUpload creates an empty upload file and returns its id.
func (s *Store) NewUpload(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var raw [idLen / 2]byte
	rand.Read(raw[:]) // Cannot fail: crypto/rand crashes the process instead.
	id := hex.EncodeToString(raw[:])
	p := s.uploadPath(id)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, uploadPerm)
	if err != nil {
		return "", fmt.Errorf("blob/fs: new upload: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(p)
		return "", fmt.Errorf("blob/fs: new upload: %w", err)
	}
	return id, nil
}

// WriteAt copies r into upload id from offset on. Each call opens its own
// descriptor and writes with pwrite, so concurrent calls at different offsets
// (parallel multipart parts) do not share a file position. Bytes read from r
// before an error are still written, so a dropped connection keeps what
// arrived. The context is checked between buffers.
func (s *Store) WriteAt(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	if !validID(id) {
		return 0, uploadNotFound(id)
	}
	if offset < 0 {
		return 0, fmt.Errorf("blob/fs: upload %q: negative offset %d", id, offset)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(s.uploadPath(id), os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, uploadNotFound(id)
	}
	if err != nil {
		return 0, fmt.Errorf("blob/fs: %w", err)
	}
	n, err := copyAt(ctx, f, offset, r)
	// Close can report a deferred write error (NFS), so it counts.
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("blob/fs: %w", cerr)
	}
	return n, err
}

func copyAt(ctx context.Context, f *os.File, offset int64, r io.Reader) (int64, error) {
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		// Fill the whole buffer first: request bodies arrive in small reads,
		// and one large pwrite is far cheaper than many small ones.
		m, rerr := fill(r, buf)
		if m > 0 {
			w, werr := f.WriteAt(buf[:m], offset+n)
			n += int64(w)
			if werr != nil {
				return n, fmt.Errorf("blob/fs: %w", werr)
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// fill reads into buf until it is full or r stops, and returns r's error as
// is. Unlike io.ReadFull it keeps io.EOF (the body ended) apart from
// io.ErrUnexpectedEOF, which net/http returns for a truncated body and which
// must fail the write.
func fill(r io.Reader, buf []byte) (int, error) {
	n, empty := 0, 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// ReadUpload opens what upload id holds so far.
func (s *Store) ReadUpload(ctx context.Context, id string) (blob.Reader, error) {
	if !validID(id) {
		return nil, uploadNotFound(id)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := openReader(s.uploadPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, uploadNotFound(id)
	}
	return r, err
}

// Commit turns the first size bytes of upload id into the blob digest.
//
// The order is what makes a blob durable: the data is synced before the
// rename, so the name can never point at unsynced bytes, and the directory is
// synced after it, so the name itself survives. A Commit that fails before
// the rename leaves the upload in place (possibly truncated to size) for the
// caller to retry or cancel; one that fails after it leaves at most an
// unreferenced blob, which garbage collection removes.
//
// The caller must not let WriteAt calls on the same upload run during Commit:
// a write through a descriptor opened before the rename would land in the
// committed blob.
func (s *Store) Commit(ctx context.Context, id, digest string, size int64) error {
	if !blob.ValidDigest(digest) {
		return fmt.Errorf("blob/fs: %q: %w", digest, blob.ErrInvalidDigest)
	}
	if !validID(id) {
		return uploadNotFound(id)
	}
	if size < 0 {
		return fmt.Errorf("blob/fs: upload %q: negative size %d", id, size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	src := s.uploadPath(id)
	f, err := os.OpenFile(src, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return uploadNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("blob/fs: %w", err)
	}
	defer f.Close() // Second close after the explicit one below is harmless.
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("blob/fs: %w", err)
	}
	if fi.Size() < size {
		return fmt.Errorf("blob/fs: upload %q holds %d bytes, commit of %s needs %d", id, fi.Size(), digest, size)
	}

	dst := s.blobPath(digest)
	reused, err := s.reuse(dst, size)
	if err != nil {
		return err
	}
	if reused {
		f.Close()
		if err := s.remove(src); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("blob/fs: %w", err)
		}
		return nil
	}

	if fi.Size() > size {
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("blob/fs: %w", err)
		}
	}
	if err := f.Chmod(blobPerm); err != nil {
		return fmt.Errorf("blob/fs: %w", err)
	}
	if err := s.syncFile(f); err != nil {
		return fmt.Errorf("blob/fs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("blob/fs: %w", err)
	}
	if err := s.rename(src, dst, digest[:2]); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Cancelled (or committed) by someone else meanwhile.
			return uploadNotFound(id)
		}
		return fmt.Errorf("blob/fs: %w", err)
	}
	if err := s.syncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("blob/fs: %w", err)
	}
	return nil
}

// reuse handles a commit of a blob that already exists: it marks the blob as
// fresh, because garbage collection spares blobs younger than its grace
// period and this one is about to gain a reference. It reports whether the
// blob was there to reuse. A blob of the wrong size is not reused; the commit
// replaces it with the verified upload.
//
// The time is set before the upload is removed so that, should the blob
// vanish meanwhile, the commit falls back to the rename with the upload intact.
func (s *Store) reuse(dst string, size int64) (bool, error) {
	fi, err := os.Stat(dst)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob/fs: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != size {
		return false, nil
	}
	if err := s.touch(dst); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("blob/fs: %w", err)
	}
	return true, nil
}

// rename moves src into its fan-out directory, remaking that directory once
// if something removed it behind the Store's back.
func (s *Store) rename(src, dst, prefix string) error {
	for attempt := 0; ; attempt++ {
		if _, err := s.fanout(prefix); err != nil {
			return err
		}
		if err := s.do("rename", dst); err != nil {
			return err
		}
		err := os.Rename(src, dst)
		if err == nil || attempt > 0 || !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if _, serr := os.Stat(src); serr != nil {
			return err
		}
		s.synced.Delete(prefix)
	}
}

// Cancel removes upload id. Unknown ids, including ones NewUpload could never
// have made, are not an error: there is nothing to cancel.
func (s *Store) Cancel(ctx context.Context, id string) error {
	if !validID(id) {
		return nil
	}
	if err := os.Remove(s.uploadPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blob/fs: %w", err)
	}
	return nil
}

// Uploads calls fn for each unfinished upload. Files in uploads/ whose names
// are not upload ids are skipped.
func (s *Store) Uploads(ctx context.Context, fn func(blob.UploadInfo) error) error {
	err := eachFile(ctx, s.uploads, validID, func(name string, fi os.FileInfo) error {
		if !fi.Mode().IsRegular() {
			return nil
		}
		return fn(blob.UploadInfo{ID: name, Size: fi.Size(), ModTime: fi.ModTime()})
	})
	return storeGone(s.uploads, err)
}

package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/siloreg/silo/internal/blob"
)

// Open returns a reader for the blob digest. The reader also has a
// File() *os.File method; see the package documentation.
func (s *Store) Open(ctx context.Context, digest string) (blob.Reader, error) {
	if !blob.ValidDigest(digest) {
		return nil, fmt.Errorf("blob/fs: %q: %w", digest, blob.ErrInvalidDigest)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := openReader(s.blobPath(digest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob/fs: blob %s: %w", digest, blob.ErrNotFound)
	}
	return r, err
}

// Stat returns the size and modification time of the blob digest.
func (s *Store) Stat(ctx context.Context, digest string) (blob.Info, error) {
	if !blob.ValidDigest(digest) {
		return blob.Info{}, fmt.Errorf("blob/fs: %q: %w", digest, blob.ErrInvalidDigest)
	}
	fi, err := os.Stat(s.blobPath(digest))
	if errors.Is(err, os.ErrNotExist) || (err == nil && !fi.Mode().IsRegular()) {
		return blob.Info{}, fmt.Errorf("blob/fs: blob %s: %w", digest, blob.ErrNotFound)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob/fs: %w", err)
	}
	return blob.Info{Digest: digest, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the blob digest. Readers that already have it open keep
// reading it: the bytes go only when the last one closes.
func (s *Store) Delete(ctx context.Context, digest string) error {
	if !blob.ValidDigest(digest) {
		return fmt.Errorf("blob/fs: %q: %w", digest, blob.ErrInvalidDigest)
	}
	if err := os.Remove(s.blobPath(digest)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blob/fs: %w", err)
	}
	return nil
}

// Walk calls fn for every blob. Files that are not blobs (wrongly named, in
// the wrong fan-out directory, not regular files) are skipped rather than
// reported, so that debris left by an operator cannot stop garbage collection.
// An error from fn stops the walk and is returned as is.
func (s *Store) Walk(ctx context.Context, fn func(blob.Info) error) error {
	err := eachFile(ctx, s.blobs, validPrefix, func(prefix string, fi os.FileInfo) error {
		if !fi.IsDir() {
			return nil
		}
		accept := func(name string) bool { return blob.ValidDigest(name) && name[:2] == prefix }
		err := eachFile(ctx, filepath.Join(s.blobs, prefix), accept, func(name string, fi os.FileInfo) error {
			if !fi.Mode().IsRegular() {
				return nil
			}
			return fn(blob.Info{Digest: name, Size: fi.Size(), ModTime: fi.ModTime()})
		})
		if errors.Is(err, errGone) {
			return nil // Removed by an operator meanwhile: nothing in it to list.
		}
		return err
	})
	return storeGone(s.blobs, err)
}

// storeGone turns errGone for a store's own directory into an error a person
// can act on.
func storeGone(dir string, err error) error {
	if errors.Is(err, errGone) {
		return fmt.Errorf("blob/fs: store directory %s is missing", dir)
	}
	return err
}

func validPrefix(name string) bool { return len(name) == 2 && isLowerHex(name) }

// errGone reports that the directory eachFile was asked to list is missing.
var errGone = errors.New("directory gone")

// eachFile calls fn for the entries of dir whose names pass accept, reading
// the directory in batches so that memory does not grow with the number of
// blobs. Entries removed between listing and stat are skipped: listing runs
// while blobs are committed and collected. fn gets lstat's answer, so it can
// skip symlinks and other things the store never makes.
func eachFile(ctx context.Context, dir string, accept func(string) bool, fn func(string, os.FileInfo) error) error {
	d, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return errGone
	}
	if err != nil {
		return fmt.Errorf("blob/fs: %w", err)
	}
	defer d.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, rerr := d.ReadDir(512)
		for _, e := range ents {
			if !accept(e.Name()) {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("blob/fs: %w", err)
			}
			if err := fn(e.Name(), fi); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("blob/fs: %w", rerr)
		}
	}
}

// reader is the blob.Reader of this store: an open file plus the size and time
// it had when opened.
type reader struct {
	f    *os.File
	size int64
	mod  time.Time
}

var _ interface{ File() *os.File } = (*reader)(nil)

func openReader(path string) (*reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: %w", path, os.ErrNotExist)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &reader{f: f, size: fi.Size(), mod: fi.ModTime()}, nil
}

func (r *reader) Read(p []byte) (int, error)              { return r.f.Read(p) }
func (r *reader) ReadAt(p []byte, off int64) (int, error) { return r.f.ReadAt(p, off) }
func (r *reader) Seek(off int64, whence int) (int64, error) {
	return r.f.Seek(off, whence)
}
func (r *reader) Close() error       { return r.f.Close() }
func (r *reader) Size() int64        { return r.size }
func (r *reader) ModTime() time.Time { return r.mod }

// File returns the open file so that the HTTP layer can serve it with sendfile.
func (r *reader) File() *os.File { return r.f }

// Package fs is the filesystem blob store, Silo's default backend.
//
// A store rooted at dir keeps each blob in dir/blobs/sha256/<first 2 hex>/<64 hex>
// and each unfinished upload in dir/uploads/<id>. Both trees live under one root
// so that they share a filesystem and committing an upload is a rename: the
// bytes are written once and never copied.
//
// Readers returned by Open and ReadUpload also have a method
//
//	File() *os.File
//
// returning the open file itself. The HTTP layer asserts
// interface{ File() *os.File } and hands that file to http.ServeContent, so
// downloads take the kernel's sendfile path instead of being copied through
// user space. The file belongs to the reader: closing the reader closes it.
//
// Several Store values (in one process or many) may share a directory; the
// only state a Store keeps in memory is which directories it has already made
// durable.
package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/siloreg/silo/internal/blob"
)

// Permissions: blobs are group-readable so that a backup or fsck run under an
// operator group can read them; uploads hold unverified bytes and stay private.
const (
	dirPerm    = 0o750
	blobPerm   = 0o640
	uploadPerm = 0o600
)

// Store is a blob.Store on a local (or locally mounted) filesystem.
type Store struct {
	root    string
	blobs   string // root/blobs/sha256
	uploads string // root/uploads

	// synced records fan-out directories whose entry in blobs/sha256 this
	// process has fsynced, so each costs one directory sync per process rather
	// than one per commit.
	synced sync.Map

	// step, when set by tests, is called before each durable step of Commit
	// so they can check the order of steps and make one fail. Nil in production.
	step func(op, path string) error
}

var _ blob.Store = (*Store)(nil)

// New opens the store rooted at dir, creating its directories if needed.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("blob/fs: empty store directory")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob/fs: %w", err)
	}
	s := &Store{
		root:    root,
		blobs:   filepath.Join(root, "blobs", "sha256"),
		uploads: filepath.Join(root, "uploads"),
	}
	if err := os.MkdirAll(filepath.Dir(root), dirPerm); err != nil {
		return nil, fmt.Errorf("blob/fs: %w", err)
	}
	// Each level is created and its parent synced, so that a commit right
	// after a fresh New cannot lose the directories its blob lives in.
	for _, d := range []string{root, filepath.Dir(s.blobs), s.blobs, s.uploads} {
		if err := mkdirSynced(d); err != nil {
			return nil, fmt.Errorf("blob/fs: %w", err)
		}
	}
	return s, nil
}

// Root returns the absolute directory the store lives in.
func (s *Store) Root() string { return s.root }

// Ping reports whether the store can take writes, for readiness checks: both
// trees must exist and accept a new file. It creates and removes a probe file
// in each, whose name no listing recognises.
func (s *Store) Ping(ctx context.Context) error {
	for _, d := range []string{s.blobs, s.uploads} {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := probe(d); err != nil {
			return fmt.Errorf("blob/fs: %w", err)
		}
	}
	return nil
}

func probe(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".ping-*")
	if err != nil {
		return err
	}
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	return errors.Join(cerr, rerr)
}

// mkdirSynced creates dir if it is missing and syncs its parent, so the new
// entry survives a crash. An existing dir is synced too: another process may
// have created it without syncing yet.
func mkdirSynced(dir string) error {
	if err := os.Mkdir(dir, dirPerm); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return syncDir(filepath.Dir(dir))
}

// syncDir fsyncs a directory, which is what makes a rename or a new entry in
// it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// fanout makes sure the directory for blobs starting with prefix exists and
// its entry is durable.
func (s *Store) fanout(prefix string) (string, error) {
	dir := filepath.Join(s.blobs, prefix)
	if _, ok := s.synced.Load(prefix); ok {
		return dir, nil
	}
	if err := s.do("mkdir", dir); err != nil {
		return "", err
	}
	if err := mkdirSynced(dir); err != nil {
		return "", err
	}
	s.synced.Store(prefix, struct{}{})
	return dir, nil
}

// The durable steps of Commit. Each passes through the test hook together
// with its effect, so a test that sees the step knows the effect was asked for.

func (s *Store) do(op, path string) error {
	if s.step == nil {
		return nil
	}
	return s.step(op, path)
}

func (s *Store) syncFile(f *os.File) error {
	if err := s.do("sync", f.Name()); err != nil {
		return err
	}
	return f.Sync()
}

func (s *Store) syncDir(dir string) error {
	if err := s.do("syncdir", dir); err != nil {
		return err
	}
	return syncDir(dir)
}

func (s *Store) remove(path string) error {
	if err := s.do("remove", path); err != nil {
		return err
	}
	return os.Remove(path)
}

// touch sets path's mtime to now and syncs it: after a crash a re-used blob
// must still look fresh to a collector that runs before the new reference to
// it is visible.
func (s *Store) touch(path string) error {
	if err := s.do("touch", path); err != nil {
		return err
	}
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.blobs, digest[:2], digest)
}

func (s *Store) uploadPath(id string) string {
	return filepath.Join(s.uploads, id)
}

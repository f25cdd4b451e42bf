package s3test

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Server is a running versitygw: its endpoint, a bucket that exists, and
// the root credentials.
type Server struct {
	Endpoint, Bucket, AccessKey, SecretKey string
}

var shared struct {
	sync.Mutex
	srv *Server
	err error
}

// Shared returns the versitygw this test process shares among all its
// tests, starting it on first use: one server per process rather than one
// per test, since suites start hundreds of registries. Tests keep apart by
// using key prefixes of their own. The server dies with the test binary
// (on Linux, through the parent-death signal) and its directory is removed
// by the next process that calls Shared. Without the binary the test is
// skipped, unless CI=true.
func Shared(t testing.TB) Server {
	t.Helper()
	bin := binary(t)
	shared.Lock()
	defer shared.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = startShared(bin)
	}
	if shared.err != nil {
		t.Fatalf("shared versitygw: %v", shared.err)
	}
	return *shared.srv
}

// sharedDirPattern names the directories shared servers keep their data in;
// each holds a file "pid" naming the test process it belongs to.
const sharedDirPattern = "silo-s3test-*"

func startShared(bin string) (*Server, error) {
	removeStale()
	dir, err := os.MkdirTemp("", sharedDirPattern)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	srv, _, err := launch(bin, dir)
	return srv, err
}

// removeStale deletes the directories of shared servers whose test process
// has gone.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), sharedDirPattern))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "pid"))
		if err != nil {
			continue // being created, or not ours
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 {
			continue
		}
		if gone(pid) {
			os.RemoveAll(d)
		}
	}
}

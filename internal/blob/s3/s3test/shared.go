package s3test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
	bin := binary()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("versitygw not found: INSTALL versitygw: %s", Install)
		}
		t.Skipf("versitygw not found: INSTALL versitygw: %s", Install)
	}
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
	srv := &Server{Bucket: "silo-test", AccessKey: "silo-test-access", SecretKey: "silo-test-secret-key"}
	addr, err := pickAddr()
	if err != nil {
		return nil, err
	}
	srv.Endpoint = "http://" + addr
	cmd, log, err := command(bin, dir, srv.Bucket, addr, srv.AccessKey, srv.SecretKey)
	if err != nil {
		return nil, err
	}
	killWithParent(cmd)
	started, exited := make(chan error, 1), make(chan error, 1)
	// The parent-death signal fires when the starting thread ends, not the
	// process: start from a thread that is locked and lives as long as
	// versitygw does.
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
		log.Close()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting versitygw: %w", err)
	}
	if err := waitReady(srv.Endpoint, exited, log.Name()); err != nil {
		cmd.Process.Kill()
		return nil, err
	}
	return srv, nil
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

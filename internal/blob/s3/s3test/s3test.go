// Package s3test starts a real S3 server for tests: versitygw with its posix
// backend, as a child process on 127.0.0.1 over a temporary directory.
package s3test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/gobin"
)

// Install is how to get the server these tests need.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Start runs versitygw and returns its endpoint, a bucket that exists and
// the root credentials. The server stops when the test ends. Without the
// binary the test is skipped, unless CI=true, where it fails: CI installs it.
func Start(t testing.TB) (endpoint, bucket, accessKey, secretKey string) {
	t.Helper()
	srv, stop, err := launch(binary(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return srv.Endpoint, srv.Bucket, srv.AccessKey, srv.SecretKey
}

// launch runs versitygw over dir and waits until it answers. It dies with
// the test binary (on Linux, through the parent-death signal) or when stop
// is called; stop returns once it has exited.
func launch(bin, dir string) (srv *Server, stop func(), err error) {
	srv = &Server{Bucket: "silo-test", AccessKey: "silo-test-access", SecretKey: "silo-test-secret-key"}
	addr, err := pickAddr()
	if err != nil {
		return nil, nil, err
	}
	srv.Endpoint = "http://" + addr
	cmd, log, err := command(bin, dir, srv.Bucket, addr, srv.AccessKey, srv.SecretKey)
	if err != nil {
		return nil, nil, err
	}
	defer log.Close() // versitygw has its own copy of the descriptor
	logText := func() string {
		out, _ := os.ReadFile(log.Name())
		return string(out)
	}
	p, err := gobin.Start(cmd, answers(srv.Endpoint), 20*time.Second, logText)
	if err != nil {
		return nil, nil, err
	}
	return srv, p.Stop, nil
}

// command prepares versitygw's posix backend over dir, with bucket made,
// logging to dir/versitygw.log.
func command(bin, dir, bucket, addr, accessKey, secretKey string) (*exec.Cmd, *os.File, error) {
	// The posix backend serves each directory under its root as a bucket.
	root, meta := filepath.Join(dir, "root"), filepath.Join(dir, "meta")
	for _, d := range []string{filepath.Join(root, bucket), meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, nil, err
		}
	}
	// --sidecar keeps object metadata in files rather than extended
	// attributes, which tmpfs and some container filesystems lack.
	cmd := exec.Command(bin, "--access", accessKey, "--secret", secretKey, "--port", addr, "--quiet",
		"posix", "--sidecar", meta, root)
	log, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	return cmd, log, nil
}

// answers reports whether the server answers HTTP at all (403 to an
// anonymous request).
func answers(endpoint string) func() bool {
	return func() bool {
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}
}

// binary finds versitygw on PATH or where go install puts it. Without it
// the test is skipped, unless CI=true, where it fails: CI installs it.
func binary(t testing.TB) string {
	t.Helper()
	bin := gobin.Find("versitygw")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("versitygw not found: INSTALL versitygw: %s", Install)
		}
		t.Skipf("versitygw not found: INSTALL versitygw: %s", Install)
	}
	return bin
}

// pickAddr picks a port nothing listens on. Another process could take it
// before versitygw does; that fails the test loudly rather than silently.
func pickAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return fmt.Sprintf("127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port), nil
}

// Package ocitest finds the OCI client programs the tests drive (the
// distribution-spec conformance suite, oras, regctl). A missing program
// skips its test loudly, and fails it under CI=true, where .ci/run
// installs them all.
package ocitest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binary returns the path of program name: on PATH, in $GOBIN, in
// $GOPATH/bin or in ~/go/bin.
func Binary(t testing.TB, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs := []string{os.Getenv("GOBIN")}
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	msg := name + " not found; install it with: go install " + install
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPING (" + msg + ")")
	return ""
}

// Package ocitest finds the OCI client programs the tests drive (the
// distribution-spec conformance suite, oras, regctl). A missing program
// skips its test loudly, and fails it under CI=true, where .ci/run
// installs them all.
package ocitest

import (
	"os"
	"testing"

	"github.com/siloreg/silo/internal/gobin"
)

// Binary returns the path of program name (see gobin.Find).
func Binary(t testing.TB, name, install string) string {
	t.Helper()
	if p := gobin.Find(name); p != "" {
		return p
	}
	msg := name + " not found; install it with: go install " + install
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPING (" + msg + ")")
	return ""
}

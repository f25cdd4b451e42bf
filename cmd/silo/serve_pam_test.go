//go:build !pam || !cgo

package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// In a build without PAM, asking for it stops `silo serve` at start, with
// the way to get it, rather than failing every login later.
func TestServePAMNotBuilt(t *testing.T) {
	clearAuthEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	_, _, err := runSilo(t, "serve", "--listen", "127.0.0.1:0", "--data", data, "--pam-service", "silo")
	if err == nil || !strings.Contains(err.Error(), `PAM service "silo"`) || !strings.Contains(err.Error(), "rebuild with -tags pam") {
		t.Fatalf("silo serve --pam-service in a build without PAM: %v", err)
	}
	// Refused before anything was made: no data directory, no admin token.
	if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused start left %s behind: %v", data, err)
	}
}

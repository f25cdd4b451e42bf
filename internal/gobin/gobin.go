// Package gobin finds programs that tests and benchmarks drive (versitygw,
// oras, regctl, the OCI conformance suite), which `go install` puts outside
// PATH unless the user added Go's bin directory to it, and starts the
// servers among them (versitygw, slapd), waiting until they answer.
package gobin

import (
	"os"
	"os/exec"
	"path/filepath"
)

// Find returns the path of program name: on PATH, in $GOBIN, in
// $GOPATH/bin or in ~/go/bin; "" when it is in none of them.
func Find(name string) string {
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
	return ""
}

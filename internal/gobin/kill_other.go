//go:build !linux

package gobin

import "os/exec"

// killWithParent does nothing where there is no parent-death signal: the
// program then lives until it is killed.
func killWithParent(*exec.Cmd) {}

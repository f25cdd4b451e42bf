//go:build !linux

package ldaptest

import "os/exec"

// killWithParent does nothing where there is no parent-death signal; the
// test's cleanup still stops slapd when the test ends normally.
func killWithParent(*exec.Cmd) {}

package ldaptest

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill slapd if the test binary dies first
// (a panic, a -timeout), so that no directory outlives its test.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

package s3test

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill versitygw when the thread that
// started it dies, so that a shared server never outlives the test binary
// (a panic, a -timeout, SIGKILL).
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// gone reports whether no process pid exists any more.
func gone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

package gobin

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill the program when the thread that
// started it dies.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

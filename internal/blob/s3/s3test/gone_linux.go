package s3test

import "syscall"

// gone reports whether no process pid exists any more.
func gone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

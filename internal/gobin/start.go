package gobin

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Proc is a program Start runs.
type Proc struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error // cmd.Wait's, once exited is closed
	stop    sync.Once
}

// Start runs cmd and polls ready until it reports true, giving up when the
// program exits or timeout passes; the error then carries logText() (the
// program's output, nil for none). The program dies with this process (on
// Linux, through the parent-death signal), so that a server a test started
// never outlives the test binary (a panic, a -timeout, SIGKILL).
func Start(cmd *exec.Cmd, ready func() bool, timeout time.Duration, logText func() string) (*Proc, error) {
	name := filepath.Base(cmd.Path)
	killWithParent(cmd)
	p := &Proc{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	// The parent-death signal fires when the starting thread ends, not the
	// process: start from a thread that is locked and lives as long as the
	// program does.
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	output := func() string {
		if logText == nil {
			return ""
		}
		return "\n" + logText()
	}
	// Poll rather than guess how long start-up takes; the wait only spaces
	// the tries.
	deadline := time.Now().Add(timeout)
	for !ready() {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited (%v):%s", name, p.waitErr, output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s did not answer within %v:%s", name, timeout, output())
		}
	}
	return p, nil
}

// Stop kills the program and waits until it has exited, so that its ports
// are closed when Stop returns. It is safe to call more than once.
func (p *Proc) Stop() {
	p.stop.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
}

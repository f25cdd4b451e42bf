package gobin

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestStartReportsExit(t *testing.T) {
	_, err := Start(exec.Command("/bin/sh", "-c", "exit 3"), func() bool { return false }, 20*time.Second,
		func() string { return "the log" })
	if err == nil || !strings.Contains(err.Error(), "sh exited (exit status 3)") || !strings.Contains(err.Error(), "the log") {
		t.Fatalf("got %v, want sh's exit and its log", err)
	}
}

func TestStartGivesUpAndKills(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 60")
	_, err := Start(cmd, func() bool { return false }, 200*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "did not answer within 200ms") {
		t.Fatalf("got %v, want a timeout", err)
	}
	if cmd.ProcessState == nil || cmd.ProcessState.Success() {
		t.Fatalf("sh was not killed: %v", cmd.ProcessState)
	}
}

func TestStartAndStop(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 60")
	tries := 0
	p, err := Start(cmd, func() bool { tries++; return tries == 3 }, 20*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
	p.Stop()
	if cmd.ProcessState == nil || tries != 3 {
		t.Fatalf("after Stop: state %v, %d readiness tries", cmd.ProcessState, tries)
	}
}

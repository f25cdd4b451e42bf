package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a server running as its own process, so that its memory and CPU
// can be read from /proc without the benchmark's client work mixed in.
type proc struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

// freeAddr finds a loopback port nobody listens on. Another process could
// take it before the server binds it; on a benchmark box that is rare
// enough, and the start then fails loudly rather than measuring the wrong
// thing.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startProc runs bin with args (where "{addr}" is replaced by a free
// loopback address) and waits until GET ready answers 200.
func startProc(bin string, args []string, ready, logPath string) (*proc, error) {
	p, err := spawn(bin, args, logPath)
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ready); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s: %w (see %s)", filepath.Base(bin), err, logPath)
	}
	return p, nil
}

// spawn starts bin with args, "{addr}" replaced by a free loopback address,
// its output appended to logPath; the caller waits for it to be ready.
func spawn(bin string, args []string, logPath string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	argv := make([]string, len(args))
	for i, a := range args {
		argv[i] = strings.ReplaceAll(a, "{addr}", addr)
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // The child has its own copy of the descriptor.
	cmd := exec.Command(bin, argv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, url: "http://" + addr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// waitReady polls the readiness URL: there is no other signal that a
// separate process has bound its port and opened its stores. The loop is
// bounded so a server that never comes up fails the run.
func (p *proc) waitReady(path string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("exited before it was ready: %v", err)
		default:
		}
		resp, err := http.Get(p.url + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("not ready after 60s")
}

// usage is what a process used over its life so far.
type usage struct {
	peakRSS int64         // VmHWM, bytes
	cpu     time.Duration // user + system
}

// usage reads VmHWM from /proc/PID/status and utime+stime from
// /proc/PID/stat. VmHWM is a lifetime maximum, which is why each measured
// phase gets a freshly started process.
func (p *proc) usage() (usage, error) {
	var u usage
	pid := p.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return u, err
				}
				u.peakRSS = kb << 10
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name (field 2) may hold spaces; count fields after its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return u, errors.New("unexpected /proc stat format")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	// USER_HZ is 100 on every Linux this runs on; sysconf needs cgo.
	u.cpu = time.Duration(ut+st) * (time.Second / 100)
	return u, nil
}

// stop asks the process to shut down (SIGTERM, which silo handles by
// draining) and kills it if it has not gone within 30 seconds.
func (p *proc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && !ee.Exited() {
			return nil // Ended by our signal.
		}
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("did not stop within 30s; killed")
	}
}

// runStatic is the child side of -static: a plain http.FileServer, whose
// ServeContent path uses sendfile just as silo's blob downloads do, run as
// its own process so the comparison with silo is process against process.
func runStatic(ctx context.Context, dir, addr string) error {
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {})
	srv := &http.Server{Addr: addr, Handler: mux}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// cpuTimes reads the machine's busy and total CPU time from /proc/stat.
func cpuTimes() (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, errors.New("unexpected /proc/stat format")
	}
	for i, s := range f[1:] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, err
		}
		total += v
		if i != 3 && i != 4 { // idle and iowait are not busy
			busy += v
		}
	}
	return busy, total, nil
}

// quietBusy is the machine-wide CPU use below which a measurement may start.
const quietBusy = 0.10

// waitQuiet waits, up to limit, for a half-second in which the machine's
// CPUs are less than quietBusy busy, so that builds and tests running
// beside the benchmark on a shared box do not land in its numbers. It
// reports whether it got one; the caller still measures if not.
func waitQuiet(ctx context.Context, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		b0, t0, err := cpuTimes()
		if err != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
		b1, t1, err := cpuTimes()
		if err != nil {
			return false
		}
		if t1 > t0 && float64(b1-b0)/float64(t1-t0) < quietBusy {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Command transfer measures how fast Silo moves images, against what the
// machine itself can do: a push through the library API against cp plus
// fsync of the same file, a pull against a plain static-file download, and
// the server's peak memory for each. It prints numbers and asserts nothing.
//
//	go run ./bench/transfer [-sizes 1GiB,4GiB] [-reps 3] [-dir DIR] [-keep]
//	bench/transfer.sh -sizes 1GiB,4GiB     # the same, from anywhere
//	bench/transfer.sh -scale fs,s3,s3x3 -sizes 1GiB -reps 1
//
// With -scale it measures something else: push and pull through one node
// and through three behind a round-robin balancer, on SQLite and files and
// on PostgreSQL and S3 (versitygw over the working directory; see scale.go).
//
// Silo runs as a separate `silo serve` process built from this tree, restarted
// for every measured phase so that its VmHWM (a lifetime maximum) is that
// phase's peak; the static-file baseline is this program re-run with -static,
// so both servers are processes of their own. Every file lives in DIR, so the
// copy, the server's data and the downloads share one filesystem. All reads
// start from the page cache: each file was just written, and nothing drops
// caches. Before each measurement the program flushes dirty pages, pauses
// (-cooldown) and waits for the machine to be idle (-quiet): on a shared
// two-core box, other people's builds would otherwise land in the numbers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/siloreg/silo/internal/sif/siftest"
)

// imageName is where the benchmark pushes; the bootstrap admin may create
// it. Each repetition uses a fresh data directory, so no push is ever
// skipped or shortened by deduplication.
const imageName = "admin/bench/transfer"

// The pull settings: apptainer's defaults, and one stream for the whole
// image, which is closest to the static-file baseline.
const (
	cliConcurrency = 3
	cliPartSize    = 5 << 20
)

func main() {
	var o options
	flag.StringVar(&o.sizes, "sizes", "1GiB,4GiB", "comma-separated image sizes (B, KiB, MiB, GiB, KB, MB, GB)")
	flag.IntVar(&o.reps, "reps", 3, "repetitions per size; the table shows medians")
	flag.StringVar(&o.dir, "dir", "", "working directory, on the filesystem to measure (default: a new temporary directory)")
	flag.DurationVar(&quietLimit, "quiet", 2*time.Minute, "before each measurement, wait up to this long for the machine's CPUs to be under 10% busy")
	flag.DurationVar(&cooldown, "cooldown", 10*time.Second, "pause before each measurement so memory freed by the previous step is in the same state for every one (see settle)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory: binary, logs and SIF files (data directories and downloads are always removed)")
	scale := flag.String("scale", "", "instead: push and pull through these setups, comma-separated: fs (one node, SQLite and files), fslb (the same through the balancer), s3 (one node, PostgreSQL and S3, presigned redirects), s3p (the same with --blob-access proxy), s3x3 and s3x3p (three nodes, round-robin)")
	static := flag.String("static", "", "internal: serve this directory as static files (the download baseline)")
	listen := flag.String("listen", "", "internal: address for -static")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case *static != "":
		err = runStatic(ctx, *static, *listen)
	case *scale != "":
		err = runScale(ctx, o, *scale)
	default:
		err = run(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
}

type options struct {
	sizes string
	reps  int
	dir   string
	keep  bool
}

// rep is everything one repetition measured for one size.
type rep struct {
	copy         copyTimes
	push         pushTimes
	pull3, pull1 time.Duration
	static       time.Duration
	ranged       time.Duration // static server, fetched in the client's c=3 5 MiB ranges
	// Usage of the server process of each phase.
	pushU, pull3U, pull1U usage
	// unquiet counts this repetition's measurements that started while
	// something else kept the machine busy.
	unquiet int
}

func run(ctx context.Context, o options) error {
	sizes, err := parseSizes(o.sizes)
	if err != nil {
		return err
	}
	if o.reps < 1 {
		return errors.New("-reps must be at least 1")
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "silo-transfer-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	logf("working in %s", dir)

	bin := filepath.Join(dir, "silo")
	logf("building %s", bin)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/siloreg/silo/cmd/silo")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logs := []string{filepath.Join(dir, "silo.log"), filepath.Join(dir, "static.log")}
	if !o.keep {
		defer os.Remove(bin)
		for _, l := range logs {
			defer os.Remove(l)
		}
	}
	static, err := startProc(self, []string{"-static", dir, "-listen", "{addr}"}, "/readyz", logs[1])
	if err != nil {
		return err
	}
	defer static.stop()

	results := make([][]rep, len(sizes))
	for i, n := range sizes {
		sif := filepath.Join(dir, "bench-"+strings.ToLower(sizeLabel(n))+".sif")
		logf("%s: writing %s", sizeLabel(n), sif)
		if _, n, err = siftest.Write(sif, siftest.Options{Size: n, Seed: n}); err != nil {
			return err
		}
		sizes[i] = n
		for r := range o.reps {
			before := unquiet
			res, err := measure(ctx, bin, dir, sif, static.url+"/"+filepath.Base(sif), n, fmt.Sprintf("%s-%d", sizeLabel(n), r+1), logs[0])
			if err != nil {
				os.Remove(sif)
				return err
			}
			res.unquiet = unquiet - before
			logf("%s rep %d/%d: cp %.0f, cp+fsync %.0f, push %.0f (upload %.0f, busy %.0f), pull c3 %.0f, pull c1 %.0f, static %.0f, static ranges %.0f MB/s; RSS push %s pull %s/%s; %d of 6 started on a busy machine",
				sizeLabel(n), r+1, o.reps, mbps(n, res.copy.cp), mbps(n, res.copy.cpSync),
				mbps(n, res.push.total), mbps(n, res.push.upload), mbps(n, res.push.busy),
				mbps(n, res.pull3), mbps(n, res.pull1), mbps(n, res.static), mbps(n, res.ranged),
				mib(res.pushU.peakRSS), mib(res.pull3U.peakRSS), mib(res.pull1U.peakRSS), res.unquiet)
			results[i] = append(results[i], res)
		}
		if !o.keep {
			os.Remove(sif)
		}
	}
	printTables(os.Stdout, o, sizes, results)
	return nil
}

// measure runs one repetition: the cp baseline, a push to a fresh server,
// two pulls (each from a freshly restarted server over the same data) and
// the static-file download. The data directory is removed at the end.
func measure(ctx context.Context, bin, dir, sif, staticURL string, n int64, tag, logPath string) (rep, error) {
	var res rep
	var err error
	if res.copy, err = measureCopy(ctx, sif, filepath.Join(dir, "copy.sif")); err != nil {
		return res, err
	}
	data := filepath.Join(dir, "data-"+strings.ToLower(tag))
	defer os.RemoveAll(data)
	args := []string{"serve", "--listen", "{addr}", "--data", data, "--gc-interval", "-1s"}

	// phase runs f against a server started just for it and returns the
	// server's usage read right before it is stopped.
	phase := func(f func(url, token string) error) (usage, error) {
		p, err := startProc(bin, args, "/readyz", logPath)
		if err != nil {
			return usage{}, err
		}
		tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
		if err == nil {
			err = f(p.url, strings.TrimSpace(string(tok)))
		}
		u, uerr := p.usage()
		if serr := p.stop(); err == nil {
			err = errors.Join(uerr, serr)
		}
		return u, err
	}
	out := filepath.Join(dir, "pull.sif")
	if res.pushU, err = phase(func(url, tok string) (err error) {
		res.push, err = pushImage(ctx, url, tok, sif, imageName)
		return err
	}); err != nil {
		return res, err
	}
	if res.pull3U, err = phase(func(url, tok string) (err error) {
		res.pull3, err = pullImage(ctx, url, tok, imageName, out, n, cliConcurrency, cliPartSize)
		return err
	}); err != nil {
		return res, err
	}
	if res.pull1U, err = phase(func(url, tok string) (err error) {
		res.pull1, err = pullImage(ctx, url, tok, imageName, out, n, 1, n)
		return err
	}); err != nil {
		return res, err
	}
	if res.static, err = staticGet(ctx, staticURL, out, n); err != nil {
		return res, err
	}
	res.ranged, err = rangedGet(ctx, staticURL, out, n, cliConcurrency, cliPartSize)
	return res, err
}

// logf reports progress on stderr, leaving stdout to the tables.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// units are the suffixes -sizes accepts, longest first so "MiB" is not
// read as "B".
var units = []struct {
	suffix string
	mult   int64
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1},
}

func parseSizes(s string) ([]int64, error) {
	var out []int64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		num, mult := f, int64(1)
		for _, u := range units {
			if v, ok := strings.CutSuffix(f, u.suffix); ok {
				num, mult = v, u.mult
				break
			}
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad size %q in -sizes", f)
		}
		out = append(out, int64(v*float64(mult)))
	}
	return out, nil
}

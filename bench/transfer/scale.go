package main

// -scale mode: push and pull through one node and through three, on the
// embedded stores and on PostgreSQL plus S3 (versitygw, on the same disk as
// everything else: its numbers say what Silo adds on top of an object
// store, not what a real S3 would do).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	aclient "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/bench/pgschema"
	"github.com/siloreg/silo/internal/gobin"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// setup is one way of running Silo.
type setup struct {
	name  string
	nodes int
	s3    bool
	lb    bool   // through the balancer even with one node
	blobs string // --blob-access: "" for the default (redirect with S3)
}

var setups = map[string]setup{
	"fs":    {"1 node, SQLite + files", 1, false, false, ""},
	"fslb":  {"1 node, SQLite + files, through the balancer", 1, false, true, ""},
	"s3":    {"1 node, PostgreSQL + S3, redirect", 1, true, false, ""},
	"s3p":   {"1 node, PostgreSQL + S3, --blob-access proxy", 1, true, false, "proxy"},
	"s3x3":  {"3 nodes, PostgreSQL + S3, round-robin, redirect", 3, true, true, ""},
	"s3x3p": {"3 nodes, PostgreSQL + S3, round-robin, proxy", 3, true, true, "proxy"},
}

type scaleResult struct {
	setup      setup
	push, pull []time.Duration
}

func runScale(ctx context.Context, o options, which string) error {
	sizes, err := parseSizes(o.sizes)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(o.dir, "silo-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "silo")
	logf("building %s", bin)
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/siloreg/silo/cmd/silo").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	gw, err := startVersity(dir)
	if err != nil {
		return err
	}
	defer gw.stop()

	for _, n := range sizes {
		sif := filepath.Join(dir, "bench.sif")
		logf("%s: writing %s", sizeLabel(n), sif)
		if _, n, err = siftest.Write(sif, siftest.Options{Size: n, Seed: n}); err != nil {
			return err
		}
		var results []scaleResult
		for _, key := range strings.Split(which, ",") {
			st, ok := setups[key]
			if !ok {
				return fmt.Errorf("-scale: unknown setup %q", key)
			}
			res := scaleResult{setup: st}
			for r := range o.reps {
				push, pull, err := scaleRep(ctx, bin, dir, sif, n, st, gw.store(fmt.Sprintf("%s-%d", key, r)))
				if err != nil {
					return fmt.Errorf("%s: %w", st.name, err)
				}
				logf("%s %s rep %d: push %.0f MB/s, pull %.0f MB/s", sizeLabel(n), st.name, r+1, mbps(n, push), mbps(n, pull))
				res.push, res.pull = append(res.push, push), append(res.pull, pull)
			}
			results = append(results, res)
		}
		os.Remove(sif)
		fmt.Printf("\npush and pull of a %s SIF through Silo (library API, container-library-client; pull with %d streams of %d MiB), median of %d, MB/s\n\n",
			sizeLabel(n), cliConcurrency, cliPartSize>>20, o.reps)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.Debug)
		fmt.Fprintln(tw, "setup\tpush\tpull\t")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t\n", r.setup.name, medianRate(n, r.push), medianRate(n, r.pull))
		}
		tw.Flush()
	}
	return nil
}

func medianRate(n int64, ds []time.Duration) float64 {
	v := make([]float64, len(ds))
	for i, d := range ds {
		v[i] = mbps(n, d)
	}
	return median(v)
}

// scaleRep starts the setup's nodes on fresh stores, pushes and pulls once
// through a round-robin balancer (or straight to a lone node), and stops.
func scaleRep(ctx context.Context, bin, dir, sif string, n int64, st setup, store string) (push, pull time.Duration, err error) {
	data := filepath.Join(dir, "data")
	defer os.RemoveAll(data)
	var extra []string
	if st.s3 {
		dsn, drop, err := pgschema.Fresh(ctx)
		if err != nil {
			return 0, 0, err
		}
		defer drop()
		extra = []string{"--db", dsn, "--store", store}
	}
	if st.blobs != "" {
		extra = append(extra, "--blob-access", st.blobs)
	}
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := range st.nodes {
		args := append([]string{"serve", "--listen", "{addr}", "--data", filepath.Join(data, fmt.Sprint(i)), "--gc-interval", "-1s"}, extra...)
		p, err := startProc(bin, args, "/readyz", filepath.Join(dir, fmt.Sprintf("node%d.log", i)))
		if err != nil {
			return 0, 0, err
		}
		procs = append(procs, p)
	}
	tok, err := os.ReadFile(filepath.Join(data, "0", "admin.token"))
	if err != nil {
		return 0, 0, err
	}
	base := procs[0].url
	if st.lb {
		lb, err := startRoundRobin(procs)
		if err != nil {
			return 0, 0, err
		}
		defer lb.Close()
		base = lb.url
	}
	token := strings.TrimSpace(string(tok))
	if push, err = timePush(ctx, base, token, sif); err != nil {
		return 0, 0, err
	}
	pull, err = pullImage(ctx, base, token, imageName, filepath.Join(dir, "pull.sif"), n, cliConcurrency, cliPartSize)
	return push, pull, err
}

// timePush times the whole UploadImage call of the real client.
func timePush(ctx context.Context, base, token, path string) (time.Duration, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	defer t.CloseIdleConnections()
	c, err := aclient.NewClient(&aclient.Config{BaseURL: base, AuthToken: token, HTTPClient: &http.Client{Transport: t}})
	if err != nil {
		return 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	settle(ctx)
	t0 := time.Now()
	if _, err := c.UploadImage(ctx, f, imageName, "amd64", []string{"latest"}, "transfer benchmark", nil); err != nil {
		return 0, fmt.Errorf("push: %w", err)
	}
	return time.Since(t0), nil
}

// roundRobin is a minimal HTTP balancer, as any without session affinity.
type roundRobin struct {
	url string
	srv *http.Server
}

func (r *roundRobin) Close() error { return r.srv.Close() }

func startRoundRobin(procs []*proc) (*roundRobin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var proxies []*httputil.ReverseProxy
	for _, p := range procs {
		u, _ := url.Parse(p.url)
		proxies = append(proxies, &httputil.ReverseProxy{
			Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = pr.In.Host },
			FlushInterval: -1,
		})
	}
	var next atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxies[int(next.Add(1)-1)%len(proxies)].ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	return &roundRobin{url: "http://" + ln.Addr().String(), srv: srv}, nil
}

// versity is a versitygw serving a bucket from a directory under the
// benchmark's working directory.
type versity struct {
	p        *proc
	endpoint string
	bucket   string
}

func (v *versity) stop() { v.p.stop() }

// store is an s3:// URL under a prefix of its own.
func (v *versity) store(prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&path-style=true", v.bucket, prefix, v.endpoint)
}

func startVersity(dir string) (*versity, error) {
	bin := gobin.Find("versitygw")
	if bin == "" {
		return nil, errors.New("versitygw not found: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	}
	// Not "s3" and "s3meta": versitygw refuses a sidecar whose path starts
	// with the root's.
	root, meta := filepath.Join(dir, "s3-root"), filepath.Join(dir, "s3-sidecar")
	v := &versity{bucket: "silo-bench"}
	for _, d := range []string{filepath.Join(root, v.bucket), meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	const ak, sk = "silo-bench-access", "silo-bench-secret-key"
	os.Setenv("AWS_ACCESS_KEY_ID", ak)
	os.Setenv("AWS_SECRET_ACCESS_KEY", sk)
	// Any HTTP answer (403 to an anonymous GET) means it is up; startProc
	// wants a 200, so wait here instead.
	p, err := startProcAny(bin, []string{"--access", ak, "--secret", sk, "--port", "{addr}", "--quiet", "posix", "--sidecar", meta, root},
		filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return nil, err
	}
	v.p, v.endpoint = p, p.url
	return v, nil
}

// startProcAny is startProc for a server whose readiness is any answer.
func startProcAny(bin string, args []string, logPath string) (*proc, error) {
	p, err := spawn(bin, args, logPath)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(p.url + "/"); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return p, nil
		}
	}
	p.stop()
	out, _ := os.ReadFile(logPath)
	return nil, fmt.Errorf("%s did not answer within 30s:\n%s", bin, out)
}

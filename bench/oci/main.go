// Command oci measures Silo's OCI distribution API beside CNCF
// distribution v3 (filesystem storage), with the same clients against
// both in one run: go-containerregistry's remote package pushing and
// pulling a SIF exactly as `apptainer push/pull oras://` does, a single
// curl PUT and GET of the same blob, and manifest GETs per second. It
// prints a table and asserts nothing.
//
//	go run ./bench/oci [-sizes 1GiB,4GiB] [-reps 1] [-dir DIR] [-registry PATH]
//
// The registry binary comes from
// `go install github.com/distribution/distribution/v3/cmd/registry@latest`.
// Silo is built from this tree and run as `silo serve`. Both keep their
// data in DIR, on the same filesystem as the SIF files.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/siloreg/silo/internal/gobin"
	"github.com/siloreg/silo/internal/sif/siftest"
)

func main() {
	sizes := flag.String("sizes", "1GiB,4GiB", "comma-separated blob sizes")
	reps := flag.Int("reps", 1, "repetitions; the table shows medians")
	dir := flag.String("dir", "", "working directory (default: a new temporary one)")
	regBin := flag.String("registry", "", "CNCF distribution `registry` binary (default: on PATH or in ~/go/bin)")
	getsFor := flag.Duration("gets", 5*time.Second, "how long to run manifest GETs against each")
	flag.StringVar(&logPath, "silo-log", "", "write Silo's request log to this file (each request with its duration)")
	flag.BoolVar(&getsAuth, "gets-auth", false, "send Silo's manifest GETs with a bearer token (anonymous by default, like distribution without auth)")
	flag.Parse()
	if err := run(*sizes, *reps, *dir, *regBin, *getsFor); err != nil {
		fmt.Fprintln(os.Stderr, "oci:", err)
		os.Exit(1)
	}
}

var (
	getsAuth bool
	logPath  string
)

// target is one registry under test.
type target struct {
	name string
	host string // 127.0.0.1:PORT
	auth authn.Authenticator
	user string // for curl -u, "" for none
	stop func()
}

func run(sizeList string, reps int, dir, regBin string, getFor time.Duration) error {
	ctx := context.Background()
	if dir == "" {
		d, err := os.MkdirTemp("", "silo-bench-oci-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if regBin == "" {
		regBin = findBinary("registry")
	}
	if regBin == "" {
		return errors.New("CNCF distribution not found: go install github.com/distribution/distribution/v3/cmd/registry@latest")
	}
	silo, err := startSilo(ctx, dir)
	if err != nil {
		return err
	}
	defer silo.stop()
	dist, err := startDistribution(ctx, dir, regBin)
	if err != nil {
		return err
	}
	defer dist.stop()
	targets := []*target{silo, dist}

	type row struct {
		size   string
		client string
		op     string
		mbs    [2][]float64
	}
	var rows []*row
	get := func(size, client, op string) *row {
		for _, r := range rows {
			if r.size == size && r.client == client && r.op == op {
				return r
			}
		}
		r := &row{size: size, client: client, op: op}
		rows = append(rows, r)
		return r
	}
	for _, sz := range strings.Split(sizeList, ",") {
		n, err := parseSize(sz)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, "image-"+sz+".sif")
		fmt.Fprintf(os.Stderr, "writing a %s SIF\n", sz)
		hexDigest, size, err := siftest.Write(path, siftest.Options{Size: n, Seed: n})
		if err != nil {
			return err
		}
		for rep := range reps {
			for i, t := range targets {
				repo := fmt.Sprintf("bench/r%d/app%s", rep, strings.ToLower(sz))
				fmt.Fprintf(os.Stderr, "%s: %s ggcr push/pull, rep %d\n", t.name, sz, rep+1)
				sync2()
				secs, err := ggcrPush(ctx, t, repo, path, size, hexDigest)
				if err != nil {
					return fmt.Errorf("%s: ggcr push: %w", t.name, err)
				}
				get(sz, "go-containerregistry", "push").mbs[i] = append(get(sz, "go-containerregistry", "push").mbs[i], mb(size, secs))
				secs, err = ggcrPull(ctx, t, repo, filepath.Join(dir, "pulled.sif"))
				if err != nil {
					return fmt.Errorf("%s: ggcr pull: %w", t.name, err)
				}
				get(sz, "go-containerregistry", "pull").mbs[i] = append(get(sz, "go-containerregistry", "pull").mbs[i], mb(size, secs))

				fmt.Fprintf(os.Stderr, "%s: %s curl PUT/GET, rep %d\n", t.name, sz, rep+1)
				crepo := repo + "-curl"
				sync2()
				secs, err = curlPut(ctx, t, crepo, path, "sha256:"+hexDigest)
				if err != nil {
					return fmt.Errorf("%s: curl put: %w", t.name, err)
				}
				get(sz, "curl", "push").mbs[i] = append(get(sz, "curl", "push").mbs[i], mb(size, secs))
				secs, err = curlGet(ctx, t, crepo, "sha256:"+hexDigest, filepath.Join(dir, "pulled.sif"))
				if err != nil {
					return fmt.Errorf("%s: curl get: %w", t.name, err)
				}
				get(sz, "curl", "pull").mbs[i] = append(get(sz, "curl", "pull").mbs[i], mb(size, secs))
				os.Remove(filepath.Join(dir, "pulled.sif"))
			}
		}
		os.Remove(path)
	}
	var gets [2]float64
	for i, t := range targets {
		fmt.Fprintf(os.Stderr, "%s: manifest GETs for %s\n", t.name, getFor)
		if gets[i], err = manifestGets(ctx, t, "bench/r0/app"+strings.ToLower(strings.Split(sizeList, ",")[0]), getFor); err != nil {
			return fmt.Errorf("%s: manifest GETs: %w", t.name, err)
		}
	}

	fmt.Printf("OCI push/pull, Silo vs CNCF distribution %s (filesystem storage), medians of %d; MB = 10^6 bytes\n\n", version(regBin), reps)
	fmt.Printf("| size | client | op | Silo MB/s | distribution MB/s | Silo / distribution |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		s, d := median(r.mbs[0]), median(r.mbs[1])
		fmt.Printf("| %s | %s | %s | %.0f | %.0f | %.2f× |\n", r.size, r.client, r.op, s, d, s/d)
	}
	how := "anonymous"
	if getsAuth {
		how = "Silo with a bearer token"
	}
	fmt.Printf("| — | Go net/http, 8 connections, %s | manifest GET by tag | %.0f/s | %.0f/s | %.2f× |\n", how, gets[0], gets[1], gets[0]/gets[1])
	return nil
}

func mb(size int64, secs float64) float64 { return float64(size) / 1e6 / secs }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64{}, v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// sync2 flushes dirty pages so one measurement does not pay for the last.
func sync2() { _ = exec.Command("sync").Run() }

func findBinary(name string) string { return gobin.Find(name) }

func version(bin string) string {
	out, _ := exec.Command(bin, "--version").Output()
	f := strings.Fields(string(out))
	if len(f) > 0 {
		return f[len(f)-1]
	}
	return "?"
}

var sizeRE = regexp.MustCompile(`^(\d+)(B|KiB|MiB|GiB|KB|MB|GB)$`)

func parseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("size %q: want e.g. 512MiB or 1GiB", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	mult := map[string]int64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1e3, "MB": 1e6, "GB": 1e9}[m[2]]
	return n * mult, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startSilo(ctx context.Context, dir string) (*target, error) {
	bin := filepath.Join(dir, "silo")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/silo").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building silo: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "silo-data")
	cmd := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--data", data, "--gc-interval", "-1s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	urlRE := regexp.MustCompile(`url=http://(127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(stderr)
	host := ""
	for sc.Scan() {
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			host = m[1]
			break
		}
	}
	var logw io.Writer = io.Discard
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		logw = f
	}
	go io.Copy(logw, stderr)
	if host == "" {
		cmd.Process.Kill()
		return nil, errors.New("silo did not say where it listens")
	}
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		return nil, err
	}
	t := strings.TrimSpace(string(tok))
	return &target{name: "silo", host: host, auth: &authn.Basic{Username: "admin", Password: t}, user: "admin:" + t,
		stop: func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }}, nil
}

func startDistribution(ctx context.Context, dir, bin string) (*target, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "registry.yml")
	y := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "dist-data"), addr)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for range 100 {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return &target{name: "distribution", host: addr, auth: authn.Anonymous,
				stop: func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }}, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, errors.New("distribution did not start")
}

func ref(t *target, repo string) (name.Reference, error) {
	return name.ParseReference(t.host+"/"+repo+":latest", name.Insecure)
}

func ggcrPush(ctx context.Context, t *target, repo, path string, size int64, hexDigest string) (float64, error) {
	r, err := ref(t, repo)
	if err != nil {
		return 0, err
	}
	img, err := sifImage(path, size, hexDigest)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	err = remote.Write(r, img, remote.WithAuth(t.auth), remote.WithContext(ctx))
	return time.Since(start).Seconds(), err
}

func ggcrPull(ctx context.Context, t *target, repo, dst string) (float64, error) {
	r, err := ref(t, repo)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	img, err := remote.Image(r, remote.WithAuth(t.auth), remote.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	ls, err := img.Layers()
	if err != nil || len(ls) != 1 {
		return 0, fmt.Errorf("layers: %v (%d)", err, len(ls))
	}
	rc, err := ls[0].Compressed()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := io.Copy(f, rc); err != nil { // the digest is checked as it reads
		return 0, err
	}
	if err := rc.Close(); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

func curl(ctx context.Context, t *target, args ...string) ([]byte, error) {
	if t.user != "" {
		args = append([]string{"-u", t.user}, args...)
	}
	out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "-f"}, args...)...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return out, fmt.Errorf("curl %v: %s", err, ee.Stderr)
	}
	return out, err
}

// curlPut starts an upload, then times one PUT of the whole blob.
func curlPut(ctx context.Context, t *target, repo, path, digest string) (float64, error) {
	out, err := curl(ctx, t, "-X", "POST", "-D", "-", "-o", "/dev/null", "http://"+t.host+"/v2/"+repo+"/blobs/uploads/")
	if err != nil {
		return 0, err
	}
	loc := ""
	for l := range strings.Lines(string(out)) {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "location") {
			loc = strings.TrimSpace(v)
		}
	}
	if loc == "" {
		return 0, errors.New("no upload location")
	}
	if strings.HasPrefix(loc, "/") {
		loc = "http://" + t.host + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	start := time.Now()
	_, err = curl(ctx, t, "-X", "PUT", "-H", "Content-Type: application/octet-stream", "-T", path, "-o", "/dev/null", loc+sep+"digest="+digest) // -T streams; --data-binary reads the file into memory
	return time.Since(start).Seconds(), err
}

func curlGet(ctx context.Context, t *target, repo, digest, dst string) (float64, error) {
	start := time.Now()
	_, err := curl(ctx, t, "-o", dst, "http://"+t.host+"/v2/"+repo+"/blobs/"+digest)
	return time.Since(start).Seconds(), err
}

func manifestGets(ctx context.Context, t *target, repo string, d time.Duration) (float64, error) {
	url := "http://" + t.host + "/v2/" + repo + "/manifests/latest"
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	c := &http.Client{Transport: tr}
	// Anonymous, as a public image is pulled (distribution runs without
	// auth); -gets-auth sends a bearer token from /v2/token instead.
	var hdr string
	if t.user != "" && getsAuth {
		u, p, _ := strings.Cut(t.user, ":")
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.host+"/v2/token?scope=repository:"+repo+":pull", nil)
		req.SetBasicAuth(u, p)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tok := regexp.MustCompile(`"token":"([^"]+)"`).FindSubmatch(b)
		if tok == nil {
			return 0, fmt.Errorf("no token: %s", b)
		}
		hdr = "Bearer " + string(tok[1])
	}
	var n, fails atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
				if hdr != "" {
					req.Header.Set("Authorization", hdr)
				}
				resp, err := c.Do(req)
				if err != nil {
					fails.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					fails.Add(1)
					continue
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if fails.Load() > 0 {
		return 0, fmt.Errorf("%d failed GETs", fails.Load())
	}
	return float64(n.Load()) / d.Seconds(), nil
}

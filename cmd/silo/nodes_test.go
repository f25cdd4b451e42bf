package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// The three-node test runs the real `silo` binary three times on one
// PostgreSQL schema and one S3 prefix, behind a small load balancer that
// spreads requests round-robin (the way any HTTP balancer without session
// affinity would) and, where the test needs it, sends a request to a chosen
// node. Clients are the `silo` binary too, so everything crosses process
// boundaries as in production.

// buildSilo compiles this command into a temporary directory.
func buildSilo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "silo")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// node is one `silo serve` process.
type node struct {
	args []string
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	log  bytes.Buffer
}

var servingURL = regexp.MustCompile(`msg="silo serving" url=(\S+)`)

// startNode runs `silo serve` with args on a random port and waits until
// /readyz answers 200. The process is killed when the test ends.
func startNode(t *testing.T, bin string, args ...string) *node {
	t.Helper()
	n := &node{args: args}
	// --oci-redirect=false: this test follows the library API's multipart
	// upload across nodes; OCI uploads across nodes are internal/api/oci's.
	n.cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--gc-interval", "-1s", "--oci-redirect=false"}, args...)...)
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.cmd.Process.Kill(); n.cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			n.mu.Lock()
			n.log.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
			if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case n.url = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("silo serve %v did not start:\n%s", args, n.output())
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(n.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not ready: %v\n%s", n.url, err, n.output())
		}
	}
}

func (n *node) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// hit is one request the balancer forwarded.
type hit struct {
	method, path string
	node, status int
}

// balancer forwards each request to the next live node, unless pick
// chooses one; it records where everything went.
type balancer struct {
	url     string
	mu      sync.Mutex
	nodes   []*node
	proxies []*httputil.ReverseProxy
	dead    map[int]bool
	next    int
	hits    []hit
	// pick may choose the node for a request (ok true) and wrap its body.
	pick func(r *http.Request) (node int, ok bool)
}

func startBalancer(t *testing.T) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{url: "http://" + ln.Addr().String(), dead: map[int]bool{}}
	srv := &http.Server{Handler: b}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

func (b *balancer) add(n *node) {
	u, _ := url.Parse(n.url)
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		FlushInterval: -1,
	}
	b.mu.Lock()
	b.nodes = append(b.nodes, n)
	b.proxies = append(b.proxies, p)
	b.mu.Unlock()
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	pick := b.pick
	b.mu.Unlock()
	i, ok := -1, false
	if pick != nil {
		i, ok = pick(r)
	}
	b.mu.Lock()
	if !ok {
		for range b.nodes {
			i = b.next % len(b.nodes)
			b.next++
			if !b.dead[i] {
				break
			}
		}
	}
	p := b.proxies[i]
	b.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	p.ServeHTTP(sw, r)
	b.mu.Lock()
	b.hits = append(b.hits, hit{r.Method, r.URL.Path, i, sw.status})
	b.mu.Unlock()
}

// served returns the node and status of the first request matching re.
func (b *balancer) served(re string) (node, status int, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := regexp.MustCompile(re)
	for _, h := range b.hits {
		if m.MatchString(h.method + " " + h.path) {
			return h.node, h.status, true
		}
	}
	return 0, 0, false
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// killAfter passes a request body through and kills the process after n
// bytes, once: the node dies with the body half received.
type killAfter struct {
	io.ReadCloser
	n    int64
	kill func()
}

func (k *killAfter) Read(p []byte) (int, error) {
	m, err := k.ReadCloser.Read(p)
	if k.n -= int64(m); k.n <= 0 && k.kill != nil {
		k.kill()
		k.kill = nil
	}
	return m, err
}

// silo runs the binary as a client of server with token.
func siloRun(bin, home, server, token string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"SILO_SERVER="+server, "SILO_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestThreeNodes: three `silo serve` processes share one PostgreSQL and
// one S3 prefix; pushes and pulls are spread over them; a multipart upload
// starts on one node and completes on another; one node is SIGKILLed
// mid-upload. Afterwards every push that completed pulls back identical
// from every live node, the killed push is not visible, and `silo fsck
// --verify` finds nothing wrong. Both ways bytes can travel are covered:
// through the nodes (--blob-access proxy: the node dies with a part half
// received) and straight to S3 through presigned URLs (redirect: the node
// dies as it is asked where the third part goes).
func TestThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds silo and moves a few hundred MiB")
	}
	bin := buildSilo(t)
	for _, mode := range []string{"proxy", "redirect"} {
		t.Run(mode, func(t *testing.T) { threeNodes(t, bin, mode) })
	}
}

func threeNodes(t *testing.T, bin, mode string) {
	db, store := backendtest.FreshDB(t), backendtest.FreshStore(t)
	const partSize = 8 << 20
	lb := startBalancer(t)
	// Each node's data directory holds only the bootstrap admin token:
	// the registry lives in PostgreSQL and S3.
	root := t.TempDir()
	nodeArgs := func(i int) []string {
		return []string{"--data", filepath.Join(root, fmt.Sprint(i)), "--db", db, "--store", store,
			"--url", lb.url, "--part-size", fmt.Sprint(partSize), "--blob-access", mode}
	}
	// The first node makes the admin and the signing key; the other two
	// start together, racing to migrate and bootstrap.
	args := [][]string{nodeArgs(0), nodeArgs(1), nodeArgs(2)}
	nodes := []*node{startNode(t, bin, args[0]...)}
	var wg sync.WaitGroup
	rest := make([]*node, 2)
	for i := range rest {
		wg.Go(func() { rest[i] = startNode(t, bin, args[i+1]...) })
	}
	wg.Wait()
	nodes = append(nodes, rest...)
	for _, n := range nodes {
		lb.add(n)
	}
	offline := append([]string{}, args[0]...)[:6] // --data --db --store
	home := t.TempDir()
	if out, err := siloRun(bin, home, "", "", append([]string{"user", "add", "alice"}, offline...)...); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	out, err := siloRun(bin, home, "", "", append([]string{"token", "create", "alice"}, offline...)...)
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	tok := strings.TrimSpace(out)

	dir := t.TempDir()
	image := func(name string, size, seed int64) string {
		p := filepath.Join(dir, name)
		if _, _, err := siftest.Write(p, siftest.Options{Size: size, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type push struct {
		file, name string
		err        error
		out        string
	}
	run := func(ps []*push) {
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Go(func() { p.out, p.err = siloRun(bin, home, lb.url, tok, "push", p.file, p.name) })
		}
		wg.Wait()
	}

	// 1. Small pushes in parallel, spread round-robin, and one multipart
	// upload started on node 0 and completed on node 1.
	lb.mu.Lock()
	lb.pick = func(r *http.Request) (int, bool) {
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/_multipart"):
			return 0, true
		case strings.HasSuffix(r.URL.Path, "/_multipart_complete"):
			return 1, true
		}
		return 0, false
	}
	lb.mu.Unlock()
	var first []*push
	for i := range 6 {
		first = append(first, &push{file: image(fmt.Sprintf("s%d.sif", i), 1<<20+int64(i)*4096, int64(10+i)), name: fmt.Sprintf("alice/small/s%d:1", i)})
	}
	first = append(first, &push{file: image("big.sif", 66<<20, 1), name: "alice/big/across:1"})
	run(first)
	for _, p := range first {
		if p.err != nil {
			t.Fatalf("push %s: %v\n%s", p.name, p.err, p.out)
		}
	}
	lb.mu.Lock()
	per := make([]int, len(nodes))
	for _, h := range lb.hits {
		per[h.node]++
	}
	lb.mu.Unlock()
	t.Logf("requests per node while pushing: %v", per)
	for i, n := range per {
		if n == 0 {
			t.Errorf("node %d served nothing: the pushes were not spread", i)
		}
	}
	_, _, through := lb.served(`^PUT /v2/upload/`)
	if through != (mode == "proxy") {
		t.Errorf("--blob-access %s: image bytes passed through the nodes: %v", mode, through)
	}
	if n, st, ok := lb.served(`^POST /v2/imagefile/[^/]+/_multipart$`); !ok || n != 0 || st != http.StatusOK {
		t.Errorf("multipart start: node %d status %d (seen %v), want node 0, 200", n, st, ok)
	}
	if n, st, ok := lb.served(`_multipart_complete$`); !ok || n != 1 || st != http.StatusOK {
		t.Errorf("multipart completion: node %d status %d (seen %v), want node 1, 200", n, st, ok)
	}

	// 2. Node 2 is killed in the middle of a multipart upload, while small
	// pushes keep going: with the third part half received when parts
	// pass through the nodes, or as it is asked for the third part's URL
	// when they go straight to S3.
	var parts int
	var killOnce sync.Once
	var killed atomic.Bool
	kill := func() {
		killOnce.Do(func() {
			nodes[2].cmd.Process.Signal(syscall.SIGKILL)
			killed.Store(true)
			lb.mu.Lock()
			lb.dead[2] = true
			lb.mu.Unlock()
		})
	}
	lb.mu.Lock()
	lb.pick = func(r *http.Request) (int, bool) {
		bodyPart := r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/v2/upload/") && r.ContentLength == partSize
		urlAsked := r.Method == "PUT" && strings.HasSuffix(r.URL.Path, "/_multipart")
		if (mode == "proxy" && bodyPart) || (mode == "redirect" && urlAsked) {
			lb.mu.Lock()
			parts++
			third := parts == 3
			lb.mu.Unlock()
			if third && mode == "proxy" {
				r.Body = &killAfter{ReadCloser: r.Body, n: partSize / 2, kill: kill}
				return 2, true
			}
			if third {
				kill()
				return 2, true
			}
		}
		return 0, false
	}
	lb.mu.Unlock()
	second := []*push{{file: image("killed.sif", 66<<20, 2), name: "alice/big/killed:1"}}
	for i := range 4 {
		second = append(second, &push{file: image(fmt.Sprintf("t%d.sif", i), 1<<20+int64(i)*4096, int64(20+i)), name: fmt.Sprintf("alice/small/t%d:1", i)})
	}
	run(second)
	if !killed.Load() {
		t.Fatalf("node 2 was never killed: the upload did not go the way this test expects (%d parts seen)", parts)
	}
	if err := nodes[2].cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("node 2 was not killed mid-upload (%v); parts seen: %d", err, parts)
	}
	t.Logf("the cut push failed as it should: %s", lastLine(second[0].out))
	if second[0].err == nil {
		t.Fatalf("the push whose node was killed succeeded:\n%s", second[0].out)
	}
	lb.mu.Lock()
	lb.pick = nil
	lb.mu.Unlock()

	// 3. Every completed push is intact, from every live node and through
	// the balancer; the killed one is nowhere; the stores are consistent.
	live := []string{lb.url, nodes[0].url, nodes[1].url}
	for _, p := range append(first, second...) {
		want, err := os.ReadFile(p.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, srv := range live {
			got := filepath.Join(dir, "pulled.sif")
			out, err := siloRun(bin, home, srv, tok, "pull", "--force", p.name, "-o", got)
			switch {
			case err == nil:
				b, _ := os.ReadFile(got)
				if !bytes.Equal(b, want) {
					t.Errorf("%s from %s: %d bytes differ from the %d pushed", p.name, srv, len(b), len(want))
				}
				if p.err != nil && p == second[0] {
					t.Errorf("%s, whose upload was cut, is visible on %s", p.name, srv)
				}
			case p.err == nil:
				t.Errorf("pull %s from %s after a successful push: %v\n%s", p.name, srv, err, out)
			case !strings.Contains(out, "not found"):
				t.Errorf("pull %s (push failed: %v) from %s: %v\n%s", p.name, p.err, srv, err, out)
			}
		}
	}
	if out, _ := siloRun(bin, home, lb.url, tok, "ls", "alice/big"); strings.Contains(out, "killed") {
		t.Errorf("ls lists the killed upload:\n%s", out)
	}
	if out, err := siloRun(bin, home, "", "", append([]string{"fsck", "--verify"}, offline...)...); err != nil {
		t.Errorf("fsck after the kill: %v\n%s", err, out)
	}

	// 4. The killed node comes back with nothing of its own to recover,
	// and the failed push succeeds when retried.
	back := startNode(t, bin, args[2]...)
	if out, err := siloRun(bin, home, back.url, tok, "push", second[0].file, second[0].name); err != nil {
		t.Fatalf("retrying the killed push on the restarted node: %v\n%s", err, out)
	}
	got := filepath.Join(dir, "retried.sif")
	if out, err := siloRun(bin, home, nodes[0].url, tok, "pull", second[0].name, "-o", got); err != nil {
		t.Fatalf("pull the retried push from node 0: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(got)
	b, _ := os.ReadFile(second[0].file)
	if !bytes.Equal(a, b) {
		t.Error("the retried push pulls back different bytes")
	}
	if out, err := siloRun(bin, home, "", "", append([]string{"fsck", "--verify"}, offline...)...); err != nil {
		t.Errorf("final fsck: %v\n%s", err, out)
	}
	if t.Failed() {
		for i, n := range nodes {
			t.Logf("node %d log:\n%s", i, n.output())
		}
	}
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	ls := lines(s)
	if len(ls) == 0 {
		return ""
	}
	return ls[len(ls)-1]
}

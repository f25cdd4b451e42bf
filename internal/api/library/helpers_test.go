package library_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// ---------------------------------------------------------------------------
// The server under test.

// silo is a real server plus the request log it wrote.
type silo struct {
	*servertest.Instance
	log *requestLog
}

// startSilo runs a server for the test. When the test ends it checks that
// every stored blob still hashes to its name and that the server never
// answered 5xx or logged an error: bad input must never cause either.
func startSilo(t *testing.T, cfg server.Config) *silo {
	t.Helper()
	rl := &requestLog{changed: make(chan struct{})}
	if os.Getenv("SILO_TEST_LOG") != "" {
		rl.next = slog.NewTextHandler(os.Stderr, nil)
	}
	// Registered before Start, so it runs after the server has shut down
	// and every request has been logged.
	t.Cleanup(func() { rl.checkClean(t) })
	cfg.Log = slog.New(rl)
	// These tests are about the library API, which the clients use only
	// when /v1/oci-redirect does not send them to /v2/ (the redirect,
	// on by default, is tested with the same clients in internal/api/oci).
	cfg.NoOCIRedirect = true
	s := &silo{Instance: servertest.Start(t, cfg), log: rl}
	// Registered after Start, so it runs before the server stops and
	// while the data is still there.
	t.Cleanup(func() {
		s.checkBlobsIntact(t)
		// Connections the transport dialled for parallel requests but
		// never used look new to the server, and shutting down waits 5s
		// for those.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	})
	return s
}

// actor is a user as the registry sees them, for setting up state that
// the library API cannot (private collections, freezing).
func (s *silo) actor(t *testing.T, name string) access.Actor {
	t.Helper()
	u, err := s.Server.Meta.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return access.Actor{User: u}
}

// loggedRequest is one "request" line of the server's log, written after
// the handler returned.
type loggedRequest struct {
	Method, Path string
	Status       int
}

// requestLog is the server's slog handler: it keeps request lines and
// errors, and wakes waiters on each new request line.
type requestLog struct {
	mu      sync.Mutex
	reqs    []loggedRequest
	errs    []string
	changed chan struct{} // closed and replaced on every new request line
	next    slog.Handler  // SILO_TEST_LOG: also print
}

func (l *requestLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *requestLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *requestLog) WithGroup(string) slog.Handler            { return l }

func (l *requestLog) Handle(ctx context.Context, r slog.Record) error {
	if l.next != nil {
		_ = l.next.Handle(ctx, r.Clone())
	}
	var q loggedRequest
	var text strings.Builder
	text.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&text, " %s=%v", a.Key, a.Value)
		switch a.Key {
		case "method":
			q.Method = a.Value.String()
		case "path":
			q.Path = a.Value.String()
		case "status":
			if a.Value.Kind() == slog.KindInt64 {
				q.Status = int(a.Value.Int64())
			}
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Level >= slog.LevelError {
		l.errs = append(l.errs, text.String())
	}
	if r.Message == "request" {
		l.reqs = append(l.reqs, q)
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return nil
}

// mark is the position after the requests logged so far.
func (l *requestLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// wait blocks until the server has finished (and logged) a request after
// mark with this method and path prefix, and returns it. This is how a test
// knows the server is done with a request whose client has hung up.
func (l *requestLog) wait(t *testing.T, mark int, method, pathPrefix string) loggedRequest {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		for _, q := range l.reqs[mark:] {
			if q.Method == method && strings.HasPrefix(q.Path, pathPrefix) {
				l.mu.Unlock()
				return q
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("the server never logged %s %s…", method, pathPrefix)
		}
	}
}

func (l *requestLog) checkClean(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range l.reqs {
		if q.Status >= 500 {
			t.Errorf("server answered %s %s with %d", q.Method, q.Path, q.Status)
		}
	}
	for _, e := range l.errs {
		t.Errorf("server logged an error: %s", e)
	}
}

// ---------------------------------------------------------------------------
// What the stores hold.

// storeState is everything a push can leave behind, in comparable form.
type storeState struct {
	Blobs    []string // digests in the blob store
	Partial  []string // unfinished uploads in the blob store
	Sessions []string // upload sessions in the metadata store
	Images   []string // uploaded images, entity/collection/container@digest
	Tags     []string // entity/collection/container:tag[arch]@digest
}

func (s *silo) state(t *testing.T) storeState {
	t.Helper()
	ctx := context.Background()
	var st storeState
	if err := s.Server.Blobs.Walk(ctx, func(b blob.Info) error {
		st.Blobs = append(st.Blobs, b.Digest)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Server.Blobs.Uploads(ctx, func(u blob.UploadInfo) error {
		st.Partial = append(st.Partial, u.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Every session expires before the far future.
	ups, err := s.Server.Meta.ExpiredUploads(ctx, time.Now().AddDate(100, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups {
		st.Sessions = append(st.Sessions, u.ID)
	}
	recs, err := s.Server.Meta.Find(ctx, meta.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		path := r.Entity + "/" + r.Collection + "/" + r.Container
		st.Images = append(st.Images, path+"@"+r.Digest)
		for _, tag := range r.Tags {
			st.Tags = append(st.Tags, fmt.Sprintf("%s:%s[%s]@%s", path, tag.Name, tag.Arch, r.Digest))
		}
	}
	for _, l := range [][]string{st.Blobs, st.Partial, st.Sessions, st.Images, st.Tags} {
		sort.Strings(l)
	}
	return st
}

// assertState fails unless the stores hold exactly want.
func (s *silo) assertState(t *testing.T, want storeState) {
	t.Helper()
	if got := s.state(t); !reflect.DeepEqual(got, want) {
		t.Errorf("stores changed:\n got  %+v\n want %+v", got, want)
	}
}

// checkBlobsIntact fails for any blob whose bytes do not hash to its name.
func (s *silo) checkBlobsIntact(t *testing.T) {
	ctx := context.Background()
	err := s.Server.Blobs.Walk(ctx, func(b blob.Info) error {
		rd, err := s.Server.Blobs.Open(ctx, b.Digest)
		if err != nil {
			return err
		}
		defer rd.Close()
		h := sha256.New()
		if _, err := io.Copy(h, rd); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != b.Digest {
			t.Errorf("blob %s holds bytes hashing to %s", b.Digest, got)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// ---------------------------------------------------------------------------
// What the clients send.

// seenRequest is one round trip a client made.
type seenRequest struct {
	Line   string // "METHOD /path"
	Host   string // where it went: Silo, or the blob store
	Query  url.Values
	Header http.Header
	Status int // -1 when the round trip failed
	Reply  http.Header
	Body   string // the response body of error answers
}

// response is the answer as call returns it, for wantError.
func (q seenRequest) response() *response {
	return &response{Status: q.Status, Header: q.Reply, Body: []byte(q.Body)}
}

// recorder is an http.RoundTripper that notes every request a client makes
// and keeps the bodies of error answers, which the clients often drop.
type recorder struct {
	base *http.Transport
	mu   sync.Mutex
	reqs []seenRequest
}

func newRecorder(t *testing.T) *recorder {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &recorder{base: tr}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	seen := seenRequest{Line: req.Method + " " + req.URL.Path, Host: req.URL.Host, Query: req.URL.Query(), Header: req.Header.Clone(), Status: -1}
	res, err := r.base.RoundTrip(req)
	if err == nil {
		seen.Status, seen.Reply = res.StatusCode, res.Header.Clone()
		if res.StatusCode >= 400 {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			res.Body = io.NopCloser(bytes.NewReader(b))
			seen.Body = string(b)
		}
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, seen)
	r.mu.Unlock()
	return res, err
}

// matching returns the requests whose "METHOD /path" matches the regexp.
func (r *recorder) matching(re string) []seenRequest {
	rx := regexp.MustCompile(re)
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []seenRequest
	for _, q := range r.reqs {
		if rx.MatchString(q.Line) {
			out = append(out, q)
		}
	}
	return out
}

func (r *recorder) count(re string) int { return len(r.matching(re)) }

func (r *recorder) reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

// Request patterns of the library protocol.
const (
	reqCreateImage    = `^POST /v1/images$`
	reqUploadV1       = `^POST /v1/imagefile/\d+$`
	reqUploadStart    = `^POST /v2/imagefile/\d+$`
	reqMultipartStart = `^POST /v2/imagefile/\d+/_multipart$`
	reqMultipartPart  = `^PUT /v2/imagefile/\d+/_multipart$`
	reqMultipartDone  = `^PUT /v2/imagefile/\d+/_multipart_complete$`
	reqUploadDone     = `^PUT /v2/imagefile/\d+/_complete$`
	reqUploadBytes    = `^PUT /v2/upload/`
	reqAnyUpload      = `^(POST /v1/imagefile|POST /v2/imagefile|PUT /v2/upload)`
	reqTagsV1         = `^POST /v1/tags/\d+$`
	reqTagsV2         = `^POST /v2/tags/\d+$`
	reqPull           = `^GET /v1/imagefile/`
	reqBlob           = `^GET /v2/blob/[0-9a-f]{64}$`
)

// ---------------------------------------------------------------------------
// Images.

// sifFile is an image on disk.
type sifFile struct {
	Path   string
	Digest string // hex sha256
	Size   int64
}

// Hash is the library API's spelling of the digest.
func (f sifFile) Hash() string { return "sha256." + f.Digest }

// writeSIF builds a real SIF with siftest.
func writeSIF(t testing.TB, dir, name string, o siftest.Options) sifFile {
	t.Helper()
	p := filepath.Join(dir, name)
	d, n, err := siftest.Write(p, o)
	if err != nil {
		t.Fatal(err)
	}
	return sifFile{Path: p, Digest: d, Size: n}
}

// writeRandom writes n bytes that are not a SIF.
func writeRandom(t testing.TB, dir, name string, n int64, seed byte) sifFile {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	// A counter run through sha256: cheap, deterministic, nothing like SIF_MAGIC.
	block := make([]byte, 0, 1<<20)
	for i := int64(0); int64(len(block)) < 1<<20; i++ {
		s := sha256.Sum256([]byte{seed, byte(i), byte(i >> 8), byte(i >> 16)})
		block = append(block, s[:]...)
	}
	w := io.MultiWriter(f, h)
	for left := n; left > 0; left -= int64(len(block)) {
		if _, err := w.Write(block[:min(left, int64(len(block)))]); err != nil {
			t.Fatal(err)
		}
	}
	return sifFile{Path: p, Digest: hex.EncodeToString(h.Sum(nil)), Size: n}
}

func (f sifFile) open(t testing.TB) *os.File {
	t.Helper()
	r, err := os.Open(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func (f sifFile) read(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// push uploads f with the real client and fails the test on error.
func push(t *testing.T, c libClient, f sifFile, path, arch string, tags ...string) *uploadComplete {
	t.Helper()
	res, err := c.Push(context.Background(), f.open(t), path, arch, tags, "")
	if err != nil {
		t.Fatalf("pushing %s to %s: %v", filepath.Base(f.Path), path, err)
	}
	return res
}

// pullParts downloads path:tag with ConcurrentDownloadImage (3 workers,
// 5 MiB parts) and checks the bytes are f's.
func pullParts(t *testing.T, c libClient, arch, path, tag string, f sifFile) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pulled.sif")
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	err = c.PullParts(context.Background(), dst, arch, path, tag, 3, 5<<20)
	dst.Close()
	if err != nil {
		t.Fatalf("pulling %s:%s (%s) in parts: %v", path, tag, arch, err)
	}
	sameBytes(t, out, f)
}

// pull downloads path:tag with the single-stream DownloadImage.
func pull(t *testing.T, c libClient, arch, path, tag string, f sifFile) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pulled.sif")
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Pull(context.Background(), dst, arch, path, tag)
	dst.Close()
	if err != nil {
		t.Fatalf("pulling %s:%s (%s): %v", path, tag, arch, err)
	}
	sameBytes(t, out, f)
}

// sameBytes checks the file at path is exactly f (same size, same sha256).
func sameBytes(t *testing.T, path string, f sifFile) {
	t.Helper()
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != f.Size || got != f.Digest {
		t.Fatalf("pulled %d bytes hashing to %s; pushed %d bytes hashing to %s", n, got, f.Size, f.Digest)
	}
}

// wantNotFound checks that pulling and looking up path:tag fail the way
// the clients report a missing image.
func wantNotFound(t *testing.T, c libClient, arch, path, tag string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.GetImage(ctx, arch, path+":"+tag); !isNotFound(err) {
		t.Errorf("GetImage %s:%s: err = %v, want not found", path, tag, err)
	}
	dst, err := os.Create(filepath.Join(t.TempDir(), "pulled.sif"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := c.PullParts(ctx, dst, arch, path, tag, 3, 5<<20); !isNotFound(err) {
		t.Errorf("ConcurrentDownloadImage %s:%s: err = %v, want not found", path, tag, err)
	}
	if err := c.Pull(ctx, io.Discard, arch, path, tag); !isNotFound(err) {
		t.Errorf("DownloadImage %s:%s: err = %v, want not found", path, tag, err)
	}
}

// eachClient runs f once per real client library.
func eachClient(t *testing.T, f func(t *testing.T, kind string)) {
	for _, kind := range clientKinds {
		t.Run(kind, func(t *testing.T) { f(t, kind) })
	}
}

// ---------------------------------------------------------------------------
// Raw HTTP, for what the clients cannot be made to send.

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// rawClient never follows redirects, so the 303 of a pull can be looked at.
var rawClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       time.Minute,
}

// call sends one request. body may be nil, []byte, string or a value to
// encode as JSON (sent, like the clients do, without a Content-Type).
func call(t *testing.T, method, u, token string, body any, header ...string) *response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := rawClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// wantError checks res is the json-resp error envelope,
// {"error":{"code":status,"message":"..."}}, with the given status and a
// message containing each of want (case-insensitively).
func wantError(t *testing.T, what string, res *response, status int, want ...string) {
	t.Helper()
	if res.Status != status {
		t.Errorf("%s: status %d, want %d; body %s", what, res.Status, status, res.Body)
		return
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &env); err != nil {
		t.Errorf("%s: body is not JSON: %v: %s", what, err, res.Body)
		return
	}
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if len(env) != 1 || env["error"] == nil || json.Unmarshal(env["error"], &e) != nil {
		t.Errorf(`%s: body is not {"error":{...}}: %s`, what, res.Body)
		return
	}
	if e.Code != status || e.Message == "" {
		t.Errorf("%s: error code %d message %q; want code %d and a message", what, e.Code, e.Message, status)
	}
	for _, w := range want {
		if !strings.Contains(strings.ToLower(e.Message), strings.ToLower(w)) {
			t.Errorf("%s: message %q does not mention %q", what, e.Message, w)
		}
	}
}

// data decodes the {"data": ...} of a 200 answer into v.
func data(t *testing.T, what string, res *response, v any) {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200; body %s", what, res.Status, res.Body)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(res.Body, &env); err != nil || env.Data == nil {
		t.Fatalf("%s: no data in %s (%v)", what, res.Body, err)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("%s: decoding data %s: %v", what, env.Data, err)
	}
}

// createImage makes entity/collection/container and an image record for
// digest the way the clients' push does, and returns the image id. Only
// for tests of what a client cannot be made to send.
func createImage(t *testing.T, s *silo, token, path, digest string) string {
	t.Helper()
	parts := strings.Split(path, "/")
	var obj struct {
		ID string `json:"id"`
	}
	if res := call(t, "GET", s.URL+"/v1/entities/"+parts[0], token, nil); res.Status == http.StatusOK {
		data(t, "get entity", res, &obj)
	} else {
		data(t, "create entity", call(t, "POST", s.URL+"/v1/entities", token, map[string]string{"name": parts[0]}), &obj)
	}
	if res := call(t, "GET", s.URL+"/v1/collections/"+parts[0]+"/"+parts[1], token, nil); res.Status == http.StatusOK {
		data(t, "get collection", res, &obj)
	} else {
		data(t, "create collection", call(t, "POST", s.URL+"/v1/collections", token, map[string]string{"name": parts[1], "entity": obj.ID}), &obj)
	}
	if res := call(t, "GET", s.URL+"/v1/containers/"+path, token, nil); res.Status == http.StatusOK {
		data(t, "get container", res, &obj)
	} else {
		data(t, "create container", call(t, "POST", s.URL+"/v1/containers", token, map[string]string{"name": parts[2], "collection": obj.ID}), &obj)
	}
	data(t, "create image", call(t, "POST", s.URL+"/v1/images", token, map[string]string{"hash": "sha256." + digest, "container": obj.ID}), &obj)
	return obj.ID
}

// sortedCopy returns a sorted copy of l (nil for an empty l).
func sortedCopy(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	c := slices.Clone(l)
	sort.Strings(c)
	return c
}

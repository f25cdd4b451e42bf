package share_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	aclient "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// clock is the server's clock, moved by hand so that links expire
// without anyone waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a server on an injected clock with two users, alice and bob.
type env struct {
	t          *testing.T
	in         *servertest.Instance
	clock      *clock
	alice, bob string // tokens
}

func start(t *testing.T) *env {
	t.Helper()
	c := &clock{t: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
	in := servertest.Start(t, server.Config{Now: c.Now})
	e := &env{t: t, in: in, clock: c}
	e.alice = in.User(t, "alice", false)
	e.bob = in.User(t, "bob", false)
	return e
}

// privateCollection makes alice/name private, through the registry: the
// library push only ever creates public collections.
func (e *env) privateCollection(name string) {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.in.Server.Meta.UserByName(ctx, "alice")
	if err != nil {
		e.t.Fatal(err)
	}
	act := access.Actor{User: u}
	ent, err := e.in.Server.Registry.CreateEntity(ctx, act, "alice", "")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.in.Server.Registry.CreateCollection(ctx, act, ent.ID, name, "", true); err != nil {
		e.t.Fatal(err)
	}
}

// push uploads a new test SIF with the library client, as apptainer
// would, and returns its bytes.
func (e *env) push(token, name, tag string, seed int64) []byte {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "img.sif")
	if _, _, err := siftest.Write(path, siftest.Options{Seed: seed, Size: 256 << 10}); err != nil {
		e.t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := aclient.NewClient(&aclient.Config{BaseURL: e.in.URL, AuthToken: token})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.UploadImage(context.Background(), bytes.NewReader(data), name, "amd64", []string{tag}, "", nil); err != nil {
		e.t.Fatalf("pushing %s: %v", name, err)
	}
	return data
}

// call sends a JSON request to Silo's API and decodes the answer into out.
func (e *env) call(method, path, token string, in, out any) int {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.in.URL+silo.Prefix+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			e.t.Fatalf("%s %s: decoding: %v", method, path, err)
		}
	}
	return res.StatusCode
}

// share makes a link through the API, as the CLI does.
func (e *env) share(token, name, expires string) silo.ShareCreated {
	e.t.Helper()
	var s silo.ShareCreated
	if st := e.call("POST", "shares", token, silo.ShareRequest{Name: name, Expires: expires}, &s); st != http.StatusCreated {
		e.t.Fatalf("sharing %s: status %d", name, st)
	}
	return s
}

// shareRow is the link as GET shares lists it now.
func (e *env) shareRow(token string, id int64) silo.Share {
	e.t.Helper()
	var l silo.ShareList
	if st := e.call("GET", "shares", token, nil, &l); st != http.StatusOK {
		e.t.Fatalf("listing shares: %d", st)
	}
	for _, s := range l.Shares {
		if s.ID == id {
			return s
		}
	}
	e.t.Fatalf("link %d is not listed", id)
	return silo.Share{}
}

// fetch makes a plain request with no credentials unless header adds some.
func fetch(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// wantGone checks the one answer for a link that does not work.
func wantGone(t *testing.T, url, why string) {
	t.Helper()
	res, body := fetch(t, http.MethodGet, url, nil)
	if res.StatusCode != http.StatusNotFound || string(body) != "link unknown, expired or revoked\n" ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("%s: %d %q (%s), want a plain-text 404", why, res.StatusCode, body, res.Header.Get("Content-Type"))
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// tool skips a test that needs a command this machine lacks, loudly, and
// fails it instead in CI, which must have everything.
func tool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed, and CI must run this test", name)
		}
		t.Skipf("SKIPPED: %s is not installed, so downloading with it is not tested", name)
	}
}

// TestDownload fetches a private image through a link the way people
// would: net/http, curl, wget, ranged and resumed; counts one download
// per fetch from the first byte.
func TestDownload(t *testing.T) {
	e := start(t)
	e.privateCollection("lab")
	data := e.push(e.alice, "alice/lab/tool", "v1", 1)
	s := e.share(e.alice, "alice/lab/tool:v1", "2h")

	if s.Image != "alice/lab/tool" || s.Tag != "v1" || s.Version != "sha256."+sha256hex(data) || !s.Active {
		t.Errorf("created %+v", s)
	}
	if want := e.clock.Now().Add(2 * time.Hour).Format(time.RFC3339); s.Expires != want {
		t.Errorf("expires %s, want %s", s.Expires, want)
	}
	secret, file, ok := strings.Cut(strings.TrimPrefix(s.URL, e.in.URL+"/s/"), "/")
	if !ok || file != "tool_v1.sif" || !strings.HasPrefix(s.URL, e.in.URL+"/s/") {
		t.Fatalf("url %q: want %s/s/<secret>/tool_v1.sif", s.URL, e.in.URL)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(raw) < 16 {
		t.Errorf("secret %q carries %d bytes (%v), want at least 128 bits", secret, len(raw), err)
	}
	downloads := int64(0)
	counted := func(why string, more int64) {
		t.Helper()
		downloads += more
		if got := e.shareRow(e.alice, s.ID).Downloads; got != downloads {
			t.Errorf("after %s: %d downloads counted, want %d", why, got, downloads)
		}
	}

	// Anonymous, no cookie: the bytes, named, with their digest.
	res, body := fetch(t, http.MethodGet, s.URL, nil)
	if res.StatusCode != http.StatusOK || !bytes.Equal(body, data) || sha256hex(body) != strings.TrimPrefix(s.Version, "sha256.") {
		t.Fatalf("GET: %d, %d bytes; want 200 with the %d pushed", res.StatusCode, len(body), len(data))
	}
	h := res.Header
	if h.Get("Content-Disposition") != "attachment; filename=tool_v1.sif" || h.Get("ETag") != `"sha256:`+sha256hex(data)+`"` ||
		res.ContentLength != int64(len(data)) || h.Get("Set-Cookie") != "" || h.Get("Accept-Ranges") != "bytes" ||
		!strings.Contains(h.Get("X-Robots-Tag"), "noindex") {
		t.Errorf("headers %v", h)
	}
	counted("a GET", 1)

	// The file name is for the clients that name files after the URL;
	// without it, or with a stale credential of the holder's, the link
	// works the same.
	res, body = fetch(t, http.MethodGet, e.in.URL+"/s/"+secret, map[string]string{"Authorization": "Bearer silo_expired-token"})
	if res.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Errorf("GET without the file name, with a bad token: %d, %d bytes", res.StatusCode, len(body))
	}
	counted("a GET without the file name", 1)

	// HEAD fetches nothing and counts nothing.
	res, body = fetch(t, http.MethodHead, s.URL, nil)
	if res.StatusCode != http.StatusOK || len(body) != 0 || res.ContentLength != int64(len(data)) {
		t.Errorf("HEAD: %d, %d bytes, length %d", res.StatusCode, len(body), res.ContentLength)
	}
	counted("HEAD", 0)

	// A parallel fetch in ranges counts once, for the part at byte 0.
	res, body = fetch(t, http.MethodGet, s.URL, map[string]string{"Range": "bytes=100-199"})
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[100:200]) {
		t.Errorf("Range 100-199: %d, %d bytes", res.StatusCode, len(body))
	}
	if want := "bytes 100-199/" + strconv.Itoa(len(data)); res.Header.Get("Content-Range") != want {
		t.Errorf("Content-Range %q, want %q", res.Header.Get("Content-Range"), want)
	}
	counted("a range from byte 100", 0)
	res, body = fetch(t, http.MethodGet, s.URL, map[string]string{"Range": "bytes=0-99"})
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[:100]) {
		t.Errorf("Range 0-99: %d, %d bytes", res.StatusCode, len(body))
	}
	counted("a range from byte 0", 1)
	// Revalidating a copy the client has is not a download.
	res, _ = fetch(t, http.MethodGet, s.URL, map[string]string{"If-None-Match": h.Get("ETag")})
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", res.StatusCode)
	}
	counted("a revalidation", 0)

	t.Run("curl", func(t *testing.T) {
		tool(t, "curl")
		dir := t.TempDir()
		run(t, dir, "curl", "-sS", "-f", "-O", s.URL)
		sameFile(t, filepath.Join(dir, "tool_v1.sif"), data)
		counted("curl -O", 1)
		// A resumed transfer continues the download it belongs to.
		part := filepath.Join(dir, "resumed.sif")
		if err := os.WriteFile(part, data[:len(data)/3], 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, dir, "curl", "-sS", "-f", "-C", "-", "-o", part, s.URL)
		sameFile(t, part, data)
		counted("curl -C -", 0)
	})
	t.Run("wget", func(t *testing.T) {
		tool(t, "wget")
		dir := t.TempDir()
		run(t, dir, "wget", "-q", s.URL)
		sameFile(t, filepath.Join(dir, "tool_v1.sif"), data)
		counted("wget", 1)
	})
}

// run runs a command in dir and fails the test with its output if it fails.
func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes that differ from the %d shared", path, len(got), len(want))
	}
}

// TestLinkEnds: a link stops working at its expiry by the server's clock
// and when revoked, with the same answer as a link that never was.
func TestLinkEnds(t *testing.T) {
	e := start(t)
	data := e.push(e.alice, "alice/lab/tool", "v1", 1)
	expiring := e.share(e.alice, "alice/lab/tool:v1", "1h")
	revoked := e.share(e.alice, "alice/lab/tool:v1", "7d")

	e.clock.Add(time.Hour - time.Second)
	if res, body := fetch(t, http.MethodGet, expiring.URL, nil); res.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("a second before the expiry: %d", res.StatusCode)
	}
	e.clock.Add(time.Second)
	wantGone(t, expiring.URL, "at the expiry")
	if row := e.shareRow(e.alice, expiring.ID); row.Active || row.Revoked || row.Downloads != 1 {
		t.Errorf("expired link listed as %+v", row)
	}

	if res, _ := fetch(t, http.MethodGet, revoked.URL, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("before the revocation: %d", res.StatusCode)
	}
	// Bob cannot revoke alice's link: for him it does not exist.
	var eb silo.ErrorBody
	if st := e.call("DELETE", "shares/"+strconv.FormatInt(revoked.ID, 10), e.bob, nil, &eb); st != http.StatusNotFound {
		t.Errorf("bob revoking alice's link: %d %+v", st, eb)
	}
	var row silo.Share
	if st := e.call("DELETE", "shares/"+strconv.FormatInt(revoked.ID, 10), e.alice, nil, &row); st != http.StatusOK || !row.Revoked || row.Active {
		t.Fatalf("revoking: %d %+v", st, row)
	}
	wantGone(t, revoked.URL, "after the revocation")

	// Unknown and tampered secrets get the very same answer.
	secret, _, _ := strings.Cut(strings.TrimPrefix(revoked.URL, e.in.URL+"/s/"), "/")
	flip := []byte(secret)
	flip[0] ^= 1
	wantGone(t, e.in.URL+"/s/"+string(flip)+"/tool_v1.sif", "a tampered secret")
	wantGone(t, e.in.URL+"/s/"+strings.Repeat("A", len(secret)), "a made-up secret")
	wantGone(t, e.in.URL+"/s/x", "a short secret")
}

// TestGrantsNothingElse: a link to alice's private image opens that
// image for anyone and nothing else: not as a token, not the collection
// in listings and search, not what its tag points at later.
func TestGrantsNothingElse(t *testing.T) {
	e := start(t)
	e.privateCollection("lab")
	old := e.push(e.alice, "alice/lab/tool", "v1", 1)
	e.push(e.alice, "alice/lab/other", "v1", 2)
	s := e.share(e.alice, "alice/lab/tool:v1", "")
	secret, _, _ := strings.Cut(strings.TrimPrefix(s.URL, e.in.URL+"/s/"), "/")
	if want := e.clock.Now().Add(72 * time.Hour).Format(time.RFC3339); s.Expires != want {
		t.Errorf("default expiry %s, want %s", s.Expires, want)
	}

	// The secret is no credential anywhere else.
	for _, c := range []struct{ path, auth string }{
		{"/v1/images/alice/lab/tool:v1", "Bearer " + secret},
		{"/v1/imagefile/alice/lab/other:v1", "Bearer " + secret},
		{"/v1/token-status", "Bearer " + secret},
		{silo.Prefix + "images", "Bearer " + secret},
		{"/v1/images/alice/lab/tool:v1", "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+secret))},
	} {
		if res, body := fetch(t, http.MethodGet, e.in.URL+c.path, map[string]string{"Authorization": c.auth}); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with the secret as %s: %d %s, want 401", c.path, strings.Fields(c.auth)[0], res.StatusCode, body)
		}
	}
	// Anonymous callers still see no trace of the private collection,
	// though one of its images is shared.
	for _, path := range []string{"/v1/images/alice/lab/tool:v1", "/v1/imagefile/alice/lab/tool:v1", "/v1/collections/alice/lab"} {
		if res, _ := fetch(t, http.MethodGet, e.in.URL+path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("anonymous GET %s: %d, want 404", path, res.StatusCode)
		}
	}
	for _, path := range []string{silo.Prefix + "images", silo.Prefix + "images?q=tool", "/v1/search?value=tool"} {
		if _, body := fetch(t, http.MethodGet, e.in.URL+path, nil); bytes.Contains(body, []byte("alice")) || bytes.Contains(body, []byte("lab")) {
			t.Errorf("anonymous GET %s shows the private collection: %s", path, body)
		}
	}

	// The tag moves: the link keeps giving the image it was made for.
	moved := e.push(e.alice, "alice/lab/tool", "v1", 3)
	if res, body := fetch(t, http.MethodGet, s.URL, nil); res.StatusCode != http.StatusOK || !bytes.Equal(body, old) || bytes.Equal(body, moved) {
		t.Fatalf("after the tag moved: %d, %d bytes, want the image shared", res.StatusCode, len(body))
	}
	// Deleting that image ends the link; it never falls through to the
	// image now tagged v1.
	c, err := aclient.NewClient(&aclient.Config{BaseURL: e.in.URL, AuthToken: e.alice})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteImage(context.Background(), "alice/lab/tool:"+s.Version, "amd64"); err != nil {
		t.Fatal(err)
	}
	wantGone(t, s.URL, "after its image was deleted")
}

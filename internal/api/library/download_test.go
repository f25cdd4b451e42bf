package library_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// downloadURL asks for path:tag as the clients do and returns the 303's
// Location: the signed blob URL.
func downloadURL(t *testing.T, s *silo, tok, pathTag string) string {
	t.Helper()
	res := call(t, "GET", s.URL+"/v1/imagefile/"+pathTag+"?arch=amd64", tok, nil)
	loc := res.Header.Get("Location")
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(loc, s.URL+"/") {
		t.Fatalf("GET /v1/imagefile/%s: status %d Location %q, want a 303 to an absolute URL on %s", pathTag, res.Status, loc, s.URL)
	}
	return loc
}

// TestRanges sends good and bogus Range headers to the download URL. Each
// answer must be what net/http's ServeContent gives (RFC 9110): the whole
// image, exactly the ranges asked for, or 416; never a 500 or other bytes.
func TestRanges(t *testing.T) {
	s := startSilo(t, server.Config{BlobAccess: server.BlobProxy}) // Silo's own /v2/blob/
	tok := s.User(t, "alice", false)
	f := writeSIF(t, t.TempDir(), "app.sif", siftest.Options{Size: 300 << 10, Seed: 100})
	whole := f.read(t)
	push(t, newClient(t, "apptainer", s.URL, tok, nil), f, "alice/tools/app", "amd64", "v1")
	loc := downloadURL(t, s, "", "alice/tools/app:v1")
	size := int64(len(whole))

	// want lists the byte ranges [from, to] a 206 must carry; nil means
	// the whole image with 200; ok416 also accepts a 416.
	for _, tc := range []struct {
		rng   string
		want  [][2]int64
		ok416 bool
	}{
		{"", nil, false},
		{"bytes=0-99", [][2]int64{{0, 99}}, false},
		{"bytes=100-", [][2]int64{{100, size - 1}}, false},
		{"bytes=-100", [][2]int64{{size - 100, size - 1}}, false},
		{"bytes=1000-999999999999", [][2]int64{{1000, size - 1}}, false},
		{"bytes=0-9,20-29", [][2]int64{{0, 9}, {20, 29}}, false},
		{"bytes=0-0,-1", [][2]int64{{0, 0}, {size - 1, size - 1}}, false},
		{"bytes=abc", nil, true},
		{"bytes=", nil, true},
		{"bytes=-", nil, true},
		{"bytes=10-5", nil, true},
		{"bytes=-0", nil, true},
		{"bytes=999999999999-", nil, true},
		{fmt.Sprintf("bytes=%d-", size), nil, true},
		{"bytes=1-2-3", nil, true},
		{"bytes=--5", nil, true},
		{"items=0-9", nil, true},
		{"bytes=0-9,abc", nil, true},
		{"bytes=99999999999999999999999-", nil, true},
	} {
		name := tc.rng
		if name == "" {
			name = "no Range"
		}
		t.Run(name, func(t *testing.T) {
			var res *response
			if tc.rng == "" {
				res = call(t, "GET", loc, "", nil)
			} else {
				res = call(t, "GET", loc, "", nil, "Range", tc.rng)
			}
			switch {
			case res.Status == http.StatusRequestedRangeNotSatisfiable && tc.ok416:
				if bytes.Contains(res.Body, whole[:64]) || len(res.Body) > 512 {
					t.Errorf("416 with a body of %d bytes that looks like the image", len(res.Body))
				}
			case res.Status == http.StatusOK && (tc.want == nil):
				checkWhole(t, res, whole)
			case res.Status == http.StatusPartialContent && len(tc.want) == 1:
				from, to := tc.want[0][0], tc.want[0][1]
				if cr := res.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", from, to, size) {
					t.Errorf("Content-Range %q, want bytes %d-%d/%d", cr, from, to, size)
				}
				if !bytes.Equal(res.Body, whole[from:to+1]) {
					t.Errorf("206 body of %d bytes is not bytes %d-%d", len(res.Body), from, to)
				}
			case res.Status == http.StatusPartialContent && len(tc.want) > 1:
				checkMultipart(t, res, whole, tc.want)
			default:
				t.Errorf("Range %q: status %d (body %.200q); want %v", tc.rng, res.Status, res.Body, tc.want)
			}
		})
	}

	t.Run("HEAD", func(t *testing.T) {
		res := call(t, "HEAD", loc, "", nil)
		if res.Status != http.StatusOK || res.Header.Get("Content-Length") != strconv.FormatInt(size, 10) || len(res.Body) != 0 {
			t.Errorf("HEAD: status %d Content-Length %q body %d bytes", res.Status, res.Header.Get("Content-Length"), len(res.Body))
		}
	})

	t.Run("concurrent ranges", func(t *testing.T) {
		// Many ranged readers of one blob at once, as the clients' workers are.
		var wg sync.WaitGroup
		for i := int64(0); i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from, to := i*size/8, (i+1)*size/8-1
				req, _ := http.NewRequest("GET", loc, nil)
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
				res, err := rawClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusPartialContent || !bytes.Equal(b, whole[from:to+1]) {
					t.Errorf("range %d-%d: status %d, %d bytes", from, to, res.StatusCode, len(b))
				}
			}()
		}
		wg.Wait()
	})
}

// checkWhole checks a 200 carries exactly the image, with the headers the
// design promises (Content-Length, ETag, Digest).
func checkWhole(t *testing.T, res *response, whole []byte) {
	t.Helper()
	if !bytes.Equal(res.Body, whole) {
		t.Errorf("200 body of %d bytes is not the image (%d bytes)", len(res.Body), len(whole))
	}
	sum := sha256.Sum256(whole)
	if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(whole)) {
		t.Errorf("Content-Length %q, want %d", cl, len(whole))
	}
	if d := res.Header.Get("Digest"); d != "sha-256="+base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("Digest %q", d)
	}
	if et := res.Header.Get("ETag"); !strings.Contains(et, fmt.Sprintf("%x", sum)) {
		t.Errorf("ETag %q does not name the digest", et)
	}
}

// checkMultipart checks a multipart/byteranges 206 holds exactly want.
func checkMultipart(t *testing.T, res *response, whole []byte, want [][2]int64) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q for a multi-range 206", res.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(res.Body), params["boundary"])
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			if i != len(want) {
				t.Errorf("%d parts, want %d", i, len(want))
			}
			return
		}
		if err != nil || i >= len(want) {
			t.Fatalf("part %d: %v", i, err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		from, to := want[i][0], want[i][1]
		if cr := p.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", from, to, len(whole)) || !bytes.Equal(b, whole[from:to+1]) {
			t.Errorf("part %d: Content-Range %q, %d bytes; want bytes %d-%d", i, cr, len(b), from, to)
		}
	}
}

// clock is a settable time for the server.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestSignedURLs: download and upload URLs work only as signed and only
// until they expire; anything else is a 404.
func TestSignedURLs(t *testing.T) {
	clk := &clock{now: time.Now()}
	s := startSilo(t, server.Config{Now: clk.Now, BlobAccess: server.BlobProxy}) // Silo's own signed URLs
	tok := s.User(t, "alice", false)
	dir := t.TempDir()
	f := writeSIF(t, dir, "app.sif", siftest.Options{Seed: 110})
	other := writeSIF(t, dir, "other.sif", siftest.Options{Seed: 111})
	c := newClient(t, "apptainer", s.URL, tok, nil)
	push(t, c, f, "alice/tools/app", "amd64", "v1")
	push(t, c, other, "alice/tools/other", "amd64", "v1")

	// tamper returns u with its query changed by edit.
	tamper := func(t *testing.T, u string, edit func(q url.Values)) string {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		q := p.Query()
		edit(q)
		p.RawQuery = q.Encode()
		return p.String()
	}
	flip := func(s string) string {
		if s == "" {
			return "0"
		}
		b := []byte(s)
		b[len(b)/2] ^= 1
		return string(b)
	}

	t.Run("download", func(t *testing.T) {
		loc := downloadURL(t, s, tok, "alice/tools/app:v1")
		checkWhole(t, call(t, "GET", loc, "", nil), f.read(t))
		exp, _ := strconv.ParseInt(mustQuery(t, loc).Get("expires"), 10, 64)
		bad := map[string]string{
			"signature altered": tamper(t, loc, func(q url.Values) { q.Set("sig", flip(q.Get("sig"))) }),
			"no signature":      tamper(t, loc, func(q url.Values) { q.Del("sig") }),
			"expiry extended":   tamper(t, loc, func(q url.Values) { q.Set("expires", strconv.FormatInt(exp+3600, 10)) }),
			"no expiry":         tamper(t, loc, func(q url.Values) { q.Del("expires") }),
			"another blob":      strings.Replace(loc, f.Digest, other.Digest, 1),
			"not a digest":      strings.Replace(loc, f.Digest, "meta.db", 1),
			"upper-case digest": strings.Replace(loc, f.Digest, strings.ToUpper(f.Digest), 1),
		}
		for name, u := range bad {
			wantError(t, name, call(t, "GET", u, "", nil), http.StatusNotFound)
		}
		clk.Add(2 * time.Hour)
		wantError(t, "expired", call(t, "GET", loc, "", nil), http.StatusNotFound, "expired")
		wantError(t, "expired, ranged", call(t, "GET", loc, "", nil, "Range", "bytes=0-9"), http.StatusNotFound, "expired")
		// A new pull gets a fresh URL that works.
		checkWhole(t, call(t, "GET", downloadURL(t, s, tok, "alice/tools/app:v1"), "", nil), f.read(t))
	})

	t.Run("upload", func(t *testing.T) {
		next := writeSIF(t, dir, "next.sif", siftest.Options{Seed: 112})
		id := createImage(t, s, tok, "alice/tools/next", next.Digest)
		var up struct {
			UploadURL string `json:"uploadURL"`
		}
		data(t, "start upload", call(t, "POST", s.URL+"/v2/imagefile/"+id, tok, map[string]any{"filesize": next.Size, "sha256sum": next.Digest}), &up)
		body := next.read(t)
		before := s.state(t)
		for name, u := range map[string]string{
			"signature altered": tamper(t, up.UploadURL, func(q url.Values) { q.Set("sig", flip(q.Get("sig"))) }),
			"as a part":         tamper(t, up.UploadURL, func(q url.Values) { q.Set("part", "1") }),
			"another upload":    strings.Replace(up.UploadURL, "/v2/upload/", "/v2/upload/0", 1),
		} {
			wantError(t, name, call(t, "PUT", u, "", body), http.StatusNotFound)
		}
		s.assertState(t, before)
		clk.Add(2 * time.Hour)
		wantError(t, "expired", call(t, "PUT", up.UploadURL, "", body), http.StatusNotFound, "expired")
		s.assertState(t, before)
	})
}

func mustQuery(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

package s3

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/blob/blobtest"
	"github.com/siloreg/silo/internal/blob/s3/s3test"
)

func newStore(t *testing.T, hc *http.Client) *Store {
	t.Helper()
	endpoint, bucket, ak, sk := s3test.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", ak)
	t.Setenv("AWS_SECRET_ACCESS_KEY", sk)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	s, err := New(t.Context(), Config{Bucket: bucket, Prefix: "silo", Endpoint: endpoint, PathStyle: true, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t, nil) })
}

// counter counts requests by method and the S3 operation's query marker.
type counter struct {
	mu   sync.Mutex
	reqs []string
	sent int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	op := r.Method
	if r.Header.Get("X-Amz-Copy-Source") != "" {
		op += " copy"
	}
	for _, q := range []string{"list-type", "uploads", "uploadId", "partNumber", "delete"} {
		if r.URL.Query().Has(q) {
			op += " " + q
		}
	}
	c.reqs = append(c.reqs, op)
	c.sent += max(r.ContentLength, 0)
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *counter) reset() (reqs []string, sent int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reqs, sent = c.reqs, c.sent
	c.reqs, c.sent = nil, 0
	return reqs, sent
}

// TestAlignedPartsNoBytesThroughCommit uploads 130 MiB in 64 MiB parts and
// checks Commit sends no blob bytes itself: parts are server-side copies.
func TestAlignedPartsNoBytesThroughCommit(t *testing.T) {
	c := &counter{}
	s := newStore(t, &http.Client{Transport: c})
	ctx := t.Context()
	const part = 64 << 20
	data := make([]byte, 130<<20)
	rand.Read(data)
	id, err := s.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += part {
		if _, err := s.WriteAt(ctx, id, int64(off), bytes.NewReader(data[off:min(off+part, len(data))])); err != nil {
			t.Fatal(err)
		}
	}
	c.reset()
	sum := sha256.Sum256(data)
	d := hex.EncodeToString(sum[:])
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	reqs, sent := c.reset()
	t.Logf("Commit: %d requests: %v", len(reqs), reqs)
	if sent > 1<<20 {
		t.Errorf("Commit sent %d bytes of its own; want only requests, the copies server-side", sent)
	}
	for _, r := range reqs {
		if r == "GET" || r == "PUT uploadId partNumber" {
			t.Errorf("Commit moved blob bytes through Silo: %q", r)
		}
	}
	r, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, equal %v, err %v", len(got), bytes.Equal(got, data), err)
	}
}

func put(t *testing.T, s *Store, data []byte) string {
	t.Helper()
	id, err := s.NewUpload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt(t.Context(), id, 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	d := hex.EncodeToString(sum[:])
	if err := s.Commit(t.Context(), id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPresignGetRange(t *testing.T) {
	s := newStore(t, nil)
	data := []byte(strings.Repeat("0123456789", 1000))
	d := put(t, s, data)
	u, err := s.PresignGet(t.Context(), d, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", u, nil)
	req.Header.Set("Range", "bytes=105-114")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || string(body) != string(data[105:115]) {
		t.Fatalf("GET with Range = %d %q, want 206 %q", resp.StatusCode, body, data[105:115])
	}
}

func TestPresignPart(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	data := []byte(strings.Repeat("abcdefgh", 4000))
	id, err := s.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.PresignPart(ctx, id, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "PUT", u, bytes.NewReader(data))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT to presigned part URL = %d", resp.StatusCode)
	}
	sum := sha256.Sum256(data)
	d := hex.EncodeToString(sum[:])
	if err := s.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if info, err := s.Stat(ctx, d); err != nil || info.Size != int64(len(data)) {
		t.Fatalf("Stat = %v, %v", info, err)
	}
}

// TestTwoNodes continues one upload from a second Store, as another Silo
// process behind the same load balancer would.
func TestTwoNodes(t *testing.T) {
	a := newStore(t, nil)
	b, err := New(t.Context(), Config{Bucket: a.bucket, Prefix: "silo", Endpoint: *a.c.Options().BaseEndpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	data := make([]byte, 7<<20+3)
	rand.Read(data)
	id, err := a.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	half := len(data) / 2
	if _, err := a.WriteAt(ctx, id, 0, bytes.NewReader(data[:half])); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteAt(ctx, id, int64(half), bytes.NewReader(data[half:])); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	d := hex.EncodeToString(sum[:])
	if err := b.Commit(ctx, id, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	r, err := a.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back via the first node: equal %v, %v", bytes.Equal(got, data), err)
	}
}

// TestWholeSegmentCommitIsOneCopy checks that an upload stored as one
// object becomes its blob by one CopyObject, not a multipart upload, and
// that a segment longer than the blob is not copied whole.
func TestWholeSegmentCommitIsOneCopy(t *testing.T) {
	c := &counter{}
	s := newStore(t, &http.Client{Transport: c})
	ctx := t.Context()
	data := make([]byte, 6<<20+5)
	rand.Read(data)
	for _, size := range []int{len(data), len(data) - 1<<20} {
		id, err := s.NewUpload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriteAt(ctx, id, 0, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		c.reset()
		sum := sha256.Sum256(data[:size])
		d := hex.EncodeToString(sum[:])
		if err := s.Commit(ctx, id, d, int64(size)); err != nil {
			t.Fatal(err)
		}
		reqs, _ := c.reset()
		copies, multipart := 0, 0
		for _, r := range reqs {
			if r == "PUT copy" {
				copies++
			}
			if r == "POST uploads" {
				multipart++
			}
		}
		if whole := size == len(data); whole && (copies != 1 || multipart != 0) || !whole && copies != 0 {
			t.Errorf("Commit of %d of %d bytes: %v", size, len(data), reqs)
		}
		r, err := s.Open(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data[:size]) {
			t.Fatalf("read back %d bytes of %d, err %v", len(got), size, err)
		}
	}
}

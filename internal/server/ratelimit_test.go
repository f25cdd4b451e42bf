package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	aclient "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// clock is a settable time for the server; it moves only when told.
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

// hit makes one request and returns its status and Retry-After. Basic
// auth carries the token as the password, as apptainer's OCI client does.
func hit(t *testing.T, url, token string, basic bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case token != "" && basic:
		req.SetBasicAuth("user", token)
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusTooManyRequests {
		var body struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.Error.Code != 429 || body.Error.Message == "" {
			t.Errorf("429 body: %+v, %v; want the JSON error envelope", body, err)
		}
	}
	return res.StatusCode, res.Header.Get("Retry-After")
}

// TestRateLimitIP: the N+1th request of a minute from one address is a
// 429 saying when to come back; health checks and signed blob URLs are
// never counted; the next minute starts afresh.
func TestRateLimitIP(t *testing.T) {
	// 40s into a minute: 20s to the next window.
	clk := &clock{now: time.Date(2025, 3, 4, 5, 6, 40, 0, time.UTC)}
	const limit = 30
	in := servertest.Start(t, server.Config{Now: clk.Now, RateLimitIP: limit})

	// A push takes a dozen requests; do it in a minute of its own.
	sif := filepath.Join(t.TempDir(), "a.sif")
	if _, _, err := siftest.Write(sif, siftest.Options{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	lc, err := aclient.NewClient(&aclient.Config{BaseURL: in.URL, AuthToken: in.AdminToken})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(sif)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := lc.UploadImage(context.Background(), f, "admin/tools/app", "amd64", []string{"v1"}, "", nil); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)

	// The pull's redirect is one counted request; the signed URL it
	// points at is not counted, however often it is fetched.
	req, err := http.NewRequest(http.MethodGet, in.URL+"/v1/imagefile/admin/tools/app:v1?arch=amd64", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	blobURL := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || blobURL == "" {
		t.Fatalf("pull: %d, Location %q", res.StatusCode, blobURL)
	}
	for i := 2; i <= limit; i++ {
		if st, _ := hit(t, in.URL+"/version", "", false); st != http.StatusOK {
			t.Fatalf("request %d of %d: status %d", i, limit, st)
		}
	}
	st, retry := hit(t, in.URL+"/version", "", false)
	if st != http.StatusTooManyRequests || retry != "20" {
		t.Errorf("request %d: status %d Retry-After %q; want 429 and 20", limit+1, st, retry)
	}
	// Other credentials from the same address are still the same address.
	if st, _ := hit(t, in.URL+"/version", in.AdminToken, false); st != http.StatusTooManyRequests {
		t.Errorf("with a token from the limited address: %d", st)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if st, _ := hit(t, in.URL+p, "", false); st != http.StatusOK {
			t.Errorf("%s while limited: %d", p, st)
		}
	}
	for range 5 {
		if st, _ := hit(t, blobURL, "", false); st != http.StatusOK {
			t.Fatalf("signed blob URL while limited: %d", st)
		}
	}

	// 19.5s later the window has half a second left: retry in 1.
	clk.Add(19*time.Second + 500*time.Millisecond)
	if st, retry := hit(t, in.URL+"/version", "", false); st != http.StatusTooManyRequests || retry != "1" {
		t.Errorf("at the end of the window: %d Retry-After %q; want 429 and 1", st, retry)
	}
	clk.Add(time.Second)
	if st, _ := hit(t, in.URL+"/version", "", false); st != http.StatusOK {
		t.Errorf("next window: %d", st)
	}
}

// TestRateLimitToken: each token has its own budget, whichever way it is
// sent; requests without one are not held to it. The counter is kept
// under the token's hash, never the token.
func TestRateLimitToken(t *testing.T) {
	clk := &clock{now: time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC)}
	const limit = 3
	in := servertest.Start(t, server.Config{Now: clk.Now, RateLimitToken: limit})
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)

	for i := 1; i <= limit; i++ {
		if st, _ := hit(t, in.URL+"/v1/token-status", alice, i%2 == 0); st != http.StatusOK {
			t.Fatalf("alice request %d: %d", i, st)
		}
	}
	for _, basic := range []bool{false, true} {
		if st, retry := hit(t, in.URL+"/v1/token-status", alice, basic); st != http.StatusTooManyRequests || retry != "60" {
			t.Errorf("alice over the limit (basic %t): %d Retry-After %q; want 429 and 60", basic, st, retry)
		}
	}
	if st, _ := hit(t, in.URL+"/v1/token-status", bob, false); st != http.StatusOK {
		t.Errorf("bob, with his own budget: %d", st)
	}
	for range limit + 1 {
		if st, _ := hit(t, in.URL+"/version", "", false); st != http.StatusOK {
			t.Fatalf("anonymous, with no token limit: %d", st)
		}
	}

	// The store counted alice's requests under her token's sha256, and
	// nothing under the token itself.
	window := clk.Now().Truncate(time.Minute)
	ctx := context.Background()
	if n, err := in.Server.Meta.Hit(ctx, "token:"+auth.HashToken(alice), window); err != nil || n != limit+3 {
		t.Errorf("alice's counter: %d, %v; want %d", n, err, limit+3)
	}
	if n, err := in.Server.Meta.Hit(ctx, "token:"+alice, window); err != nil || n != 1 {
		t.Errorf("a counter keyed by the secret itself: %d, %v", n, err)
	}

	clk.Add(time.Minute)
	if st, _ := hit(t, in.URL+"/v1/token-status", alice, false); st != http.StatusOK {
		t.Errorf("alice in the next window: %d", st)
	}
}

// TestRateLimitOff: with no limits configured nothing is counted.
func TestRateLimitOff(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	for i := range 100 {
		if st, _ := hit(t, in.URL+"/version", in.AdminToken, false); st != http.StatusOK {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	n, err := in.Server.Meta.Hit(context.Background(), "ip:127.0.0.1", time.Now().Truncate(time.Minute))
	if err != nil || n != 1 {
		t.Errorf("with no limit the address was counted: %d, %v", n, err)
	}
}

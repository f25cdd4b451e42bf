package silo_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/server/servertest"
)

// clock is the server's clock, moved by hand.
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

// reply is one HTTP answer: status, headers, body.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// send sends method path (from the server's root) through hc with a
// Bearer token (none when empty) and body (nil: none; a string as it is;
// anything else as JSON), after applying edit to the request.
func send(t *testing.T, hc *http.Client, in *servertest.Instance, method, path, token string, body any, edit ...func(*http.Request)) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, in.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, f := range edit {
		f(req)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

// ok checks the status and decodes the body into v (unless nil).
func (r reply) ok(t *testing.T, what string, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s: decoding %s: %v", what, r.body, err)
		}
	}
}

// wantErr checks r is the API's error envelope with status and a message
// containing each of want.
func (r reply) wantErr(t *testing.T, what string, status int, want ...string) {
	t.Helper()
	var eb silo.ErrorBody
	if r.status != status || json.Unmarshal(r.body, &eb) != nil || eb.Error.Code != status || eb.Error.Message == "" {
		t.Errorf("%s: status %d body %s; want %d in the error envelope", what, r.status, r.body, status)
		return
	}
	for _, w := range want {
		if !strings.Contains(eb.Error.Message, w) {
			t.Errorf("%s: message %q does not mention %q", what, eb.Error.Message, w)
		}
	}
}

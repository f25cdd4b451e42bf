package authz_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// exchange is one request a probe made and the answer it got, whole: the
// leak scan reads every answer, and the hiding check compares them.
type exchange struct {
	Method  string
	URL     string // path and query, unescaped
	ReqBody []byte // JSON bodies only; image bytes are not names
	Status  int    // -1 when there was no answer
	Header  http.Header
	Body    []byte
}

func (e exchange) String() string {
	return fmt.Sprintf("%s %s → %d %s", e.Method, e.URL, e.Status, abbrev(e.Body))
}

// abbrev shortens a body for a failure message.
func abbrev(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// recorder is an http.RoundTripper that keeps every exchange: the real
// client is given it as its transport, so that what it sent and got is
// seen as it was, including the answers it turns into errors.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	ex   []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	u, err := url.PathUnescape(req.URL.RequestURI())
	if err != nil {
		u = req.URL.RequestURI()
	}
	e := exchange{Method: req.Method, URL: u, Status: -1}
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if json.Valid(b) {
			e.ReqBody = b
		}
		// A copy, since a RoundTripper must not change the request it is given.
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	res, err := r.base.RoundTrip(req)
	if err == nil {
		b, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(b))
		if rerr != nil {
			err = rerr
		}
		e.Status, e.Header, e.Body = res.StatusCode, res.Header.Clone(), b
	}
	r.mu.Lock()
	r.ex = append(r.ex, e)
	r.mu.Unlock()
	return res, err
}

// since returns the exchanges after the first n.
func (r *recorder) since(n int) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange(nil), r.ex[n:]...)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ex)
}

// last is the last exchange, or a zero one with Status -1.
func (r *recorder) last() exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ex) == 0 {
		return exchange{Status: -1}
	}
	return r.ex[len(r.ex)-1]
}

package server

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/api/share"

	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/meta"
)

// rateWindow is the length of a rate-limit window. Windows are fixed (they
// start on the minute), so every server sharing the metadata store counts
// into the same one without talking to the others.
const rateWindow = time.Minute

// rateLimiter refuses requests beyond a number per window from one client
// address (perIP) and with one credential (perToken); 0 turns either off.
// The counters live in the metadata store, not in the process, so a
// client spreading its requests over several servers is still counted once.
type rateLimiter struct {
	meta     meta.Store
	perIP    int64
	perToken int64
	now      func() time.Time
	log      *slog.Logger
}

// rateExempt reports whether a path is not counted: health checks, which
// load balancers poll, and signed upload and download URLs, which carry
// their own short-lived credential and which one parallel download
// requests hundreds of times (one per range), and share links, whose
// secret is their credential.
func rateExempt(path string) bool {
	return path == "/healthz" || path == "/readyz" ||
		strings.HasPrefix(path, "/v2/upload/") || strings.HasPrefix(path, "/v2/blob/") ||
		strings.HasPrefix(path, share.Prefix)
}

// tokenKey is the counter key for the credential a request carries, ""
// for none. It is the secret's sha256, never the secret: the counters
// table is not a place to keep credentials.
func tokenKey(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, _ := strings.Cut(h, " ")
	var secret string
	switch strings.ToLower(scheme) {
	case "bearer":
		secret = strings.TrimSpace(rest)
	case "basic":
		_, secret, _ = r.BasicAuth()
	}
	if secret == "" {
		return ""
	}
	return "token:" + auth.HashToken(secret)
}

// wrap counts each request against its address and, if it has one, its
// credential, and answers 429 once either is over its limit. Every
// request counts, refused ones included, so a client that ignores
// Retry-After stays refused until the window ends.
//
// Requests from behind one NAT or proxy share an address; set the per-IP
// limit with that in mind (the per-token limit tells users apart).
func (l *rateLimiter) wrap(next http.Handler) http.Handler {
	if l.perIP <= 0 && l.perToken <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rateExempt(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		now := l.now()
		window := now.UTC().Truncate(rateWindow)
		if l.perIP > 0 && l.over(r, "ip:"+auth.Remote(r), l.perIP, window) {
			l.refuse(w, now, window, l.perIP, "from your address")
			return
		}
		if key := tokenKey(r); l.perToken > 0 && key != "" && l.over(r, key, l.perToken, window) {
			l.refuse(w, now, window, l.perToken, "with your token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// over counts one request against key and reports whether that passes
// limit. If the store cannot count, the request goes through: a limiter
// that refused everything while the database hiccups would turn a slow
// moment into an outage.
func (l *rateLimiter) over(r *http.Request, key string, limit int64, window time.Time) bool {
	n, err := l.meta.Hit(r.Context(), key, window)
	if err != nil {
		if r.Context().Err() == nil {
			l.log.Error("counting a request for the rate limit; letting it through", "err", err)
		}
		return false
	}
	return n > limit
}

// refuse answers 429 with the seconds until the next window in
// Retry-After, in the JSON error envelope every Silo API uses.
func (l *rateLimiter) refuse(w http.ResponseWriter, now, window time.Time, limit int64, whose string) {
	wait := window.Add(rateWindow).Sub(now)
	secs := int64((wait + time.Second - 1) / time.Second) // rounded up: retrying early is refused again
	secs = max(secs, 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeError(w, http.StatusTooManyRequests, "too many requests "+whose+": at most "+strconv.FormatInt(limit, 10)+
		" a minute; retry in "+strconv.FormatInt(secs, 10)+"s")
}

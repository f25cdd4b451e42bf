package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/api/share"
)

// statusWriter records what a handler answered, for the request log.
// It passes ReadFrom through so that file downloads keep using sendfile.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests gives each request an id (echoed as X-Request-Id) and logs
// one line when it ends.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(sw, r)
		log.Info("request", "id", id, "method", r.Method, "path", redact(r.URL.Path), "status", sw.status,
			"bytes", sw.bytes, "ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
	})
}

// refuseUncleanPaths answers 400 for a path with empty, "." or ".."
// segments. Left to http.ServeMux, such a path is redirected to its
// cleaned form, and clients repeat the request there: DELETE of
// "alice//app" would delete "alice/app", a different image.
func refuseUncleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		clean := path.Clean(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if clean != p {
			writeError(w, http.StatusBadRequest, "invalid path "+strconv.Quote(p)+": empty, '.' or '..' segments")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// redact hides the secret of a share link path (/s/<secret>/file): the
// secret is the whole credential, and logs are read by more people than
// links are sent to.
func redact(p string) string {
	rest, ok := strings.CutPrefix(p, share.Prefix)
	if !ok {
		return p
	}
	if _, file, found := strings.Cut(rest, "/"); found {
		return share.Prefix + "…/" + file
	}
	return share.Prefix + "…"
}

// writeError answers status with msg in the JSON error envelope every Silo
// API uses, for the answers the server gives before any API sees the
// request.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg}})
}

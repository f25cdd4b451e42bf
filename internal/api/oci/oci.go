// Package oci serves the OCI distribution API under /v2/: pull, push
// (monolithic, POST+PUT, chunked and one-PATCH uploads, all streamed),
// cross-repository mounts, tag lists, the referrers API and deletes, with
// Docker-style bearer-token auth from /v2/token. A repository name
// [entity/][collection/]container is a Silo container; SIF artifacts are
// Silo images. It only translates: every rule is internal/registry's.
package oci

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/api/library"
	"github.com/siloreg/silo/internal/api/status"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/registry"
)

// Config is what the API needs besides the registry.
type Config struct {
	Registry *registry.Registry
	Auth     *auth.Authenticator
	// PublicURL is the base URL clients reach this server at; empty means
	// "the scheme and Host of each request".
	PublicURL string
	// TokenKey signs the short-lived tokens of /v2/token; every server of
	// a registry must share it.
	TokenKey []byte
	// TokenTTL is how long such a token works; default 5 minutes.
	TokenTTL time.Duration
	// Redirect makes /v1/oci-redirect send Apptainer's library client to
	// /v2/; off, it answers 404 and the client speaks the library API.
	Redirect bool
	// Presign, when set, makes blob GETs redirect (307) to the blob
	// store's own presigned URLs after the access checks, so the bytes do
	// not pass through Silo (--blob-access redirect with S3).
	Presign blob.Presigner
	// PresignTTL is how long such a URL works; default 1h.
	PresignTTL time.Duration
	Log        *slog.Logger
	Now        func() time.Time
}

// API is the OCI distribution API handler.
type API struct {
	cfg Config
	reg *registry.Registry
	log *slog.Logger
}

// New returns the OCI API.
func New(cfg Config) *API {
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 5 * time.Minute
	}
	if cfg.PresignTTL == 0 {
		cfg.PresignTTL = time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &API{cfg: cfg, reg: cfg.Registry, log: cfg.Log}
}

// route is an OCI request's path, taken apart.
type route struct {
	name   string // repository
	kind   string // "manifests", "blobs", "uploads", "tags", "referrers"
	target string // reference, digest or upload id ("" for a new upload)
}

// parse takes an OCI path apart. Repository names may themselves contain
// "blobs" or "manifests", so the last keyword wins. The library API's
// /v2/ paths never match: their second segment is "imagefile", "upload",
// "blob" or "tags" followed by an id, digest or name, and only the
// patterns below end that way with the keywords in these places.
func parse(path string) (route, bool) {
	p, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}, false
	}
	if name, ok := strings.CutSuffix(p, "/tags/list"); ok && name != "" {
		return route{name: name, kind: "tags"}, true
	}
	if i := strings.LastIndex(p, "/blobs/uploads/"); i > 0 {
		rest := p[i+len("/blobs/uploads/"):]
		if !strings.Contains(rest, "/") {
			return route{name: p[:i], kind: "uploads", target: rest}, true
		}
	}
	for _, kind := range []string{"manifests", "blobs", "referrers"} {
		if i := strings.LastIndex(p, "/"+kind+"/"); i > 0 {
			rest := p[i+len(kind)+2:]
			if rest != "" && !strings.Contains(rest, "/") {
				return route{name: p[:i], kind: kind, target: rest}, true
			}
		}
	}
	return route{}, false
}

// Wrap returns a handler that serves OCI requests and passes every other
// request to next. It goes in front of the router rather than on it
// because OCI paths have the repository name (any number of segments) in
// the middle, which ServeMux patterns cannot express, and some collide
// with the library API's patterns (PUT /v2/imagefile/manifests/latest for
// a repository named "imagefile").
func (a *API) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/" || r.URL.Path == "/v2":
			a.base(w, r)
			return
		case r.URL.Path == "/v2/token":
			a.token(w, r)
			return
		case r.URL.Path == "/v1/oci-redirect" && a.cfg.Redirect && r.Method == http.MethodGet:
			a.redirect(w, r)
			return
		}
		rt, ok := parse(r.URL.Path)
		if !ok || libraryPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		a.serve(w, r, rt)
	})
}

// libraryPath reports the library API's own /v2/ paths, whose second
// segment is a numeric image id: /v2/imagefile/<id>/<action>.
func libraryPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/v2/imagefile/")
	if !ok {
		return false
	}
	id, _, _ := strings.Cut(rest, "/")
	return id != "" && strings.Trim(id, "0123456789") == ""
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, rt route) {
	switch rt.kind {
	case "tags":
		a.only(w, r, rt, a.tags, http.MethodGet, http.MethodHead)
	case "manifests":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			a.getManifest(w, r, rt)
		case http.MethodPut:
			a.putManifest(w, r, rt)
		case http.MethodDelete:
			a.deleteManifest(w, r, rt)
		default:
			methodNotAllowed(w, "GET, HEAD, PUT, DELETE")
		}
	case "blobs":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			a.getBlob(w, r, rt)
		case http.MethodDelete:
			a.deleteBlob(w, r, rt)
		default:
			methodNotAllowed(w, "GET, HEAD, DELETE")
		}
	case "uploads":
		a.upload(w, r, rt)
	case "referrers":
		a.only(w, r, rt, a.referrers, http.MethodGet)
	}
}

func (a *API) only(w http.ResponseWriter, r *http.Request, rt route, h func(http.ResponseWriter, *http.Request, route), methods ...string) {
	for _, m := range methods {
		if r.Method == m {
			h(w, r, rt)
			return
		}
	}
	methodNotAllowed(w, strings.Join(methods, ", "))
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeErr(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "method not allowed; use "+allow)
}

// baseURL is where clients reach this server, without a trailing slash.
func (a *API) baseURL(r *http.Request) string { return library.BaseURL(a.cfg.PublicURL, r) }

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

func writeErr(w http.ResponseWriter, code int, ociCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(struct {
		Errors []apiError `json:"errors"`
	}{[]apiError{{Code: ociCode, Message: msg}}})
}

// fail answers err with the spec's status and code. notFound is the code
// for a missing thing where the registry did not choose one; invalid the
// code for bad input likewise.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error, notFound, invalid string) {
	var oe *registry.OCIError
	code := ""
	if errors.As(err, &oe) {
		code = oe.Code
	}
	st := status.Of(err)
	switch registry.KindOf(err) {
	case registry.Invalid:
		if code == "" {
			code = invalid
		}
		if code == registry.CodeRangeInvalid {
			st, code = http.StatusRequestedRangeNotSatisfiable, registry.CodeBlobUploadInvalid
		}
	case registry.NotFound:
		if code == "" {
			code = notFound
		}
	case registry.Unauthorized:
		code = "UNAUTHORIZED"
	case registry.Forbidden, registry.Conflict:
		st, code = http.StatusForbidden, "DENIED"
	case registry.DigestMismatch:
		st, code = http.StatusBadRequest, registry.CodeDigestInvalid
	case registry.TooLarge:
		if code == "" {
			code = registry.CodeSizeInvalid
		}
	case registry.Unavailable:
		code = "UNAVAILABLE"
	default:
		a.log.Error("oci request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeErr(w, http.StatusInternalServerError, "UNKNOWN", "internal error; the server log has details")
		return
	}
	writeErr(w, st, code, err.Error())
}

// Package library serves the Sylabs library API: what `apptainer` and
// `singularity` speak for library:// push, pull, search and delete, and
// what `remote login` and `remote status` check. The real clients
// (github.com/apptainer/container-library-client and
// github.com/sylabs/scs-library-client) are the specification;
// ../shared/protocols/library-api.md summarises them. This package only
// translates: every decision is internal/registry's.
package library

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/api/status"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// APIVersion makes clients use the v2 upload (single PUT and multipart)
// and the arch-aware v2 tags.
const APIVersion = "2.0.0-alpha.2"

// Config is what the API needs besides the registry.
type Config struct {
	Registry *registry.Registry
	Auth     *auth.Authenticator
	// PublicURL is the base URL clients reach this server at; empty means
	// "the scheme and Host of each request".
	PublicURL string
	// Version is Silo's own version, shown by `remote status`.
	Version string
	// PartSize is the multipart upload part size; default 64 MiB.
	PartSize int64
	// DownloadTTL is how long a signed download URL works; default 1h.
	DownloadTTL time.Duration
	// SigningKey signs download URLs; all servers of a registry share it.
	SigningKey []byte
	// Presign, when set, makes downloads redirect to the blob store and
	// uploads go straight to it, through URLs the store presigns, rather
	// than through Silo's own signed /v2/blob/ and /v2/upload/ URLs. The
	// access checks, download counts and digest checks are the same.
	Presign blob.Presigner
	Log     *slog.Logger
	Now     func() time.Time
}

// API is the library API handler.
type API struct {
	cfg Config
	reg *registry.Registry
	log *slog.Logger
}

// New returns the library API.
func New(cfg Config) *API {
	if cfg.PartSize == 0 {
		cfg.PartSize = 64 << 20
	}
	if cfg.DownloadTTL == 0 {
		cfg.DownloadTTL = time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &API{cfg: cfg, reg: cfg.Registry, log: cfg.Log}
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /assets/config/config.prod.json", a.discovery)
	mux.HandleFunc("GET /version", a.version)
	mux.HandleFunc("GET /v1/token-status", a.tokenStatus)
	mux.HandleFunc("GET /v1/rbac/users/current", a.currentUser)
	// Reached only when the OCI API's redirect is off (--oci-redirect=false;
	// the OCI API answers it otherwise): 404 sends clients down the library
	// path (any other answer would commit them to OCI).
	mux.HandleFunc("GET /v1/oci-redirect", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "OCI redirect is not available on this server")
	})

	mux.HandleFunc("GET /v1/entities/{name}", a.getEntity)
	mux.HandleFunc("POST /v1/entities", a.createEntity)
	mux.HandleFunc("GET /v1/collections/{entity}/{name}", a.getCollection)
	mux.HandleFunc("POST /v1/collections", a.createCollection)
	mux.HandleFunc("GET /v1/containers/{entity}/{collection}/{name}", a.getContainer)
	mux.HandleFunc("POST /v1/containers", a.createContainer)
	mux.HandleFunc("GET /v1/images/{ref...}", a.getImage)
	mux.HandleFunc("POST /v1/images", a.createImage)
	mux.HandleFunc("DELETE /v1/images/{ref...}", a.deleteImage)

	mux.HandleFunc("GET /v1/tags/{container}", a.getTags(false))
	mux.HandleFunc("POST /v1/tags/{container}", a.setTags(false))
	mux.HandleFunc("GET /v2/tags/{container}", a.getTags(true))
	mux.HandleFunc("POST /v2/tags/{container}", a.setTags(true))

	mux.HandleFunc("POST /v1/imagefile/{id}", a.uploadV1)
	mux.HandleFunc("GET /v1/imagefile/{ref...}", a.download)
	mux.HandleFunc("POST /v2/imagefile/{id}", a.startUpload)
	mux.HandleFunc("POST /v2/imagefile/{id}/_multipart", a.startMultipart)
	mux.HandleFunc("PUT /v2/imagefile/{id}/{action}", a.uploadAction)
	mux.HandleFunc("PUT /v2/upload/{secret}", a.putUpload)
	mux.HandleFunc("GET /v2/blob/{digest}", a.serveBlob)
	mux.HandleFunc("HEAD /v2/blob/{digest}", a.serveBlob)

	mux.HandleFunc("GET /v1/search", a.search)
	// The keyserver is listed in discovery because pull needs one; Silo
	// holds no keys yet, which clients treat as "signer unknown".
	mux.HandleFunc("GET /pks/lookup", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no matching keys found")
	})
}

// baseURL is where clients reach this server, without a trailing slash.
func (a *API) baseURL(r *http.Request) string { return BaseURL(a.cfg.PublicURL, r) }

// BaseURL is where clients reach the server, without a trailing slash:
// publicURL when it is set, else the scheme and Host of r. Every link
// Silo hands out (uploads, downloads, share links) is built on it.
func BaseURL(publicURL string, r *http.Request) string {
	if publicURL != "" {
		return strings.TrimRight(publicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// bearer is the token of a "Bearer" Authorization header, or "".
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// actor resolves the caller, answering 401 itself when credentials are wrong.
func (a *API) actor(w http.ResponseWriter, r *http.Request) (access.Actor, bool) {
	act, err := a.cfg.Auth.Request(r)
	if err != nil {
		if errors.Is(err, auth.ErrInvalidCredentials) {
			// Refused credentials are audited: an expired token in a CI
			// job, or someone trying stolen or guessed ones.
			a.reg.RecordLoginFailure(r.Context(), act.Remote, r.Method+" "+r.URL.Path)
			writeError(w, http.StatusUnauthorized, "invalid or expired token: log in again (apptainer remote login)")
		} else {
			a.fail(w, r, err)
		}
		return access.Anonymous, false
	}
	return act, true
}

// writeJSON sends v inside the {"data": ...} envelope.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writePlain(w, status, map[string]any{"data": v})
}

// writePlain sends v as it is (discovery, rbac/users/current).
func writePlain(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError sends the json-resp error envelope the clients parse.
func writeError(w http.ResponseWriter, status int, msg string) {
	writePlain(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg}})
}

// fail answers err with the status its kind calls for.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := status.Of(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		if errors.Is(err, context.Canceled) {
			return // the client went away; nobody is listening
		}
		a.log.Error("library API", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal server error; the server log has details"
	}
	writeError(w, code, msg)
}

// maxJSONBody bounds request bodies that are JSON, not image bytes.
const maxJSONBody = 1 << 20

// decode reads a JSON body. Clients send none of Content-Type, so none is required.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := json.NewDecoder(body).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// parseRef splits a library path "a/b/c:tag" (1–3 segments; the tag may
// be sha256.<hex>) into a full reference. raw is a path wildcard, which
// net/http has already unescaped once; unescaping it again would let an
// invalid name such as "a%252Fb%252Fc" stand for the valid "a/b/c".
func (a *API) parseRef(raw string) (ref.Ref, error) {
	return ref.Parse(raw, a.reg.Defaults())
}

func (a *API) discovery(w http.ResponseWriter, r *http.Request) {
	base := a.baseURL(r)
	writePlain(w, http.StatusOK, map[string]any{
		// registryUri is the OCI registry behind the library: Silo's own
		// /v2/, where SingularityCE pushes and pulls OCI-SIF images.
		"libraryAPI":  map[string]string{"uri": base, "registryUri": base},
		"keystoreAPI": map[string]string{"uri": base},
		"tokenAPI":    map[string]string{"uri": base},
	})
}

func (a *API) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": a.cfg.Version, "apiVersion": APIVersion})
}

func (a *API) tokenStatus(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	if !act.LoggedIn() {
		writeError(w, http.StatusUnauthorized, "no token given")
		return
	}
	// This is the check `apptainer remote login` and `silo login` make
	// with a token: the closest the library protocol has to a login.
	a.reg.RecordLogin(r.Context(), act, "token check (/v1/token-status)")
	writeJSON(w, http.StatusOK, map[string]string{"status": "valid", "username": act.User.Name})
}

func (a *API) currentUser(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	if !act.LoggedIn() {
		writeError(w, http.StatusUnauthorized, "log in first")
		return
	}
	u := map[string]any{"username": act.User.Name, "email": act.User.Email, "realname": act.User.Name}
	if tok := bearer(r); tok != "" {
		// SingularityCE logs in to registryUri with the user name and
		// this "secret": the caller's own API token, sent back to them.
		u["oidc_user_meta"] = map[string]string{"secret": tok}
	}
	writePlain(w, http.StatusOK, u)
}

// Package sregistry serves the REST API of Singularity Registry Server
// (sregistry) under /api/, so that sregistry-cli (SREGISTRY_CLIENT=registry)
// and sites' scripts keep working against Silo with only their base URL
// changed. sregistry's source (shub/apps/api) and sregistry-cli's
// (sregistry/main/registry) are the specification; docs/protocols/sregistry.md
// records what was learnt from them and where Silo answers differently.
//
// sregistry has no entities: its collections are served as the collections
// of Silo's default entity, so `collection/container:tag` means the same
// image here, to library:// clients (two-part names) and to sregistry-cli.
// Like every protocol package it only translates: each decision is
// internal/registry's.
package sregistry

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/api/library"
	"github.com/siloreg/silo/internal/api/status"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/registry"
)

// Config is what the API needs besides the registry.
type Config struct {
	Registry *registry.Registry
	Auth     *auth.Authenticator
	// PublicURL is the base URL clients reach this server at; empty means
	// "the scheme and Host of each request".
	PublicURL string
	// Name is the registry's name in registry/identity; default "Silo".
	Name string
	// DownloadKey signs the image URLs in container details; all servers of
	// a registry share it.
	DownloadKey []byte
	// DownloadTTL is how long such a URL works; default 1h.
	DownloadTTL time.Duration
	Log         *slog.Logger
	Now         func() time.Time
}

// API is the sregistry handler set.
type API struct {
	cfg Config
	reg *registry.Registry
	log *slog.Logger
}

// New returns the sregistry API.
func New(cfg Config) *API {
	if cfg.Name == "" {
		cfg.Name = "Silo"
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

// Register adds the routes. sregistry's Django patterns accept each path
// with or without its trailing slash; so does Silo.
func (a *API) Register(mux *http.ServeMux) {
	both := func(method, p string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+p, h)
		mux.HandleFunc(method+" "+p+"/{$}", h)
	}
	both("GET", "/api/collections", a.listCollections)
	both("GET", "/api/collections/{id}", a.collectionByID)
	both("GET", "/api/containers", a.listContainers)
	both("GET", "/api/containers/{id}", a.containerByID)
	mux.HandleFunc("GET /api/collection/{rest...}", a.collection)
	mux.HandleFunc("GET /api/container/{rest...}", a.container)
	mux.HandleFunc("DELETE /api/container/{rest...}", a.deleteContainer)
	both("GET", "/api/labels/search", a.labels)
	mux.HandleFunc("GET /api/labels/search/{rest...}", a.labels)
	both("GET", "/api/registry/identity", a.identity)
	both("POST", "/api/upload/chunked_upload", a.pushCheck)
	both("POST", "/upload", a.upload)
	both("POST", "/api/push", a.legacyPush)
	mux.HandleFunc("GET /api/download/{digest}", a.download)
	mux.HandleFunc("HEAD /api/download/{digest}", a.download)
	mux.HandleFunc("POST /api/sregistry/secret", a.newSecret)
	// sregistry's share links, kept by silo import; the container id in
	// them is sregistry's and plays no part: the secret names the image.
	mux.HandleFunc("GET /containers/{cid}/download/share/{secret}", a.share)
	mux.HandleFunc("GET /containers/{cid}/download/share/{secret}/{$}", a.share)
}

// entity is the Silo entity sregistry's collections live in.
func (a *API) entity() string { return a.reg.Defaults().Entity }

// detail answers with DRF's error body, which sregistry-cli prints.
func detail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"detail": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers err. sregistry answers every refusal, bad signatures
// included, with 403 (DRF's PermissionDenied); sregistry-cli retries a pull
// with a signature only on 403, so Unauthorized maps there too.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := status.Of(err)
	if registry.KindOf(err) == registry.Unauthorized {
		code = http.StatusForbidden
	}
	msg := err.Error()
	if code == http.StatusInternalServerError {
		if errors.Is(err, context.Canceled) {
			return
		}
		a.log.Error("sregistry api", "path", r.URL.Path, "err", err)
		msg = "internal error; the server log has the details"
	}
	detail(w, code, msg)
}

// actor resolves plain (non-signed) credentials: "Bearer <token>", DRF's
// "Token <token>", or Basic with the token as the password. A signed
// header is not a credential by itself (it covers one request) and counts
// as anonymous here.
func (a *API) actor(r *http.Request) (access.Actor, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "":
		return access.Actor{Remote: auth.Remote(r)}, nil
	case strings.ToLower(signScheme):
		return access.Actor{Remote: auth.Remote(r)}, nil
	case "token":
		act, err := a.cfg.Auth.Token(r.Context(), strings.TrimSpace(rest))
		act.Remote = auth.Remote(r)
		return act, a.refused(r, act, err)
	}
	act, err := a.cfg.Auth.Request(r)
	return act, a.refused(r, act, err)
}

// refused turns refused credentials (unknown, revoked or expired tokens,
// disabled accounts) into the refusal sregistry answers (403, by fail),
// audited as the other APIs audit them; other errors pass.
func (a *API) refused(r *http.Request, act access.Actor, err error) error {
	if !errors.Is(err, auth.ErrInvalidCredentials) {
		return err
	}
	a.reg.RecordLoginFailure(r.Context(), act.Remote, r.Method+" "+r.URL.Path)
	return &registry.Error{Kind: registry.Unauthorized, Msg: "invalid or expired credentials: get a new token"}
}

func (a *API) baseURL(r *http.Request) string { return library.BaseURL(a.cfg.PublicURL, r) }

func (a *API) sign(digest string, expires int64) string {
	m := hmac.New(sha256.New, a.cfg.DownloadKey)
	fmt.Fprintf(m, "sregistry download\n%s\n%d", digest, expires)
	return hex.EncodeToString(m.Sum(nil))
}

// downloadURL is the signed URL of an image's bytes that a container's
// "image" field carries: sregistry-cli fetches it with no further checks.
func (a *API) downloadURL(r *http.Request, digest string) string {
	exp := a.cfg.Now().Add(a.cfg.DownloadTTL).Unix()
	return fmt.Sprintf("%s/api/download/%s?expires=%d&sig=%s", a.baseURL(r), digest, exp, a.sign(digest, exp))
}

func (a *API) download(w http.ResponseWriter, r *http.Request) {
	digest := r.PathValue("digest")
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil || a.cfg.Now().Unix() > exp || !hmac.Equal([]byte(q.Get("sig")), []byte(a.sign(digest, exp))) {
		detail(w, http.StatusNotFound, "download link unknown or expired: ask for the container again")
		return
	}
	rd, err := a.reg.OpenBlob(r.Context(), digest)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer rd.Close()
	library.ServeBlob(w, r, digest, rd)
}

// share serves an imported sregistry share link.
func (a *API) share(w http.ResponseWriter, r *http.Request) {
	rng := r.Header.Get("Range")
	count := rng == "" || strings.HasPrefix(rng, "bytes=0-")
	v, rd, err := a.reg.OpenShare(r.Context(), r.PathValue("secret"), auth.Remote(r), count)
	if err != nil {
		if registry.KindOf(err) == registry.NotFound {
			detail(w, http.StatusNotFound, "link unknown, expired or revoked")
			return
		}
		a.fail(w, r, err)
		return
	}
	defer rd.Close()
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", strings.ReplaceAll(v.Name(), "/", "-")+".sif"))
	library.ServeBlob(w, r, v.Image.Digest, rd)
}

// newSecret gives the caller (logged in with a Silo token) a new secret for
// sregistry-cli and answers with the ~/.sregistry file that uses it.
func (a *API) newSecret(w http.ResponseWriter, r *http.Request) {
	act, err := a.cfg.Auth.Request(r)
	if err == nil && !act.LoggedIn() {
		err = &registry.Error{Kind: registry.Unauthorized, Msg: "log in with a Silo API token (Authorization: Bearer <token>) to get an sregistry secret"}
	}
	if err != nil {
		if errors.Is(err, auth.ErrInvalidCredentials) {
			err = &registry.Error{Kind: registry.Unauthorized, Msg: err.Error()}
		}
		a.fail(w, r, err)
		return
	}
	secret, err := registry.NewSregistrySecret()
	if err == nil {
		err = a.reg.SetSregistrySecret(r.Context(), act, act.User.Name, secret)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"registry": map[string]string{"base": a.baseURL(r), "username": act.User.Name, "token": secret}})
}

// Package server wires Silo together: it opens the stores a configuration
// names, builds the registry and the protocol handlers on one router, adds
// logging and health endpoints, and runs the HTTP server until it is told
// to stop.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/siloreg/silo/internal/api/authflow"
	"github.com/siloreg/silo/internal/api/library"
	"github.com/siloreg/silo/internal/api/oci"
	"github.com/siloreg/silo/internal/api/share"
	siloapi "github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/api/sregistry"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/auth/ldap"
	"github.com/siloreg/silo/internal/auth/pam"
	"github.com/siloreg/silo/internal/backend"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/web"
)

// Config is every setting of a server. The `silo serve` flags and SILO_*
// variables fill it; zero values take the documented defaults.
type Config struct {
	Listen            string        // default 127.0.0.1:8080
	Data              string        // default ./silo-data
	PublicURL         string        // default: from each request's Host
	DefaultEntity     string        // default "default"
	DefaultCollection string        // default "default"
	MaxImageSize      int64         // 0: no limit
	PartSize          int64         // multipart upload part size; default 64 MiB
	GCInterval        time.Duration // default 1h; negative: never
	GCGrace           time.Duration // default 24h
	Version           string
	Log               *slog.Logger
	Now               func() time.Time

	// DB and Store select the metadata and blob stores (see
	// internal/backend): empty for SQLite and files under Data, or
	// postgres://... and s3://... for a registry shared by several nodes.
	DB    string
	Store string
	// BlobAccess is how image bytes travel: "redirect" sends clients
	// straight to the blob store with presigned URLs, "proxy" passes them
	// through Silo. Empty means redirect when the store can presign (S3)
	// and proxy otherwise (files); redirect with a store that cannot is an
	// error.
	BlobAccess string

	// RateLimitIP and RateLimitToken cap the requests a minute from one
	// client address and with one token; 0 (the default) is no limit.
	RateLimitIP    int64
	RateLimitToken int64

	// NoOCIRedirect turns off /v1/oci-redirect (404), so Apptainer's
	// library client pushes and pulls through the library API rather than
	// the OCI API; by default it is answered.
	NoOCIRedirect bool

	// LDAP checks the passwords of people without a local account against
	// a directory; it is on when LDAP.URL is set. Its groups map to teams
	// of the same name.
	LDAP ldap.Config
	// PAM checks passwords through a PAM service, after LDAP; it is on when
	// PAM.Service is set, and needs a build with -tags pam (New fails at
	// once in a build without).
	PAM pam.Config
	// OIDC are the OpenID Connect providers people may log in with in a
	// browser, at /auth/oidc/<name>/login.
	OIDC []OIDCProvider
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Data == "" {
		c.Data = "silo-data"
	}
	if c.DefaultEntity == "" {
		c.DefaultEntity = "default"
	}
	if c.DefaultCollection == "" {
		c.DefaultCollection = "default"
	}
	if c.PartSize == 0 {
		c.PartSize = 64 << 20
	}
	if c.GCInterval == 0 {
		c.GCInterval = time.Hour
	}
	if c.GCGrace == 0 {
		c.GCGrace = 24 * time.Hour
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// The values of Config.BlobAccess.
const (
	BlobRedirect = "redirect"
	BlobProxy    = "proxy"
)

// Server is a running registry.
type Server struct {
	cfg      Config
	Meta     meta.Store
	Blobs    blob.Store
	Registry *registry.Registry
	handler  http.Handler
}

// Backend is the part of cfg that names the stores, as the offline
// commands open them too.
func (c Config) Backend() backend.Config {
	return backend.Config{Data: c.Data, DB: c.DB, Store: c.Store, PartSize: c.PartSize}
}

// New opens the stores and builds the handlers.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg.defaults()
	d := ref.Defaults{Entity: cfg.DefaultEntity, Collection: cfg.DefaultCollection}
	if _, err := ref.Parse("x", d); err != nil {
		return nil, fmt.Errorf("default entity/collection: %w", err)
	}
	// Before the stores, so that a provider that cannot work (PAM in a
	// build without it) stops the start before anything is created.
	passwords, err := passwordProviders(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.BlobAccess != "" && cfg.BlobAccess != BlobRedirect && cfg.BlobAccess != BlobProxy {
		return nil, fmt.Errorf("--blob-access %q: want %s or %s", cfg.BlobAccess, BlobRedirect, BlobProxy)
	}
	m, b, err := backend.Open(ctx, cfg.Backend())
	if err != nil {
		return nil, err
	}
	built := false
	defer func() {
		if !built {
			m.Close()
		}
	}()
	// The data directory holds the bootstrap admin's token whatever the
	// stores are (backend.Open makes it only for SQLite or files).
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	presign, _ := b.(blob.Presigner)
	switch {
	case cfg.BlobAccess == BlobProxy:
		presign = nil
	case cfg.BlobAccess == BlobRedirect && presign == nil:
		return nil, fmt.Errorf("--blob-access %s needs a blob store clients can be sent to (--store s3://...); files in the data directory are always proxied", BlobRedirect)
	}
	s := &Server{cfg: cfg, Meta: m, Blobs: b}
	if err := s.bootstrap(ctx); err != nil {
		return nil, err
	}
	key, err := signingKey(ctx, m)
	if err != nil {
		return nil, err
	}
	oidcs, err := oidcProviders(ctx, cfg, deriveKey(key, "oidc state"))
	if err != nil {
		return nil, err
	}
	s.Registry = registry.New(registry.Config{
		Meta: m, Blobs: b, Defaults: d, MaxImageSize: cfg.MaxImageSize, Now: cfg.Now, Log: cfg.Log,
		PasswordProviders: passwords, SecretKey: deriveKey(key, sregistrySecretsPurpose),
	})
	authn := &auth.Authenticator{Meta: m, Now: cfg.Now}
	pwNames := providerNames(passwords)
	mux := http.NewServeMux()
	library.New(library.Config{
		Registry: s.Registry, Auth: authn, PublicURL: cfg.PublicURL, Version: cfg.Version,
		PartSize: cfg.PartSize, SigningKey: key, Presign: presign, Log: cfg.Log, Now: cfg.Now,
	}).Register(mux)
	siloapi.New(siloapi.Config{Registry: s.Registry, Auth: authn, Version: cfg.Version, PublicURL: cfg.PublicURL, Log: cfg.Log}).Register(mux)
	sregistry.New(sregistry.Config{
		Registry: s.Registry, Auth: authn, PublicURL: cfg.PublicURL, DownloadKey: deriveKey(key, "sregistry download"), Log: cfg.Log, Now: cfg.Now,
	}).Register(mux)
	share.New(share.Config{Registry: s.Registry, Log: cfg.Log}).Register(mux)
	pages := web.New(web.Config{
		Registry: s.Registry, Auth: authn, Key: deriveKey(key, "web csrf"), PublicURL: cfg.PublicURL,
		OIDC: slices.Sorted(maps.Keys(oidcs)), PasswordProviders: pwNames, Version: cfg.Version, Log: cfg.Log,
	})
	pages.Register(mux)
	authflow.New(authflow.Config{
		Registry: s.Registry, OIDC: oidcs, PasswordProviders: pwNames, PublicURL: cfg.PublicURL,
		SetSession: pages.SetSession, Log: cfg.Log,
	}).Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	limit := &rateLimiter{meta: m, perIP: cfg.RateLimitIP, perToken: cfg.RateLimitToken, now: cfg.Now, log: cfg.Log}
	// Limits before the path check, so malformed requests count too; the
	// exempt prefixes are safe to match on a raw path because an unclean
	// one is refused right after.
	ociAPI := oci.New(oci.Config{Registry: s.Registry, Auth: authn, PublicURL: cfg.PublicURL,
		TokenKey: deriveKey(key, "oci token"), Redirect: !cfg.NoOCIRedirect, Presign: presign, Log: cfg.Log, Now: cfg.Now})
	s.handler = logRequests(cfg.Log, limit.wrap(refuseUncleanPaths(ociAPI.Wrap(mux))))
	built = true
	return s, nil
}

// bootstrap creates the first admin on an empty registry and leaves its
// token where only the operator can read it.
func (s *Server) bootstrap(ctx context.Context) error {
	n, err := s.Meta.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	if _, err := auth.CreateUser(ctx, s.Meta, "admin", "", meta.RoleAdmin); err != nil {
		if n, cerr := s.Meta.CountUsers(ctx); cerr == nil && n > 0 {
			// Another node sharing the database made it a moment ago
			// and wrote the token to its own data directory.
			return nil
		}
		return err
	}
	tok, err := auth.IssueToken(ctx, s.Meta, "admin", "bootstrap", time.Time{})
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.Data, "admin.token")
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the admin token: %w", err)
	}
	s.cfg.Log.Info("created the admin account; its API token is in " + path)
	return nil
}

// signingKey is the registry-wide key for signed URLs, made once and
// shared through the metadata store by every server. Other uses take a key
// derived from it (deriveKey), never the key itself.
func signingKey(ctx context.Context, m meta.Store) ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	v, err := m.InitSetting(ctx, "url-signing-key", hex.EncodeToString(b))
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(v)
}

// sregistrySecretsPurpose derives the key that seals sregistry secrets.
const sregistrySecretsPurpose = "sregistry secrets"

// SregistryKey is the key that seals the users' sregistry secrets, for
// offline commands (silo import, silo sregistry-secret) that open the
// stores without a server.
func SregistryKey(ctx context.Context, m meta.Store) ([]byte, error) {
	key, err := signingKey(ctx, m)
	if err != nil {
		return nil, err
	}
	return deriveKey(key, sregistrySecretsPurpose), nil
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.Meta.Ping(ctx); err != nil {
		http.Error(w, "metadata store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err := s.Blobs.Ping(ctx); err != nil {
		http.Error(w, "blob store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// Handler is the whole HTTP interface.
func (s *Server) Handler() http.Handler { return s.handler }

// Close closes the stores.
func (s *Server) Close() error { return s.Meta.Close() }

// Serve answers on ln until ctx is cancelled, then stops taking requests
// and waits up to 30s for those in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelWarn),
	}
	if s.cfg.GCInterval > 0 {
		go s.collectGarbage(ctx)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.cfg.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

func (s *Server) collectGarbage(ctx context.Context) {
	t := time.NewTicker(s.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Registry.GC(ctx, s.cfg.GCGrace); err != nil && ctx.Err() == nil {
				s.cfg.Log.Warn("garbage collection", "err", err)
			}
		}
	}
}

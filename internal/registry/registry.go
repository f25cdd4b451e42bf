// Package registry is Silo's domain: entities, collections, containers,
// images, tags, uploads, freeze and privacy. Every rule lives here once;
// the protocol adapters (internal/api/*, internal/web) translate requests
// into these calls and answers back, and the stores below only store.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/auth/provider"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// Kind classifies an error so each protocol can answer with its own status.
type Kind int

// The kinds of error the registry reports.
const (
	Internal       Kind = iota // a fault of Silo or its stores
	Invalid                    // bad input: a name, a size, a file that is not a SIF
	Unauthorized               // credentials needed or wrong
	Forbidden                  // known caller, not allowed
	NotFound                   // does not exist, or the caller may not see it
	Conflict                   // a frozen container, a clash
	DigestMismatch             // bytes do not hash to the declared digest
	TooLarge                   // over a size limit
	Unavailable                // a service Silo depends on is down; try again later
)

// Error is a registry error with a message a person can act on.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err; errors not made here are Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var re *ref.Error
	if errors.As(err, &re) {
		return Invalid
	}
	return Internal
}

// Config is what a Registry is built from.
type Config struct {
	Meta  meta.Store
	Blobs blob.Store
	// Defaults fill the entity (and collection) of short names.
	Defaults ref.Defaults
	// UploadTTL is how long an upload session may take; default 24h.
	UploadTTL time.Duration
	// MaxImageSize refuses larger uploads before any byte is stored; 0: no limit.
	MaxImageSize int64
	// PasswordProviders check the passwords of people without a local
	// account (LDAP, PAM), in order, after Silo's own accounts. Their
	// groups become team memberships (see ProviderLogin).
	PasswordProviders []provider.PasswordProvider
	Now               func() time.Time
	Log               *slog.Logger
	// SecretKey (32 bytes) seals the users' sregistry secrets at rest; the
	// server derives it from the registry's signing key.
	SecretKey []byte
}

// Registry carries out operations for an actor.
type Registry struct {
	meta     meta.Store
	blobs    blob.Store
	cfg      Config
	settings settingsCache
	log      *slog.Logger
}

// New returns a registry over the given stores.
func New(cfg Config) *Registry {
	if cfg.UploadTTL == 0 {
		cfg.UploadTTL = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Registry{
		meta:  cfg.Meta,
		blobs: cfg.Blobs,
		cfg:   cfg,
		log:   cfg.Log,
	}
}

// Defaults returns the names short references resolve to.
func (r *Registry) Defaults() ref.Defaults { return r.cfg.Defaults }

// Meta exposes the metadata store to the server's wiring (health checks).
func (r *Registry) Meta() meta.Store { return r.meta }

// Blobs exposes the blob store to the server's wiring (health checks).
func (r *Registry) Blobs() blob.Store { return r.blobs }

// Policy returns the access rules in force.
func (r *Registry) Policy(ctx context.Context) access.Policy { return r.pol(ctx) }

func (r *Registry) now() time.Time { return r.cfg.Now().UTC() }

// ContainerView is a container with the names above it.
type ContainerView struct {
	Entity     *meta.Entity
	Collection *meta.Collection
	Container  *meta.Container
}

// Ref names the container (no tag, no version).
func (v *ContainerView) Ref() ref.Ref {
	return ref.Ref{Entity: v.Entity.Name, Collection: v.Collection.Name, Container: v.Container.Name}
}

// ImageView is an image with its container, the names above it and its tags.
type ImageView struct {
	ContainerView
	Image *meta.Image
	Tags  []meta.Tag // tags pointing at this image, every arch
}

func notFound(what string) error { return errf(NotFound, "%s not found", what) }

// mustLogIn is the error for an anonymous caller of a write.
func mustLogIn(a access.Actor, what string) error {
	if a.User != nil && a.User.Disabled {
		return errf(Forbidden, "account %q is disabled", a.User.Name)
	}
	return errf(Unauthorized, "log in to %s", what)
}

// storeErr maps a store error, turning ErrNotFound into a NotFound naming what.
func storeErr(err error, what string) error {
	if errors.Is(err, meta.ErrNotFound) || errors.Is(err, blob.ErrNotFound) {
		return notFound(what)
	}
	return err
}

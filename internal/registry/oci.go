package registry

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strings"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// OCIError is a registry error that the OCI distribution API reports with
// a code of its own (MANIFEST_BLOB_UNKNOWN, say) rather than the one its
// kind maps to.
type OCIError struct {
	Err  *Error
	Code string
}

func (e *OCIError) Error() string { return e.Err.Msg }

// Unwrap lets KindOf see the kind.
func (e *OCIError) Unwrap() error { return e.Err }

func ociErr(code string, k Kind, format string, args ...any) error {
	return &OCIError{Err: &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}, Code: code}
}

// OCI error codes the registry chooses itself (the API maps the rest from kinds).
const (
	CodeBlobUnknown         = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       = "DIGEST_INVALID"
	CodeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     = "MANIFEST_INVALID"
	CodeManifestUnknown     = "MANIFEST_UNKNOWN"
	CodeNameInvalid         = "NAME_INVALID"
	CodeNameUnknown         = "NAME_UNKNOWN"
	CodeSizeInvalid         = "SIZE_INVALID"
	CodeRangeInvalid        = "RANGE_INVALID" // answered with 416
	CodeTagInvalid          = "TAG_INVALID"
)

// OCIName maps an OCI repository name onto a Silo container:
// entity/collection/container as it is, collection/container under the
// default entity, container under the default entity and collection —
// the same as the library API's short names.
func (r *Registry) OCIName(name string) (ref.Ref, error) {
	if strings.ContainsAny(name, ":@") || strings.Count(name, "/") > 2 {
		return ref.Ref{}, ociErr(CodeNameInvalid, Invalid, "invalid repository name %q: Silo names are [entity/][collection/]container", name)
	}
	rf, err := ref.Parse(name, r.cfg.Defaults)
	if err != nil {
		return ref.Ref{}, ociErr(CodeNameInvalid, Invalid, "invalid repository name %q: %v", name, err)
	}
	return rf, nil
}

// OCIRepo returns the container an OCI name maps to, if the actor may see it.
func (r *Registry) OCIRepo(ctx context.Context, a access.Actor, name string) (*ContainerView, error) {
	rf, err := r.OCIName(name)
	if err != nil {
		return nil, err
	}
	v, err := r.Container(ctx, a, rf)
	if err != nil {
		if KindOf(err) == NotFound {
			return nil, ociErr(CodeNameUnknown, NotFound, "repository %s not found", name)
		}
		return nil, err
	}
	return v, nil
}

// OCIPushRepo returns the container an OCI name maps to for a push,
// creating the entity, collection and container as a library push would.
func (r *Registry) OCIPushRepo(ctx context.Context, a access.Actor, name string) (*ContainerView, error) {
	rf, err := r.OCIName(name)
	if err != nil {
		return nil, err
	}
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "push to "+name)
	}
	if v, err := r.Container(ctx, a, rf); err == nil {
		return v, r.canWrite(ctx, a, v, "push to "+rf.Path())
	}
	denied := func() error { return errf(Forbidden, "%s may not push to %s", a.Name(), rf.Path()) }
	e, err := r.Entity(ctx, a, rf.Entity)
	if KindOf(err) == NotFound {
		e, err = r.CreateEntity(ctx, a, rf.Entity, "")
	}
	if err != nil {
		return nil, err
	}
	_, c, err := r.Collection(ctx, a, e.Name, rf.Collection)
	if KindOf(err) == NotFound {
		c, err = r.CreateCollection(ctx, a, e.ID, rf.Collection, "", false)
		if KindOf(err) == Conflict {
			return nil, denied() // someone else's, perhaps private: say no more
		}
	}
	if err != nil {
		return nil, err
	}
	v, err := r.CreateContainer(ctx, a, c.ID, rf.Container, "")
	if err != nil {
		return nil, err
	}
	return v, r.canWrite(ctx, a, v, "push to "+rf.Path())
}

// Digest is a parsed OCI digest.
type Digest struct {
	Algorithm string // "sha256" or "sha512"
	Hex       string
}

func (d Digest) String() string { return d.Algorithm + ":" + d.Hex }

func (d Digest) hash() hash.Hash {
	if d.Algorithm == "sha512" {
		return sha512.New()
	}
	return sha256.New()
}

var hexRE = regexp.MustCompile(`^[a-f0-9]+$`)

// ParseDigest parses "sha256:<64 hex>" or "sha512:<128 hex>".
func ParseDigest(s string) (Digest, error) {
	alg, hx, ok := strings.Cut(s, ":")
	want := map[string]int{"sha256": 64, "sha512": 128}[alg]
	if !ok || want == 0 || len(hx) != want || !hexRE.MatchString(hx) {
		return Digest{}, ociErr(CodeDigestInvalid, Invalid, "invalid digest %q: want sha256:<64 hex> or sha512:<128 hex>", s)
	}
	return Digest{Algorithm: alg, Hex: hx}, nil
}

// DigestOf hashes b with the algorithm of like (sha256 when like is zero).
func DigestOf(b []byte, like Digest) Digest {
	if like.Algorithm == "" {
		like.Algorithm = "sha256"
	}
	h := like.hash()
	h.Write(b)
	return Digest{Algorithm: like.Algorithm, Hex: hex.EncodeToString(h.Sum(nil))}
}

// BlobRef says where an OCI blob's bytes are: in the blob store under Key,
// or (for the config Silo synthesizes for library images) Inline.
type BlobRef struct {
	Digest string
	Key    string
	Size   int64
	Inline []byte
}

// OCIBlob finds a blob of a container: one pushed or mounted there, the
// bytes of one of its SIF images, or the config synthesized for one.
func (r *Registry) OCIBlob(ctx context.Context, v *ContainerView, digest string) (*BlobRef, error) {
	d, err := ParseDigest(digest)
	if err != nil {
		return nil, err
	}
	unknown := ociErr(CodeBlobUnknown, NotFound, "blob %s not found in %s", digest, v.Ref().Path())
	l, err := r.meta.BlobLink(ctx, v.Container.ID, d.String())
	if err == nil {
		return &BlobRef{Digest: l.Digest, Key: l.Key, Size: l.Size}, nil
	}
	if !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	if d.Algorithm != "sha256" {
		return nil, unknown
	}
	if im, err := r.meta.ImageByDigest(ctx, v.Container.ID, d.Hex); err == nil && im.Uploaded {
		return &BlobRef{Digest: d.String(), Key: im.Digest, Size: im.Size}, nil
	}
	ims, err := r.containerImages(ctx, v)
	if err != nil {
		return nil, err
	}
	for i := range ims {
		if cfg := sifConfig(&ims[i]); DigestOf(cfg, d) == d {
			return &BlobRef{Digest: d.String(), Size: int64(len(cfg)), Inline: cfg}, nil
		}
	}
	return nil, unknown
}

// containerImages lists the uploaded images of a container.
func (r *Registry) containerImages(ctx context.Context, v *ContainerView) ([]meta.Image, error) {
	recs, err := r.meta.Find(ctx, meta.Query{Entity: v.Entity.Name, Collection: v.Collection.Name, Container: v.Container.Name})
	if err != nil {
		return nil, err
	}
	out := make([]meta.Image, len(recs))
	for i := range recs {
		out[i] = recs[i].Image
	}
	return out, nil
}

// OCIMount links a blob another repository holds into v, if the actor may
// read that repository. It reports false (and the client uploads instead)
// when it cannot.
func (r *Registry) OCIMount(ctx context.Context, a access.Actor, v *ContainerView, digest, from string) (*BlobRef, bool, error) {
	if _, err := ParseDigest(digest); err != nil {
		return nil, false, err
	}
	if from == "" {
		// A mount with no source: any blob of this repository will do.
		b, err := r.OCIBlob(ctx, v, digest)
		return b, err == nil, nil
	}
	src, err := r.OCIRepo(ctx, a, from)
	if err != nil {
		return nil, false, nil
	}
	b, err := r.OCIBlob(ctx, src, digest)
	if err != nil || b.Inline != nil {
		return nil, false, nil
	}
	if fits, err := r.ociMountFits(ctx, v.Container.ID, b.Size); err != nil || !fits {
		return nil, false, err
	}
	if err := r.meta.LinkBlob(ctx, meta.BlobLink{ContainerID: v.Container.ID, Digest: b.Digest, Key: b.Key, Size: b.Size}); err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// OCIDeleteBlob removes a blob from a repository. Its bytes stay while
// anything else uses them; garbage collection frees them after.
func (r *Registry) OCIDeleteBlob(ctx context.Context, a access.Actor, v *ContainerView, digest string) error {
	d, err := ParseDigest(digest)
	if err != nil {
		return err
	}
	if err := r.canWrite(ctx, a, v, "delete blobs in "+v.Ref().Path()); err != nil {
		return err
	}
	if v.Container.Frozen {
		return errf(Conflict, "%s is frozen: nothing can be deleted", v.Ref().Path())
	}
	err = r.meta.UnlinkBlob(ctx, v.Container.ID, d.String())
	if errors.Is(err, meta.ErrNotFound) {
		return ociErr(CodeBlobUnknown, NotFound, "blob %s not found in %s", digest, v.Ref().Path())
	}
	return err
}

// digestInUse reports whether stored bytes are named by an image or linked
// to a repository, so garbage collection keeps them.
func (r *Registry) digestInUse(ctx context.Context, key string) (bool, error) {
	if used, err := r.meta.DigestInUse(ctx, key); err != nil || used {
		return used, err
	}
	return r.meta.KeyLinked(ctx, key)
}

// OCIMayPush reports, without creating anything, whether the actor could
// push to the repository an OCI name maps to, with no quota or collection
// limit that might refuse it: for /v1/oci-redirect, which sends all other
// pushes down the library path, where the client shows the registry's
// reason (its OCI path shows only a status code).
func (r *Registry) OCIMayPush(ctx context.Context, a access.Actor, name string) bool {
	rf, err := r.OCIName(name)
	if err != nil || !a.LoggedIn() {
		return false
	}
	pol := r.pol(ctx)
	set, err := r.Settings(ctx)
	if err != nil {
		return false
	}
	if v, err := r.Container(ctx, a, rf); err == nil {
		return pol.CanWrite(a, v.Entity, v.Collection) && !v.Container.Frozen && !r.quotaApplies(ctx, set, v.Entity, v.Collection)
	}
	// A new collection: its owner's quota, or the limit on collections,
	// might refuse it, and only the library path says why in words.
	if set.UserQuota > 0 || set.TeamQuota > 0 || set.CollectionLimit > 0 || (a.User != nil && a.User.QuotaBytes > 0) {
		return false
	}
	e, err := r.meta.EntityByName(ctx, rf.Entity)
	if errors.Is(err, meta.ErrNotFound) {
		team, err := r.meta.TeamByName(ctx, rf.Entity)
		if errors.Is(err, meta.ErrNotFound) {
			team = nil
		} else if err != nil {
			return false
		}
		return pol.CanCreateEntity(a, rf.Entity, team)
	}
	if err != nil {
		return false
	}
	c, err := r.meta.CollectionByName(ctx, e.ID, rf.Collection)
	if errors.Is(err, meta.ErrNotFound) {
		return pol.CanCreateCollection(a, e)
	}
	return err == nil && pol.CanWrite(a, e, c) && !r.quotaApplies(ctx, set, e, c)
}

// quotaApplies reports whether pushes to collection c may be refused for
// its owner's quota (or whether that cannot be told).
func (r *Registry) quotaApplies(ctx context.Context, set Settings, e *meta.Entity, c *meta.Collection) bool {
	o, err := r.ownerOf(ctx, e, c)
	return err != nil || o.limit(set) > 0
}

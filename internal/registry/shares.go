package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// Share links hand one image to people without an account. The rules:
//
//   - only someone who may write to the image's collection (its owner, a
//     team member, an admin) makes a link, and the link names the image
//     itself: a link made for container:tag keeps granting the image the
//     tag pointed at when it was made, whatever the tag points at later;
//   - the link's secret is random (256 bits) and only its sha256 is
//     stored, so the store's contents do not open any link;
//   - a link works until it expires (at most MaxShareTTL after it was
//     made) or is revoked, and only while its creator's account is
//     enabled and may still write to the collection: a user who leaves a
//     team takes their links' power with them;
//   - an unknown, expired, revoked or orphaned link gets one answer, the
//     same NotFound, so that nobody can tell which it was;
//   - downloads through a link are counted and audited with the actor
//     "share:<id>". The secret is never logged.

// MaxShareTTL is the longest a share link may live. A month is enough to
// hand an image to a collaborator; a longer-lived grant should be an
// account or a public collection.
const MaxShareTTL = 30 * 24 * time.Hour

// DefaultShareTTL is how long a link lives when its creator does not say.
const DefaultShareTTL = 72 * time.Hour

// shareSecretBytes is the randomness in a link's secret: 256 bits, twice
// the 128 that make guessing hopeless, for the price of 22 more URL
// characters.
const shareSecretBytes = 32

// shareSecretLen is the length of the secret as it appears in URLs:
// unpadded base64url of shareSecretBytes.
var shareSecretLen = base64.RawURLEncoding.EncodedLen(shareSecretBytes)

// errShareGone is the one answer for every link that does not work.
func errShareGone() error { return errf(NotFound, "link unknown, expired or revoked") }

// ShareView is a share link with the image it grants and the names above
// that image.
type ShareView struct {
	ContainerView
	Share     meta.Share
	Image     *meta.Image
	CreatedBy string // the creator's user name
	Expired   bool   // past its expiry by the registry's clock

	creator *meta.User // nil when the account is gone
}

// Name is what the link was made for: entity/collection/container:tag, or
// @sha256.<hex> when it was made for a version.
func (v *ShareView) Name() string {
	if v.Share.Tag != "" {
		return v.Ref().Path() + ":" + v.Share.Tag
	}
	return v.Ref().Path() + "@sha256." + v.Image.Digest
}

// Active reports whether the link still opens its image, as far as the
// link itself goes (its creator's rights are checked when it is used).
func (v *ShareView) Active() bool { return !v.Share.Revoked && !v.Expired }

// CreateShare makes a link to the image rf names (for arch) that lives for
// ttl. It returns the link and its secret, which is not stored and cannot
// be shown again.
func (r *Registry) CreateShare(ctx context.Context, a access.Actor, rf ref.Ref, arch string, ttl time.Duration) (*ShareView, string, error) {
	if !a.LoggedIn() {
		return nil, "", mustLogIn(a, "share "+rf.String())
	}
	if ttl <= 0 {
		return nil, "", errf(Invalid, "a share link needs a positive lifetime such as 72h, not %s", fmtTTL(ttl))
	}
	if ttl > MaxShareTTL {
		return nil, "", errf(Invalid, "a share link may live at most %s (30 days), not %s", fmtTTL(MaxShareTTL), fmtTTL(ttl))
	}
	iv, err := r.ResolveImage(ctx, a, rf, arch)
	if err != nil {
		return nil, "", err
	}
	if err := r.canWrite(ctx, a, &iv.ContainerView, "share "+rf.String()); err != nil {
		return nil, "", err
	}
	if !iv.Image.Uploaded {
		return nil, "", notFound("image " + rf.String())
	}
	tag := ""
	if rf.Digest == "" {
		tag = rf.Tag
		if tag == "" {
			tag = DefaultTag
		}
		if arch == "" {
			// A link grants one image; with no arch given, a tag that names
			// several would make the choice for the user, silently.
			if err := r.oneArch(ctx, iv, tag); err != nil {
				return nil, "", err
			}
		}
	} else if rf.Tag != "" {
		tag = rf.Tag // name:tag@version, which ResolveImage checked agrees
	}
	raw := make([]byte, shareSecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	sh := &meta.Share{Hash: hashShareSecret(secret), ImageID: iv.Image.ID, Tag: tag, CreatedBy: a.ID(), Created: r.now(), Expires: r.now().Add(ttl)}
	if err := r.meta.CreateShare(ctx, sh); err != nil {
		return nil, "", err
	}
	v := &ShareView{ContainerView: iv.ContainerView, Share: *sh, Image: iv.Image, CreatedBy: a.Name(), creator: a.User}
	r.audit(ctx, a, "share", v.Name(), fmt.Sprintf("link %d to sha256.%s, expires %s", sh.ID, iv.Image.Digest, sh.Expires.Format(time.RFC3339)))
	return v, secret, nil
}

// oneArch refuses a tag that points at images of several architectures.
func (r *Registry) oneArch(ctx context.Context, iv *ImageView, tag string) error {
	tags, err := r.meta.Tags(ctx, iv.Container.ID)
	if err != nil {
		return err
	}
	var arches []string
	for _, t := range tags {
		if t.Name == tag && !slices.Contains(arches, t.Arch) {
			arches = append(arches, t.Arch)
		}
	}
	if len(arches) > 1 {
		sort.Strings(arches)
		return errf(Invalid, "%s:%s is tagged for %s: say which architecture to share", iv.Ref().Path(), tag, strings.Join(arches, ", "))
	}
	return nil
}

// fmtTTL spells a duration the way users type it: "720h" rather than
// Go's "720h0m0s".
func fmtTTL(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ListShares lists the links the actor made, or with all every user's
// links (admins only), newest first, revoked and expired ones included.
func (r *Registry) ListShares(ctx context.Context, a access.Actor, all bool) ([]ShareView, error) {
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "list share links")
	}
	by := a.ID()
	if all {
		if !a.Admin() {
			return nil, errf(Forbidden, "%s may not list other users' share links: only admins may", a.Name())
		}
		by = 0
	}
	shares, err := r.meta.Shares(ctx, by)
	if err != nil {
		return nil, err
	}
	c := newShareCache(r)
	out := make([]ShareView, 0, len(shares))
	for i := range shares {
		v, err := c.view(ctx, &shares[i])
		if errors.Is(err, meta.ErrNotFound) {
			continue // its image went while we listed; the link went with it
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// RevokeShare stops a link working, for good. Its creator and admins may;
// to anyone else it does not exist. Revoking a revoked link does nothing.
func (r *Registry) RevokeShare(ctx context.Context, a access.Actor, id int64) (*ShareView, error) {
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "revoke share links")
	}
	what := "share link " + strconv.FormatInt(id, 10)
	sh, err := r.meta.Share(ctx, id)
	if err != nil {
		return nil, storeErr(err, what)
	}
	if sh.CreatedBy != a.ID() && !a.Admin() {
		return nil, notFound(what)
	}
	if !a.Has(access.ScopePush) {
		return nil, errf(Forbidden, "%s may not revoke %s with a read-only token", a.Name(), what)
	}
	v, err := newShareCache(r).view(ctx, sh)
	if err != nil {
		return nil, storeErr(err, what)
	}
	if sh.Revoked {
		return v, nil
	}
	if err := r.meta.RevokeShare(ctx, id); err != nil {
		return nil, storeErr(err, what)
	}
	v.Share.Revoked = true
	r.audit(ctx, a, "share-revoke", v.Name(), fmt.Sprintf("link %d", id))
	return v, nil
}

// OpenShare returns the image a link's secret grants and a reader of its
// bytes, for anyone holding the secret. Every link that does not work is
// the same NotFound. With count, the download is counted (on the link and
// the image) and audited.
func (r *Registry) OpenShare(ctx context.Context, secret, remote string, count bool) (*ShareView, blob.Reader, error) {
	if !wellFormedShareSecret(secret) {
		return nil, nil, errShareGone() // not worth a query
	}
	sh, err := r.meta.ShareByHash(ctx, hashShareSecret(secret))
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil, errShareGone()
	}
	if err != nil {
		return nil, nil, err
	}
	now := r.now()
	if sh.Revoked || !now.Before(sh.Expires) {
		return nil, nil, errShareGone()
	}
	v, err := newShareCache(r).view(ctx, sh)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil, errShareGone()
	}
	if err != nil {
		return nil, nil, err
	}
	if ok, err := r.creatorMayShare(ctx, v); err != nil {
		return nil, nil, err
	} else if !ok {
		return nil, nil, errShareGone()
	}
	if !v.Image.Uploaded {
		return nil, nil, errShareGone()
	}
	rd, err := r.blobs.Open(ctx, v.Image.Digest)
	if err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			return nil, nil, fmt.Errorf("share link %d: blob sha256.%s is missing from the store (run `silo fsck`)", sh.ID, v.Image.Digest)
		}
		return nil, nil, err
	}
	if count {
		r.countShareDownload(ctx, v, remote, now)
	}
	return v, rd, nil
}

// countShareDownload records a download through a link. Failures are
// logged, not returned: the download itself may go ahead.
func (r *Registry) countShareDownload(ctx context.Context, v *ShareView, remote string, now time.Time) {
	ctx = context.WithoutCancel(ctx)
	id := v.Share.ID
	if err := r.meta.CountShareDownload(ctx, id, now); err != nil {
		r.log.Warn("counting a share link download", "share", id, "err", err)
	}
	if err := r.meta.AddDownload(ctx, v.Image.ID); err != nil {
		r.log.Warn("counting a download", "image", v.Name(), "err", err)
	}
	e := &meta.AuditEvent{At: now, Actor: "share:" + strconv.FormatInt(id, 10), Action: "share-download",
		Target: v.Ref().Path() + "@sha256." + v.Image.Digest, Remote: remote}
	if err := r.meta.AddAudit(ctx, e); err != nil {
		r.log.Error("writing the audit log", "action", e.Action, "target", e.Target, "err", err)
	}
}

// creatorMayShare checks that the link's creator could still make it:
// an enabled account that may write to the collection.
func (r *Registry) creatorMayShare(ctx context.Context, v *ShareView) (bool, error) {
	if v.creator == nil {
		return false, nil
	}
	teams, err := r.meta.UserTeams(ctx, v.creator.ID)
	if err != nil {
		return false, err
	}
	creator := access.Actor{User: v.creator, Teams: teams}
	return r.pol(ctx).CanWrite(creator, v.Entity, v.Collection), nil
}

// hashShareSecret is what the store keeps of a secret.
func hashShareSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// wellFormedShareSecret reports whether s could be a secret CreateShare
// made, so that junk in URLs costs no query.
func wellFormedShareSecret(s string) bool {
	if importedShareSecret(s) {
		return true
	}
	if len(s) != shareSecretLen {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// shareCache builds ShareViews, loading each container and user once
// however many links name them.
type shareCache struct {
	r          *Registry
	containers map[int64]*ContainerView
	users      map[int64]*meta.User // nil for a deleted account
}

func newShareCache(r *Registry) *shareCache {
	return &shareCache{r: r, containers: map[int64]*ContainerView{}, users: map[int64]*meta.User{}}
}

// view loads the image a link grants and the names above it, with no
// access check: the link is the access. A gone image is meta.ErrNotFound.
func (c *shareCache) view(ctx context.Context, sh *meta.Share) (*ShareView, error) {
	im, err := c.r.meta.Image(ctx, sh.ImageID)
	if err != nil {
		return nil, err
	}
	cv, ok := c.containers[im.ContainerID]
	if !ok {
		if cv, err = c.r.containerView(ctx, im.ContainerID); err != nil {
			return nil, asMetaNotFound(err)
		}
		c.containers[im.ContainerID] = cv
	}
	u, ok := c.users[sh.CreatedBy]
	if !ok {
		if u, err = c.r.meta.User(ctx, sh.CreatedBy); errors.Is(err, meta.ErrNotFound) {
			u = nil
		} else if err != nil {
			return nil, err
		}
		c.users[sh.CreatedBy] = u
	}
	name := "#" + strconv.FormatInt(sh.CreatedBy, 10) // a deleted account
	if u != nil {
		name = u.Name
	}
	return &ShareView{ContainerView: *cv, Share: *sh, Image: im, CreatedBy: name,
		Expired: !c.r.now().Before(sh.Expires), creator: u}, nil
}

// asMetaNotFound turns containerView's NotFound back into the store's
// sentinel, so that callers test one thing; other errors pass.
func asMetaNotFound(err error) error {
	if KindOf(err) == NotFound {
		return meta.ErrNotFound
	}
	return err
}

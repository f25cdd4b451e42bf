package registry

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// PushTarget finds, or creates when the actor may, the collection rf names,
// and checks the actor may push to it: the first step of an sregistry push,
// which answers with the collection's id before any byte is sent.
func (r *Registry) PushTarget(ctx context.Context, a access.Actor, entity, collection string) (*meta.Entity, *meta.Collection, error) {
	if !a.LoggedIn() {
		return nil, nil, mustLogIn(a, "push")
	}
	if err := ref.ValidName(collection); err != nil {
		return nil, nil, err
	}
	e, err := r.ensureEntity(ctx, a, entity)
	if err != nil {
		return nil, nil, err
	}
	pol := r.pol(ctx)
	c, err := r.meta.CollectionByName(ctx, e.ID, collection)
	if errors.Is(err, meta.ErrNotFound) {
		c, err = r.CreateCollection(ctx, a, e.ID, collection, "", false)
		return e, c, err
	}
	if err != nil {
		return nil, nil, err
	}
	if !pol.CanWrite(a, e, c) {
		// The same answer whether the collection is private or merely not
		// the caller's, so a push never reveals a private name.
		return nil, nil, errf(Forbidden, "%s may not push to collection %s", a.Name(), collection)
	}
	return e, c, nil
}

// PushStream stores an image whose size and digest are learnt only as its
// bytes stream in (sregistry's multipart upload), then points rf's tag at
// it. The bytes are hashed on the way to the blob store, checked to be a
// SIF and synced before any name refers to them; on any failure nothing is
// left behind.
func (r *Registry) PushStream(ctx context.Context, a access.Actor, rf ref.Ref, body io.Reader) (*ImageView, error) {
	tag := rf.Tag
	if tag == "" {
		tag = DefaultTag
	}
	if err := ref.ValidTag(tag); err != nil {
		return nil, err
	}
	e, c, err := r.PushTarget(ctx, a, rf.Entity, rf.Collection)
	if err != nil {
		return nil, err
	}
	if err := ref.ValidName(rf.Container); err != nil {
		return nil, err
	}
	ct, err := r.meta.ContainerByName(ctx, c.ID, rf.Container)
	var v *ContainerView
	if errors.Is(err, meta.ErrNotFound) {
		v, err = r.CreateContainer(ctx, a, c.ID, rf.Container, "")
	} else if err == nil {
		v = &ContainerView{Entity: e, Collection: c, Container: ct}
	}
	if err != nil {
		return nil, err
	}
	if v.Container.Frozen {
		return nil, errf(Conflict, "%s is frozen: nothing new may be pushed until it is unfrozen", v.Ref().Path())
	}

	id, err := r.blobs.NewUpload(ctx)
	if err != nil {
		return nil, err
	}
	cancel := func() {
		if err := r.blobs.Cancel(context.WithoutCancel(ctx), id); err != nil {
			r.log.Warn("discarding upload bytes", "upload", id, "err", err)
		}
	}
	h := sha256.New()
	in := &bodyReader{r: body}
	var src io.Reader = in
	if r.cfg.MaxImageSize > 0 {
		src = io.LimitReader(in, r.cfg.MaxImageSize+1)
	}
	n, err := r.blobs.WriteAt(ctx, id, 0, io.TeeReader(src, h))
	if err != nil {
		cancel()
		if in.err != nil && errors.Is(err, in.err) {
			return nil, errf(Invalid, "upload cut short after %d bytes (%v)", n, in.err)
		}
		return nil, fmt.Errorf("storing upload: %w", err)
	}
	if in.err != nil {
		cancel()
		return nil, errf(Invalid, "upload cut short after %d bytes (%v)", n, in.err)
	}
	if r.cfg.MaxImageSize > 0 && n > r.cfg.MaxImageSize {
		cancel()
		return nil, errf(TooLarge, "image is over %d bytes, the most this registry takes", r.cfg.MaxImageSize)
	}
	if n == 0 {
		cancel()
		return nil, errf(Invalid, "the image file is empty")
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if err := r.checkQuota(ctx, v, &meta.Image{Digest: digest}, n); err != nil {
		cancel()
		return nil, err
	}
	im, err := r.meta.ImageByDigest(ctx, v.Container.ID, digest)
	created := false
	switch {
	case err == nil && im.Uploaded:
		cancel() // the same bytes are there already: only the tag moves
	case err == nil || errors.Is(err, meta.ErrNotFound):
		if err != nil {
			im = &meta.Image{ContainerID: v.Container.ID, Digest: digest, PushedBy: a.ID()}
			if err = r.meta.CreateImage(ctx, im); errors.Is(err, meta.ErrConflict) {
				im, err = r.meta.ImageByDigest(ctx, v.Container.ID, digest)
			} else {
				created = err == nil
			}
			if err != nil {
				cancel()
				return nil, err
			}
		}
		state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			cancel()
			return nil, err
		}
		up := &meta.Upload{ID: id, ImageID: im.ID, Size: n, Hashed: n, HashState: state, CreatedBy: a.ID(), Expires: r.now().Add(r.cfg.UploadTTL)}
		if err := r.meta.CreateUpload(ctx, up); err != nil {
			cancel()
			return nil, err
		}
		if _, err := r.CompleteUpload(ctx, a, up); err != nil {
			if created {
				if derr := r.meta.DeleteImage(context.WithoutCancel(ctx), im.ID); derr != nil {
					r.log.Warn("forgetting failed image", "image", im.ID, "err", derr)
				}
			}
			return nil, err
		}
		if im, err = r.meta.Image(ctx, im.ID); err != nil {
			return nil, err
		}
	default:
		cancel()
		return nil, err
	}
	if err := r.SetTag(ctx, a, v.Container.ID, "", tag, im.ID); err != nil {
		return nil, err
	}
	return r.view(ctx, v, im)
}

// DeleteTagged removes the tag rf names (every architecture of it), and the
// image with it when no other tag points at that image: deleting one of
// sregistry's containers (one name:tag) removes that and nothing more.
func (r *Registry) DeleteTagged(ctx context.Context, a access.Actor, rf ref.Ref) error {
	if !a.LoggedIn() {
		return mustLogIn(a, "delete "+rf.String())
	}
	iv, err := r.ResolveImage(ctx, a, rf, "")
	if err != nil {
		return err
	}
	if err := r.canWrite(ctx, a, &iv.ContainerView, "delete "+rf.String()); err != nil {
		return err
	}
	if iv.Container.Frozen {
		return errf(Conflict, "%s is frozen, delete not allowed", iv.Ref().Path())
	}
	others := false
	for _, t := range iv.Tags {
		if t.Name != rf.Tag {
			others = true
		}
	}
	if !others {
		if err := r.meta.DeleteImage(ctx, iv.Image.ID); err != nil {
			return storeErr(err, "image "+rf.String())
		}
		r.audit(ctx, a, "delete", rf.String(), "version sha256."+iv.Image.Digest)
		return nil
	}
	for _, t := range iv.Tags {
		if t.Name == rf.Tag {
			if err := r.meta.DeleteTag(ctx, t.ContainerID, t.Arch, t.Name); err != nil {
				return storeErr(err, "tag "+rf.String())
			}
		}
	}
	r.audit(ctx, a, "untag", rf.String(), "version sha256."+iv.Image.Digest+" kept: other tags name it")
	return nil
}

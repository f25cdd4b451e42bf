package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// DefaultTag is the tag a name without one means.
const DefaultTag = "latest"

func (r *Registry) view(ctx context.Context, v *ContainerView, im *meta.Image) (*ImageView, error) {
	tags, err := r.meta.Tags(ctx, v.Container.ID)
	if err != nil {
		return nil, err
	}
	iv := &ImageView{ContainerView: *v, Image: im}
	for _, t := range tags {
		if t.ImageID == im.ID {
			iv.Tags = append(iv.Tags, t)
		}
	}
	return iv, nil
}

// ResolveImage finds the image rf names for arch. A digest names the image
// with those bytes (arch is then ignored); otherwise the tag (default
// "latest") is looked up for arch, or for any arch when arch is empty.
// Images whose bytes have not arrived are returned too: the push protocol
// looks them up. Callers that serve bytes check Image.Uploaded.
func (r *Registry) ResolveImage(ctx context.Context, a access.Actor, rf ref.Ref, arch string) (*ImageView, error) {
	v, err := r.Container(ctx, a, rf)
	if err != nil {
		return nil, notFound("image " + rf.String())
	}
	if rf.Digest != "" {
		im, err := r.meta.ImageByDigest(ctx, v.Container.ID, rf.Digest)
		if err != nil {
			return nil, storeErr(err, "image "+rf.String())
		}
		if rf.Tag != "" {
			// name:tag@version must agree with itself.
			iv, err := r.view(ctx, v, im)
			if err != nil {
				return nil, err
			}
			if !hasTag(iv.Tags, rf.Tag, arch) {
				return nil, notFound("image " + rf.String())
			}
			return iv, nil
		}
		return r.view(ctx, v, im)
	}
	tag := rf.Tag
	if tag == "" {
		tag = DefaultTag
	}
	tags, err := r.meta.Tags(ctx, v.Container.ID)
	if err != nil {
		return nil, err
	}
	var match []meta.Tag
	for _, t := range tags {
		if t.Name == tag && (arch == "" || t.Arch == arch) {
			match = append(match, t)
		}
	}
	if len(match) == 0 {
		what := "image " + rf.Path() + ":" + tag
		if arch != "" {
			what += " for " + arch
		}
		return nil, notFound(what)
	}
	// With no arch asked for, the most recently moved tag wins.
	sort.Slice(match, func(i, j int) bool { return match[i].Updated.After(match[j].Updated) })
	im, err := r.meta.Image(ctx, match[0].ImageID)
	if err != nil {
		return nil, storeErr(err, "image "+rf.String())
	}
	return r.view(ctx, v, im)
}

func hasTag(tags []meta.Tag, name, arch string) bool {
	for _, t := range tags {
		if t.Name == name && (arch == "" || t.Arch == arch) {
			return true
		}
	}
	return false
}

// ImageByID returns an image the actor may see.
func (r *Registry) ImageByID(ctx context.Context, a access.Actor, id int64) (*ImageView, error) {
	what := fmt.Sprintf("image %d", id)
	im, err := r.meta.Image(ctx, id)
	if err != nil {
		return nil, storeErr(err, what)
	}
	v, err := r.ContainerByID(ctx, a, im.ContainerID)
	if err != nil {
		return nil, notFound(what)
	}
	return r.view(ctx, v, im)
}

// CreateImage records that an image with digest is about to be uploaded
// into a container. Creating an image that exists returns it.
func (r *Registry) CreateImage(ctx context.Context, a access.Actor, containerID int64, digest, description string) (*ImageView, error) {
	if !blob.ValidDigest(digest) {
		return nil, errf(Invalid, "invalid image hash %q: want sha256.<64 lower-case hex digits>", digest)
	}
	v, err := r.ContainerByID(ctx, a, containerID)
	if err != nil {
		return nil, err
	}
	if err := r.canWrite(ctx, a, v, "push to "+v.Ref().Path()); err != nil {
		return nil, err
	}
	if v.Container.Frozen {
		if im, err := r.meta.ImageByDigest(ctx, containerID, digest); err == nil {
			return r.view(ctx, v, im) // already there: tagging decides what may change
		}
		return nil, errf(Conflict, "%s is frozen: no new images until it is unfrozen", v.Ref().Path())
	}
	im := &meta.Image{ContainerID: containerID, Digest: digest, Description: description, PushedBy: a.ID()}
	err = r.meta.CreateImage(ctx, im)
	if errors.Is(err, meta.ErrConflict) {
		im, err = r.meta.ImageByDigest(ctx, containerID, digest)
	}
	if err != nil {
		return nil, err
	}
	return r.view(ctx, v, im)
}

// SetTag points tag at an uploaded image of the container, for arch (the
// image's own when empty). Moving a tag in a frozen container is refused.
func (r *Registry) SetTag(ctx context.Context, a access.Actor, containerID int64, arch, tag string, imageID int64) error {
	if err := ref.ValidTag(tag); err != nil {
		return err
	}
	if !a.LoggedIn() {
		return mustLogIn(a, "tag images")
	}
	v, err := r.ContainerByID(ctx, a, containerID)
	if err != nil {
		return err
	}
	if err := r.canWrite(ctx, a, v, "tag images in "+v.Ref().Path()); err != nil {
		return err
	}
	im, err := r.meta.Image(ctx, imageID)
	if err != nil || im.ContainerID != containerID {
		return notFound(fmt.Sprintf("image %d in %s", imageID, v.Ref().Path()))
	}
	if !im.Uploaded {
		return errf(Invalid, "image sha256.%s has not been uploaded yet", im.Digest)
	}
	if arch == "" {
		arch = im.Arch
	}
	if arch == "" {
		return errf(Invalid, "the image names no architecture; give one")
	}
	if im.Arch != "" && arch != im.Arch {
		return errf(Invalid, "cannot tag a %s image as %s", im.Arch, arch)
	}
	tags, err := r.meta.Tags(ctx, containerID)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if t.Name == tag && t.Arch == arch {
			if t.ImageID == imageID {
				return nil
			}
			if v.Container.Frozen {
				return errf(Conflict, "%s is frozen: tag %s (%s) cannot be moved", v.Ref().Path(), tag, arch)
			}
		}
	}
	if err := r.meta.SetTag(ctx, meta.Tag{ContainerID: containerID, Arch: arch, Name: tag, ImageID: imageID}); err != nil {
		return err
	}
	r.log.Info("tag set", "image", v.Ref().Path()+":"+tag, "arch", arch, "version", "sha256."+im.Digest, "by", a.Name())
	return nil
}

// Tags lists the tags of a container the actor may see.
func (r *Registry) Tags(ctx context.Context, a access.Actor, containerID int64) ([]meta.Tag, error) {
	if _, err := r.ContainerByID(ctx, a, containerID); err != nil {
		return nil, err
	}
	return r.meta.Tags(ctx, containerID)
}

// DeleteImage deletes the image rf names (for arch) and every tag pointing
// at it. Its bytes stay while another image uses them; garbage collection
// removes them once none does.
func (r *Registry) DeleteImage(ctx context.Context, a access.Actor, rf ref.Ref, arch string) (*ImageView, error) {
	// Writes ask for a login before looking anything up: "log in" helps
	// the owner who forgot to, and says nothing about what exists.
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "delete "+rf.String())
	}
	iv, err := r.ResolveImage(ctx, a, rf, arch)
	if err != nil {
		return nil, err
	}
	if err := r.canWrite(ctx, a, &iv.ContainerView, "delete "+rf.String()); err != nil {
		return nil, err
	}
	if iv.Container.Frozen {
		return nil, errf(Conflict, "%s is frozen: its images cannot be deleted", iv.Ref().Path())
	}
	if err := r.meta.DeleteImage(ctx, iv.Image.ID); err != nil {
		return nil, storeErr(err, "image "+rf.String())
	}
	r.audit(ctx, a, "delete", rf.String(), "version sha256."+iv.Image.Digest)
	return iv, nil
}

// OpenImage returns the image rf names and a reader of its bytes. It counts
// a download when count is true.
func (r *Registry) OpenImage(ctx context.Context, a access.Actor, rf ref.Ref, arch string, count bool) (*ImageView, blob.Reader, error) {
	iv, err := r.ResolveImage(ctx, a, rf, arch)
	if err != nil {
		return nil, nil, err
	}
	if !iv.Image.Uploaded {
		return nil, nil, notFound("image " + rf.String())
	}
	rd, err := r.blobs.Open(ctx, iv.Image.Digest)
	if err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			// A name whose bytes are gone is a store fault, not the user's.
			return nil, nil, fmt.Errorf("image %s: blob sha256.%s is missing from the store (run `silo fsck`)", rf, iv.Image.Digest)
		}
		return nil, nil, err
	}
	if count {
		if err := r.meta.AddDownload(ctx, iv.Image.ID); err != nil {
			r.log.Warn("counting download", "image", rf.String(), "err", err)
		}
	}
	return iv, rd, nil
}

// OpenBlob opens stored bytes by digest, for signed download URLs that
// were handed out after an access check.
func (r *Registry) OpenBlob(ctx context.Context, digest string) (blob.Reader, error) {
	rd, err := r.blobs.Open(ctx, digest)
	if err != nil {
		return nil, storeErr(err, "blob sha256."+digest)
	}
	return rd, nil
}

// Find lists the uploaded images matching q that the actor may see.
func (r *Registry) Find(ctx context.Context, a access.Actor, q meta.Query) ([]meta.ImageRecord, error) {
	limit := q.Limit
	q.Limit = 0 // filter first, then cut, so hidden rows do not shorten pages
	recs, err := r.meta.Find(ctx, q)
	if err != nil {
		return nil, err
	}
	pol := r.pol(ctx)
	out := recs[:0]
	for i := range recs {
		if pol.CanReadRecord(a, &recs[i]) {
			out = append(out, recs[i])
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

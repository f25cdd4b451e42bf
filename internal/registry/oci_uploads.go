package registry

import (
	"context"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
)

// OCIStartUpload opens a blob upload session in a repository the actor may push to.
func (r *Registry) OCIStartUpload(ctx context.Context, a access.Actor, v *ContainerView) (*meta.OCIUpload, error) {
	if err := r.canWrite(ctx, a, v, "push to "+v.Ref().Path()); err != nil {
		return nil, err
	}
	if v.Container.Frozen {
		return nil, errf(Conflict, "%s is frozen: nothing new is pushed until it is unfrozen", v.Ref().Path())
	}
	up := &meta.OCIUpload{ContainerID: v.Container.ID, CreatedBy: a.ID(), Expires: r.now().Add(r.cfg.UploadTTL)}
	var err error
	if up.ID, err = r.blobs.NewUpload(ctx); err != nil {
		return nil, err
	}
	if err := r.meta.CreateOCIUpload(ctx, up); err != nil {
		_ = r.blobs.Cancel(ctx, up.ID)
		return nil, err
	}
	return up, nil
}

// OCIUpload finds a live upload session of repository v for an actor who
// may push there.
func (r *Registry) OCIUpload(ctx context.Context, a access.Actor, v *ContainerView, id string) (*meta.OCIUpload, error) {
	if err := r.canWrite(ctx, a, v, "push to "+v.Ref().Path()); err != nil {
		return nil, err
	}
	up, err := r.meta.OCIUpload(ctx, id)
	if err != nil || up.ContainerID != v.Container.ID || r.now().After(up.Expires) {
		return nil, ociErr(CodeBlobUploadUnknown, NotFound, "upload %s not found", id)
	}
	return up, nil
}

// OCIWriteChunk appends body to an upload at offset, which must be where
// the upload ends (chunks arrive in order). length is the chunk's size, or
// -1 when the client did not say (one PATCH with the whole blob). The bytes
// are hashed as they stream to the store, never held in memory.
func (r *Registry) OCIWriteChunk(ctx context.Context, up *meta.OCIUpload, offset, length int64, body io.Reader) error {
	if offset != up.Size {
		return ociErr(CodeRangeInvalid, Invalid, "chunk starts at byte %d but the upload holds %d bytes: send chunks in order", offset, up.Size)
	}
	h, err := restoreHash(up.HashState)
	if err != nil {
		return err
	}
	in := &bodyReader{r: body}
	var src io.Reader = in
	if length >= 0 {
		src = io.LimitReader(in, length)
	}
	limit := int64(-1)
	if r.cfg.MaxImageSize > 0 {
		limit = r.cfg.MaxImageSize - offset
		src = io.LimitReader(src, limit+1)
	}
	// The owner's quota: a chunk that says it does not fit is refused
	// before any of it is stored, one that does not say is cut off one
	// byte past the room left; either way the upload is discarded.
	room, overQuota, err := r.ociRoom(ctx, up.ContainerID, offset)
	if err != nil {
		return err
	}
	if room >= 0 {
		if length > room {
			r.OCICancelUpload(context.WithoutCancel(ctx), up)
			return overQuota(length)
		}
		src = io.LimitReader(src, room+1)
	}
	n, err := r.blobs.WriteAt(ctx, up.ID, offset, io.TeeReader(src, h))
	if err == nil && room >= 0 && n > room {
		r.OCICancelUpload(context.WithoutCancel(ctx), up)
		return overQuota(n)
	}
	if err != nil {
		if in.err != nil && errors.Is(err, in.err) {
			return ociErr(CodeBlobUploadInvalid, Invalid, "chunk cut short after %d bytes (%v)", n, in.err)
		}
		if ctx.Err() != nil { // the client went away
			return ociErr(CodeBlobUploadInvalid, Invalid, "upload interrupted after %d bytes (%v)", n, ctx.Err())
		}
		return fmt.Errorf("storing upload: %w", err)
	}
	if limit >= 0 && n > limit {
		return ociErr(CodeSizeInvalid, TooLarge, "blob is over %d bytes; this registry takes at most that", r.cfg.MaxImageSize)
	}
	if length >= 0 && n != length {
		return ociErr(CodeBlobUploadInvalid, Invalid, "chunk cut short: received %d of %d bytes", n, length)
	}
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	err = r.meta.AdvanceOCIUpload(ctx, up.ID, offset, offset+n, state)
	if errors.Is(err, meta.ErrNotFound) {
		// Another request appended at this offset first (or the session
		// ended): its bytes and ours overlap, so neither can be trusted.
		return ociErr(CodeRangeInvalid, Invalid, "another chunk was written at byte %d at the same time", offset)
	}
	if err != nil {
		return err
	}
	up.Size, up.HashState = offset+n, state
	return nil
}

// OCICompleteUpload checks an upload's bytes against digest and makes them
// a blob of the upload's repository. On a wrong digest the session and its
// bytes are discarded.
func (r *Registry) OCICompleteUpload(ctx context.Context, up *meta.OCIUpload, digest string) (*BlobRef, error) {
	d, err := ParseDigest(digest)
	if err != nil {
		r.OCICancelUpload(context.WithoutCancel(ctx), up)
		return nil, err
	}
	b, err := r.completeOCIUpload(ctx, up, d)
	if err != nil {
		r.OCICancelUpload(context.WithoutCancel(ctx), up)
		return nil, err
	}
	return b, nil
}

func (r *Registry) completeOCIUpload(ctx context.Context, up *meta.OCIUpload, d Digest) (*BlobRef, error) {
	h, err := restoreHash(up.HashState)
	if err != nil {
		return nil, err
	}
	// The store names bytes by their sha256, whatever digest the client
	// uses; other algorithms are checked by reading the upload back (rare:
	// no client Silo serves pushes sha512 by default).
	key := hex.EncodeToString(h.Sum(nil))
	got := key
	if d.Algorithm != "sha256" {
		rd, err := r.blobs.ReadUpload(ctx, up.ID)
		if err != nil {
			return nil, err
		}
		hh := d.hash()
		_, err = io.Copy(hh, io.NewSectionReader(rd, 0, up.Size))
		rd.Close()
		if err != nil {
			return nil, err
		}
		got = hex.EncodeToString(hh.Sum(nil))
	}
	if got != d.Hex {
		return nil, ociErr(CodeDigestInvalid, DigestMismatch, "digest mismatch: the upload was declared as %s but its %d bytes hash to %s:%s", d, up.Size, d.Algorithm, got)
	}
	if err := r.blobs.Commit(ctx, up.ID, key, up.Size); err != nil {
		return nil, fmt.Errorf("storing blob: %w", err)
	}
	l := meta.BlobLink{ContainerID: up.ContainerID, Digest: d.String(), Key: key, Size: up.Size}
	if err := r.meta.LinkBlob(ctx, l); err != nil {
		return nil, err
	}
	if err := r.meta.DeleteOCIUpload(ctx, up.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
		r.log.Warn("forgetting finished upload", "upload", up.ID, "err", err)
	}
	return &BlobRef{Digest: l.Digest, Key: key, Size: up.Size}, nil
}

// OCICancelUpload discards a session and its bytes.
func (r *Registry) OCICancelUpload(ctx context.Context, up *meta.OCIUpload) {
	// Also when the request that ends the upload was itself cut off (a
	// client cancelling a push midway): the bytes must still go.
	ctx = context.WithoutCancel(ctx)
	if err := r.blobs.Cancel(ctx, up.ID); err != nil {
		r.log.Warn("discarding upload bytes", "upload", up.ID, "err", err)
	}
	if err := r.meta.DeleteOCIUpload(ctx, up.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
		r.log.Warn("forgetting upload", "upload", up.ID, "err", err)
	}
}

// uploadKnown reports whether a blob-store upload has a session of either protocol.
func (r *Registry) uploadKnown(ctx context.Context, id string) (bool, error) {
	_, err := r.meta.Upload(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		_, err = r.meta.OCIUpload(ctx, id)
	}
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// expireOCIUploads discards OCI upload sessions past their expiry.
func (r *Registry) expireOCIUploads(ctx context.Context) (int, error) {
	ups, err := r.meta.ExpiredOCIUploads(ctx, r.now())
	for i := range ups {
		r.OCICancelUpload(ctx, &ups[i])
	}
	return len(ups), err
}

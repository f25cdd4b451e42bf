package registry

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/sif"
)

// StartUpload opens an upload session for an image's bytes. partSize 0 is
// a single-part upload.
func (r *Registry) StartUpload(ctx context.Context, a access.Actor, imageID, size, partSize int64) (*meta.Upload, error) {
	iv, err := r.ImageByID(ctx, a, imageID)
	if err != nil {
		return nil, err
	}
	if err := r.canWrite(ctx, a, &iv.ContainerView, "push to "+iv.Ref().Path()); err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, errf(Invalid, "invalid image size %d", size)
	}
	if r.cfg.MaxImageSize > 0 && size > r.cfg.MaxImageSize {
		return nil, errf(TooLarge, "image is %d bytes; this registry takes at most %d", size, r.cfg.MaxImageSize)
	}
	// Before the session and its file exist, so a refused push leaves nothing.
	if err := r.checkQuota(ctx, &iv.ContainerView, iv.Image, size); err != nil {
		return nil, err
	}
	up := &meta.Upload{ImageID: imageID, Size: size, CreatedBy: a.ID(), Expires: r.now().Add(r.cfg.UploadTTL)}
	if partSize > 0 {
		up.PartSize = partSize
		up.TotalParts = int((size + partSize - 1) / partSize)
	}
	if up.ID, err = r.blobs.NewUpload(ctx); err != nil {
		return nil, err
	}
	if err := r.meta.CreateUpload(ctx, up); err != nil {
		_ = r.blobs.Cancel(ctx, up.ID)
		return nil, err
	}
	return up, nil
}

// UploadByID finds a live session with no access check: for upload URLs
// whose signature is the credential.
func (r *Registry) UploadByID(ctx context.Context, id string) (*meta.Upload, error) {
	up, err := r.meta.Upload(ctx, id)
	if err != nil || r.now().After(up.Expires) {
		return nil, notFound("upload " + id)
	}
	return up, nil
}

// Upload finds a live session by id for an actor who may push to its image.
func (r *Registry) Upload(ctx context.Context, a access.Actor, imageID int64, id string) (*meta.Upload, error) {
	up, err := r.UploadByID(ctx, id)
	if err != nil || up.ImageID != imageID {
		return nil, notFound("upload " + id)
	}
	iv, err := r.ImageByID(ctx, a, imageID)
	if err != nil {
		return nil, err
	}
	if err := r.canWrite(ctx, a, &iv.ContainerView, "push to "+iv.Ref().Path()); err != nil {
		return nil, err
	}
	return up, nil
}

func restoreHash(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(state) > 0 {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			return nil, fmt.Errorf("upload hash state: %w", err)
		}
	}
	return h, nil
}

// WriteUpload stores length bytes of body at offset. Bytes that continue
// the hashed prefix are hashed as they stream past, so completing a
// sequential upload needs no second read.
func (r *Registry) WriteUpload(ctx context.Context, up *meta.Upload, offset, length int64, body io.Reader) error {
	if offset < 0 || length < 0 || offset+length > up.Size {
		return errf(Invalid, "bytes %d-%d are outside the declared image size %d", offset, offset+length-1, up.Size)
	}
	// Bytes already folded into the hash state must not change: completion
	// checks the digest against that state, not against the file, so a part
	// sent again with other bytes would be stored under a digest it does not
	// have, and (blobs being shared) served to whoever pushes the genuine
	// image later. The clients never send a part twice.
	if offset < up.Hashed {
		return errf(Conflict, "bytes %d-%d were already received and checked: start a new upload to send other bytes", offset, offset+length-1)
	}
	in := &bodyReader{r: body}
	src := io.LimitReader(in, length)
	var h hash.Hash
	if offset == up.Hashed {
		var err error
		if h, err = restoreHash(up.HashState); err != nil {
			return err
		}
		src = io.TeeReader(src, h)
	}
	n, err := r.blobs.WriteAt(ctx, up.ID, offset, src)
	if err != nil {
		if in.err != nil && errors.Is(err, in.err) {
			// The body failed, not the store: the client hung up or sent
			// less than it declared. Bad input, not a fault of Silo's.
			return errf(Invalid, "upload cut short: received %d of %d bytes (%v)", n, length, in.err)
		}
		return fmt.Errorf("storing upload: %w", err)
	}
	if n != length {
		return errf(Invalid, "upload cut short: received %d of %d bytes", n, length)
	}
	if h != nil {
		state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return err
		}
		err = r.meta.AdvanceUpload(ctx, up.ID, offset, offset+length, state)
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		if err == nil {
			up.Hashed, up.HashState = offset+length, state
			return nil
		}
		// Another writer sent the same range at the same time and won the
		// race to advance the hash; the file may hold either's bytes. Forget
		// the hashed prefix so completion hashes what the file really holds.
		if err := r.meta.AdvanceUpload(ctx, up.ID, offset+length, 0, nil); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		up.Hashed, up.HashState = 0, nil
	}
	return nil
}

// bodyReader remembers the error its reader failed with, so that a
// request body that breaks off is told apart from a failing store.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// CompleteUpload verifies an upload against its image's digest, checks it
// is a SIF, makes the bytes durable and only then marks the image uploaded.
// On any failure the session and its bytes are discarded.
func (r *Registry) CompleteUpload(ctx context.Context, a access.Actor, up *meta.Upload) (*ImageView, error) {
	iv, err := r.completeUpload(ctx, a, up)
	if err != nil {
		r.AbortUpload(context.WithoutCancel(ctx), up)
		return nil, err
	}
	return iv, nil
}

func (r *Registry) completeUpload(ctx context.Context, a access.Actor, up *meta.Upload) (*ImageView, error) {
	im, err := r.meta.Image(ctx, up.ImageID)
	if err != nil {
		return nil, storeErr(err, "image")
	}
	h, err := restoreHash(up.HashState)
	if err != nil {
		return nil, err
	}
	if up.Hashed < up.Size {
		// Parts arrived out of order: hash what was not seen in sequence.
		rd, err := r.blobs.ReadUpload(ctx, up.ID)
		if err != nil {
			return nil, err
		}
		n, err := hashBack(ctx, h, rd, up.Hashed, up.Size-up.Hashed)
		rd.Close()
		if err != nil {
			return nil, err
		}
		if up.Hashed+n < up.Size {
			return nil, errf(Invalid, "upload incomplete: received %d of %d bytes", up.Hashed+n, up.Size)
		}
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != im.Digest {
		return nil, errf(DigestMismatch, "checksum mismatch: the image was declared as sha256.%s but the bytes received hash to sha256.%s", im.Digest, got)
	}
	rd, err := r.blobs.ReadUpload(ctx, up.ID)
	if err != nil {
		return nil, err
	}
	info, err := sif.Inspect(rd, up.Size)
	rd.Close()
	if err != nil {
		if errors.Is(err, sif.ErrNotSIF) {
			return nil, errf(Invalid, "not a SIF image: %v", err)
		}
		return nil, err
	}
	if err := r.blobs.Commit(ctx, up.ID, im.Digest, up.Size); err != nil {
		return nil, fmt.Errorf("storing image: %w", err)
	}
	describeSIF(im, up.Size, info)
	if a.ID() != 0 {
		im.PushedBy = a.ID()
	} else if up.CreatedBy != 0 {
		im.PushedBy = up.CreatedBy
	}
	if err := r.meta.CompleteImage(ctx, im); err != nil {
		return nil, err
	}
	if err := r.meta.DeleteUpload(ctx, up.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
		r.log.Warn("forgetting finished upload", "upload", up.ID, "err", err)
	}
	v, err := r.containerView(ctx, im.ContainerID)
	if err != nil {
		return nil, err
	}
	r.log.Info("image uploaded", "container", v.Ref().Path(), "version", "sha256."+im.Digest, "size", im.Size, "arch", im.Arch)
	r.audit(ctx, a, "push", v.Ref().Path()+"@sha256."+im.Digest, fmt.Sprintf("%d bytes, %s", im.Size, im.Arch))
	return r.view(ctx, v, im)
}

// describeSIF records on im what its verified SIF bytes say about it, for
// every path by which an image's bytes arrive.
func describeSIF(im *meta.Image, size int64, info *sif.Info) {
	im.Size, im.Arch, im.Signed, im.Encrypted = size, info.Arch, info.Signed, info.Encrypted
	im.Labels, im.Definition, im.SIFCreated = info.Labels, info.Definition, info.Created
}

// AbortUpload discards a session and its bytes.
func (r *Registry) AbortUpload(ctx context.Context, up *meta.Upload) {
	if err := r.blobs.Cancel(ctx, up.ID); err != nil {
		r.log.Warn("discarding upload bytes", "upload", up.ID, "err", err)
	}
	if err := r.meta.DeleteUpload(ctx, up.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
		r.log.Warn("forgetting upload", "upload", up.ID, "err", err)
	}
}

// PutImage stores a whole image body in one go (the library API's v1
// upload, and the single PUT of v2): session, bytes, verification, commit.
func (r *Registry) PutImage(ctx context.Context, a access.Actor, imageID, size int64, body io.Reader) (*ImageView, error) {
	up, err := r.StartUpload(ctx, a, imageID, size, 0)
	if err != nil {
		return nil, err
	}
	if err := r.ReceiveWhole(ctx, up, body); err != nil {
		return nil, err
	}
	return r.CompleteUpload(ctx, a, up)
}

// ReceiveWhole writes the whole body of a single-part session; any failure
// discards the session. Completing it is a separate step.
func (r *Registry) ReceiveWhole(ctx context.Context, up *meta.Upload, body io.Reader) error {
	if err := r.WriteUpload(ctx, up, 0, up.Size, body); err != nil {
		r.AbortUpload(context.WithoutCancel(ctx), up)
		return err
	}
	// A body longer than declared is as wrong as a short one.
	var one [1]byte
	if n, _ := io.ReadFull(body, one[:]); n > 0 {
		r.AbortUpload(context.WithoutCancel(ctx), up)
		return errf(Invalid, "upload longer than the declared %d bytes", up.Size)
	}
	return nil
}

// CompleteWhole completes the newest single-part session of an image, for
// the library API's _complete call, which names the image but not the
// session. Its errors reach the user: the clients print this call's error
// message, unlike the upload PUT's.
func (r *Registry) CompleteWhole(ctx context.Context, a access.Actor, imageID int64) (*ImageView, error) {
	iv, err := r.ImageByID(ctx, a, imageID)
	if err != nil {
		return nil, err
	}
	if err := r.canWrite(ctx, a, &iv.ContainerView, "push to "+iv.Ref().Path()); err != nil {
		return nil, err
	}
	ups, err := r.meta.UploadsForImage(ctx, imageID)
	if err != nil {
		return nil, err
	}
	for i := range ups {
		if ups[i].PartSize == 0 && !r.now().After(ups[i].Expires) {
			return r.CompleteUpload(ctx, a, &ups[i])
		}
	}
	if iv.Image.Uploaded {
		return iv, nil
	}
	return nil, errf(Invalid, "the image's bytes have not arrived: PUT them to the upload URL first")
}

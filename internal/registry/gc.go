package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/meta"
)

// GCReport says what a garbage collection removed.
type GCReport struct {
	Uploads    int   // expired or orphaned upload sessions
	Images     int   // images created but never uploaded
	Blobs      int   // blobs no image names
	BytesFreed int64 // size of those blobs
}

// GC removes what nothing names any more: expired upload sessions, images
// whose bytes never arrived, and blobs no image uses. Anything younger than
// grace is left alone, so a push in flight is never disturbed; it is safe
// to run while serving.
func (r *Registry) GC(ctx context.Context, grace time.Duration) (GCReport, error) {
	var rep GCReport
	cutoff := r.now().Add(-grace)

	expired, err := r.meta.ExpiredUploads(ctx, r.now())
	if err != nil {
		return rep, err
	}
	for i := range expired {
		r.AbortUpload(ctx, &expired[i])
		rep.Uploads++
	}
	n, err := r.expireOCIUploads(ctx)
	rep.Uploads += n
	if err != nil {
		return rep, err
	}
	stale, err := r.meta.StaleImages(ctx, cutoff)
	if err != nil {
		return rep, err
	}
	for _, im := range stale {
		if err := r.meta.DeleteImage(ctx, im.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return rep, err
		}
		rep.Images++
	}
	// Upload bytes with no session (a crash between the two writes).
	var orphans []string
	err = r.blobs.Uploads(ctx, func(u blob.UploadInfo) error {
		if u.ModTime.After(cutoff) {
			return nil
		}
		if known, err := r.uploadKnown(ctx, u.ID); err != nil {
			return err
		} else if !known {
			orphans = append(orphans, u.ID)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("listing uploads: %w", err)
	}
	for _, id := range orphans {
		if err := r.blobs.Cancel(ctx, id); err != nil {
			return rep, err
		}
		rep.Uploads++
	}
	var unused []blob.Info
	err = r.blobs.Walk(ctx, func(b blob.Info) error {
		if b.ModTime.After(cutoff) {
			return nil
		}
		used, err := r.digestInUse(ctx, b.Digest)
		if err != nil {
			return err
		}
		if !used {
			unused = append(unused, b)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("listing blobs: %w", err)
	}
	for _, b := range unused {
		// Check again right before deleting: a push may have named it
		// (and refreshed its time) since the walk.
		if used, err := r.digestInUse(ctx, b.Digest); err != nil || used {
			continue
		}
		if st, err := r.blobs.Stat(ctx, b.Digest); err != nil || st.ModTime.After(cutoff) {
			continue
		}
		if err := r.blobs.Delete(ctx, b.Digest); err != nil {
			return rep, err
		}
		rep.Blobs++
		rep.BytesFreed += b.Size
	}
	if rep != (GCReport{}) {
		r.log.Info("garbage collected", "uploads", rep.Uploads, "images", rep.Images, "blobs", rep.Blobs, "bytes", rep.BytesFreed)
	}
	return rep, nil
}

package registry

import (
	"context"
	"errors"

	"github.com/siloreg/silo/internal/meta"
)

// ociQuota is the quota in force for the owner of the collection holding
// container id, and what that owner uses; limit 0 means none. OCI blobs
// count against it as they are uploaded (each stored key once, see
// meta.UsageBytes), so a push of any content is refused before its
// bytes are kept, as a SIF push is.
func (r *Registry) ociQuota(ctx context.Context, containerID int64) (o owner, limit, used int64, err error) {
	v, err := r.containerView(ctx, containerID)
	if err != nil {
		return owner{}, 0, 0, err
	}
	return r.quotaOf(ctx, v.Entity, v.Collection)
}

// errOCIQuota refuses an upload that would take o over their quota.
func errOCIQuota(o owner, limit, used, size int64) error {
	return ociErr("DENIED", TooLarge, "push refused: %s's quota is %s and %s is used; this blob would take it to %s. Delete what you no longer need, or ask an admin for more",
		o, HumanSize(limit), HumanSize(used), HumanSize(used+size))
}

// ociRoom is how many more bytes an upload of container id holding
// offset bytes may take, or -1 for no limit; refused is the error for a
// chunk that does not fit.
func (r *Registry) ociRoom(ctx context.Context, containerID, offset int64) (room int64, refused func(n int64) error, err error) {
	o, limit, used, err := r.ociQuota(ctx, containerID)
	if err != nil || limit <= 0 {
		return -1, nil, err
	}
	return max(limit-used-offset, 0), func(n int64) error { return errOCIQuota(o, limit, used, offset+n) }, nil
}

// ociMountFits reports whether linking a blob of size bytes into
// container id keeps its owner within their quota. It is conservative:
// bytes the owner already holds elsewhere are counted again, so such a
// mount is declined and the client uploads instead (and is told why).
func (r *Registry) ociMountFits(ctx context.Context, containerID, size int64) (bool, error) {
	_, limit, used, err := r.ociQuota(ctx, containerID)
	if KindOf(err) == NotFound || errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	return err == nil && (limit <= 0 || used+size <= limit), err
}

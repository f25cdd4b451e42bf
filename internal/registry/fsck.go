package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/meta"
)

// FsckReport lists what a consistency check found wrong. Empty lists
// mean the registry is sound.
type FsckReport struct {
	Images   int      // uploaded images checked
	Blobs    int      // distinct blobs checked
	Missing  []string // images whose bytes are gone
	WrongLen []string // images whose stored size differs from the record
	Corrupt  []string // blobs whose bytes no longer hash to their name (with verify)
	Unused   int      // blobs no image names (garbage collection removes them)
}

// Clean reports whether nothing is wrong. Unused blobs are not wrong.
func (f *FsckReport) Clean() bool {
	return len(f.Missing) == 0 && len(f.WrongLen) == 0 && len(f.Corrupt) == 0
}

// Fsck checks that every uploaded image's bytes are stored with the
// recorded size and, when verify is set, that they still hash to their
// digest. It only reads, so it is safe while serving.
func (r *Registry) Fsck(ctx context.Context, verify bool) (*FsckReport, error) {
	recs, err := r.meta.Find(ctx, meta.Query{})
	if err != nil {
		return nil, err
	}
	rep := &FsckReport{Images: len(recs)}
	checked := map[string]bool{}
	for i := range recs {
		im := &recs[i]
		name := fmt.Sprintf("%s/%s/%s@sha256.%s", im.Entity, im.Collection, im.Container, im.Digest)
		st, err := r.blobs.Stat(ctx, im.Digest)
		if errors.Is(err, blob.ErrNotFound) {
			rep.Missing = append(rep.Missing, name)
			continue
		}
		if err != nil {
			return nil, err
		}
		if st.Size != im.Size {
			rep.WrongLen = append(rep.WrongLen, fmt.Sprintf("%s: recorded %d bytes, stored %d", name, im.Size, st.Size))
		}
		if checked[im.Digest] {
			continue
		}
		checked[im.Digest] = true
		if verify {
			ok, err := r.verifyBlob(ctx, im.Digest)
			if err != nil {
				return nil, err
			}
			if !ok {
				rep.Corrupt = append(rep.Corrupt, "sha256."+im.Digest)
			}
		}
	}
	var linked []string
	err = r.blobs.Walk(ctx, func(b blob.Info) error {
		if checked[b.Digest] {
			return nil
		}
		// Blobs pushed through the OCI API belong to repositories, not images.
		if ok, err := r.meta.KeyLinked(ctx, b.Digest); err != nil {
			return err
		} else if ok {
			linked = append(linked, b.Digest)
			checked[b.Digest] = true
			return nil
		}
		rep.Unused++
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, d := range linked {
		if !verify {
			break
		}
		ok, err := r.verifyBlob(ctx, d)
		if err != nil {
			return nil, err
		}
		if !ok {
			rep.Corrupt = append(rep.Corrupt, "sha256."+d)
		}
	}
	rep.Blobs = len(checked)
	return rep, nil
}

func (r *Registry) verifyBlob(ctx context.Context, digest string) (bool, error) {
	rd, err := r.blobs.Open(ctx, digest)
	if err != nil {
		return false, err
	}
	defer rd.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rd); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == digest, nil
}

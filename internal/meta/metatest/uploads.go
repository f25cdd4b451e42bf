package metatest

import (
	"cmp"
	"crypto/sha256"
	"encoding"
	"slices"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// hashState returns the marshalled sha256 state after hashing data, which is
// what the upload path really stores.
func hashState(t *testing.T, data string) []byte {
	t.Helper()
	h := sha256.New()
	h.Write([]byte(data))
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		t.Fatalf("marshal sha256 state: %v", err)
	}
	return b
}

func testUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	im := mustImage(t, s, tr.container.ID, "a")

	multi := &meta.Upload{
		ID:         "0d5f3c1e-multi",
		ImageID:    im.ID,
		Size:       1<<32 + 17,
		PartSize:   64 << 20,
		TotalParts: 65,
		Hashed:     64 << 20,
		HashState:  []byte{0, 1, 2, 0xfe, 0xff, 0, 'x'}, // NULs and high bytes
		CreatedBy:  tr.user.ID,
		Expires:    odd(2030, 999999999),
	}
	single := &meta.Upload{ID: "single", ImageID: im.ID, Size: 4096, Expires: odd(2030, 1000)}
	for _, u := range []*meta.Upload{multi, single} {
		if err := s.CreateUpload(ctx, u); err != nil {
			t.Fatalf("CreateUpload(%s): %v", u.ID, err)
		}
		checkRecent(t, u.ID+".Created", u.Created)
	}
	byImage, err := s.UploadsForImage(ctx, im.ID)
	if err != nil || len(byImage) != 2 {
		t.Fatalf("UploadsForImage: %d sessions, %v; want 2", len(byImage), err)
	}
	if other, err := s.UploadsForImage(ctx, im.ID+1000); err != nil || len(other) != 0 {
		t.Errorf("UploadsForImage(unknown image) = %v, %v; want none", other, err)
	}
	for _, want := range []*meta.Upload{multi, single} {
		got, err := s.Upload(ctx, want.ID)
		if err != nil {
			t.Fatalf("Upload(%s): %v", want.ID, err)
		}
		same(t, "Upload", got, want)
	}

	// Two sessions under one id would let one client write the other's.
	err = s.CreateUpload(ctx, &meta.Upload{ID: multi.ID, ImageID: im.ID, Size: 1, Expires: time.Now()})
	wantErr(t, "CreateUpload with a taken ID", err, meta.ErrConflict)
	if got, err := s.Upload(ctx, multi.ID); err != nil {
		t.Errorf("Upload after a refused duplicate: %v", err)
	} else {
		same(t, "Upload after a refused duplicate", got, multi)
	}

	_, err = s.Upload(ctx, "nope")
	wantErr(t, "Upload(missing)", err, meta.ErrNotFound)

	if err := s.DeleteUpload(ctx, multi.ID); err != nil {
		t.Fatalf("DeleteUpload: %v", err)
	}
	_, err = s.Upload(ctx, multi.ID)
	wantErr(t, "Upload after DeleteUpload", err, meta.ErrNotFound)
	if got, err := s.Upload(ctx, single.ID); err != nil {
		t.Errorf("DeleteUpload took another upload with it: %v", err)
	} else {
		same(t, "the other Upload", got, single)
	}
	if _, err := s.Image(ctx, im.ID); err != nil {
		t.Errorf("DeleteUpload took the image with it: %v", err)
	}
	wantErr(t, "DeleteUpload twice", s.DeleteUpload(ctx, multi.ID), meta.ErrNotFound)
	wantErr(t, "DeleteUpload(missing)", s.DeleteUpload(ctx, "nope"), meta.ErrNotFound)
}

func testAdvanceUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	im := mustImage(t, s, tr.container.ID, "a")
	up := &meta.Upload{ID: "up", ImageID: im.ID, Size: 3 << 20, PartSize: 1 << 20, TotalParts: 3,
		CreatedBy: tr.user.ID, Expires: time.Now().Add(time.Hour)}
	bystander := &meta.Upload{ID: "bystander", ImageID: im.ID, Size: 3 << 20, Expires: time.Now().Add(time.Hour)}
	for _, u := range []*meta.Upload{up, bystander} {
		if err := s.CreateUpload(ctx, u); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
	}

	check := func(when string, hashed int64, state []byte) {
		t.Helper()
		got, err := s.Upload(ctx, up.ID)
		if err != nil {
			t.Fatalf("Upload %s: %v", when, err)
		}
		want := *up
		want.Hashed, want.HashState = hashed, state
		same(t, "Upload "+when, got, &want)
	}

	st1 := hashState(t, "first part")
	if err := s.AdvanceUpload(ctx, up.ID, 0, 1<<20, st1); err != nil {
		t.Fatalf("AdvanceUpload(0 → 1MiB): %v", err)
	}
	check("after the first advance", 1<<20, st1)

	// A second writer that also started from 0 has lost the race.
	err := s.AdvanceUpload(ctx, up.ID, 0, 1<<20, hashState(t, "a rival's first part"))
	wantErr(t, "AdvanceUpload from a stale prefix", err, meta.ErrNotFound)
	check("after a stale advance", 1<<20, st1)
	// So has one that claims a prefix longer than what is stored.
	err = s.AdvanceUpload(ctx, up.ID, 2<<20, 3<<20, hashState(t, "the future"))
	wantErr(t, "AdvanceUpload from an unreached prefix", err, meta.ErrNotFound)
	check("after an unreached advance", 1<<20, st1)

	st2 := hashState(t, "first part, second part")
	if err := s.AdvanceUpload(ctx, up.ID, 1<<20, 2<<20, st2); err != nil {
		t.Fatalf("AdvanceUpload(1MiB → 2MiB): %v", err)
	}
	check("after the second advance", 2<<20, st2)
	// Raw bytes, NULs included, come back exactly.
	raw := []byte{0, 0, 0xff, 'a', 0, 0x80}
	if err := s.AdvanceUpload(ctx, up.ID, 2<<20, 3<<20, raw); err != nil {
		t.Fatalf("AdvanceUpload(2MiB → 3MiB): %v", err)
	}
	check("after the third advance", 3<<20, raw)

	if got, err := s.Upload(ctx, bystander.ID); err != nil {
		t.Errorf("Upload(bystander): %v", err)
	} else {
		same(t, "the other Upload", got, bystander)
	}
	err = s.AdvanceUpload(ctx, "nope", 0, 1, st1)
	wantErr(t, "AdvanceUpload(missing)", err, meta.ErrNotFound)
}

func testExpiredUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	im := mustImage(t, s, tr.container.ID, "a")
	now := time.Now()
	past := &meta.Upload{ID: "past", ImageID: im.ID, Size: 1, Expires: now.Add(-time.Hour), HashState: []byte("p")}
	future := &meta.Upload{ID: "future", ImageID: im.ID, Size: 2, Expires: now.Add(time.Hour)}
	for _, u := range []*meta.Upload{past, future} {
		if err := s.CreateUpload(ctx, u); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
	}
	expired := func(at time.Time, want ...*meta.Upload) {
		t.Helper()
		got, err := s.ExpiredUploads(ctx, at)
		if err != nil {
			t.Fatalf("ExpiredUploads: %v", err)
		}
		slices.SortFunc(got, func(a, b meta.Upload) int { return cmp.Compare(a.ID, b.ID) })
		slices.SortFunc(want, func(a, b *meta.Upload) int { return cmp.Compare(a.ID, b.ID) })
		if len(got) != len(want) {
			var gotIDs []string
			for _, u := range got {
				gotIDs = append(gotIDs, u.ID)
			}
			t.Errorf("ExpiredUploads(now%+v) = %q, want %d uploads", at.Sub(now), gotIDs, len(want))
			return
		}
		for i := range got {
			same(t, "ExpiredUploads", &got[i], want[i])
		}
	}
	expired(now.Add(-2 * time.Hour))
	expired(now, past)
	expired(now.Add(2*time.Hour), future, past)
}

package metatest

import (
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

func testOCIManifests(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	other := mustTree(t, s, "bob")
	im := mustImage(t, s, tr.container.ID, "sif")
	body := []byte{'{', 0, 0xff, '}'} // bytes back exactly, NULs and all
	m := &meta.Manifest{ContainerID: tr.container.ID, Digest: "sha256:" + digest("m1"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Body: body, ImageID: im.ID, Created: odd(2024, 7)}
	if err := s.PutManifest(ctx, m); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	ref := &meta.Manifest{ContainerID: tr.container.ID, Digest: "sha512:" + digest("r1") + digest("r1"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Body: []byte(`{}`), Subject: m.Digest, ArtifactType: "application/x-sbom", Created: odd(2025, 1)}
	if err := s.PutManifest(ctx, ref); err != nil {
		t.Fatalf("PutManifest(referrer): %v", err)
	}
	got, err := s.Manifest(ctx, tr.container.ID, m.Digest)
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	same(t, "Manifest", got, m)
	_, err = s.Manifest(ctx, other.container.ID, m.Digest)
	wantErr(t, "Manifest in another container", err, meta.ErrNotFound)

	byImage, err := s.ManifestsForImage(ctx, im.ID)
	if err != nil || len(byImage) != 1 || byImage[0].Digest != m.Digest {
		t.Errorf("ManifestsForImage = %v, %v; want [%s]", byImage, err, m.Digest)
	}
	refs, err := s.Referrers(ctx, tr.container.ID, m.Digest)
	if err != nil || len(refs) != 1 {
		t.Fatalf("Referrers = %v, %v; want one", refs, err)
	}
	same(t, "referrer", &refs[0], ref)
	if refs, _ := s.Referrers(ctx, other.container.ID, m.Digest); len(refs) != 0 {
		t.Errorf("Referrers in another container = %v; want none", refs)
	}

	// Storing the digest again replaces the row (a re-push with new facts).
	m2 := *m
	m2.ImageID, m2.Subject = 0, "sha256:"+digest("s")
	if err := s.PutManifest(ctx, &m2); err != nil {
		t.Fatalf("PutManifest again: %v", err)
	}
	if got, _ := s.Manifest(ctx, tr.container.ID, m.Digest); got == nil || got.ImageID != 0 || got.Subject != m2.Subject {
		t.Errorf("after re-put: %+v", got)
	}

	// Tags go with the manifest they name.
	if err := s.SetOCITag(ctx, meta.OCITag{ContainerID: tr.container.ID, Name: "v1", Digest: ref.Digest}); err != nil {
		t.Fatalf("SetOCITag: %v", err)
	}
	if err := s.DeleteManifest(ctx, tr.container.ID, ref.Digest); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	_, err = s.OCITag(ctx, tr.container.ID, "v1")
	wantErr(t, "tag of a deleted manifest", err, meta.ErrNotFound)
	wantErr(t, "DeleteManifest twice", s.DeleteManifest(ctx, tr.container.ID, ref.Digest), meta.ErrNotFound)

	// Deleting the image removes the manifests that describe it.
	m3 := &meta.Manifest{ContainerID: tr.container.ID, Digest: "sha256:" + digest("m3"), MediaType: "x", Body: []byte("{}"), ImageID: im.ID}
	if err := s.PutManifest(ctx, m3); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImage(ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Manifest(ctx, tr.container.ID, m3.Digest)
	wantErr(t, "manifest of a deleted image", err, meta.ErrNotFound)
}

func testOCITags(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	for _, name := range []string{"b", "a", "c"} {
		if err := s.SetOCITag(ctx, meta.OCITag{ContainerID: tr.container.ID, Name: name, Digest: "sha256:" + digest(name)}); err != nil {
			t.Fatalf("SetOCITag(%s): %v", name, err)
		}
	}
	if err := s.SetOCITag(ctx, meta.OCITag{ContainerID: tr.container.ID, Name: "a", Digest: "sha256:" + digest("moved"), Updated: odd(2030, 3)}); err != nil {
		t.Fatalf("moving a tag: %v", err)
	}
	tags, err := s.OCITags(ctx, tr.container.ID)
	if err != nil || len(tags) != 3 || tags[0].Name != "a" || tags[1].Name != "b" || tags[2].Name != "c" {
		t.Fatalf("OCITags = %v, %v; want a, b, c", tags, err)
	}
	if tags[0].Digest != "sha256:"+digest("moved") {
		t.Errorf("moved tag names %s", tags[0].Digest)
	}
	checkTime(t, "moved tag time", tags[0].Updated, odd(2030, 3))
	if err := s.DeleteOCITag(ctx, tr.container.ID, "b"); err != nil {
		t.Fatalf("DeleteOCITag: %v", err)
	}
	wantErr(t, "DeleteOCITag twice", s.DeleteOCITag(ctx, tr.container.ID, "b"), meta.ErrNotFound)
	_, err = s.OCITag(ctx, tr.container.ID, "b")
	wantErr(t, "deleted tag", err, meta.ErrNotFound)
}

func testBlobLinks(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	other := mustTree(t, s, "bob")
	l := meta.BlobLink{ContainerID: tr.container.ID, Digest: "sha512:" + digest("x") + digest("x"), Key: digest("x"), Size: 1 << 33, Created: odd(2026, 9)}
	if linked, err := s.KeyLinked(ctx, l.Key); err != nil || linked {
		t.Fatalf("KeyLinked before = %v, %v", linked, err)
	}
	for range 2 { // linking twice is fine
		if err := s.LinkBlob(ctx, l); err != nil {
			t.Fatalf("LinkBlob: %v", err)
		}
	}
	got, err := s.BlobLink(ctx, tr.container.ID, l.Digest)
	if err != nil {
		t.Fatalf("BlobLink: %v", err)
	}
	same(t, "BlobLink", got, &l)
	_, err = s.BlobLink(ctx, other.container.ID, l.Digest)
	wantErr(t, "BlobLink in another container", err, meta.ErrNotFound)
	if linked, err := s.KeyLinked(ctx, l.Key); err != nil || !linked {
		t.Errorf("KeyLinked = %v, %v; want true", linked, err)
	}
	if err := s.UnlinkBlob(ctx, tr.container.ID, l.Digest); err != nil {
		t.Fatalf("UnlinkBlob: %v", err)
	}
	wantErr(t, "UnlinkBlob twice", s.UnlinkBlob(ctx, tr.container.ID, l.Digest), meta.ErrNotFound)
	if linked, _ := s.KeyLinked(ctx, l.Key); linked {
		t.Errorf("KeyLinked after unlink = true")
	}
}

func testOCIUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	base := time.Now().UTC()
	u := &meta.OCIUpload{ID: "up-1", ContainerID: tr.container.ID, CreatedBy: tr.user.ID, Created: odd(2026, 1), Expires: base.Add(time.Hour)}
	if err := s.CreateOCIUpload(ctx, u); err != nil {
		t.Fatalf("CreateOCIUpload: %v", err)
	}
	old := &meta.OCIUpload{ID: "up-old", ContainerID: tr.container.ID, Expires: base.Add(-time.Hour)}
	if err := s.CreateOCIUpload(ctx, old); err != nil {
		t.Fatalf("CreateOCIUpload(old): %v", err)
	}
	state := hashState(t, "hello")
	if err := s.AdvanceOCIUpload(ctx, u.ID, 0, 5, state); err != nil {
		t.Fatalf("AdvanceOCIUpload: %v", err)
	}
	// A second writer that saw the old size loses.
	wantErr(t, "AdvanceOCIUpload from a stale size", s.AdvanceOCIUpload(ctx, u.ID, 0, 3, nil), meta.ErrNotFound)
	got, err := s.OCIUpload(ctx, u.ID)
	if err != nil {
		t.Fatalf("OCIUpload: %v", err)
	}
	want := *u
	want.Size, want.HashState = 5, state
	same(t, "OCIUpload", got, &want)
	exp, err := s.ExpiredOCIUploads(ctx, base)
	if err != nil || len(exp) != 1 || exp[0].ID != old.ID {
		t.Errorf("ExpiredOCIUploads = %v, %v; want [%s]", exp, err, old.ID)
	}
	if err := s.DeleteOCIUpload(ctx, u.ID); err != nil {
		t.Fatalf("DeleteOCIUpload: %v", err)
	}
	_, err = s.OCIUpload(ctx, u.ID)
	wantErr(t, "deleted upload", err, meta.ErrNotFound)
}

package metatest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

func testImages(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")

	full := &meta.Image{
		ContainerID: tr.container.ID,
		Digest:      digest("full"),
		Size:        1<<33 + 7, // past 32 bits: SIF files get big
		Arch:        "amd64",
		Uploaded:    true,
		Description: "grep, built from source",
		Signed:      true,
		Encrypted:   true,
		Labels: map[string]string{
			"org.label-schema.version": "3.11",
			"empty":                    "",
			"quoted":                   `say "hi" <&> \ %_`,
			"unicode":                  "größe ✓",
		},
		Definition: "Bootstrap: docker\nFrom: alpine:3.20\n\n%post\n    apk add grep\n",
		SIFCreated: odd(2024, 987654321),
		PushedBy:   tr.user.ID,
	}
	// bare is what the library protocol creates before any bytes arrive:
	// zero times and no labels must come back as zero and empty.
	bare := &meta.Image{ContainerID: tr.container.ID, Digest: digest("bare")}
	for _, im := range []*meta.Image{full, bare} {
		if err := s.CreateImage(ctx, im); err != nil {
			t.Fatalf("CreateImage(%s): %v", im.Digest, err)
		}
		if im.ID == 0 {
			t.Errorf("CreateImage left ID 0")
		}
		checkRecent(t, "Image.Created", im.Created)
		checkRecent(t, "Image.Updated", im.Updated)
	}
	if full.ID == bare.ID {
		t.Errorf("two images got the same ID %d", full.ID)
	}
	for _, want := range []*meta.Image{full, bare} {
		got, err := s.Image(ctx, want.ID)
		if err != nil {
			t.Fatalf("Image(%d): %v", want.ID, err)
		}
		same(t, "Image", got, want)
		got, err = s.ImageByDigest(ctx, want.ContainerID, want.Digest)
		if err != nil {
			t.Fatalf("ImageByDigest(%s): %v", want.Digest, err)
		}
		same(t, "ImageByDigest", got, want)
	}

	_, err := s.Image(ctx, missing)
	wantErr(t, "Image(missing)", err, meta.ErrNotFound)
	_, err = s.ImageByDigest(ctx, tr.container.ID, digest("never pushed"))
	wantErr(t, "ImageByDigest(missing digest)", err, meta.ErrNotFound)
	other := mustContainer(t, s, tr.collection.ID, "other")
	_, err = s.ImageByDigest(ctx, other.ID, full.Digest)
	wantErr(t, "ImageByDigest(digest only in another container)", err, meta.ErrNotFound)
}

func testImageDigestUniqueness(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	first := mustImage(t, s, tr.container.ID, "x")

	err := s.CreateImage(ctx, &meta.Image{ContainerID: tr.container.ID, Digest: first.Digest, Description: "again"})
	wantErr(t, "CreateImage with a digest taken in its container", err, meta.ErrConflict)
	if got, err := s.ImageByDigest(ctx, tr.container.ID, first.Digest); err != nil || got.ID != first.ID || got.Description != "" {
		t.Errorf("after a refused duplicate, ImageByDigest = %+v, %v; want the original", got, err)
	}

	// The same bytes pushed to a second container are a second image.
	other := mustContainer(t, s, tr.collection.ID, "other")
	second := mustImage(t, s, other.ID, "x")
	if second.ID == first.ID {
		t.Errorf("the same digest in two containers got one ID %d", first.ID)
	}
	for _, want := range []*meta.Image{first, second} {
		got, err := s.ImageByDigest(ctx, want.ContainerID, want.Digest)
		if err != nil {
			t.Fatalf("ImageByDigest(container %d): %v", want.ContainerID, err)
		}
		if got.ID != want.ID {
			t.Errorf("ImageByDigest(container %d) = image %d, want %d", want.ContainerID, got.ID, want.ID)
		}
	}
}

func testCompleteImage(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	pusher := mustUser(t, s, "bob")
	created := &meta.Image{ContainerID: tr.container.ID, Digest: digest("a"), Description: "set at create", Labels: map[string]string{"stale": "yes"}}
	if err := s.CreateImage(ctx, created); err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	bystander := mustImage(t, s, tr.container.ID, "b")
	if got, err := s.Image(ctx, created.ID); err != nil || got.Uploaded {
		t.Fatalf("a new image = %+v, %v; want it not uploaded", got, err)
	}

	done := *created
	done.Labels = map[string]string{"org.opencontainers.image.title": "grep", "version": "3.11"}
	done.Size = 123456789
	done.Arch = "arm64"
	done.Signed = true
	done.Encrypted = true
	done.Definition = "Bootstrap: library\nFrom: alpine\n"
	done.SIFCreated = odd(2023, 5)
	done.PushedBy = pusher.ID
	if err := s.CompleteImage(ctx, &done); err != nil {
		t.Fatalf("CompleteImage: %v", err)
	}

	got, err := s.Image(ctx, created.ID)
	if err != nil {
		t.Fatalf("Image: %v", err)
	}
	if got.Updated.Before(got.Created) {
		t.Errorf("after CompleteImage, Updated %v is before Created %v", got.Updated, got.Created)
	}
	want := done
	want.Uploaded = true
	want.Created = created.Created // CompleteImage is not a re-creation
	want.Updated = got.Updated     // when exactly is the store's business
	same(t, "completed Image", got, &want)

	if got, err := s.Image(ctx, bystander.ID); err != nil || got.Uploaded || got.Size != 0 {
		t.Errorf("CompleteImage touched another image: %+v, %v", got, err)
	}
	wantErr(t, "CompleteImage(missing)", s.CompleteImage(ctx, &meta.Image{ID: missing, Size: 1}), meta.ErrNotFound)
}

func testAddDownload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	a := mustImage(t, s, tr.container.ID, "a")
	b := mustImage(t, s, tr.container.ID, "b")
	for range 3 {
		if err := s.AddDownload(ctx, a.ID); err != nil {
			t.Fatalf("AddDownload: %v", err)
		}
	}
	if err := s.AddDownload(ctx, b.ID); err != nil {
		t.Fatalf("AddDownload: %v", err)
	}
	for _, c := range []struct {
		id   int64
		want int64
	}{{a.ID, 3}, {b.ID, 1}} {
		got, err := s.Image(ctx, c.id)
		if err != nil {
			t.Fatalf("Image: %v", err)
		}
		if got.Downloads != c.want {
			t.Errorf("image %d Downloads = %d, want %d", c.id, got.Downloads, c.want)
		}
	}
	wantErr(t, "AddDownload(missing)", s.AddDownload(ctx, missing), meta.ErrNotFound)
}

func testDeleteImage(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	c := tr.container.ID
	doomed := mustUploaded(t, s, &meta.Image{ContainerID: c, Digest: digest("doomed"), Arch: "amd64"})
	kept := mustUploaded(t, s, &meta.Image{ContainerID: c, Digest: digest("kept"), Arch: "arm64"})
	mustTag(t, s, c, "amd64", "latest", doomed.ID)
	mustTag(t, s, c, "amd64", "v1", doomed.ID)
	mustTag(t, s, c, "arm64", "latest", kept.ID)
	for _, u := range []*meta.Upload{
		{ID: "doomed-upload", ImageID: doomed.ID, Size: 10, Expires: time.Now().Add(time.Hour)},
		{ID: "kept-upload", ImageID: kept.ID, Size: 10, Expires: time.Now().Add(time.Hour)},
	} {
		if err := s.CreateUpload(ctx, u); err != nil {
			t.Fatalf("CreateUpload(%s): %v", u.ID, err)
		}
	}

	if err := s.DeleteImage(ctx, doomed.ID); err != nil {
		t.Fatalf("DeleteImage: %v", err)
	}
	_, err := s.Image(ctx, doomed.ID)
	wantErr(t, "Image after DeleteImage", err, meta.ErrNotFound)
	_, err = s.ImageByDigest(ctx, c, doomed.Digest)
	wantErr(t, "ImageByDigest after DeleteImage", err, meta.ErrNotFound)
	_, err = s.Upload(ctx, "doomed-upload")
	wantErr(t, "Upload of a deleted image", err, meta.ErrNotFound)
	checkTags(t, s, c, []meta.Tag{{ContainerID: c, Arch: "arm64", Name: "latest", ImageID: kept.ID}})
	if _, err := s.Image(ctx, kept.ID); err != nil {
		t.Errorf("DeleteImage took another image with it: %v", err)
	}
	if _, err := s.Upload(ctx, "kept-upload"); err != nil {
		t.Errorf("DeleteImage took another image's upload with it: %v", err)
	}
	if recs, err := s.Find(ctx, meta.Query{}); err != nil || len(recs) != 1 || recs[0].ID != kept.ID {
		t.Errorf("Find after DeleteImage = %v, %v; want only image %d", ids(recs), err, kept.ID)
	}

	wantErr(t, "DeleteImage twice", s.DeleteImage(ctx, doomed.ID), meta.ErrNotFound)
	wantErr(t, "DeleteImage(missing)", s.DeleteImage(ctx, missing), meta.ErrNotFound)

	// Nothing of the deleted image lingers to block a re-push of its digest.
	mustImage(t, s, c, "doomed")
}

func testDigestInUse(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	other := mustContainer(t, s, tr.collection.ID, "other")
	d := digest("shared")
	inUse := func(want bool, when string) {
		t.Helper()
		got, err := s.DigestInUse(ctx, d)
		if err != nil {
			t.Fatalf("DigestInUse %s: %v", when, err)
		}
		if got != want {
			t.Errorf("DigestInUse %s = %v, want %v", when, got, want)
		}
	}
	inUse(false, "on an empty store")
	mustImage(t, s, tr.container.ID, "unrelated")
	inUse(false, "with only other digests")
	// Not yet uploaded still counts: its bytes may be arriving right now.
	a := mustImage(t, s, tr.container.ID, "shared")
	inUse(true, "with one pending image")
	b := mustUploaded(t, s, &meta.Image{ContainerID: other.ID, Digest: d})
	inUse(true, "with two images")
	if err := s.DeleteImage(ctx, a.ID); err != nil {
		t.Fatalf("DeleteImage: %v", err)
	}
	inUse(true, "after deleting one of two images")
	if err := s.DeleteImage(ctx, b.ID); err != nil {
		t.Fatalf("DeleteImage: %v", err)
	}
	inUse(false, "after deleting both images")
}

func testStaleImages(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	other := mustContainer(t, s, tr.collection.ID, "other")
	old := mustImage(t, s, tr.container.ID, "old")
	oldOther := mustImage(t, s, other.ID, "old-other")
	mustUploaded(t, s, &meta.Image{ContainerID: tr.container.ID, Digest: digest("old-but-uploaded")})
	// Give the store's clock room: the cutoff below sits between old and
	// young whatever precision the backend keeps.
	time.Sleep(50 * time.Millisecond)
	young := mustImage(t, s, tr.container.ID, "young")
	cutoff := young.Created.Add(-20 * time.Millisecond)

	stale := func(cutoff time.Time, want ...*meta.Image) {
		t.Helper()
		got, err := s.StaleImages(ctx, cutoff)
		if err != nil {
			t.Fatalf("StaleImages: %v", err)
		}
		byID := func(a, b meta.Image) int { return cmp.Compare(a.ID, b.ID) }
		slices.SortFunc(got, byID)
		var wantv []meta.Image
		for _, w := range want {
			wantv = append(wantv, *w)
		}
		slices.SortFunc(wantv, byID)
		if len(got) != len(wantv) {
			t.Errorf("StaleImages(%v) = images %v, want %v", cutoff, imageIDs(got), imageIDs(wantv))
			return
		}
		for i := range got {
			same(t, "StaleImages", &got[i], &wantv[i])
		}
	}
	stale(old.Created.Add(-time.Hour))
	stale(cutoff, old, oldOther)
	stale(young.Created.Add(time.Hour), old, oldOther, young)
}

func testTags(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	c := tr.container.ID
	other := mustContainer(t, s, tr.collection.ID, "other")
	a := mustUploaded(t, s, &meta.Image{ContainerID: c, Digest: digest("a"), Arch: "amd64"})
	b := mustUploaded(t, s, &meta.Image{ContainerID: c, Digest: digest("b"), Arch: "arm64"})
	a2 := mustUploaded(t, s, &meta.Image{ContainerID: c, Digest: digest("a2"), Arch: "amd64"})
	o := mustUploaded(t, s, &meta.Image{ContainerID: other.ID, Digest: digest("o"), Arch: "amd64"})

	checkTags(t, s, c, nil)
	mustTag(t, s, c, "amd64", "latest", a.ID)
	checkTags(t, s, c, []meta.Tag{{ContainerID: c, Arch: "amd64", Name: "latest", ImageID: a.ID}})
	// One name on two architectures is two tags.
	mustTag(t, s, c, "arm64", "latest", b.ID)
	// Another container's tags are its own.
	mustTag(t, s, other.ID, "amd64", "latest", o.ID)
	checkTags(t, s, c, []meta.Tag{
		{ContainerID: c, Arch: "amd64", Name: "latest", ImageID: a.ID},
		{ContainerID: c, Arch: "arm64", Name: "latest", ImageID: b.ID},
	})
	// Setting a tag again moves it; it does not add a second one.
	mustTag(t, s, c, "amd64", "latest", a2.ID)
	mustTag(t, s, c, "amd64", "v1", a.ID)
	checkTags(t, s, c, []meta.Tag{
		{ContainerID: c, Arch: "amd64", Name: "latest", ImageID: a2.ID},
		{ContainerID: c, Arch: "amd64", Name: "v1", ImageID: a.ID},
		{ContainerID: c, Arch: "arm64", Name: "latest", ImageID: b.ID},
	})
	checkTags(t, s, other.ID, []meta.Tag{{ContainerID: other.ID, Arch: "amd64", Name: "latest", ImageID: o.ID}})

	if err := s.DeleteTag(ctx, c, "amd64", "latest"); err != nil {
		t.Fatalf("DeleteTag: %v", err)
	}
	checkTags(t, s, c, []meta.Tag{
		{ContainerID: c, Arch: "amd64", Name: "v1", ImageID: a.ID},
		{ContainerID: c, Arch: "arm64", Name: "latest", ImageID: b.ID},
	})
	checkTags(t, s, other.ID, []meta.Tag{{ContainerID: other.ID, Arch: "amd64", Name: "latest", ImageID: o.ID}})
	wantErr(t, "DeleteTag twice", s.DeleteTag(ctx, c, "amd64", "latest"), meta.ErrNotFound)
	wantErr(t, "DeleteTag(missing arch)", s.DeleteTag(ctx, c, "ppc64le", "v1"), meta.ErrNotFound)
	wantErr(t, "DeleteTag(missing container)", s.DeleteTag(ctx, missing, "amd64", "v1"), meta.ErrNotFound)
	checkTags(t, s, missing, nil)
}

// checkTags compares a container's tags with want in any order; Updated
// must be set by the store and is otherwise not compared.
func checkTags(t *testing.T, s meta.Store, containerID int64, want []meta.Tag) {
	t.Helper()
	got, err := s.Tags(t.Context(), containerID)
	if err != nil {
		t.Fatalf("Tags(%d): %v", containerID, err)
	}
	for _, tag := range got {
		checkRecent(t, fmt.Sprintf("tag %s/%s Updated", tag.Arch, tag.Name), tag.Updated)
	}
	if g, w := tagKeys(got), tagKeys(want); !slices.Equal(g, w) {
		t.Errorf("Tags(%d) = %v, want %v", containerID, g, w)
	}
}

// tagKeys renders tags without their times, sorted, for comparison.
func tagKeys(tags []meta.Tag) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		out = append(out, fmt.Sprintf("%d/%s/%s→%d", t.ContainerID, t.Arch, t.Name, t.ImageID))
	}
	slices.Sort(out)
	return out
}

func imageIDs(ims []meta.Image) []int64 {
	out := make([]int64, 0, len(ims))
	for _, im := range ims {
		out = append(out, im.ID)
	}
	return out
}

func ids(recs []meta.ImageRecord) []int64 {
	out := make([]int64, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

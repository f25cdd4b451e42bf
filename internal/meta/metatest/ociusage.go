package metatest

import (
	"testing"

	"github.com/siloreg/silo/internal/meta"
)

// testUsageBytesOCI checks that OCI blobs linked to an owner's containers
// count towards the owner's usage, each stored key once, including a key
// that is also an image (a SIF pushed through OCI), and that an unlinked
// blob stops counting.
func testUsageBytesOCI(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	e := mustEntity(t, s, "alice", alice.ID)
	col := &meta.Collection{EntityID: e.ID, Name: "lab", CreatedBy: alice.ID}
	if err := s.CreateCollection(ctx, col); err != nil {
		t.Fatalf("CreateCollection: %v", err)
	}
	one := mustContainer(t, s, col.ID, "one")
	two := mustContainer(t, s, col.ID, "two")
	const unit = int64(1) << 32
	link := func(c *meta.Container, d string, size int64) {
		t.Helper()
		if err := s.LinkBlob(ctx, meta.BlobLink{ContainerID: c.ID, Digest: "sha256:" + digest(d), Key: digest(d), Size: size}); err != nil {
			t.Fatalf("LinkBlob: %v", err)
		}
	}
	usage := func(when string, want int64) {
		t.Helper()
		if got, err := s.UsageBytes(ctx, alice.ID, 0); err != nil || got != want {
			t.Errorf("%s: UsageBytes = %d units (+%d), %v; want %d units", when, got/unit, got%unit, err, want/unit)
		}
	}
	mustUploaded(t, s, &meta.Image{ContainerID: one.ID, Digest: digest("sif"), Size: unit, Arch: "amd64"})
	usage("an image", unit)
	link(one, "sif", unit) // the SIF's layer, linked: the same key
	usage("its layer linked", unit)
	link(one, "layer", 2*unit)
	link(two, "layer", 2*unit) // mounted into another container
	link(two, "config", 4*unit)
	usage("blobs linked", 7*unit)
	if got, err := s.UsageBytes(ctx, bob.ID, 0); err != nil || got != 0 {
		t.Errorf("bob's usage: %d, %v; want 0", got, err)
	}
	if err := s.UnlinkBlob(ctx, two.ID, "sha256:"+digest("config")); err != nil {
		t.Fatalf("UnlinkBlob: %v", err)
	}
	usage("config unlinked", 3*unit)
}

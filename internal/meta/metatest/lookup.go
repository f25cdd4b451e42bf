package metatest

import (
	"errors"
	"testing"

	"github.com/siloreg/silo/internal/meta"
)

// testContainerByPath checks the one-query lookup finds exactly what the
// three by-name lookups find, and nothing when any name is wrong, even
// when the same names exist elsewhere in the tree.
func testContainerByPath(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	mk := func(entity, collection, container string, private bool) (*meta.Entity, *meta.Collection, *meta.Container) {
		e, err := s.EntityByName(ctx, entity)
		if errors.Is(err, meta.ErrNotFound) {
			e = &meta.Entity{Name: entity, OwnerID: alice.ID, DefaultPrivate: private}
			err = s.CreateEntity(ctx, e)
		}
		if err != nil {
			t.Fatalf("entity %s: %v", entity, err)
		}
		c, err := s.CollectionByName(ctx, e.ID, collection)
		if errors.Is(err, meta.ErrNotFound) {
			c = &meta.Collection{EntityID: e.ID, Name: collection, Description: "d " + collection, Private: private, CreatedBy: alice.ID}
			err = s.CreateCollection(ctx, c)
		}
		if err != nil {
			t.Fatalf("collection %s/%s: %v", entity, collection, err)
		}
		ct := &meta.Container{CollectionID: c.ID, Name: container, Description: "d " + container}
		if err := s.CreateContainer(ctx, ct); err != nil {
			t.Fatalf("container %s/%s/%s: %v", entity, collection, container, err)
		}
		return e, c, ct
	}
	mk("alice", "tools", "app", true)
	mk("alice", "other", "lib", false)
	mk("bob", "tools", "lib", false)
	e, c, ct := mk("alice", "tools", "lib", true)
	if err := s.SetFrozen(ctx, ct.ID, true); err != nil {
		t.Fatal(err)
	}
	ct, err := s.Container(ctx, ct.ID)
	if err != nil {
		t.Fatal(err)
	}

	ge, gc, gct, err := s.ContainerByPath(ctx, "alice", "tools", "lib")
	if err != nil {
		t.Fatalf("ContainerByPath(alice/tools/lib): %v", err)
	}
	same(t, "ContainerByPath entity", ge, e)
	same(t, "ContainerByPath collection", gc, c)
	same(t, "ContainerByPath container", gct, ct)

	for _, p := range [][3]string{
		{"alice", "tools", "nope"},
		{"alice", "other", "app"}, // app is in tools, lib in other
		{"bob", "tools", "app"},
		{"carol", "tools", "lib"},
		{"alice", "nope", "lib"},
	} {
		if _, _, _, err := s.ContainerByPath(ctx, p[0], p[1], p[2]); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("ContainerByPath(%s/%s/%s) = %v; want ErrNotFound", p[0], p[1], p[2], err)
		}
	}
}

// testTaggedImages checks a tag lists its uploaded images per architecture,
// in architecture order, and leaves out other tags, other containers and
// images not yet uploaded.
func testTaggedImages(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	other := mustContainer(t, s, tr.collection.ID, "other")
	amd := mustUploaded(t, s, &meta.Image{ContainerID: tr.container.ID, Digest: digest("amd"), Size: 10, Arch: "amd64",
		Labels: map[string]string{"k": "v"}, Description: "amd"})
	arm := mustUploaded(t, s, &meta.Image{ContainerID: tr.container.ID, Digest: digest("arm"), Size: 20, Arch: "arm64"})
	pending := mustImage(t, s, tr.container.ID, "pending")
	elsewhere := mustUploaded(t, s, &meta.Image{ContainerID: other.ID, Digest: digest("else"), Size: 30, Arch: "amd64"})
	mustTag(t, s, tr.container.ID, "arm64", "latest", arm.ID)
	mustTag(t, s, tr.container.ID, "amd64", "latest", amd.ID)
	mustTag(t, s, tr.container.ID, "386", "latest", pending.ID)
	mustTag(t, s, tr.container.ID, "amd64", "v1", arm.ID)
	mustTag(t, s, other.ID, "amd64", "latest", elsewhere.ID)

	got, err := s.TaggedImages(ctx, tr.container.ID, "latest")
	if err != nil {
		t.Fatalf("TaggedImages: %v", err)
	}
	if len(got) != 2 || got[0].Arch != "amd64" || got[1].Arch != "arm64" {
		t.Fatalf("TaggedImages(latest) = %+v; want amd64 then arm64", got)
	}
	for i, want := range []*meta.Image{amd, arm} {
		w, err := s.Image(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		same(t, "TaggedImages image", &got[i].Image, w)
	}
	if got, err := s.TaggedImages(ctx, tr.container.ID, "v1"); err != nil || len(got) != 1 || got[0].Arch != "amd64" || got[0].Image.ID != arm.ID {
		t.Errorf("TaggedImages(v1) = %+v, %v; want arm's image under amd64", got, err)
	}
	if got, err := s.TaggedImages(ctx, tr.container.ID, "nope"); err != nil || len(got) != 0 {
		t.Errorf("TaggedImages(nope) = %+v, %v; want none", got, err)
	}
}

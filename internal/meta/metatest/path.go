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

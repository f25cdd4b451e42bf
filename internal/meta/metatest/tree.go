package metatest

import (
	"testing"

	"github.com/siloreg/silo/internal/meta"
)

func testEntities(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")

	personal := &meta.Entity{Name: "alice", Description: "Alice's images", OwnerID: alice.ID, DefaultPrivate: true}
	shared := &meta.Entity{Name: "shared", Description: "everyone's"} // OwnerID 0: shared
	for _, e := range []*meta.Entity{personal, shared} {
		if err := s.CreateEntity(ctx, e); err != nil {
			t.Fatalf("CreateEntity(%q): %v", e.Name, err)
		}
		if e.ID == 0 {
			t.Errorf("CreateEntity(%q) left ID 0", e.Name)
		}
		checkRecent(t, e.Name+".Created", e.Created)
	}
	if personal.ID == shared.ID {
		t.Errorf("two entities got the same ID %d", personal.ID)
	}
	for _, want := range []*meta.Entity{personal, shared} {
		got, err := s.Entity(ctx, want.ID)
		if err != nil {
			t.Fatalf("Entity(%d): %v", want.ID, err)
		}
		same(t, "Entity", got, want)
		got, err = s.EntityByName(ctx, want.Name)
		if err != nil {
			t.Fatalf("EntityByName(%q): %v", want.Name, err)
		}
		same(t, "EntityByName", got, want)
	}

	err := s.CreateEntity(ctx, &meta.Entity{Name: "shared", Description: "impostor"})
	wantErr(t, "CreateEntity with a taken name", err, meta.ErrConflict)
	if got, err := s.EntityByName(ctx, "shared"); err != nil || got.ID != shared.ID || got.Description != shared.Description {
		t.Errorf("after a refused duplicate, EntityByName(shared) = %+v, %v; want the original", got, err)
	}

	_, err = s.Entity(ctx, missing)
	wantErr(t, "Entity(missing)", err, meta.ErrNotFound)
	_, err = s.EntityByName(ctx, "nobody")
	wantErr(t, "EntityByName(missing)", err, meta.ErrNotFound)
}

func testCollections(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	e1 := mustEntity(t, s, "alice", alice.ID)
	e2 := mustEntity(t, s, "shared", 0)

	tools := &meta.Collection{EntityID: e1.ID, Name: "tools", Description: "command-line tools", Private: true, CreatedBy: alice.ID}
	// The same name under another entity is a different collection.
	sharedTools := &meta.Collection{EntityID: e2.ID, Name: "tools"}
	for _, c := range []*meta.Collection{tools, sharedTools} {
		if err := s.CreateCollection(ctx, c); err != nil {
			t.Fatalf("CreateCollection(%d/%q): %v", c.EntityID, c.Name, err)
		}
		if c.ID == 0 {
			t.Errorf("CreateCollection(%q) left ID 0", c.Name)
		}
		checkRecent(t, "Collection.Created", c.Created)
		checkRecent(t, "Collection.Updated", c.Updated)
	}
	if tools.ID == sharedTools.ID {
		t.Errorf("two collections got the same ID %d", tools.ID)
	}
	for _, want := range []*meta.Collection{tools, sharedTools} {
		got, err := s.Collection(ctx, want.ID)
		if err != nil {
			t.Fatalf("Collection(%d): %v", want.ID, err)
		}
		same(t, "Collection", got, want)
		got, err = s.CollectionByName(ctx, want.EntityID, want.Name)
		if err != nil {
			t.Fatalf("CollectionByName(%d, %q): %v", want.EntityID, want.Name, err)
		}
		same(t, "CollectionByName", got, want)
	}

	err := s.CreateCollection(ctx, &meta.Collection{EntityID: e1.ID, Name: "tools", Description: "again"})
	wantErr(t, "CreateCollection with a taken name", err, meta.ErrConflict)
	if got, err := s.CollectionByName(ctx, e1.ID, "tools"); err != nil || got.ID != tools.ID || got.Description != tools.Description {
		t.Errorf("after a refused duplicate, CollectionByName = %+v, %v; want the original", got, err)
	}

	_, err = s.Collection(ctx, missing)
	wantErr(t, "Collection(missing)", err, meta.ErrNotFound)
	_, err = s.CollectionByName(ctx, e1.ID, "nothing")
	wantErr(t, "CollectionByName(missing name)", err, meta.ErrNotFound)
	mustCollection(t, s, e1.ID, "only-in-alice", false)
	_, err = s.CollectionByName(ctx, e2.ID, "only-in-alice")
	wantErr(t, "CollectionByName(name of another entity's collection)", err, meta.ErrNotFound)
	_, err = s.CollectionByName(ctx, missing, "tools")
	wantErr(t, "CollectionByName(missing entity)", err, meta.ErrNotFound)
}

func testContainers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	e := mustEntity(t, s, "alice", alice.ID)
	c1 := mustCollection(t, s, e.ID, "tools", false)
	c2 := mustCollection(t, s, e.ID, "other", false)

	grep := &meta.Container{CollectionID: c1.ID, Name: "grep", Description: "GNU grep"}
	// The same name in another collection is a different container.
	otherGrep := &meta.Container{CollectionID: c2.ID, Name: "grep", Frozen: true}
	for _, c := range []*meta.Container{grep, otherGrep} {
		if err := s.CreateContainer(ctx, c); err != nil {
			t.Fatalf("CreateContainer(%d/%q): %v", c.CollectionID, c.Name, err)
		}
		if c.ID == 0 {
			t.Errorf("CreateContainer(%q) left ID 0", c.Name)
		}
		checkRecent(t, "Container.Created", c.Created)
		checkRecent(t, "Container.Updated", c.Updated)
	}
	if grep.ID == otherGrep.ID {
		t.Errorf("two containers got the same ID %d", grep.ID)
	}
	for _, want := range []*meta.Container{grep, otherGrep} {
		got, err := s.Container(ctx, want.ID)
		if err != nil {
			t.Fatalf("Container(%d): %v", want.ID, err)
		}
		same(t, "Container", got, want)
		got, err = s.ContainerByName(ctx, want.CollectionID, want.Name)
		if err != nil {
			t.Fatalf("ContainerByName(%d, %q): %v", want.CollectionID, want.Name, err)
		}
		same(t, "ContainerByName", got, want)
	}

	err := s.CreateContainer(ctx, &meta.Container{CollectionID: c1.ID, Name: "grep", Description: "again"})
	wantErr(t, "CreateContainer with a taken name", err, meta.ErrConflict)
	if got, err := s.ContainerByName(ctx, c1.ID, "grep"); err != nil || got.ID != grep.ID || got.Description != grep.Description {
		t.Errorf("after a refused duplicate, ContainerByName = %+v, %v; want the original", got, err)
	}

	_, err = s.Container(ctx, missing)
	wantErr(t, "Container(missing)", err, meta.ErrNotFound)
	_, err = s.ContainerByName(ctx, c1.ID, "sed")
	wantErr(t, "ContainerByName(missing name)", err, meta.ErrNotFound)
	_, err = s.ContainerByName(ctx, missing, "grep")
	wantErr(t, "ContainerByName(missing collection)", err, meta.ErrNotFound)

	// SetFrozen: each step is read back, and setting the value it already
	// has is not an error (the row exists, whatever a backend counts). The
	// other containers, one frozen and one not, must never change.
	sed := mustContainer(t, s, c1.ID, "sed")
	for _, frozen := range []bool{true, true, false, false, true} {
		if err := s.SetFrozen(ctx, grep.ID, frozen); err != nil {
			t.Fatalf("SetFrozen(%v): %v", frozen, err)
		}
		for _, c := range []struct {
			id   int64
			want bool
		}{{grep.ID, frozen}, {otherGrep.ID, true}, {sed.ID, false}} {
			got, err := s.Container(ctx, c.id)
			if err != nil {
				t.Fatalf("Container(%d): %v", c.id, err)
			}
			if got.Frozen != c.want {
				t.Errorf("after SetFrozen(%d, %v), container %d has Frozen = %v", grep.ID, frozen, c.id, got.Frozen)
			}
		}
	}
	wantErr(t, "SetFrozen(missing)", s.SetFrozen(ctx, missing, true), meta.ErrNotFound)
}

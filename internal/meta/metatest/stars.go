package metatest

import (
	"testing"

	"github.com/siloreg/silo/internal/meta"
)

// testStars checks that a star is one per user and collection, that
// repeating a star or an unstar changes nothing, and that counts are per
// collection.
func testStars(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	e := mustEntity(t, s, "alice", alice.ID)
	tools := &meta.Collection{EntityID: e.ID, Name: "tools", CreatedBy: alice.ID}
	data := &meta.Collection{EntityID: e.ID, Name: "data", CreatedBy: alice.ID}
	for _, c := range []*meta.Collection{tools, data} {
		if err := s.CreateCollection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, c *meta.Collection, user int64, wantN int64, wantMine bool) {
		t.Helper()
		n, mine, err := s.Stars(ctx, c.ID, user)
		if err != nil {
			t.Fatalf("%s: Stars(%s, %d): %v", when, c.Name, user, err)
		}
		if n != wantN || mine != wantMine {
			t.Errorf("%s: Stars(%s, %d) = %d, %v; want %d, %v", when, c.Name, user, n, mine, wantN, wantMine)
		}
	}
	check("before any star", tools, alice.ID, 0, false)
	check("before any star, nobody", tools, 0, 0, false)

	star := func(u *meta.User, c *meta.Collection, on bool) {
		t.Helper()
		if err := s.SetStar(ctx, u.ID, c.ID, on); err != nil {
			t.Fatalf("SetStar(%s, %s, %v): %v", u.Name, c.Name, on, err)
		}
	}
	star(alice, tools, true)
	star(alice, tools, true) // twice is once
	star(bob, tools, true)
	check("two users starred", tools, alice.ID, 2, true)
	check("two users starred, nobody asking", tools, 0, 2, false)
	check("another collection", data, alice.ID, 0, false)

	star(alice, tools, false)
	star(alice, tools, false) // unstarring again is no error
	check("alice unstarred", tools, alice.ID, 1, false)
	check("alice unstarred, bob asking", tools, bob.ID, 1, true)
	star(bob, data, false) // never starred: no error
	check("unstar of nothing", data, bob.ID, 0, false)
}

package metatest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/siloreg/silo/internal/meta"
)

func teamID(tm *meta.Team) int64 { return tm.ID }

func sameTeam(t *testing.T, what string, got, want *meta.Team) {
	t.Helper()
	same(t, what, got, want)
}

func mustTeam(t *testing.T, s meta.Store, name string) *meta.Team {
	t.Helper()
	tm := &meta.Team{Name: name}
	if err := s.CreateTeam(t.Context(), tm); err != nil {
		t.Fatalf("CreateTeam(%q): %v", name, err)
	}
	return tm
}

func mustMember(t *testing.T, s meta.Store, m meta.Member) {
	t.Helper()
	if err := s.SetMember(t.Context(), m); err != nil {
		t.Fatalf("SetMember(%+v): %v", m, err)
	}
}

func testTeams(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if ts, err := s.Teams(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("Teams on an empty store = %v, %v; want none", ts, err)
	}

	physics := &meta.Team{Name: "physics", Description: "Physics department ✓", QuotaBytes: 1<<40 + 3}
	chem := &meta.Team{Name: "chem"}
	for _, tm := range []*meta.Team{physics, chem} {
		if err := s.CreateTeam(ctx, tm); err != nil {
			t.Fatalf("CreateTeam(%q): %v", tm.Name, err)
		}
		if tm.ID == 0 {
			t.Errorf("CreateTeam(%q) left ID 0", tm.Name)
		}
		checkRecent(t, tm.Name+".Created", tm.Created)
	}
	if physics.ID == chem.ID {
		t.Errorf("two teams got the same ID %d", physics.ID)
	}
	for _, want := range []*meta.Team{physics, chem} {
		got, err := s.Team(ctx, want.ID)
		if err != nil {
			t.Fatalf("Team(%d): %v", want.ID, err)
		}
		same(t, "Team("+want.Name+")", got, want)
		got, err = s.TeamByName(ctx, want.Name)
		if err != nil {
			t.Fatalf("TeamByName(%q): %v", want.Name, err)
		}
		same(t, "TeamByName("+want.Name+")", got, want)
	}
	ts, err := s.Teams(ctx)
	if err != nil {
		t.Fatalf("Teams: %v", err)
	}
	sameSet(t, "Teams", ts, []*meta.Team{physics, chem}, teamID, sameTeam)

	err = s.CreateTeam(ctx, &meta.Team{Name: "physics", Description: "impostor", QuotaBytes: 1})
	wantErr(t, "CreateTeam with a taken name", err, meta.ErrConflict)
	if got, err := s.TeamByName(ctx, "physics"); err != nil {
		t.Errorf("after a refused duplicate, TeamByName(physics): %v", err)
	} else {
		same(t, "after a refused duplicate, TeamByName(physics)", got, physics)
	}
	if ts, err := s.Teams(ctx); err != nil || len(ts) != 2 {
		t.Errorf("after a refused duplicate, Teams = %d teams, %v; want 2", len(ts), err)
	}

	_, err = s.Team(ctx, missing)
	wantErr(t, "Team(missing)", err, meta.ErrNotFound)
	_, err = s.TeamByName(ctx, "biology")
	wantErr(t, "TeamByName(missing)", err, meta.ErrNotFound)
	_, err = s.TeamByName(ctx, "phys")
	wantErr(t, "TeamByName(a prefix)", err, meta.ErrNotFound)

	// UpdateTeam writes Description and QuotaBytes, nothing else.
	upd := *physics
	upd.Description = "renamed department"
	upd.QuotaBytes = 0
	upd.Name = "astro"
	upd.Created = odd(2001, 0)
	if err := s.UpdateTeam(ctx, &upd); err != nil {
		t.Fatalf("UpdateTeam: %v", err)
	}
	physicsWant := *physics
	physicsWant.Description, physicsWant.QuotaBytes = upd.Description, upd.QuotaBytes
	if got, err := s.Team(ctx, physics.ID); err != nil {
		t.Fatalf("Team after UpdateTeam: %v", err)
	} else {
		same(t, "Team after UpdateTeam", got, &physicsWant)
	}
	_, err = s.TeamByName(ctx, "astro")
	wantErr(t, "TeamByName(a name UpdateTeam must not have written)", err, meta.ErrNotFound)
	chemUpd := *chem
	chemUpd.Description, chemUpd.QuotaBytes = "Chemistry", 42
	if err := s.UpdateTeam(ctx, &chemUpd); err != nil {
		t.Fatalf("UpdateTeam(chem): %v", err)
	}
	if err := s.UpdateTeam(ctx, &chemUpd); err != nil {
		t.Errorf("UpdateTeam with unchanged values: %v", err)
	}
	ts, err = s.Teams(ctx)
	if err != nil {
		t.Fatalf("Teams: %v", err)
	}
	sameSet(t, "Teams after UpdateTeam", ts, []*meta.Team{&physicsWant, &chemUpd}, teamID, sameTeam)

	err = s.UpdateTeam(ctx, &meta.Team{ID: missing, Name: "ghost", Description: "x"})
	wantErr(t, "UpdateTeam(missing)", err, meta.ErrNotFound)
	if ts, err := s.Teams(ctx); err != nil || len(ts) != 2 {
		t.Errorf("after UpdateTeam(missing), Teams = %d teams, %v; want 2 (no upsert)", len(ts), err)
	}
}

// sortMembers orders members by team, then user, for comparison.
func sortMembers(ms []meta.Member) []meta.Member {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b meta.Member) int {
		return cmp.Or(cmp.Compare(a.TeamID, b.TeamID), cmp.Compare(a.UserID, b.UserID))
	})
	return ms
}

func testMembers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	carol := mustUser(t, s, "carol")
	physics := mustTeam(t, s, "physics")
	chem := mustTeam(t, s, "chem")

	check := func(when string) func(string, []meta.Member, error, ...meta.Member) {
		return func(call string, got []meta.Member, err error, want ...meta.Member) {
			t.Helper()
			if err != nil {
				t.Errorf("%s %s: %v", when, call, err)
				return
			}
			if g, w := sortMembers(got), sortMembers(want); !slices.Equal(g, w) {
				t.Errorf("%s %s = %+v, want %+v", when, call, g, w)
			}
		}
	}
	state := func(when string, byTeam map[int64][]meta.Member, byUser map[int64][]meta.Member) {
		t.Helper()
		c := check(when)
		for _, tm := range []int64{physics.ID, chem.ID, missing} {
			got, err := s.Members(ctx, tm)
			c(fmt.Sprintf("Members(%d)", tm), got, err, byTeam[tm]...)
		}
		for _, u := range []int64{alice.ID, bob.ID, carol.ID, missing} {
			got, err := s.UserTeams(ctx, u)
			c(fmt.Sprintf("UserTeams(%d)", u), got, err, byUser[u]...)
		}
	}
	state("on a new store", nil, nil)

	aliceOwnsPhysics := meta.Member{TeamID: physics.ID, UserID: alice.ID, Owner: true}
	bobInPhysics := meta.Member{TeamID: physics.ID, UserID: bob.ID}
	bobOwnsChem := meta.Member{TeamID: chem.ID, UserID: bob.ID, Owner: true}
	for _, m := range []meta.Member{aliceOwnsPhysics, bobInPhysics, bobOwnsChem} {
		mustMember(t, s, m)
	}
	state("after adding members",
		map[int64][]meta.Member{physics.ID: {aliceOwnsPhysics, bobInPhysics}, chem.ID: {bobOwnsChem}},
		map[int64][]meta.Member{alice.ID: {aliceOwnsPhysics}, bob.ID: {bobInPhysics, bobOwnsChem}})

	// SetMember again changes ownership, both ways, and adds no second row.
	bobOwnsPhysics := meta.Member{TeamID: physics.ID, UserID: bob.ID, Owner: true}
	aliceInPhysics := meta.Member{TeamID: physics.ID, UserID: alice.ID}
	mustMember(t, s, bobOwnsPhysics)
	mustMember(t, s, aliceInPhysics)
	state("after changing ownership",
		map[int64][]meta.Member{physics.ID: {aliceInPhysics, bobOwnsPhysics}, chem.ID: {bobOwnsChem}},
		map[int64][]meta.Member{alice.ID: {aliceInPhysics}, bob.ID: {bobOwnsPhysics, bobOwnsChem}})
	// Setting what is there already is no error.
	mustMember(t, s, aliceInPhysics)

	// Unknown team or user: ErrNotFound, and nothing is added.
	wantErr(t, "SetMember(missing team)", s.SetMember(ctx, meta.Member{TeamID: missing, UserID: carol.ID, Owner: true}), meta.ErrNotFound)
	wantErr(t, "SetMember(missing user)", s.SetMember(ctx, meta.Member{TeamID: physics.ID, UserID: missing}), meta.ErrNotFound)
	wantErr(t, "SetMember(team 0)", s.SetMember(ctx, meta.Member{UserID: carol.ID}), meta.ErrNotFound)
	state("after refused SetMembers",
		map[int64][]meta.Member{physics.ID: {aliceInPhysics, bobOwnsPhysics}, chem.ID: {bobOwnsChem}},
		map[int64][]meta.Member{alice.ID: {aliceInPhysics}, bob.ID: {bobOwnsPhysics, bobOwnsChem}})

	if err := s.RemoveMember(ctx, physics.ID, bob.ID); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	state("after RemoveMember",
		map[int64][]meta.Member{physics.ID: {aliceInPhysics}, chem.ID: {bobOwnsChem}},
		map[int64][]meta.Member{alice.ID: {aliceInPhysics}, bob.ID: {bobOwnsChem}})
	wantErr(t, "RemoveMember twice", s.RemoveMember(ctx, physics.ID, bob.ID), meta.ErrNotFound)
	wantErr(t, "RemoveMember(not a member)", s.RemoveMember(ctx, chem.ID, alice.ID), meta.ErrNotFound)
	wantErr(t, "RemoveMember(missing team)", s.RemoveMember(ctx, missing, alice.ID), meta.ErrNotFound)
	wantErr(t, "RemoveMember(missing user)", s.RemoveMember(ctx, physics.ID, missing), meta.ErrNotFound)

	// A removed member can come back, with a fresh ownership.
	mustMember(t, s, bobInPhysics)
	mustMember(t, s, meta.Member{TeamID: chem.ID, UserID: carol.ID})
	state("after re-adding",
		map[int64][]meta.Member{physics.ID: {aliceInPhysics, bobInPhysics}, chem.ID: {bobOwnsChem, {TeamID: chem.ID, UserID: carol.ID}}},
		map[int64][]meta.Member{alice.ID: {aliceInPhysics}, bob.ID: {bobInPhysics, bobOwnsChem}, carol.ID: {{TeamID: chem.ID, UserID: carol.ID}}})
}

// testTeamNames checks the TeamID of entities and collections, and the
// collection setters and counter that go with teams.
func testTeamNames(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	physics := mustTeam(t, s, "physics")
	chem := mustTeam(t, s, "chem")

	teamEntity := &meta.Entity{Name: "physics", Description: "the team's", TeamID: physics.ID}
	aliceEntity := &meta.Entity{Name: "alice", OwnerID: alice.ID}
	for _, e := range []*meta.Entity{teamEntity, aliceEntity} {
		if err := s.CreateEntity(ctx, e); err != nil {
			t.Fatalf("CreateEntity(%q): %v", e.Name, err)
		}
	}
	for _, want := range []*meta.Entity{teamEntity, aliceEntity} {
		got, err := s.Entity(ctx, want.ID)
		if err != nil {
			t.Fatalf("Entity(%d): %v", want.ID, err)
		}
		same(t, "Entity("+want.Name+")", got, want)
		got, err = s.EntityByName(ctx, want.Name)
		if err != nil {
			t.Fatalf("EntityByName(%q): %v", want.Name, err)
		}
		same(t, "EntityByName("+want.Name+")", got, want)
	}

	lab := &meta.Collection{EntityID: teamEntity.ID, Name: "lab", CreatedBy: alice.ID}
	handed := &meta.Collection{EntityID: aliceEntity.ID, Name: "handed", CreatedBy: alice.ID, TeamID: chem.ID, Private: true}
	mine := &meta.Collection{EntityID: aliceEntity.ID, Name: "mine", CreatedBy: alice.ID}
	bobs := &meta.Collection{EntityID: aliceEntity.ID, Name: "bobs", CreatedBy: bob.ID}
	all := []*meta.Collection{lab, handed, mine, bobs}
	for _, c := range all {
		if err := s.CreateCollection(ctx, c); err != nil {
			t.Fatalf("CreateCollection(%q): %v", c.Name, err)
		}
	}
	collections := func(when string) {
		t.Helper()
		for _, want := range all {
			got, err := s.Collection(ctx, want.ID)
			if err != nil {
				t.Fatalf("%s, Collection(%d): %v", when, want.ID, err)
			}
			// Updated is the store's: present and not before Created.
			if got.Updated.Before(got.Created) {
				t.Errorf("%s, collection %q Updated %v is before Created %v", when, want.Name, got.Updated, got.Created)
			}
			checkRecent(t, when+", "+want.Name+".Updated", got.Updated)
			w := *want
			w.Updated = got.Updated
			same(t, when+", Collection("+want.Name+")", got, &w)
			got, err = s.CollectionByName(ctx, want.EntityID, want.Name)
			if err != nil {
				t.Fatalf("%s, CollectionByName(%q): %v", when, want.Name, err)
			}
			same(t, when+", CollectionByName("+want.Name+")", got, &w)
		}
	}
	collections("after create")

	count := func(user int64, want int) {
		t.Helper()
		if n, err := s.CountCollections(ctx, user); err != nil || n != want {
			t.Errorf("CountCollections(%d) = %d, %v; want %d", user, n, err, want)
		}
	}
	// Every collection alice created counts, a team's or not.
	count(alice.ID, 3)
	count(bob.ID, 1)
	count(missing, 0)

	// SetCollectionTeam hands a collection over, and back with 0.
	for _, step := range []struct {
		c    *meta.Collection
		team int64
	}{{mine, physics.ID}, {mine, chem.ID}, {handed, 0}, {handed, 0}, {mine, 0}, {lab, chem.ID}} {
		if err := s.SetCollectionTeam(ctx, step.c.ID, step.team); err != nil {
			t.Fatalf("SetCollectionTeam(%q, %d): %v", step.c.Name, step.team, err)
		}
		step.c.TeamID = step.team
		collections(fmt.Sprintf("after SetCollectionTeam(%s, %d)", step.c.Name, step.team))
	}
	wantErr(t, "SetCollectionTeam(missing)", s.SetCollectionTeam(ctx, missing, physics.ID), meta.ErrNotFound)
	// Handing over does not change who created it.
	count(alice.ID, 3)
	count(bob.ID, 1)

	// SetCollectionPrivate, with no-op steps, touching only its collection.
	for _, step := range []struct {
		c       *meta.Collection
		private bool
	}{{mine, true}, {mine, true}, {handed, false}, {mine, false}, {mine, false}, {bobs, true}} {
		if err := s.SetCollectionPrivate(ctx, step.c.ID, step.private); err != nil {
			t.Fatalf("SetCollectionPrivate(%q, %v): %v", step.c.Name, step.private, err)
		}
		step.c.Private = step.private
		collections(fmt.Sprintf("after SetCollectionPrivate(%s, %v)", step.c.Name, step.private))
	}
	wantErr(t, "SetCollectionPrivate(missing)", s.SetCollectionPrivate(ctx, missing, true), meta.ErrNotFound)
}

// testFindTeams checks the team fields of Find's records, and that they and
// Private follow the collection setters.
func testFindTeams(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	physics := mustTeam(t, s, "physics")
	chem := mustTeam(t, s, "chem")
	teamEntity := &meta.Entity{Name: "physics", TeamID: physics.ID}
	if err := s.CreateEntity(ctx, teamEntity); err != nil {
		t.Fatalf("CreateEntity: %v", err)
	}
	aliceEntity := mustEntity(t, s, "alice", alice.ID)

	type place struct {
		coll *meta.Collection
		im   *meta.Image
	}
	mk := func(e *meta.Entity, name string, team int64) place {
		t.Helper()
		c := &meta.Collection{EntityID: e.ID, Name: name, CreatedBy: alice.ID, TeamID: team}
		if err := s.CreateCollection(ctx, c); err != nil {
			t.Fatalf("CreateCollection(%q): %v", name, err)
		}
		ct := mustContainer(t, s, c.ID, "c")
		return place{c, mustUploaded(t, s, &meta.Image{ContainerID: ct.ID, Digest: digest(name), Arch: "amd64"})}
	}
	lab := mk(teamEntity, "lab", 0)         // the entity's team only
	both := mk(teamEntity, "both", chem.ID) // a team's entity, another team's collection
	handed := mk(aliceEntity, "handed", physics.ID)
	mine := mk(aliceEntity, "mine", 0)

	records := func(when string, want map[int64][2]int64, private map[int64]bool) {
		t.Helper()
		recs, err := s.Find(ctx, meta.Query{})
		if err != nil {
			t.Fatalf("%s, Find: %v", when, err)
		}
		if len(recs) != len(want) {
			t.Fatalf("%s, Find = images %v, want %d", when, ids(recs), len(want))
		}
		for _, r := range recs {
			w, ok := want[r.ID]
			if !ok {
				t.Errorf("%s, Find returned unexpected image %d", when, r.ID)
				continue
			}
			if r.TeamID != w[0] || r.EntityTeam != w[1] {
				t.Errorf("%s, record %s/%s TeamID, EntityTeam = %d, %d; want %d, %d", when, r.Entity, r.Collection, r.TeamID, r.EntityTeam, w[0], w[1])
			}
			if r.Private != private[r.ID] {
				t.Errorf("%s, record %s/%s Private = %v, want %v", when, r.Entity, r.Collection, r.Private, private[r.ID])
			}
		}
	}
	records("after create", map[int64][2]int64{
		lab.im.ID:    {0, physics.ID},
		both.im.ID:   {chem.ID, physics.ID},
		handed.im.ID: {physics.ID, 0},
		mine.im.ID:   {0, 0},
	}, nil)

	if err := s.SetCollectionTeam(ctx, mine.coll.ID, chem.ID); err != nil {
		t.Fatalf("SetCollectionTeam: %v", err)
	}
	if err := s.SetCollectionTeam(ctx, handed.coll.ID, 0); err != nil {
		t.Fatalf("SetCollectionTeam: %v", err)
	}
	if err := s.SetCollectionPrivate(ctx, lab.coll.ID, true); err != nil {
		t.Fatalf("SetCollectionPrivate: %v", err)
	}
	records("after handing over", map[int64][2]int64{
		lab.im.ID:    {0, physics.ID},
		both.im.ID:   {chem.ID, physics.ID},
		handed.im.ID: {0, 0},
		mine.im.ID:   {chem.ID, 0},
	}, map[int64]bool{lab.im.ID: true})
}

// testUsageBytes checks what a quota is measured against: distinct uploaded
// digests, once per owner, where the owner of a collection is the team it
// was handed to, else its entity's team, else the user who created it.
func testUsageBytes(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	carol := mustUser(t, s, "carol")
	physics := mustTeam(t, s, "physics")
	chem := mustTeam(t, s, "chem")
	aliceEntity := mustEntity(t, s, "alice", alice.ID)
	bobEntity := mustEntity(t, s, "bob", bob.ID)
	shared := mustEntity(t, s, "library", 0)
	teamEntity := &meta.Entity{Name: "physics", TeamID: physics.ID}
	if err := s.CreateEntity(ctx, teamEntity); err != nil {
		t.Fatalf("CreateEntity: %v", err)
	}

	// Each digest has its own power-of-two size, in units past 32 bits, so
	// a sum tells which digests it counted and how often.
	const unit = int64(1) << 32
	size := map[string]int64{}
	for i, d := range []string{"d1", "d2", "d4", "d8", "d16", "d32", "d64", "d128", "d256", "d512"} {
		size[d] = unit << i
	}
	coll := func(e *meta.Entity, name string, by, team int64) *meta.Collection {
		t.Helper()
		c := &meta.Collection{EntityID: e.ID, Name: name, CreatedBy: by, TeamID: team}
		if err := s.CreateCollection(ctx, c); err != nil {
			t.Fatalf("CreateCollection(%q): %v", name, err)
		}
		return c
	}
	images := map[string]*meta.Image{}
	push := func(c *meta.Container, ds ...string) {
		t.Helper()
		for _, d := range ds {
			images[fmt.Sprint(c.ID, "/", d)] = mustUploaded(t, s, &meta.Image{ContainerID: c.ID, Digest: digest(d), Size: size[d], Arch: "amd64"})
		}
	}

	aliceA := coll(aliceEntity, "a", alice.ID, 0)
	a1 := mustContainer(t, s, aliceA.ID, "one")
	a2 := mustContainer(t, s, aliceA.ID, "two")
	push(a1, "d1", "d2")
	push(a2, "d1") // the same bytes again: counted once
	// Created but never uploaded: no bytes stored, not counted.
	pending := &meta.Image{ContainerID: a1.ID, Digest: digest("d64"), Size: size["d64"]}
	if err := s.CreateImage(ctx, pending); err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	aliceB := coll(aliceEntity, "b", alice.ID, 0)
	push(mustContainer(t, s, aliceB.ID, "c"), "d1", "d4")
	// In the shared entity, alice's collection is alice's.
	push(mustContainer(t, s, coll(shared, "alices", alice.ID, 0).ID, "c"), "d8")
	// Handed to physics after creation, and made for chem from the start:
	// the teams', not alice's.
	handed := coll(aliceEntity, "handed", alice.ID, 0)
	if err := s.SetCollectionTeam(ctx, handed.ID, physics.ID); err != nil {
		t.Fatalf("SetCollectionTeam: %v", err)
	}
	push(mustContainer(t, s, handed.ID, "c"), "d16", "d1")
	push(mustContainer(t, s, coll(aliceEntity, "chem", alice.ID, chem.ID).ID, "c"), "d32")
	// Created by alice in the team's entity: the team's.
	push(mustContainer(t, s, coll(teamEntity, "lab", alice.ID, 0).ID, "c"), "d128", "d16")
	// Created by bob in alice's entity: bob's, the creator's.
	push(mustContainer(t, s, coll(aliceEntity, "bobs", bob.ID, 0).ID, "c"), "d256", "d1")
	push(mustContainer(t, s, coll(bobEntity, "own", bob.ID, 0).ID, "c"), "d512", "d256")

	usage := func(when string, user, team int64, digests ...string) {
		t.Helper()
		var want int64
		for _, d := range digests {
			want += size[d]
		}
		got, err := s.UsageBytes(ctx, user, team)
		if err != nil {
			t.Errorf("%s, UsageBytes(%d, %d): %v", when, user, team, err)
			return
		}
		if got != want {
			t.Errorf("%s, UsageBytes(%d, %d) = %d units (+%d), want %d units %v",
				when, user, team, got/unit, got%unit, want/unit, digests)
		}
	}
	usage("at first", alice.ID, 0, "d1", "d2", "d4", "d8")
	usage("at first", bob.ID, 0, "d1", "d256", "d512")
	usage("at first", 0, physics.ID, "d1", "d16", "d128")
	// With a team given, the user does not matter.
	usage("at first", alice.ID, physics.ID, "d1", "d16", "d128")
	usage("at first", bob.ID, physics.ID, "d1", "d16", "d128")
	usage("at first", 0, chem.ID, "d32")
	usage("at first", carol.ID, 0)
	usage("at first", missing, 0)
	usage("at first", 0, missing)

	// Taking the collection back from the team moves its bytes to alice;
	// d1 she already had.
	if err := s.SetCollectionTeam(ctx, handed.ID, 0); err != nil {
		t.Fatalf("SetCollectionTeam: %v", err)
	}
	usage("after taking back", alice.ID, 0, "d1", "d2", "d4", "d8", "d16")
	usage("after taking back", 0, physics.ID, "d16", "d128")

	// Completing the pending image counts it.
	pending.Size = size["d64"]
	if err := s.CompleteImage(ctx, pending); err != nil {
		t.Fatalf("CompleteImage: %v", err)
	}
	usage("after completing", alice.ID, 0, "d1", "d2", "d4", "d8", "d16", "d64")

	// Deleting one of several copies keeps the digest counted; deleting the
	// last drops it.
	for _, key := range []string{fmt.Sprint(a2.ID, "/d1"), fmt.Sprint(a1.ID, "/d2")} {
		if err := s.DeleteImage(ctx, images[key].ID); err != nil {
			t.Fatalf("DeleteImage(%s): %v", key, err)
		}
	}
	usage("after deleting", alice.ID, 0, "d1", "d4", "d8", "d16", "d64")
	usage("after deleting", bob.ID, 0, "d1", "d256", "d512")
}

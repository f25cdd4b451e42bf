package metatest

import (
	"testing"

	"github.com/siloreg/silo/internal/meta"
)

// testMemberSource checks that a membership keeps where it came from (a
// provider's group, or "" for one granted in Silo), that SetMember on an
// existing membership overwrites it along with Owner, and that it survives
// the other members' changes.
func testMemberSource(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	physics := mustTeam(t, s, "physics")
	chem := mustTeam(t, s, "chem")

	// find returns the membership of user in team as both listings show
	// it, failing the test when they disagree.
	find := func(when string, team, user int64) (meta.Member, bool) {
		t.Helper()
		var byTeam, byUser *meta.Member
		ms, err := s.Members(ctx, team)
		if err != nil {
			t.Fatalf("%s, Members(%d): %v", when, team, err)
		}
		for i := range ms {
			if ms[i].UserID == user {
				byTeam = &ms[i]
			}
		}
		us, err := s.UserTeams(ctx, user)
		if err != nil {
			t.Fatalf("%s, UserTeams(%d): %v", when, user, err)
		}
		for i := range us {
			if us[i].TeamID == team {
				byUser = &us[i]
			}
		}
		switch {
		case byTeam == nil && byUser == nil:
			return meta.Member{}, false
		case byTeam == nil || byUser == nil || *byTeam != *byUser:
			t.Fatalf("%s, Members says %+v but UserTeams says %+v", when, byTeam, byUser)
		}
		return *byTeam, true
	}
	want := func(when string, m meta.Member) {
		t.Helper()
		got, ok := find(when, m.TeamID, m.UserID)
		if !ok || got != m {
			t.Errorf("%s, membership = %+v (found %v), want %+v", when, got, ok, m)
		}
	}

	fromLDAP := meta.Member{TeamID: physics.ID, UserID: alice.ID, Source: "ldap"}
	fromOIDC := meta.Member{TeamID: chem.ID, UserID: alice.ID, Source: "oidc:keycloak ✓"}
	byHand := meta.Member{TeamID: physics.ID, UserID: bob.ID, Owner: true}
	for _, m := range []meta.Member{fromLDAP, fromOIDC, byHand} {
		mustMember(t, s, m)
	}
	want("after adding", fromLDAP)
	want("after adding", fromOIDC)
	want("after adding", byHand)

	// Changing another member leaves alice's source alone.
	mustMember(t, s, meta.Member{TeamID: physics.ID, UserID: bob.ID})
	want("after changing bob", fromLDAP)

	// Granting by hand what a provider granted makes it a hand grant: the
	// provider must not take it away later.
	handGranted := meta.Member{TeamID: physics.ID, UserID: alice.ID, Owner: true}
	mustMember(t, s, handGranted)
	want("after granting by hand", handGranted)
	// And the other way: SetMember writes the source it is given.
	mustMember(t, s, fromLDAP)
	want("after the provider's grant again", fromLDAP)

	// A removed provider membership is gone; coming back by hand has no source.
	if err := s.RemoveMember(ctx, chem.ID, alice.ID); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	if m, ok := find("after RemoveMember", chem.ID, alice.ID); ok {
		t.Errorf("after RemoveMember, membership %+v is still there", m)
	}
	mustMember(t, s, meta.Member{TeamID: chem.ID, UserID: alice.ID})
	want("after re-adding by hand", meta.Member{TeamID: chem.ID, UserID: alice.ID})
}

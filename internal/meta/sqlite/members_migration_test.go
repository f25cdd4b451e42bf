package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/siloreg/silo/internal/meta"
)

// A database made before memberships had a source is upgraded in place,
// and the memberships it holds read back as granted in Silo: nobody's
// existing membership may look like a provider's and be taken away at the
// next login.
func TestMemberSourceMigration(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	current := migrations
	setMigrations(t, migrations[:1]) // the schema before the members.source column
	s := open(t, path)
	u := &meta.User{Name: "alice"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	tm := &meta.Team{Name: "physics"}
	if err := s.CreateTeam(ctx, tm); err != nil {
		t.Fatalf("CreateTeam: %v", err)
	}
	// The old silo's SetMember, as it wrote the row.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO members (team_id, user_id, owner) VALUES (?,?,1)`, tm.ID, u.ID); err != nil {
		t.Fatalf("inserting an old membership: %v", err)
	}
	closeStore(t, s)

	setMigrations(t, current)
	s = open(t, path)
	defer closeStore(t, s)
	ms, err := s.UserTeams(ctx, u.ID)
	want := meta.Member{TeamID: tm.ID, UserID: u.ID, Owner: true}
	if err != nil || len(ms) != 1 || ms[0] != want {
		t.Fatalf("after the upgrade, UserTeams = %+v, %v; want [%+v]", ms, err, want)
	}
	if err := s.SetMember(ctx, meta.Member{TeamID: tm.ID, UserID: u.ID, Source: "ldap"}); err != nil {
		t.Fatalf("SetMember with a source after the upgrade: %v", err)
	}
}

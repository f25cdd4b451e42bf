package metatest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// tableWorld fills s with at least one row of every kind a registry keeps.
func tableWorld(t *testing.T, s meta.Store) (tr tree, im *meta.Image) {
	t.Helper()
	ctx := t.Context()
	tr = mustTree(t, s, "alice")
	tk := &meta.Token{UserID: tr.user.ID, Name: "ci", Hash: digest("tok"), Scopes: []string{"push"}, Expires: odd(2031, 7)}
	if err := s.CreateToken(ctx, tk); err != nil {
		t.Fatal(err)
	}
	team := &meta.Team{Name: "lab", Description: "the lab"}
	if err := s.CreateTeam(ctx, team); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMember(ctx, meta.Member{TeamID: team.ID, UserID: tr.user.ID, Owner: true, Source: "ldap"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCollectionPrivate(ctx, tr.collection.ID, true); err != nil {
		t.Fatal(err)
	}
	im = mustUploaded(t, s, &meta.Image{ContainerID: tr.container.ID, Digest: digest("one"), Size: 42, Arch: "amd64",
		Signed: true, Labels: map[string]string{"org.label": "vä\"lue"}, Definition: "Bootstrap: docker", SIFCreated: odd(2020, 3)})
	mustTag(t, s, tr.container.ID, "amd64", "latest", im.ID)
	if err := s.CreateShare(ctx, &meta.Share{Hash: digest("share"), ImageID: im.ID, Tag: "latest", CreatedBy: tr.user.ID, Expires: odd(2030, 9)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAudit(ctx, &meta.AuditEvent{At: odd(2024, 5), Actor: "alice", Action: "push", Target: "alice/alice/alice:latest"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(ctx, "some-key", "some value"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hit(ctx, "ip:127.0.0.1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return tr, im
}

// dump reads every row of ts.
func dump(t *testing.T, s meta.Store, ts []meta.Table) map[string][]meta.Row {
	t.Helper()
	out := map[string][]meta.Row{}
	err := s.ReadRows(t.Context(), ts, func(tb meta.Table, r meta.Row) error {
		out[tb.Name] = append(out[tb.Name], r)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadRows: %v", err)
	}
	return out
}

// testTables checks the generic row interface a registry copy uses: every
// table is listed parents first, its rows read back as written, writing
// them again changes nothing, and ids go on from the largest written.
func testTables(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr, im := tableWorld(t, s)
	ts, err := s.Tables(ctx)
	if err != nil {
		t.Fatalf("Tables: %v", err)
	}
	pos := map[string]int{}
	for i, tb := range ts {
		pos[tb.Name] = i
		if len(tb.Key) == 0 {
			t.Errorf("table %s: no primary key", tb.Name)
		}
	}
	for _, n := range []string{"users", "tokens", "teams", "members", "entities", "collections", "containers",
		"images", "tags", "shares", "audit", "settings", "uploads", "ratelimits"} {
		if _, ok := pos[n]; !ok {
			t.Errorf("Tables does not list %s", n)
		}
	}
	if _, ok := pos["schema_version"]; ok {
		t.Error("Tables lists schema_version, which is the store's own bookkeeping")
	}
	for _, pair := range [][2]string{{"users", "tokens"}, {"teams", "members"}, {"entities", "collections"},
		{"collections", "containers"}, {"containers", "images"}, {"images", "tags"}, {"images", "shares"}} {
		if pos[pair[0]] > pos[pair[1]] {
			t.Errorf("Tables lists %s after %s, which refers to it", pair[0], pair[1])
		}
	}
	for _, tb := range ts {
		if tb.Name == "members" && !slices.Equal(slices.Sorted(slices.Values(tb.Key)), []string{"team_id", "user_id"}) {
			t.Errorf("members' key is %v, want team_id and user_id", tb.Key)
		}
	}

	before := dump(t, s, ts)
	counts := map[string]int64{}
	for _, tb := range ts {
		n, err := s.CountRows(ctx, tb)
		if err != nil {
			t.Fatalf("CountRows(%s): %v", tb.Name, err)
		}
		if n != int64(len(before[tb.Name])) {
			t.Errorf("CountRows(%s) = %d, ReadRows gave %d rows", tb.Name, n, len(before[tb.Name]))
		}
		counts[tb.Name] = n
	}

	// Empty the store, write the rows back: the same registry, read
	// through the ordinary interface.
	if err := s.ClearTables(ctx, ts); err != nil {
		t.Fatalf("ClearTables: %v", err)
	}
	if _, err := s.UserByName(ctx, "alice"); err == nil {
		t.Fatal("alice is still there after ClearTables")
	}
	write := func() {
		for _, tb := range ts {
			if err := s.WriteRows(ctx, tb, before[tb.Name]); err != nil {
				t.Fatalf("WriteRows(%s): %v", tb.Name, err)
			}
		}
	}
	write()
	write() // a second time: nothing doubles
	if after := dump(t, s, ts); !reflect.DeepEqual(after, before) {
		t.Errorf("rows written back read as\n%v\nwant\n%v", after, before)
	}
	for _, tb := range ts {
		if n, _ := s.CountRows(ctx, tb); n != counts[tb.Name] {
			t.Errorf("after writing twice, %s has %d rows, want %d", tb.Name, n, counts[tb.Name])
		}
	}
	got, err := s.Image(ctx, im.ID)
	if err != nil {
		t.Fatalf("Image after WriteRows: %v", err)
	}
	if !reflect.DeepEqual(got.Labels, im.Labels) {
		t.Errorf("image labels after WriteRows: %v, want %v", got.Labels, im.Labels)
	}
	if !got.Signed || !got.Uploaded {
		t.Errorf("image flags lost: %+v", got)
	}
	c, err := s.Collection(ctx, tr.collection.ID)
	if err != nil || !c.Private {
		t.Errorf("collection after WriteRows: %+v, %v", c, err)
	}
	ms, err := s.UserTeams(ctx, tr.user.ID)
	if err != nil || len(ms) != 1 || !ms[0].Owner || ms[0].Source != "ldap" {
		t.Errorf("memberships after WriteRows: %+v, %v", ms, err)
	}

	// A changed row replaces the old one (the upsert updates, not skips).
	users := slices.Clone(before["users"])
	var utable meta.Table
	for _, tb := range ts {
		if tb.Name == "users" {
			utable = tb
		}
	}
	emailCol := slices.Index(utable.Columns, "email")
	row := slices.Clone(users[0])
	row[emailCol] = "new@example.org"
	if err := s.WriteRows(ctx, utable, []meta.Row{row}); err != nil {
		t.Fatalf("WriteRows(users, changed): %v", err)
	}
	if u, err := s.User(ctx, tr.user.ID); err != nil || u.Email != "new@example.org" {
		t.Errorf("after rewriting the row, user is %+v, %v", u, err)
	}

	// New rows get ids past those written with explicit ids, beyond
	// anything the store's own id generator handed out.
	carol := slices.Clone(users[0])
	carol[slices.Index(utable.Columns, "id")] = int64(1000)
	carol[slices.Index(utable.Columns, "name")] = "carol"
	if err := s.WriteRows(ctx, utable, []meta.Row{carol}); err != nil {
		t.Fatalf("WriteRows(users, id 1000): %v", err)
	}
	if err := s.ResetSequences(ctx); err != nil {
		t.Fatalf("ResetSequences: %v", err)
	}
	if u := mustUser(t, s, "bob"); u.ID <= 1000 {
		t.Errorf("new user id %d, want more than 1000", u.ID)
	}
	if im2 := mustImage(t, s, tr.container.ID, "two"); im2.ID <= im.ID {
		t.Errorf("new image id %d, want more than %d", im2.ID, im.ID)
	}
}

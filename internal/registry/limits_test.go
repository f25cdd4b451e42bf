package registry_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/backend/backendtest"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

func TestHumanSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{10 << 30, "10.0 GiB"}, {9<<30 + 512<<20, "9.5 GiB"}, {1288490189, "1.2 GiB"}, {3 << 60, "3.0 EiB"},
	} {
		if got := registry.HumanSize(tc.n); got != tc.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// quotaWorld is a registry on real stores with a way to act as someone
// whose team memberships are read afresh each time, as a request would.
type quotaWorld struct {
	t   *testing.T
	reg *registry.Registry
	m   meta.Store
}

func newQuotaWorld(t *testing.T) *quotaWorld {
	m, b := backendtest.Open(t)
	reg := registry.New(registry.Config{Meta: m, Blobs: b, Defaults: ref.Defaults{Entity: "default", Collection: "default"},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return &quotaWorld{t: t, reg: reg, m: m}
}

func (w *quotaWorld) actor(name, role string) access.Actor {
	w.t.Helper()
	ctx := context.Background()
	u, err := w.m.UserByName(ctx, name)
	if err != nil {
		u = &meta.User{Name: name, Role: role}
		if err := w.m.CreateUser(ctx, u); err != nil {
			w.t.Fatal(err)
		}
	}
	teams, err := w.m.UserTeams(ctx, u.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return access.Actor{User: u, Teams: teams}
}

// TestQuotaOwner: a collection of one team's entity given to another team
// counts against the team it was given to, and the refusal comes before
// an upload session exists.
func TestQuotaOwner(t *testing.T) {
	w := newQuotaWorld(t)
	ctx := context.Background()
	admin := w.actor("root", meta.RoleAdmin)
	w.actor("alice", meta.RoleUser)
	for _, team := range []string{"lab", "qc"} {
		if _, err := w.reg.CreateTeam(ctx, admin, team, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := w.reg.AddMember(ctx, admin, team, "alice", false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.reg.SetOwner(ctx, admin, "lab", "nobody", true); registry.KindOf(err) != registry.NotFound {
		t.Errorf("SetOwner of a non-member: %v", err)
	}
	if v, err := w.reg.SetOwner(ctx, admin, "lab", "alice", true); err != nil || !slices.Contains(v.Owners(), "alice") {
		t.Errorf("SetOwner: %+v, %v", v, err)
	}
	alice := w.actor("alice", "") // now with her teams
	e, err := w.reg.CreateEntity(ctx, alice, "lab", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.reg.CreateCollection(ctx, alice, e.ID, "data", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := w.reg.GiveCollection(ctx, alice, "lab", "data", "qc"); err != nil {
		t.Fatal(err)
	}
	ct, err := w.reg.CreateContainer(ctx, alice, c.ID, "app", "")
	if err != nil {
		t.Fatal(err)
	}
	iv, err := w.reg.CreateImage(ctx, alice, ct.Container.ID, strings.Repeat("ab", 32), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.reg.SetSettings(ctx, admin, registry.Settings{TeamQuota: 1000}); err != nil {
		t.Fatal(err)
	}
	_, err = w.reg.StartUpload(ctx, alice, iv.Image.ID, 1001, 0)
	if registry.KindOf(err) != registry.TooLarge || !strings.Contains(err.Error(), "team qc's quota is 1000 B and 0 B is used; this image is 1001 B") {
		t.Fatalf("StartUpload over qc's quota: %v", err)
	}
	if ups, err := w.m.UploadsForImage(ctx, iv.Image.ID); err != nil || len(ups) != 0 {
		t.Errorf("sessions after the refusal: %v, %v", ups, err)
	}
	if _, err := w.reg.StartUpload(ctx, alice, iv.Image.ID, 1000, 0); err != nil {
		t.Errorf("StartUpload within the quota: %v", err)
	}

	u, err := w.reg.Usage(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Teams) != 2 || u.Teams[0].Name != "lab" || u.Teams[1].Name != "qc" || u.Teams[1].Limit != 1000 || u.User.Limit != 0 {
		t.Errorf("usage %+v", u)
	}
}

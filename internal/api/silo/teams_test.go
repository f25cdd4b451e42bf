package silo_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	aclient "github.com/apptainer/container-library-client/client"
	jsonresp "github.com/apptainer/json-resp"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// noRedirect answers a redirect with the redirect itself: a pull is a
// 303 to a signed URL.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// tmDo sends method path (from the server's root) without following
// redirects; see send.
func tmDo(t *testing.T, in *servertest.Instance, method, path, token string, body any) reply {
	t.Helper()
	return send(t, noRedirect, in, method, path, token, body)
}

// tmPush pushes a SIF with the real library client, through rt when set,
// and returns its error.
func tmPush(in *servertest.Instance, token, file, name string, rt http.RoundTripper) error {
	cfg := &aclient.Config{BaseURL: in.URL, AuthToken: token}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	c, err := aclient.NewClient(cfg)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = c.UploadImage(context.Background(), f, name, "amd64", []string{"latest"}, "", nil)
	return err
}

// httpCode is the status of a library client error: from the server's
// error body, or 404 for the client's bare ErrNotFound.
func httpCode(err error) int {
	var je *jsonresp.Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, aclient.ErrNotFound):
		return http.StatusNotFound
	case errors.As(err, &je):
		return je.Code
	}
	return 0
}

// manager creates a manager account and returns its token.
func manager(t *testing.T, in *servertest.Instance, name string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := auth.CreateUser(ctx, in.Server.Meta, name, "", meta.RoleManager); err != nil {
		t.Fatal(err)
	}
	tok, err := auth.IssueToken(ctx, in.Server.Meta, name, "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const api = "/api/silo/v1/"

func members(tm silo.Team) []string {
	var out []string
	for _, m := range tm.Members {
		n := m.Name
		if m.Owner {
			n += "*"
		}
		out = append(out, n)
	}
	return out
}

func TestTeams(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	mgr := manager(t, in, "mgr")
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)
	in.User(t, "carol", false)

	tmDo(t, in, "POST", api+"teams", "", silo.NewTeam{Name: "lab"}).wantErr(t, "anonymous create", http.StatusUnauthorized)
	tmDo(t, in, "POST", api+"teams", alice, silo.NewTeam{Name: "lab"}).wantErr(t, "user create", http.StatusForbidden, "alice may not create teams")

	var tm silo.Team
	tmDo(t, in, "POST", api+"teams", mgr, silo.NewTeam{Name: "lab", Description: "the lab"}).ok(t, "create", http.StatusCreated, &tm)
	if tm.Name != "lab" || tm.Description != "the lab" || !slices.Equal(members(tm), []string{"mgr*"}) {
		t.Errorf("created %+v; want lab with its creator as owner", tm)
	}
	for _, tc := range []struct {
		name   string
		status int
		want   string
	}{
		{"lab", http.StatusConflict, "already exists"},
		{"alice", http.StatusConflict, "user's name"},
		{"default", http.StatusConflict, "shared entity"},
		{"Bad_Name", http.StatusBadRequest, "invalid name"},
	} {
		tmDo(t, in, "POST", api+"teams", mgr, silo.NewTeam{Name: tc.name}).wantErr(t, "create "+tc.name, tc.status, tc.want)
	}
	// An entity that exists already cannot become a team's: its
	// collections have other owners.
	if err := tmPush(in, in.AdminToken, sifFile(t, 1), "proj/tools/app", nil); err != nil {
		t.Fatalf("admin pushing to proj: %v", err)
	}
	tmDo(t, in, "POST", api+"teams", mgr, silo.NewTeam{Name: "proj"}).wantErr(t, "create proj", http.StatusConflict, `entity "proj" already exists`)
	tmDo(t, in, "POST", api+"teams", in.AdminToken, silo.NewTeam{Name: "qc"}).ok(t, "create qc", http.StatusCreated, nil)

	// Owners, managers and admins manage; members do not.
	tmDo(t, in, "PUT", api+"teams/lab/members/alice", mgr, silo.Membership{Owner: true}).ok(t, "add alice", http.StatusOK, &tm)
	tmDo(t, in, "PUT", api+"teams/lab/members/bob", alice, silo.Membership{}).ok(t, "alice adds bob", http.StatusOK, &tm)
	if !slices.Equal(members(tm), []string{"alice*", "bob", "mgr*"}) {
		t.Errorf("members %v", members(tm))
	}
	tmDo(t, in, "PUT", api+"teams/lab/members/carol", bob, silo.Membership{}).wantErr(t, "member adds", http.StatusForbidden, "only its owners")
	tmDo(t, in, "PUT", api+"teams/lab/members/carol", "", silo.Membership{}).wantErr(t, "anonymous adds", http.StatusUnauthorized)
	tmDo(t, in, "PUT", api+"teams/lab/members/nobody", alice, silo.Membership{}).wantErr(t, "add nobody", http.StatusNotFound, `user "nobody"`)
	tmDo(t, in, "PUT", api+"teams/nope/members/bob", alice, silo.Membership{}).wantErr(t, "no team", http.StatusNotFound, `team "nope"`)
	tmDo(t, in, "DELETE", api+"teams/lab/members/carol", alice, nil).wantErr(t, "remove non-member", http.StatusNotFound, "not a member")
	tmDo(t, in, "PUT", api+"teams/lab/members/bob", alice, `{"owner":true,"admin":true}`).wantErr(t, "unknown field", http.StatusBadRequest)

	// The last owner cannot leave or step down, except by a manager's hand.
	tmDo(t, in, "DELETE", api+"teams/lab/members/mgr", mgr, nil).ok(t, "mgr leaves", http.StatusOK, &tm)
	tmDo(t, in, "PUT", api+"teams/lab/members/alice", alice, silo.Membership{}).wantErr(t, "last owner steps down", http.StatusConflict, "without an owner")
	tmDo(t, in, "DELETE", api+"teams/lab/members/alice", alice, nil).wantErr(t, "last owner leaves", http.StatusConflict, "without an owner")
	tmDo(t, in, "PUT", api+"teams/lab/members/bob", alice, silo.Membership{Owner: true}).ok(t, "bob owner", http.StatusOK, nil)
	tmDo(t, in, "PUT", api+"teams/lab/members/alice", alice, silo.Membership{}).ok(t, "alice steps down", http.StatusOK, &tm)
	if !slices.Equal(members(tm), []string{"alice", "bob*"}) {
		t.Errorf("members %v", members(tm))
	}

	// Anyone may list teams; quotas are admins' to set.
	var list silo.TeamList
	tmDo(t, in, "GET", api+"teams", "", nil).ok(t, "list", http.StatusOK, &list)
	if len(list.Teams) != 2 || list.Teams[0].Name != "lab" || list.Teams[1].Name != "qc" {
		t.Errorf("teams %+v", list.Teams)
	}
	tmDo(t, in, "GET", api+"teams/lab", "", nil).ok(t, "get", http.StatusOK, &tm)
	tmDo(t, in, "GET", api+"teams/nope", "", nil).wantErr(t, "get missing", http.StatusNotFound)
	q := int64(1 << 20)
	tmDo(t, in, "PATCH", api+"teams/lab", bob, silo.TeamChange{QuotaBytes: &q}).wantErr(t, "owner sets quota", http.StatusForbidden, "admins only")
	desc := "renamed"
	tmDo(t, in, "PATCH", api+"teams/lab", bob, silo.TeamChange{Description: &desc}).ok(t, "owner describes", http.StatusOK, nil)
	tmDo(t, in, "PATCH", api+"teams/lab", in.AdminToken, silo.TeamChange{QuotaBytes: &q}).ok(t, "admin sets quota", http.StatusOK, &tm)
	if tm.QuotaBytes != q || tm.Description != desc {
		t.Errorf("after PATCH: %+v", tm)
	}
}

// sifFile writes a small test SIF and returns its path.
func sifFile(t *testing.T, seed int64) string {
	p, _ := writeSIF(t, seed)
	return p
}

// TestTeamPush: members push to a team's collections through the library
// client; others get 403 where they can see the collection and 404 where
// they cannot.
func TestTeamPush(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	mgr := manager(t, in, "mgr")
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)
	carol := in.User(t, "carol", false)
	tmDo(t, in, "POST", api+"teams", mgr, silo.NewTeam{Name: "lab"}).ok(t, "create", http.StatusCreated, nil)
	tmDo(t, in, "PUT", api+"teams/lab/members/alice", mgr, silo.Membership{Owner: true}).ok(t, "alice", http.StatusOK, nil)
	tmDo(t, in, "PUT", api+"teams/lab/members/bob", mgr, silo.Membership{}).ok(t, "bob", http.StatusOK, nil)

	// The team's own entity: members create and push, others may not.
	if err := tmPush(in, alice, sifFile(t, 1), "lab/tools/app", nil); err != nil {
		t.Fatalf("alice pushes to lab: %v", err)
	}
	if err := tmPush(in, bob, sifFile(t, 2), "lab/tools/app", nil); err != nil {
		t.Fatalf("bob pushes to lab: %v", err)
	}
	err := tmPush(in, carol, sifFile(t, 3), "lab/tools/app", nil)
	if httpCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), "carol may not") {
		t.Errorf("carol pushing to the public lab/tools: %v; want 403", err)
	}

	// A private collection of the team's entity is refused to carol with
	// the very words a collection that does not exist is.
	tmDo(t, in, "PATCH", api+"collections/lab/tools", bob, silo.CollectionChange{Private: ptr(true)}).wantErr(t, "member hides", http.StatusForbidden, "only its owners")
	tmDo(t, in, "PATCH", api+"collections/lab/tools", alice, silo.CollectionChange{Private: ptr(true)}).ok(t, "owner hides", http.StatusOK, nil)
	hidden := tmPush(in, carol, sifFile(t, 3), "lab/tools/app", nil)
	missing := tmPush(in, carol, sifFile(t, 3), "lab/nothing/app", nil)
	if httpCode(hidden) != http.StatusForbidden || hidden.Error() != strings.ReplaceAll(missing.Error(), "nothing", "tools") {
		t.Errorf("carol pushing to the private lab/tools: %v; to a missing collection: %v", hidden, missing)
	}
	tmDo(t, in, "GET", "/v1/collections/lab/tools", carol, nil).wantErr(t, "carol reads", http.StatusNotFound)

	// A collection of the shared entity given to the team: members push,
	// and to carol a private one does not exist.
	if err := tmPush(in, alice, sifFile(t, 4), "default/labdata/app", nil); err != nil {
		t.Fatal(err)
	}
	tmDo(t, in, "PATCH", api+"collections/default/labdata", carol, silo.CollectionChange{Team: ptr("lab")}).wantErr(t, "carol gives", http.StatusForbidden)
	tmDo(t, in, "PATCH", api+"collections/default/labdata", in.AdminToken, silo.CollectionChange{Team: ptr("nope")}).wantErr(t, "no team", http.StatusNotFound, `team "nope"`)
	var col silo.Collection
	tmDo(t, in, "PATCH", api+"collections/default/labdata", alice, silo.CollectionChange{Team: ptr("lab"), Private: ptr(true)}).ok(t, "give", http.StatusOK, &col)
	if col != (silo.Collection{Name: "default/labdata", Private: true, Team: "lab", Owner: "team lab"}) {
		t.Errorf("given: %+v", col)
	}
	if err := tmPush(in, bob, sifFile(t, 5), "default/labdata/bobs", nil); err != nil {
		t.Errorf("bob pushing to the team's collection: %v", err)
	}
	// In the shared entity a taken name cannot be hidden, only made
	// uninformative: no id, no word of whether it is private.
	if err := tmPush(in, carol, sifFile(t, 6), "default/labdata/carols", nil); httpCode(err) != http.StatusConflict || !strings.Contains(err.Error(), "not available") {
		t.Errorf("carol pushing to the private team collection: %v; want 409 not available", err)
	}
	if err := tmPush(in, carol, sifFile(t, 6), "default/carols/app", nil); err != nil {
		t.Errorf("carol pushing to her own collection: %v", err)
	}

	// Only a member may give a collection to a team.
	tmDo(t, in, "PATCH", api+"collections/default/carols", carol, silo.CollectionChange{Team: ptr("lab")}).wantErr(t, "non-member gives", http.StatusForbidden, "only its members")
	tmDo(t, in, "PATCH", api+"collections/default/carols", carol, silo.CollectionChange{Team: ptr("")}).ok(t, "give back to self", http.StatusOK, &col)
	if col.Owner != "carol" || col.Team != "" {
		t.Errorf("carol's collection: %+v", col)
	}

	// Every change is in the audit log.
	evs, err := in.Server.Meta.Audit(context.Background(), meta.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range evs {
		seen = append(seen, e.Actor+" "+e.Action+" "+e.Target)
	}
	for _, want := range []string{"alice collection-visibility lab/tools", "alice collection-give default/labdata", "mgr team-member lab/bob"} {
		if !slices.Contains(seen, want) {
			t.Errorf("audit log lacks %q: %v", want, seen)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestCollectionPrivacy: owners and admins change a collection's
// visibility; to those who cannot see it, it answers like a missing one.
func TestCollectionPrivacy(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)
	if err := tmPush(in, alice, sifFile(t, 1), "alice/tools/app", nil); err != nil {
		t.Fatal(err)
	}
	tmDo(t, in, "PATCH", api+"collections/alice/tools", "", silo.CollectionChange{Private: ptr(true)}).wantErr(t, "anonymous", http.StatusUnauthorized)
	tmDo(t, in, "PATCH", api+"collections/alice/tools", bob, silo.CollectionChange{Private: ptr(true)}).wantErr(t, "bob", http.StatusForbidden)
	tmDo(t, in, "PATCH", api+"collections/alice/tools", alice, `{}`).wantErr(t, "empty change", http.StatusBadRequest, "nothing to change")
	var col silo.Collection
	tmDo(t, in, "PATCH", api+"collections/alice/tools", alice, silo.CollectionChange{Private: ptr(true)}).ok(t, "hide", http.StatusOK, &col)
	if col != (silo.Collection{Name: "alice/tools", Private: true, Owner: "alice"}) {
		t.Errorf("hidden: %+v", col)
	}
	for _, who := range []struct{ name, token string }{{"anonymous", ""}, {"bob", bob}} {
		for _, p := range []string{"/v1/collections/alice/", "/v1/containers/alice/", "/v1/images/alice/"} {
			suffix := map[string]string{"/v1/collections/alice/": "", "/v1/containers/alice/": "/app", "/v1/images/alice/": "/app:latest"}[p]
			hidden := tmDo(t, in, "GET", p+"tools"+suffix, who.token, nil)
			missing := tmDo(t, in, "GET", p+"gone"+suffix, who.token, nil)
			if hidden.status != http.StatusNotFound || string(hidden.body) != strings.ReplaceAll(string(missing.body), "gone", "tools") {
				t.Errorf("%s GET %stools%s: %d %s; missing one: %s", who.name, p, suffix, hidden.status, hidden.body, missing.body)
			}
		}
		hidden := tmDo(t, in, "PATCH", api+"collections/alice/tools", who.token, silo.CollectionChange{Private: ptr(false)})
		missing := tmDo(t, in, "PATCH", api+"collections/alice/gone", who.token, silo.CollectionChange{Private: ptr(false)})
		want := http.StatusNotFound
		if who.token == "" {
			want = http.StatusUnauthorized // asked to log in before anything is looked up
		}
		if hidden.status != want || string(hidden.body) != strings.ReplaceAll(string(missing.body), "gone", "tools") {
			t.Errorf("%s PATCH hidden: %d %s; missing: %s", who.name, hidden.status, hidden.body, missing.body)
		}
	}
	var l silo.ImageList
	get(t, in, bob, api+"images", &l)
	if len(l.Images) != 0 || l.Totals.Images != 0 {
		t.Errorf("bob lists %+v", l)
	}
	tmDo(t, in, "PATCH", api+"collections/alice/tools", in.AdminToken, silo.CollectionChange{Private: ptr(false)}).ok(t, "admin shows", http.StatusOK, &col)
	if col.Private {
		t.Errorf("after admin made it public: %+v", col)
	}
	tmDo(t, in, "GET", "/v1/collections/alice/tools", "", nil).ok(t, "public again", http.StatusOK, nil)
}

// TestFrozenAPI: a frozen container's tags do not move and its images are
// not deleted, until it is unfrozen.
func TestFrozenAPI(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)
	if err := tmPush(in, alice, sifFile(t, 1), "alice/tools/app", nil); err != nil {
		t.Fatal(err)
	}
	frozen := api + "containers/alice/tools/app/frozen"
	tmDo(t, in, "PUT", frozen, "", nil).wantErr(t, "anonymous", http.StatusUnauthorized)
	tmDo(t, in, "PUT", frozen, bob, nil).wantErr(t, "bob", http.StatusForbidden)
	tmDo(t, in, "PUT", api+"containers/alice/tools/nope/frozen", alice, nil).wantErr(t, "missing", http.StatusNotFound)
	tmDo(t, in, "PUT", api+"containers/alice/tools/Bad_Name/frozen", alice, nil).wantErr(t, "bad name", http.StatusBadRequest)
	var f silo.Frozen
	tmDo(t, in, "PUT", frozen, alice, nil).ok(t, "freeze", http.StatusOK, &f)
	if f != (silo.Frozen{Name: "alice/tools/app", Frozen: true}) {
		t.Errorf("freeze answered %+v", f)
	}

	err := tmPush(in, alice, sifFile(t, 2), "alice/tools/app", nil)
	if httpCode(err) != http.StatusConflict || !strings.Contains(err.Error(), "frozen") {
		t.Errorf("moving latest in a frozen container: %v; want 409", err)
	}
	tmDo(t, in, "DELETE", "/v1/images/alice/tools/app:latest?arch=amd64", alice, nil).wantErr(t, "delete frozen", http.StatusConflict, "frozen")

	tmDo(t, in, "DELETE", frozen, alice, nil).ok(t, "unfreeze", http.StatusOK, &f)
	if f.Frozen {
		t.Errorf("unfreeze answered %+v", f)
	}
	tmDo(t, in, "DELETE", "/v1/images/alice/tools/app:latest?arch=amd64", alice, nil).ok(t, "delete unfrozen", http.StatusOK, nil)
}

func TestSettingsAPI(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	alice := in.User(t, "alice", false)
	tmDo(t, in, "GET", api+"settings", "", nil).wantErr(t, "anonymous", http.StatusUnauthorized)
	tmDo(t, in, "GET", api+"settings", alice, nil).wantErr(t, "user", http.StatusForbidden)
	tmDo(t, in, "PUT", api+"settings", alice, silo.SettingsChange{PrivateMode: ptr(false)}).wantErr(t, "user changes", http.StatusForbidden)
	var s silo.Settings
	tmDo(t, in, "GET", api+"settings", in.AdminToken, nil).ok(t, "admin reads", http.StatusOK, &s)
	if s != (silo.Settings{}) {
		t.Errorf("defaults %+v", s)
	}
	tmDo(t, in, "PUT", api+"settings", in.AdminToken, silo.SettingsChange{PrivateMode: ptr(true), CollectionLimit: ptr(3)}).ok(t, "set", http.StatusOK, &s)
	tmDo(t, in, "PUT", api+"settings", in.AdminToken, silo.SettingsChange{UserQuota: ptr(int64(1 << 30))}).ok(t, "set quota", http.StatusOK, &s)
	want := silo.Settings{PrivateMode: true, CollectionLimit: 3, UserQuota: 1 << 30}
	if s != want {
		t.Errorf("after two changes %+v, want %+v: the second undid the first", s, want)
	}
	tmDo(t, in, "GET", api+"settings", in.AdminToken, nil).ok(t, "read back", http.StatusOK, &s)
	if s != want {
		t.Errorf("read back %+v, want %+v", s, want)
	}
	tmDo(t, in, "PUT", api+"settings", in.AdminToken, silo.SettingsChange{TeamQuota: ptr(int64(-1))}).wantErr(t, "negative", http.StatusBadRequest, "negative")
	tmDo(t, in, "PUT", api+"settings", in.AdminToken, `{"private-mode":true}`).wantErr(t, "misspelt", http.StatusBadRequest, "unknown field")
}

package registry

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/siloreg/silo/internal/auth/provider"
	"github.com/siloreg/silo/internal/meta"
)

// directory is a password provider for these tests: a table of people
// whose groups the test changes between logins, or one error for all.
// The real providers are tested against slapd and PAM in their packages
// and end to end in internal/server.
type directory struct {
	name string
	mu   sync.Mutex
	ids  map[string]provider.Identity // by user name; the password is "pw-" + name
	err  error
}

func (d *directory) Name() string { return d.name }

func (d *directory) Authenticate(_ context.Context, user, password string) (*provider.Identity, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	id, ok := d.ids[user]
	if !ok || password != "pw-"+user {
		return nil, provider.ErrBadCredentials
	}
	id.Provider = d.name
	id.Groups = slices.Clone(id.Groups)
	return &id, nil
}

func (d *directory) setGroups(user string, groups ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := d.ids[user]
	id.Groups = groups
	d.ids[user] = id
}

// withProviders rebuilds e's registry over the same stores with providers.
func (e *acctEnv) withProviders(ps ...provider.PasswordProvider) {
	e.reg = New(Config{Meta: e.m, Blobs: e.reg.Blobs(), Defaults: e.reg.Defaults(), Now: e.clock, PasswordProviders: ps})
}

// teamsOf returns user's memberships as "team" (by hand), "team*" (owner)
// or "team<source" (granted by a provider), sorted.
func (e *acctEnv) teamsOf(user string) []string {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.m.UserByName(ctx, user)
	if err != nil {
		e.t.Fatal(err)
	}
	ms, err := e.m.UserTeams(ctx, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		t, err := e.m.Team(ctx, m.TeamID)
		if err != nil {
			e.t.Fatal(err)
		}
		s := t.Name
		if m.Owner {
			s += "*"
		}
		if m.Source != "" {
			s += "<" + m.Source
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// teamEvents are the team-join and team-leave lines of the audit log since
// from, as "action target: detail".
func (e *acctEnv) teamEvents(from int) []string {
	var out []string
	for _, ev := range e.events()[from:] {
		if ev.Action == "team-join" || ev.Action == "team-leave" {
			out = append(out, ev.Action+" "+ev.Target+": "+ev.Detail)
		}
	}
	return out
}

func TestGroupsMapToTeams(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	ldap := &directory{name: "ldap", ids: map[string]provider.Identity{
		"alice": {Subject: "uid=alice,ou=people", Username: "alice", Groups: []string{"Physics", "physics", "cluster users", "no-such-team"}},
	}}
	e.withProviders(ldap)
	mgr, _ := e.user("mgr", meta.RoleManager, "")
	for _, name := range []string{"physics", "cluster-users", "chemistry", "optics"} {
		if _, err := e.reg.CreateTeam(ctx, mgr, name, ""); err != nil {
			t.Fatal(err)
		}
	}

	mark := len(e.events())
	res, err := e.reg.Login(ctx, "alice", "pw-alice", "192.0.2.1")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	// Existing teams only, once each, as plain members granted by ldap.
	if got, want := e.teamsOf("alice"), []string{"cluster-users<ldap", "physics<ldap"}; !slices.Equal(got, want) {
		t.Errorf("after the first login, alice's teams = %q, want %q", got, want)
	}
	if got, want := e.teamEvents(mark), []string{
		"team-join physics/alice: from ldap group Physics",
		"team-join cluster-users/alice: from ldap group cluster users",
	}; !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
	if !slices.Equal(res.Groups, []string{"Physics", "physics", "cluster users", "no-such-team"}) {
		t.Errorf("LoginResult.Groups = %q", res.Groups)
	}
	// The token the login made carries the memberships at once.
	if a := e.as(res.Token.Secret); !a.Member(teamID(t, e, "physics")) {
		t.Error("the login token's actor is not a member of physics")
	}

	// A second login with the same groups changes nothing and audits nothing.
	mark = len(e.events())
	if _, err := e.reg.Login(ctx, "alice", "pw-alice", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if got := e.teamEvents(mark); len(got) != 0 {
		t.Errorf("an unchanged login audited %q", got)
	}

	// By hand: an owner makes alice an owner of optics, a member of
	// chemistry, and re-grants cluster-users, which makes it a hand grant.
	for _, m := range []struct {
		team  string
		owner bool
	}{{"optics", true}, {"chemistry", false}, {"cluster-users", false}} {
		if _, err := e.reg.AddMember(ctx, mgr, m.team, "alice", m.owner); err != nil {
			t.Fatal(err)
		}
	}
	// And a membership some other provider granted.
	if err := e.m.SetMember(ctx, meta.Member{TeamID: teamID(t, e, "chemistry"), UserID: userID(t, e, "alice"), Source: "oidc:sso"}); err != nil {
		t.Fatal(err)
	}

	// alice leaves every group but optics and chemistry: only the
	// membership ldap granted goes; the hand grants and the other
	// provider's stay, and being in the optics group does not demote its
	// owner.
	ldap.setGroups("alice", "optics", "chemistry")
	mark = len(e.events())
	if _, err := e.reg.Login(ctx, "alice", "pw-alice", "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	if got, want := e.teamsOf("alice"), []string{"chemistry<oidc:sso", "cluster-users", "optics*"}; !slices.Equal(got, want) {
		t.Errorf("after losing groups, alice's teams = %q, want %q", got, want)
	}
	if got, want := e.teamEvents(mark), []string{"team-leave physics/alice: from ldap group physics"}; !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
	for _, ev := range e.events()[mark:] {
		if ev.Action == "team-leave" && (ev.Actor != "alice" || ev.Remote != "192.0.2.2") {
			t.Errorf("team-leave line %+v: want alice from 192.0.2.2", ev)
		}
	}

	// Back in physics: granted again.
	ldap.setGroups("alice", "physics")
	if _, err := e.reg.Login(ctx, "alice", "pw-alice", ""); err != nil {
		t.Fatal(err)
	}
	if got, want := e.teamsOf("alice"), []string{"chemistry<oidc:sso", "cluster-users", "optics*", "physics<ldap"}; !slices.Equal(got, want) {
		t.Errorf("after rejoining, alice's teams = %q, want %q", got, want)
	}
}

func TestProviderLogin(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	mgr, _ := e.user("mgr", meta.RoleManager, "")
	if _, err := e.reg.CreateTeam(ctx, mgr, "physics", ""); err != nil {
		t.Fatal(err)
	}
	jane := &provider.Identity{Provider: "oidc:sso", Subject: "248289761001", Username: "jane.doe", Email: "jane@example.org", Groups: []string{"physics"}}

	res, err := e.reg.ProviderLogin(ctx, jane, "192.0.2.9")
	if err != nil {
		t.Fatalf("ProviderLogin: %v", err)
	}
	if res.Account.Name != "jane.doe" || res.Account.Source != "oidc:sso" || !res.Token.Expires.Equal(e.clock().Add(LoginTokenTTL)) {
		t.Errorf("result %+v", res)
	}
	if a := e.as(res.Token.Secret); a.Name() != "jane.doe" || !a.Member(teamID(t, e, "physics")) {
		t.Errorf("the token is %s's, member of physics: %v", a.Name(), a.Member(teamID(t, e, "physics")))
	}
	if ev := e.lastEvent(); ev.Action != "login" || ev.Actor != "jane.doe" || !strings.HasPrefix(ev.Detail, "oidc:sso, token ") {
		t.Errorf("login audit line %+v", ev)
	}

	// The same subject under a new user name is the same account.
	again := *jane
	again.Username, again.Groups = "jdoe", nil
	res, err = e.reg.ProviderLogin(ctx, &again, "")
	if err != nil || res.Account.Name != "jane.doe" {
		t.Fatalf("second ProviderLogin = %+v, %v", res, err)
	}
	if got := e.teamsOf("jane.doe"); len(got) != 0 {
		t.Errorf("after losing the group, teams = %q", got)
	}

	// Disabled: refused, audited, no token.
	admin, _ := e.user("boss", meta.RoleAdmin, "")
	if err := e.reg.Disable(ctx, admin, "jane.doe"); err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.ProviderLogin(ctx, jane, "192.0.2.9")
	wantKindOf(t, "disabled", err, Forbidden, "disabled")
	if ev := e.lastEvent(); ev.Action != "login-failed" || ev.Actor != "jane.doe" {
		t.Errorf("disabled login audit line %+v", ev)
	}

	// Nobody: refused before anything is made.
	if _, err := e.reg.ProviderLogin(ctx, &provider.Identity{Provider: "oidc:sso"}, ""); err == nil {
		t.Error("ProviderLogin without a subject succeeded")
	}

	e.reg.RecordProviderLoginFailure(ctx, "oidc:sso", "192.0.2.10", "oidc: login expired")
	if ev := e.lastEvent(); ev.Action != "login-failed" || ev.Actor != "anonymous" || ev.Target != "oidc:sso" || ev.Remote != "192.0.2.10" {
		t.Errorf("failure audit line %+v", ev)
	}
}

// A provider that is down is not a wrong password, and a local account
// still logs in meanwhile.
func TestProviderDown(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	down := errors.New("ldap: connecting to ldap://127.0.0.1:1: connection refused")
	e.withProviders(&directory{name: "ldap", err: down})
	e.user("local", meta.RoleUser, "local-password")

	_, err := e.reg.Login(ctx, "alice", "pw-alice", "")
	if err == nil || KindOf(err) != Unavailable || strings.Contains(err.Error(), "invalid") {
		t.Fatalf("Login with the directory down = %v (kind %d); want Unavailable, not bad credentials", err, KindOf(err))
	}
	if ev := e.lastEvent(); ev.Action != "login-failed" || !strings.Contains(ev.Detail, "could not be checked") {
		t.Errorf("audit line %+v", ev)
	}
	if _, err := e.reg.Login(ctx, "local", "local-password", ""); err != nil {
		t.Errorf("a local account during the outage: %v", err)
	}
}

func teamID(t *testing.T, e *acctEnv, name string) int64 {
	t.Helper()
	tm, err := e.m.TeamByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return tm.ID
}

func userID(t *testing.T, e *acctEnv, name string) int64 {
	t.Helper()
	u, err := e.m.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

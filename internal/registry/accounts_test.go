package registry

// These tests are in package registry (not registry_test) only to keep
// their helpers apart from the other test files'; they use nothing but
// the exported API, and real stores.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/backend/backendtest"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// acctEnv is a registry on real stores with a clock the test moves, and
// the authenticator the server would put in front of it.
type acctEnv struct {
	t     *testing.T
	reg   *Registry
	m     meta.Store
	authn *auth.Authenticator
	op    access.Actor

	mu  sync.Mutex
	now time.Time
}

func newAcctEnv(t *testing.T) *acctEnv {
	t.Helper()
	m, b := backendtest.Open(t)
	e := &acctEnv{t: t, m: m, op: Operator("root"), now: time.Now().UTC().Truncate(time.Second)}
	e.reg = New(Config{Meta: m, Blobs: b, Defaults: ref.Defaults{Entity: "default", Collection: "default"}, Now: e.clock})
	e.authn = &auth.Authenticator{Meta: m, Now: e.clock}
	return e
}

func (e *acctEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *acctEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// as resolves a token secret the way every request does.
func (e *acctEnv) as(secret string) access.Actor {
	e.t.Helper()
	a, err := e.authn.Token(context.Background(), secret)
	if err != nil {
		e.t.Fatalf("token refused: %v", err)
	}
	return a
}

// user creates an account (as the operator) and returns it logged in
// with an unscoped token, and that token.
func (e *acctEnv) user(name, role, password string) (access.Actor, string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.reg.CreateUser(ctx, e.op, NewUser{Name: name, Email: name + "@example.org", Role: role, Password: password}); err != nil {
		e.t.Fatal(err)
	}
	nt, err := e.reg.CreateToken(ctx, e.op, TokenSpec{User: name, Name: "setup"})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.as(nt.Secret), nt.Secret
}

// events returns the audit log, oldest first.
func (e *acctEnv) events() []meta.AuditEvent {
	e.t.Helper()
	evs, err := e.m.Audit(context.Background(), meta.AuditQuery{})
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Reverse(evs)
	return evs
}

// lastEvent is the newest audit line.
func (e *acctEnv) lastEvent() meta.AuditEvent {
	e.t.Helper()
	evs := e.events()
	if len(evs) == 0 {
		e.t.Fatal("the audit log is empty")
	}
	return evs[len(evs)-1]
}

func wantKindOf(t *testing.T, what string, err error, k Kind, words ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want kind %d", what, k)
		return
	}
	if KindOf(err) != k {
		t.Errorf("%s: %v (kind %d), want kind %d", what, err, KindOf(err), k)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q does not mention %q", what, err, w)
		}
	}
}

func TestUserManagementIsForAdmins(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	admin, _ := e.user("root-admin", meta.RoleAdmin, "")
	alice, _ := e.user("alice", meta.RoleUser, "")
	mgr, _ := e.user("mgr", meta.RoleManager, "")
	e.user("bob", meta.RoleUser, "")
	role := meta.RoleAdmin
	quota := int64(1 << 30)
	yes := true

	for _, a := range []access.Actor{alice, mgr} {
		_, err := e.reg.ListUsers(ctx, a)
		wantKindOf(t, a.Name()+" lists users", err, Forbidden)
		_, err = e.reg.CreateUser(ctx, a, NewUser{Name: "eve"})
		wantKindOf(t, a.Name()+" creates a user", err, Forbidden)
		_, err = e.reg.UpdateUser(ctx, a, a.Name(), UserChange{Role: &role})
		wantKindOf(t, a.Name()+" makes itself admin", err, Forbidden, "only admins")
		_, err = e.reg.UpdateUser(ctx, a, a.Name(), UserChange{QuotaBytes: &quota})
		wantKindOf(t, a.Name()+" raises its quota", err, Forbidden)
		_, err = e.reg.UpdateUser(ctx, a, "bob", UserChange{Disabled: &yes})
		wantKindOf(t, a.Name()+" disables bob", err, Forbidden)
		// Another account is "forbidden" whether or not it exists.
		email := "x@example.org"
		_, err = e.reg.UpdateUser(ctx, a, "nobody", UserChange{Email: &email})
		wantKindOf(t, a.Name()+" changes a missing account", err, Forbidden)
		_, err = e.reg.AuditLog(ctx, a, meta.AuditQuery{})
		wantKindOf(t, a.Name()+" reads the audit log", err, Forbidden)
	}
	_, err := e.reg.ListUsers(ctx, access.Anonymous)
	wantKindOf(t, "anonymous lists users", err, Unauthorized)
	_, err = e.reg.Me(ctx, access.Anonymous)
	wantKindOf(t, "anonymous me", err, Unauthorized)

	// Users may change their own e-mail address.
	email := "alice@lab.example.org"
	if acc, err := e.reg.UpdateUser(ctx, alice, "alice", UserChange{Email: &email}); err != nil || acc.Email != email {
		t.Errorf("alice changes her e-mail: %+v, %v", acc, err)
	}
	bad := "not an address"
	_, err = e.reg.UpdateUser(ctx, alice, "alice", UserChange{Email: &bad})
	wantKindOf(t, "a bad e-mail address", err, Invalid)

	// Admins may do it all, and it is all audited.
	us, err := e.reg.ListUsers(ctx, admin)
	if err != nil || len(us) != 4 {
		t.Fatalf("admin lists users: %d, %v", len(us), err)
	}
	mgrRole := meta.RoleManager
	acc, err := e.reg.UpdateUser(ctx, admin, "alice", UserChange{Role: &mgrRole, QuotaBytes: &quota})
	if err != nil || acc.Role != meta.RoleManager || acc.QuotaBytes != quota {
		t.Errorf("admin changes alice: %+v, %v", acc, err)
	}
	if ev := e.lastEvent(); ev.Action != "user-update" || ev.Actor != "root-admin" || ev.Target != "alice" ||
		!strings.Contains(ev.Detail, "role user → manager") || !strings.Contains(ev.Detail, "quota") {
		t.Errorf("audit line %+v", ev)
	}
	if err := e.reg.Disable(ctx, admin, "bob"); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastEvent(); ev.Action != "user-disable" || ev.Target != "bob" {
		t.Errorf("audit line %+v", ev)
	}
	if _, err := e.reg.AuditLog(ctx, admin, meta.AuditQuery{Limit: MaxAuditLimit + 1}); KindOf(err) != Invalid {
		t.Errorf("audit limit over the cap: %v", err)
	}
	evs, err := e.reg.AuditLog(ctx, admin, meta.AuditQuery{Action: "user-create"})
	if err != nil || len(evs) != 4 || evs[0].Actor != "local:root" || evs[0].Remote != "local" {
		t.Errorf("user-create events: %+v, %v", evs, err)
	}
}

func TestCreateUserRules(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	if err := e.m.CreateTeam(ctx, &meta.Team{Name: "bio"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		nu    NewUser
		kind  Kind
		words string
	}{
		{NewUser{Name: "Bad Name"}, Invalid, "user name"},
		{NewUser{Name: "ok", Role: "root"}, Invalid, "unknown role"},
		{NewUser{Name: "ok", Email: "nope"}, Invalid, "e-mail"},
		{NewUser{Name: "ok", Password: "short"}, Invalid, "too short"},
		{NewUser{Name: "default"}, Conflict, "taken"}, // the shared entity
		{NewUser{Name: "bio"}, Conflict, "taken"},     // a team
	} {
		_, err := e.reg.CreateUser(ctx, e.op, tc.nu)
		wantKindOf(t, "CreateUser "+tc.nu.Name, err, tc.kind, tc.words)
	}
	if _, err := e.reg.CreateUser(ctx, e.op, NewUser{Name: "frank", Password: "long-enough"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.reg.CreateUser(ctx, e.op, NewUser{Name: "frank"})
	wantKindOf(t, "a second frank", err, Conflict, "already exists")
	u, _ := e.m.UserByName(ctx, "frank")
	if ok, err := auth.CheckPassword(ctx, u.PasswordHash, "long-enough"); !ok || err != nil {
		t.Errorf("frank's password does not check: %v %v", ok, err)
	}
}

func TestTokenScopes(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	admin, _ := e.user("boss", meta.RoleAdmin, "")
	alice, _ := e.user("alice", meta.RoleUser, "")

	_, err := e.reg.CreateToken(ctx, alice, TokenSpec{Name: "x", Scopes: []string{"admin"}})
	wantKindOf(t, "a user asks for the admin scope", err, Forbidden, "admin scope")
	_, err = e.reg.CreateToken(ctx, alice, TokenSpec{Name: "x", Scopes: []string{"read", "write"}})
	wantKindOf(t, "an unknown scope", err, Invalid, `"write"`)
	_, err = e.reg.CreateToken(ctx, alice, TokenSpec{Name: "x", TTL: -time.Hour})
	wantKindOf(t, "a negative lifetime", err, Invalid)
	_, err = e.reg.CreateToken(ctx, alice, TokenSpec{Name: "bad\nname"})
	wantKindOf(t, "a name with a newline", err, Invalid)
	_, err = e.reg.CreateToken(ctx, alice, TokenSpec{User: "boss"})
	wantKindOf(t, "a token for someone else", err, Forbidden)
	_, err = e.reg.CreateToken(ctx, access.Anonymous, TokenSpec{})
	wantKindOf(t, "anonymous", err, Unauthorized)

	if nt, err := e.reg.CreateToken(ctx, admin, TokenSpec{Name: "ops", Scopes: []string{"admin", "read"}}); err != nil ||
		!slices.Equal(nt.Scopes, []string{"read", "admin"}) {
		t.Errorf("admin gets an admin token: %+v, %v", nt, err)
	}

	// A read token: it may pull, not push, list its user's tokens and
	// revoke itself, and never mint more or change the account.
	nt, err := e.reg.CreateToken(ctx, alice, TokenSpec{Name: "cluster", Scopes: []string{"push", "read", "read"}, TTL: time.Hour})
	if err != nil || !slices.Equal(nt.Scopes, []string{"read", "push"}) || !nt.Expires.Equal(e.clock().Add(time.Hour)) {
		t.Fatalf("push token: %+v, %v", nt, err)
	}
	ev := e.lastEvent()
	if ev.Action != "token-create" || ev.Actor != "alice" || !strings.Contains(ev.Detail, `"cluster"`) || strings.Contains(ev.Detail, nt.Secret) {
		t.Errorf("audit line %+v", ev)
	}
	rt, err := e.reg.CreateToken(ctx, alice, TokenSpec{Name: "read-only", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	reader := e.as(rt.Secret)
	_, err = e.reg.CreateToken(ctx, reader, TokenSpec{Name: "escalate"})
	wantKindOf(t, "a read token mints an unscoped one", err, Forbidden, "scopes read")
	_, err = e.reg.CreateToken(ctx, reader, TokenSpec{Name: "same", Scopes: []string{"read"}})
	wantKindOf(t, "a read token mints a read one", err, Forbidden)
	pw := "new-password"
	_, err = e.reg.UpdateUser(ctx, reader, "alice", UserChange{Password: &pw})
	wantKindOf(t, "a read token sets the password", err, Forbidden)
	wantKindOf(t, "a read token revokes another", e.reg.RevokeToken(ctx, reader, nt.ID), Forbidden)
	ts, err := e.reg.ListTokens(ctx, reader, "")
	if err != nil || len(ts) != 3 {
		t.Fatalf("read token lists tokens: %+v, %v", ts, err)
	}
	for _, ti := range ts {
		if ti.Current != (ti.ID == rt.ID) {
			t.Errorf("token %d %q: current %v", ti.ID, ti.Name, ti.Current)
		}
	}
	if err := e.reg.RevokeToken(ctx, reader, rt.ID); err != nil {
		t.Errorf("a token revokes itself: %v", err)
	}
	if _, err := e.authn.Token(ctx, rt.Secret); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("a revoked token still works: %v", err)
	}

	// Expiry, by the registry's and the authenticator's shared clock.
	if _, err := e.authn.Token(ctx, nt.Secret); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour)
	if _, err := e.authn.Token(ctx, nt.Secret); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("an expired token still works: %v", err)
	}
	ts, _ = e.reg.ListTokens(ctx, alice, "")
	for _, ti := range ts {
		if ti.ID == nt.ID && (!ti.Expired || ti.Revoked) {
			t.Errorf("expired token listed as %+v", ti)
		}
	}
}

func TestTokensOfOthers(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	admin, _ := e.user("boss", meta.RoleAdmin, "")
	alice, _ := e.user("alice", meta.RoleUser, "")
	bob, _ := e.user("bob", meta.RoleUser, "")
	nt, err := e.reg.CreateToken(ctx, alice, TokenSpec{Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.ListTokens(ctx, bob, "alice")
	wantKindOf(t, "bob lists alice's tokens", err, Forbidden)
	// Bob cannot tell alice's token id from one that does not exist.
	wantKindOf(t, "bob revokes alice's token", e.reg.RevokeToken(ctx, bob, nt.ID), NotFound)
	wantKindOf(t, "bob revokes no token", e.reg.RevokeToken(ctx, bob, 99999), NotFound)

	ts, err := e.reg.ListTokens(ctx, admin, "alice")
	if err != nil || len(ts) != 2 || ts[0].Name != "laptop" || ts[0].User != "alice" {
		t.Fatalf("admin lists alice's tokens: %+v, %v", ts, err)
	}
	if err := e.reg.RevokeToken(ctx, admin, nt.ID); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastEvent(); ev.Action != "token-revoke" || ev.Actor != "boss" || ev.Target != "alice" || !strings.Contains(ev.Detail, `"laptop"`) {
		t.Errorf("audit line %+v", ev)
	}
	n := len(e.events())
	if err := e.reg.RevokeToken(ctx, alice, nt.ID); err != nil {
		t.Errorf("revoking a revoked token again: %v", err)
	}
	if len(e.events()) != n {
		t.Error("revoking twice wrote a second audit line")
	}
	// A disabled account gets no new tokens, and its old ones stop.
	if err := e.reg.Disable(ctx, admin, "alice"); err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.CreateToken(ctx, e.op, TokenSpec{User: "alice"})
	wantKindOf(t, "a token for a disabled account", err, Conflict, "disabled")
}

func TestPasswordsAndLogin(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	admin, _ := e.user("boss", meta.RoleAdmin, "boss-password")
	alice, _ := e.user("alice", meta.RoleUser, "alice-password")

	res, err := e.reg.Login(ctx, "alice", "alice-password", "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	if res.Account.Name != "alice" || !res.Token.Expires.Equal(e.clock().Add(LoginTokenTTL)) ||
		!strings.HasPrefix(res.Token.Name, "login ") || len(res.Token.Scopes) != 0 {
		t.Errorf("login result %+v", res)
	}
	if a := e.as(res.Token.Secret); a.Name() != "alice" {
		t.Errorf("the login token is %s's", a.Name())
	}
	ev := e.lastEvent()
	if ev.Action != "login" || ev.Actor != "alice" || ev.Remote != "192.0.2.7" {
		t.Errorf("login audit line %+v", ev)
	}

	_, err = e.reg.Login(ctx, "alice", "wrong-password", "192.0.2.8")
	wantKindOf(t, "wrong password", err, Unauthorized, "invalid user name or password")
	ev = e.lastEvent()
	if ev.Action != "login-failed" || ev.Actor != "alice" || ev.Remote != "192.0.2.8" {
		t.Errorf("failed login audit line %+v", ev)
	}
	_, err = e.reg.Login(ctx, "nobody", "whatever-password", "192.0.2.8")
	wantKindOf(t, "unknown user", err, Unauthorized, "invalid user name or password")
	_, err = e.reg.Login(ctx, "Mallory\nadmin login ok", "x", "192.0.2.8")
	wantKindOf(t, "forged name", err, Unauthorized)
	if ev := e.lastEvent(); strings.ContainsAny(ev.Actor, "\n ") {
		t.Errorf("a typed name went into the log as is: %q", ev.Actor)
	}

	// Own password: the current one is required and checked.
	pw, old, wrong := "alice-new-password", "alice-password", "not-it"
	_, err = e.reg.UpdateUser(ctx, alice, "alice", UserChange{Password: &pw})
	wantKindOf(t, "no current password", err, Invalid, "current password")
	_, err = e.reg.UpdateUser(ctx, alice, "alice", UserChange{Password: &pw, OldPassword: &wrong})
	wantKindOf(t, "wrong current password", err, Forbidden, "current password is wrong")
	if ev := e.lastEvent(); ev.Action != "login-failed" || ev.Target != "alice" {
		t.Errorf("a wrong current password is not audited: %+v", ev)
	}
	short := "short"
	_, err = e.reg.UpdateUser(ctx, alice, "alice", UserChange{Password: &short, OldPassword: &old})
	wantKindOf(t, "too short", err, Invalid)
	if err := e.reg.SetPassword(ctx, alice, "alice", old, pw); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Login(ctx, "alice", old, ""); KindOf(err) != Unauthorized {
		t.Errorf("the old password still logs in: %v", err)
	}
	if _, err := e.reg.Login(ctx, "alice", pw, ""); err != nil {
		t.Errorf("the new password does not log in: %v", err)
	}
	// Admins set anyone's without it; the account is disabled, so the
	// right password is refused, and says why.
	if err := e.reg.SetPassword(ctx, admin, "alice", "", "set-by-admin"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Disable(ctx, admin, "alice"); err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.Login(ctx, "alice", "set-by-admin", "")
	wantKindOf(t, "disabled login", err, Forbidden, "disabled")
	if ev := e.lastEvent(); ev.Action != "login-failed" || ev.Detail != "account disabled" {
		t.Errorf("disabled login audit line %+v", ev)
	}

	// Provider accounts keep their passwords at the provider.
	ldap := &meta.User{Name: "lena", Source: "ldap", Subject: "uid=lena"}
	if err := e.m.CreateUser(ctx, ldap); err != nil {
		t.Fatal(err)
	}
	wantKindOf(t, "password for an LDAP account", e.reg.SetPassword(ctx, admin, "lena", "", "whatever-pw"), Invalid, "through ldap")

	for _, ev := range e.events() {
		for _, secret := range []string{"alice-password", pw, "set-by-admin", "boss-password", wrong, res.Token.Secret} {
			if strings.Contains(ev.Actor+ev.Action+ev.Target+ev.Remote+ev.Detail, secret) {
				t.Errorf("audit line %+v holds a secret", ev)
			}
		}
	}
}

func TestKeepAnAdmin(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	admin, _ := e.user("boss", meta.RoleAdmin, "")
	user := meta.RoleUser
	_, err := e.reg.UpdateUser(ctx, admin, "boss", UserChange{Role: &user})
	wantKindOf(t, "the last admin demotes itself", err, Conflict, "last enabled admin")
	wantKindOf(t, "the last admin disables itself", e.reg.Disable(ctx, admin, "boss"), Conflict)

	e.user("deputy", meta.RoleAdmin, "")
	if err := e.reg.Disable(ctx, e.op, "deputy"); err != nil {
		t.Fatal(err)
	}
	// A disabled admin does not count.
	wantKindOf(t, "demoted with only a disabled admin left", e.reg.Disable(ctx, admin, "boss"), Conflict)
	if err := e.reg.Enable(ctx, admin, "deputy"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.UpdateUser(ctx, admin, "boss", UserChange{Role: &user}); err != nil {
		t.Errorf("demoting with another admin left: %v", err)
	}
}

func TestMe(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	_, secret := e.user("alice", meta.RoleUser, "alice-password")
	u, _ := e.m.UserByName(ctx, "alice")
	for _, name := range []string{"zoo", "bio"} {
		tm := &meta.Team{Name: name}
		if err := e.m.CreateTeam(ctx, tm); err != nil {
			t.Fatal(err)
		}
		if err := e.m.SetMember(ctx, meta.Member{TeamID: tm.ID, UserID: u.ID}); err != nil {
			t.Fatal(err)
		}
	}
	acc, err := e.reg.Me(ctx, e.as(secret))
	if err != nil {
		t.Fatal(err)
	}
	if acc.Name != "alice" || acc.Email != "alice@example.org" || acc.Role != meta.RoleUser || !acc.HasPassword ||
		!slices.Equal(acc.Teams, []string{"bio", "zoo"}) {
		t.Errorf("me = %+v", acc)
	}
}

// TestLastUsed: a token's last use is recorded, at most once a minute.
func TestLastUsed(t *testing.T) {
	e := newAcctEnv(t)
	ctx := context.Background()
	alice, secret := e.user("alice", meta.RoleUser, "")
	lastUsed := func() time.Time {
		ts, err := e.reg.ListTokens(ctx, alice, "")
		if err != nil || len(ts) != 1 {
			t.Fatalf("tokens: %+v, %v", ts, err)
		}
		return ts[0].LastUsed
	}
	first := lastUsed() // e.user resolved the token once
	if !first.Equal(e.clock()) {
		t.Fatalf("last used %v, want %v", first, e.clock())
	}
	e.advance(30 * time.Second)
	e.as(secret)
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("last used rewritten after 30s: %v", got)
	}
	e.advance(31 * time.Second)
	e.as(secret)
	if got := lastUsed(); !got.Equal(e.clock()) {
		t.Errorf("last used %v after a minute, want %v", got, e.clock())
	}
}

package auth

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/siloreg/silo/internal/backend/backendtest"

	"github.com/siloreg/silo/internal/auth/provider"
	"github.com/siloreg/silo/internal/meta"
)

// fakeProvider is a password provider for tests: a table of users, or
// one error for everyone.
type fakeProvider struct {
	name  string
	users map[string]fakeUser
	err   error // returned for every call when set
	calls atomic.Int64
}

type fakeUser struct {
	password string
	id       provider.Identity
}

func (p *fakeProvider) Name() string { return p.name }

func (p *fakeProvider) Authenticate(_ context.Context, user, pass string) (*provider.Identity, error) {
	p.calls.Add(1)
	if p.err != nil {
		return nil, p.err
	}
	u, ok := p.users[user]
	if !ok || u.password != pass {
		return nil, provider.ErrBadCredentials
	}
	id := u.id
	id.Provider = p.name
	return &id, nil
}

func openStore(t *testing.T) meta.Store {
	t.Helper()
	m, _ := backendtest.Open(t)
	return m
}

// localUser stores a local account with a password (none when pw is "").
func localUser(t *testing.T, m meta.Store, name, pw string, disabled bool) *meta.User {
	t.Helper()
	u := &meta.User{Name: name, Role: meta.RoleUser, Source: "local", Disabled: disabled}
	if pw != "" {
		h, err := HashPassword(context.Background(), pw)
		if err != nil {
			t.Fatal(err)
		}
		u.PasswordHash = h
	}
	if err := m.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestLocalPasswords(t *testing.T) {
	ctx := context.Background()
	m := openStore(t)
	alice := localUser(t, m, "alice", "alice-password", false)
	localUser(t, m, "bob", "bob-password", true)
	localUser(t, m, "tokens-only", "", false)
	// A directory that would say yes to anyone called alice, bob or
	// tokens-only: a local account with a password must never be reachable
	// through it.
	dir := &fakeProvider{name: "ldap", users: map[string]fakeUser{
		"alice": {password: "ldap-password", id: provider.Identity{Subject: "uid=alice", Username: "alice"}},
		"bob":   {password: "ldap-password", id: provider.Identity{Subject: "uid=bob", Username: "bob"}},
	}}
	pw := &Passwords{Meta: m, Providers: []provider.PasswordProvider{dir}}

	l, err := pw.Check(ctx, "alice", "alice-password")
	if err != nil || l.User.ID != alice.ID || l.Identity != nil {
		t.Fatalf("right local password: %+v, %v", l, err)
	}
	for _, tc := range []struct {
		user, pass string
		want       error
	}{
		{"alice", "wrong-password", provider.ErrBadCredentials},
		{"alice", "ldap-password", provider.ErrBadCredentials}, // the directory's alice is not this alice
		{"alice", "", provider.ErrBadCredentials},
		{"", "alice-password", provider.ErrBadCredentials},
		{"bob", "bob-password", ErrDisabled},
		{"bob", "wrong-password", provider.ErrBadCredentials}, // a guesser does not learn bob is disabled
	} {
		before := dir.calls.Load()
		if _, err := pw.Check(ctx, tc.user, tc.pass); !errors.Is(err, tc.want) {
			t.Errorf("Check(%q, %q) = %v, want %v", tc.user, tc.pass, err, tc.want)
		}
		if dir.calls.Load() != before {
			t.Errorf("Check(%q, %q) asked the provider about a local account", tc.user, tc.pass)
		}
	}

	// With no providers, an unknown name or an account without a password
	// is just a wrong password.
	local := &Passwords{Meta: m}
	for _, user := range []string{"nobody", "tokens-only"} {
		if _, err := local.Check(ctx, user, "anything-at-all"); !errors.Is(err, provider.ErrBadCredentials) {
			t.Errorf("Check(%q) = %v, want ErrBadCredentials", user, err)
		}
	}
}

func TestProviderLogins(t *testing.T) {
	ctx := context.Background()
	m := openStore(t)
	localUser(t, m, "carol", "", false) // a token-only local account
	empty := &fakeProvider{name: "pam", users: map[string]fakeUser{}}
	dir := &fakeProvider{name: "ldap", users: map[string]fakeUser{
		"John.Doe": {password: "pw-john", id: provider.Identity{
			Subject: "uid=jdoe,ou=people,dc=example,dc=org", Username: "John.Doe",
			Email: "john@example.org", Groups: []string{"bio", "hpc"}}},
		"carol": {password: "pw-carol", id: provider.Identity{Subject: "uid=carol2", Username: "carol"}},
		"bio":   {password: "pw-bio", id: provider.Identity{Subject: "uid=bio", Username: "bio"}},
		"noname": {password: "pw-noname", id: provider.Identity{Subject: "uid=x",
			Username: "???", Email: "", Name: "!!!"}},
	}}
	pw := &Passwords{
		Meta: m, Providers: []provider.PasswordProvider{empty, dir},
		NameFree: func(_ context.Context, name string) (bool, error) { return name != "bio", nil },
	}

	// First login: the account is made from the identity, the name made
	// valid, and the groups handed back.
	l, err := pw.Check(ctx, "John.Doe", "pw-john")
	if err != nil {
		t.Fatal(err)
	}
	u := l.User
	if u.Name != "john.doe" || u.Source != "ldap" || u.Subject != "uid=jdoe,ou=people,dc=example,dc=org" ||
		u.Email != "john@example.org" || u.Role != meta.RoleUser || u.PasswordHash != "" {
		t.Errorf("account made: %+v", u)
	}
	if l.Identity == nil || !slices.Equal(l.Identity.Groups, []string{"bio", "hpc"}) {
		t.Errorf("identity %+v, want the groups", l.Identity)
	}
	if empty.calls.Load() != 1 {
		t.Errorf("the first provider was asked %d times, want 1", empty.calls.Load())
	}

	// The next login finds the same account by subject, even if the
	// directory renamed the person; the e-mail address follows.
	e := dir.users["John.Doe"]
	e.id.Username, e.id.Email = "jd", "jd@example.org"
	dir.users["jd"] = e
	l, err = pw.Check(ctx, "jd", "pw-john")
	if err != nil || l.User.ID != u.ID || l.User.Name != "john.doe" || l.User.Email != "jd@example.org" {
		t.Errorf("second login: %+v, %v; want the same account with the new e-mail", l, err)
	}
	if n, _ := m.CountUsers(ctx); n != 2 {
		t.Errorf("%d accounts, want 2", n)
	}

	// A directory user named like a local account gets an account of
	// their own; a name NameFree refuses is numbered too.
	for user, want := range map[string]string{"carol": "carol-2", "bio": "bio-2"} {
		l, err := pw.Check(ctx, user, "pw-"+user)
		if err != nil || l.User.Name != want || l.User.Source != "ldap" {
			t.Errorf("Check(%q) = %+v, %v; want a new account %q", user, l, err, want)
		}
	}
	if _, err := pw.Check(ctx, "noname", "pw-noname"); err == nil {
		t.Error("an identity with no usable name made an account")
	}

	// Wrong password everywhere; disabled provider account.
	if _, err := pw.Check(ctx, "jd", "wrong"); !errors.Is(err, provider.ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	acc, _ := m.UserByName(ctx, "john.doe")
	acc.Disabled = true
	if err := m.UpdateUser(ctx, acc); err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Check(ctx, "jd", "pw-john"); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled provider account: %v", err)
	}
}

func TestProviderFailures(t *testing.T) {
	ctx := context.Background()
	m := openStore(t)
	down := &fakeProvider{name: "ldap", err: errors.New("connection refused")}
	denied := &fakeProvider{name: "ldap", err: provider.ErrAccountDenied}
	pam := &fakeProvider{name: "pam", users: map[string]fakeUser{
		"dave": {password: "pw-dave", id: provider.Identity{Subject: "dave", Username: "dave"}},
	}}

	// One provider down does not lock out the next one's users...
	pw := &Passwords{Meta: m, Providers: []provider.PasswordProvider{down, pam}}
	if l, err := pw.Check(ctx, "dave", "pw-dave"); err != nil || l.User.Name != "dave" {
		t.Errorf("login past a provider that is down: %+v, %v", l, err)
	}
	// ...but when nobody says yes, the outage is the answer, not "wrong
	// password", which would send people to reset a password that is fine.
	_, err := pw.Check(ctx, "dave", "wrong")
	if err == nil || errors.Is(err, provider.ErrBadCredentials) || !errors.Is(err, down.err) {
		t.Errorf("wrong password with a provider down: %v", err)
	}
	// A provider that refuses the account has the last word.
	pw = &Passwords{Meta: m, Providers: []provider.PasswordProvider{denied, pam}}
	before := pam.calls.Load()
	if _, err := pw.Check(ctx, "dave", "pw-dave"); !errors.Is(err, provider.ErrAccountDenied) {
		t.Errorf("account denied: %v", err)
	}
	if pam.calls.Load() != before {
		t.Error("a provider was asked after another denied the account")
	}
}

// TestFirstLoginRace: the same person's first login on two requests at
// once makes one account, not two.
func TestFirstLoginRace(t *testing.T) {
	ctx := context.Background()
	m := openStore(t)
	id := &provider.Identity{Provider: "oidc:corp", Subject: "sub-123", Username: "erin", Email: "erin@example.org"}
	const n = 8
	users := make([]*meta.User, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { users[i], errs[i] = UserFromIdentity(ctx, m, id, nil) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("login %d: %v", i, errs[i])
		}
		if users[i].ID != users[0].ID || users[i].Name != "erin" {
			t.Errorf("login %d got account %d %q, login 0 got %d %q", i, users[i].ID, users[i].Name, users[0].ID, users[0].Name)
		}
	}
	if c, _ := m.CountUsers(ctx); c != 1 {
		t.Errorf("%d accounts after concurrent first logins, want 1", c)
	}
	if _, err := UserFromIdentity(ctx, m, &provider.Identity{Provider: "ldap"}, nil); err == nil {
		t.Error("an identity without a subject made an account")
	}
}

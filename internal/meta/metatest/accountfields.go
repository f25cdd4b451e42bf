package metatest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// sameSet compares a listing with want in any order: the same rows by id,
// each compared with check. Listings' order is not part of the interface
// unless it says so, and then the test checks the order itself.
func sameSet[T any](t *testing.T, what string, got []T, want []*T, id func(*T) int64, check func(t *testing.T, what string, got, want *T)) {
	t.Helper()
	gotIDs := make([]int64, 0, len(got))
	byID := map[int64]*T{}
	for i := range got {
		gotIDs = append(gotIDs, id(&got[i]))
		byID[id(&got[i])] = &got[i]
	}
	wantIDs := make([]int64, 0, len(want))
	for _, w := range want {
		wantIDs = append(wantIDs, id(w))
	}
	slices.Sort(gotIDs)
	slices.Sort(wantIDs)
	if !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("%s = ids %v, want %v", what, gotIDs, wantIDs)
		return
	}
	for _, w := range want {
		check(t, fmt.Sprintf("%s[id %d]", what, id(w)), byID[id(w)], w)
	}
}

func userID(u *meta.User) int64    { return u.ID }
func tokenID(tk *meta.Token) int64 { return tk.ID }

func sameUser(t *testing.T, what string, got, want *meta.User) {
	t.Helper()
	same(t, what, got, want)
}

// sameToken is same for tokens, where nil and empty Scopes both mean "none
// given" and a backend need not tell them apart; any scopes given must come
// back in the order given.
func sameToken(t *testing.T, what string, got, want *meta.Token) {
	t.Helper()
	if got == nil {
		t.Errorf("%s is nil", what)
		return
	}
	g, w := *got, *want
	if len(g.Scopes) == 0 && len(w.Scopes) == 0 {
		g.Scopes, w.Scopes = nil, nil
	}
	same(t, what, &g, &w)
}

// testUserFields round-trips every User field, the defaults CreateUser
// fills in, lookups by provider subject, the listing and UpdateUser.
func testUserFields(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if us, err := s.Users(ctx); err != nil || len(us) != 0 {
		t.Fatalf("Users on an empty store = %v, %v; want none", us, err)
	}

	carol := &meta.User{Name: "carol", Email: "carol@example.org", Role: meta.RoleManager,
		Source: "ldap", Subject: "uid=carol,ou=people,dc=example,dc=org", QuotaBytes: 1<<40 + 3}
	dave := &meta.User{Name: "dave", Role: meta.RoleAdmin, Source: "oidc:corp", Subject: "1234", Disabled: true,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"}
	// The same subject from another provider is another person.
	erin := &meta.User{Name: "erin", Source: "oidc:other", Subject: "1234", Role: meta.RoleUser}
	// Nothing given: the role is "user" and the source "local".
	frank := &meta.User{Name: "frank"}
	for _, u := range []*meta.User{carol, dave, erin, frank} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): %v", u.Name, err)
		}
		if u.ID == 0 {
			t.Errorf("CreateUser(%q) left ID 0", u.Name)
		}
		checkRecent(t, u.Name+".Created", u.Created)
	}
	// What frank must read back as; whether CreateUser also wrote the
	// defaults into the struct it was given is not promised.
	frankWant := *frank
	frankWant.Role, frankWant.Source = meta.RoleUser, "local"
	all := []*meta.User{carol, dave, erin, &frankWant}

	for _, want := range all {
		got, err := s.User(ctx, want.ID)
		if err != nil {
			t.Fatalf("User(%d): %v", want.ID, err)
		}
		same(t, "User("+want.Name+")", got, want)
		got, err = s.UserByName(ctx, want.Name)
		if err != nil {
			t.Fatalf("UserByName(%q): %v", want.Name, err)
		}
		same(t, "UserByName("+want.Name+")", got, want)
	}
	us, err := s.Users(ctx)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	sameSet(t, "Users", us, all, userID, sameUser)

	for _, c := range []struct {
		source, subject string
		want            *meta.User
	}{
		{"ldap", carol.Subject, carol},
		{"oidc:corp", "1234", dave},
		{"oidc:other", "1234", erin},
	} {
		got, err := s.UserBySubject(ctx, c.source, c.subject)
		if err != nil {
			t.Errorf("UserBySubject(%q, %q): %v", c.source, c.subject, err)
			continue
		}
		same(t, fmt.Sprintf("UserBySubject(%q, %q)", c.source, c.subject), got, c.want)
	}
	for _, c := range []struct{ what, source, subject string }{
		{"a subject of another source", "ldap", "1234"},
		{"a prefix of a subject", "oidc:corp", "123"},
		{"a longer subject", "oidc:corp", "12345"},
		{"an unknown source", "pam", "1234"},
		{"a name, not a subject", "ldap", "carol"},
		// Local accounts have no subject: an empty one must not match
		// them, or a provider that sent none would log in as anybody.
		{"an empty subject", "local", ""},
		{"an empty subject of a provider", "ldap", ""},
	} {
		_, err := s.UserBySubject(ctx, c.source, c.subject)
		wantErr(t, "UserBySubject with "+c.what, err, meta.ErrNotFound)
	}

	// UpdateUser writes Email, Role, Disabled, PasswordHash and QuotaBytes,
	// and nothing else: the rest of the struct is ignored.
	upd := *carol
	upd.Email = "c.new@example.org"
	upd.Role = meta.RoleAdmin
	upd.Disabled = true
	upd.PasswordHash = "$argon2id$new"
	upd.QuotaBytes = 5
	upd.Name = "renamed"
	upd.Source = "pam"
	upd.Subject = "carol"
	upd.Created = odd(2001, 0)
	if err := s.UpdateUser(ctx, &upd); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	carolWant := *carol
	carolWant.Email, carolWant.Role, carolWant.Disabled = upd.Email, upd.Role, upd.Disabled
	carolWant.PasswordHash, carolWant.QuotaBytes = upd.PasswordHash, upd.QuotaBytes
	if got, err := s.User(ctx, carol.ID); err != nil {
		t.Fatalf("User after UpdateUser: %v", err)
	} else {
		same(t, "User after UpdateUser", got, &carolWant)
	}
	if got, err := s.UserBySubject(ctx, "ldap", carol.Subject); err != nil || got.ID != carol.ID {
		t.Errorf("after UpdateUser, UserBySubject(ldap) = %+v, %v; want carol still", got, err)
	}
	_, err = s.UserByName(ctx, "renamed")
	wantErr(t, "UserByName(a name UpdateUser must not have written)", err, meta.ErrNotFound)

	// Back to clear values: false, zero and empty are written too.
	upd2 := carolWant
	upd2.Email, upd2.Role, upd2.Disabled, upd2.PasswordHash, upd2.QuotaBytes = "", meta.RoleUser, false, "", 0
	if err := s.UpdateUser(ctx, &upd2); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	// Writing what is there already is not an error: the user exists.
	if err := s.UpdateUser(ctx, &upd2); err != nil {
		t.Errorf("UpdateUser with unchanged values: %v", err)
	}
	if got, err := s.User(ctx, carol.ID); err != nil {
		t.Fatalf("User after UpdateUser: %v", err)
	} else {
		same(t, "User after clearing UpdateUser", got, &upd2)
	}
	us, err = s.Users(ctx)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	sameSet(t, "Users after UpdateUser", us, []*meta.User{&upd2, dave, erin, &frankWant}, userID, sameUser)

	err = s.UpdateUser(ctx, &meta.User{ID: missing, Name: "ghost", Email: "ghost@example.org", Role: meta.RoleUser})
	wantErr(t, "UpdateUser(missing)", err, meta.ErrNotFound)
	if n, err := s.CountUsers(ctx); err != nil || n != 4 {
		t.Errorf("after UpdateUser(missing), CountUsers = %d, %v; want 4 (no upsert)", n, err)
	}
}

// testTokenFields round-trips Scopes (order kept; nil and empty both "none
// given") and Revoked, and checks Tokens, RevokeToken and TouchToken.
func testTokenFields(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")

	scoped := &meta.Token{UserID: alice.ID, Name: "ci", Hash: digest("t-scoped"), Scopes: []string{"read", "push", "admin"}, Expires: odd(2032, 7000)}
	one := &meta.Token{UserID: alice.ID, Name: "pull-only", Hash: digest("t-one"), Scopes: []string{"read"}}
	nilScopes := &meta.Token{UserID: alice.ID, Name: "nil", Hash: digest("t-nil")}
	emptyScopes := &meta.Token{UserID: alice.ID, Name: "empty", Hash: digest("t-empty"), Scopes: []string{}}
	revoked := &meta.Token{UserID: bob.ID, Name: "", Hash: digest("t-revoked"), Scopes: []string{"push", "read"}, Revoked: true}
	aliceTokens := []*meta.Token{scoped, one, nilScopes, emptyScopes}
	for _, tk := range append(slices.Clone(aliceTokens), revoked) {
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatalf("CreateToken(%q): %v", tk.Name, err)
		}
		if tk.ID == 0 {
			t.Errorf("CreateToken(%q) left ID 0", tk.Name)
		}
		checkRecent(t, tk.Name+".Created", tk.Created)
	}
	for _, want := range append(slices.Clone(aliceTokens), revoked) {
		got, err := s.TokenByHash(ctx, want.Hash)
		if err != nil {
			t.Fatalf("TokenByHash(%q): %v", want.Name, err)
		}
		sameToken(t, "TokenByHash("+want.Name+")", got, want)
		if len(want.Scopes) == 0 && len(got.Scopes) != 0 {
			t.Errorf("token %q given no scopes came back with %q", want.Name, got.Scopes)
		}
	}

	tokens := func(userID int64, want ...*meta.Token) {
		t.Helper()
		got, err := s.Tokens(ctx, userID)
		if err != nil {
			t.Fatalf("Tokens(%d): %v", userID, err)
		}
		sameSet(t, fmt.Sprintf("Tokens(%d)", userID), got, want, tokenID, sameToken)
	}
	tokens(alice.ID, aliceTokens...)
	tokens(bob.ID, revoked)
	tokens(missing)

	// RevokeToken: the token stays, listed and findable, marked revoked
	// (refusing it is the caller's job); revoking again is no error.
	if err := s.RevokeToken(ctx, scoped.ID); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	scopedWant := *scoped
	scopedWant.Revoked = true
	if got, err := s.TokenByHash(ctx, scoped.Hash); err != nil {
		t.Fatalf("TokenByHash after RevokeToken: %v", err)
	} else {
		sameToken(t, "revoked token", got, &scopedWant)
	}
	if err := s.RevokeToken(ctx, scoped.ID); err != nil {
		t.Errorf("RevokeToken twice: %v", err)
	}
	if err := s.RevokeToken(ctx, revoked.ID); err != nil {
		t.Errorf("RevokeToken of a token created revoked: %v", err)
	}
	tokens(alice.ID, &scopedWant, one, nilScopes, emptyScopes)
	tokens(bob.ID, revoked)
	wantErr(t, "RevokeToken(missing)", s.RevokeToken(ctx, missing), meta.ErrNotFound)

	// TouchToken records the time given (not the store's clock), exactly,
	// and only on that token; a later touch replaces it.
	first := odd(2030, 123456000)
	if err := s.TouchToken(ctx, one.ID, first); err != nil {
		t.Fatalf("TouchToken: %v", err)
	}
	oneWant := *one
	oneWant.LastUsed = first
	tokens(alice.ID, &scopedWant, &oneWant, nilScopes, emptyScopes)
	later := first.Add(90*time.Minute + 789*time.Microsecond)
	if err := s.TouchToken(ctx, one.ID, later); err != nil {
		t.Fatalf("TouchToken: %v", err)
	}
	oneWant.LastUsed = later
	if got, err := s.TokenByHash(ctx, one.Hash); err != nil {
		t.Fatalf("TokenByHash after TouchToken: %v", err)
	} else {
		sameToken(t, "touched token", got, &oneWant)
	}
	// A revoked token may still be touched (say, to record a refused try).
	if err := s.TouchToken(ctx, revoked.ID, first); err != nil {
		t.Errorf("TouchToken of a revoked token: %v", err)
	}
	revokedWant := *revoked
	revokedWant.LastUsed = first
	tokens(bob.ID, &revokedWant)
	tokens(alice.ID, &scopedWant, &oneWant, nilScopes, emptyScopes)
	wantErr(t, "TouchToken(missing)", s.TouchToken(ctx, missing, first), meta.ErrNotFound)
}

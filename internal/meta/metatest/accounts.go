package metatest

import (
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

func testUsers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if n, err := s.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers on an empty store = %d, %v; want 0, nil", n, err)
	}

	alice := &meta.User{Name: "alice", Email: "alice@example.org", Role: meta.RoleAdmin, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"}
	bob := &meta.User{Name: "bob", Disabled: true}
	for _, u := range []*meta.User{alice, bob} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q): %v", u.Name, err)
		}
		if u.ID == 0 {
			t.Errorf("CreateUser(%q) left ID 0", u.Name)
		}
		checkRecent(t, u.Name+".Created", u.Created)
	}
	if alice.ID == bob.ID {
		t.Errorf("two users got the same ID %d", alice.ID)
	}

	for _, want := range []*meta.User{alice, bob} {
		got, err := s.User(ctx, want.ID)
		if err != nil {
			t.Fatalf("User(%d): %v", want.ID, err)
		}
		same(t, "User", got, want)
		got, err = s.UserByName(ctx, want.Name)
		if err != nil {
			t.Fatalf("UserByName(%q): %v", want.Name, err)
		}
		same(t, "UserByName", got, want)
	}

	err := s.CreateUser(ctx, &meta.User{Name: "alice", Email: "other@example.org"})
	wantErr(t, "CreateUser with a taken name", err, meta.ErrConflict)
	if n, err := s.CountUsers(ctx); err != nil || n != 2 {
		t.Errorf("CountUsers = %d, %v; want 2, nil", n, err)
	}
	if got, err := s.UserByName(ctx, "alice"); err != nil || got.ID != alice.ID || got.Email != alice.Email {
		t.Errorf("after a refused duplicate, UserByName(alice) = %+v, %v; want the original", got, err)
	}

	_, err = s.User(ctx, missing)
	wantErr(t, "User(missing)", err, meta.ErrNotFound)
	_, err = s.UserByName(ctx, "carol")
	wantErr(t, "UserByName(missing)", err, meta.ErrNotFound)
}

func testTokens(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")

	laptop := &meta.Token{UserID: alice.ID, Name: "laptop", Hash: digest("secret-1"), Expires: odd(2031, 123456789)}
	forever := &meta.Token{UserID: bob.ID, Name: "ci", Hash: digest("secret-2")}
	for _, tok := range []*meta.Token{laptop, forever} {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatalf("CreateToken(%q): %v", tok.Name, err)
		}
		if tok.ID == 0 {
			t.Errorf("CreateToken(%q) left ID 0", tok.Name)
		}
		checkRecent(t, tok.Name+".Created", tok.Created)
	}
	if laptop.ID == forever.ID {
		t.Errorf("two tokens got the same ID %d", laptop.ID)
	}
	for _, want := range []*meta.Token{laptop, forever} {
		got, err := s.TokenByHash(ctx, want.Hash)
		if err != nil {
			t.Fatalf("TokenByHash(%q): %v", want.Name, err)
		}
		same(t, "TokenByHash", got, want)
	}

	// The hash is the lookup key, so it must be unique across all users.
	err := s.CreateToken(ctx, &meta.Token{UserID: bob.ID, Name: "copy", Hash: laptop.Hash})
	wantErr(t, "CreateToken with a taken hash", err, meta.ErrConflict)
	if got, err := s.TokenByHash(ctx, laptop.Hash); err != nil || got.ID != laptop.ID || got.UserID != alice.ID {
		t.Errorf("after a refused duplicate, TokenByHash = %+v, %v; want the original", got, err)
	}
	// The same name for two tokens is fine: names are only labels.
	if err := s.CreateToken(ctx, &meta.Token{UserID: alice.ID, Name: "laptop", Hash: digest("secret-3"), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Errorf("CreateToken with a reused name: %v", err)
	}

	_, err = s.TokenByHash(ctx, digest("no such secret"))
	wantErr(t, "TokenByHash(missing)", err, meta.ErrNotFound)
}

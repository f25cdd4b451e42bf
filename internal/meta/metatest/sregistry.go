package metatest

import (
	"bytes"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

func testSregistrySecrets(t *testing.T, s meta.Store) {
	ctx := t.Context()
	alice := &meta.User{Name: "sregalice", Role: meta.RoleUser}
	bob := &meta.User{Name: "sregbob", Role: meta.RoleUser}
	for _, u := range []*meta.User{alice, bob} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.SregistrySecret(ctx, alice.ID)
	wantErr(t, "SregistrySecret(none)", err, meta.ErrNotFound)

	when := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	sealed := []byte{0, 1, 2, 0xff, 0, 'x'} // binary, with NUL bytes
	if err := s.SetSregistrySecret(ctx, &meta.SregistrySecret{UserID: alice.ID, Sealed: sealed, Created: when}); err != nil {
		t.Fatal(err)
	}
	got, err := s.SregistrySecret(ctx, alice.ID)
	if err != nil || !bytes.Equal(got.Sealed, sealed) || !got.Created.Equal(when) || got.UserID != alice.ID {
		t.Fatalf("SregistrySecret = %+v, %v; want %x at %v", got, err, sealed, when)
	}
	if _, err := s.SregistrySecret(ctx, bob.ID); err == nil {
		t.Error("bob has alice's secret")
	}
	// Setting again replaces: one secret per user.
	if err := s.SetSregistrySecret(ctx, &meta.SregistrySecret{UserID: alice.ID, Sealed: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	got, err = s.SregistrySecret(ctx, alice.ID)
	if err != nil || string(got.Sealed) != "new" || got.Created.IsZero() {
		t.Errorf("after replace: %+v, %v", got, err)
	}
	if err := s.DeleteSregistrySecret(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.SregistrySecret(ctx, alice.ID)
	wantErr(t, "SregistrySecret(deleted)", err, meta.ErrNotFound)
	if err := s.DeleteSregistrySecret(ctx, alice.ID); err != nil {
		t.Errorf("deleting a missing secret: %v", err)
	}
}

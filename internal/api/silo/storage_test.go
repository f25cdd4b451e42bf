package silo_test

import (
	"net/http"
	"testing"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestUsageStorage checks the storage summary GET usage?storage=true adds:
// sums per collection, container and owner, dedup savings, and only what
// the caller may see.
func TestUsageStorage(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)
	img, size := writeSIF(t, 1)
	push(t, in, alice, img, "alice/tools/a", "v1")
	push(t, in, alice, img, "alice/tools/b", "v1") // the same bytes
	push(t, in, alice, img, "alice/secret/c", "v1")
	tmDo(t, in, "PATCH", "/api/silo/v1/collections/alice/secret", alice, silo.CollectionChange{Private: ptr(true)}).ok(t, "private", http.StatusOK, nil)

	var u silo.Usage
	if st := get(t, in, alice, "/api/silo/v1/usage?storage=true", &u); st != http.StatusOK || u.Storage == nil {
		t.Fatalf("alice's usage with storage: %d %+v", st, u)
	}
	s := u.Storage
	if s.Total != (silo.StorageRow{Name: "total", Images: 3, Bytes: 3 * size, Stored: size}) || s.SavedBytes != 2*size {
		t.Errorf("alice's total %+v, saved %d; want 3 images of %d bytes stored once", s.Total, s.SavedBytes, size)
	}
	if len(s.Collections) != 2 || len(s.Containers) != 3 || len(s.Users) != 1 || s.Users[0].Name != "alice" || len(s.Teams) != 0 {
		t.Errorf("alice's rows: %+v", s)
	}
	if len(s.Growth) != 2 || s.Growth[0].StoredBytes != 0 || s.Growth[1].StoredBytes != size {
		t.Errorf("growth %+v", s.Growth)
	}

	u = silo.Usage{}
	if st := get(t, in, bob, "/api/silo/v1/usage?storage=true", &u); st != http.StatusOK {
		t.Fatalf("bob: %d", st)
	}
	for _, c := range u.Storage.Collections {
		if c.Name == "alice/secret" {
			t.Error("bob's storage summary shows alice's private collection")
		}
	}
	if u.Storage.Total.Images != 2 {
		t.Errorf("bob sees %d images, want the 2 public ones", u.Storage.Total.Images)
	}

	u = silo.Usage{}
	if st := get(t, in, bob, "/api/silo/v1/usage", &u); st != http.StatusOK || u.Storage != nil {
		t.Errorf("plain usage: %d, storage %+v; want none unless asked", st, u.Storage)
	}
	var e silo.ErrorBody
	if st := get(t, in, bob, "/api/silo/v1/usage?storage=maybe", &e); st != http.StatusBadRequest {
		t.Errorf("storage=maybe: %d, want 400", st)
	}
	if st := get(t, in, "", "/api/silo/v1/usage?storage=true", &e); st != http.StatusUnauthorized {
		t.Errorf("anonymous: %d, want 401", st)
	}
}

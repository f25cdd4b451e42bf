//go:build !pam || !cgo

package pam

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A build without the tag must say how to get PAM, at New, not fail later.
func TestBuiltWithoutPAM(t *testing.T) {
	p, err := New(Config{Service: "silo"})
	if p != nil || !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), "built without PAM support: rebuild with -tags pam") {
		t.Fatalf("New = %v, %v; want ErrNotBuilt", p, err)
	}
	if _, err := (&Provider{}).Authenticate(context.Background(), "alice", "pw"); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("Authenticate = %v; want ErrNotBuilt", err)
	}
}

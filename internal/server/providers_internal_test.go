package server

import (
	"bytes"
	"testing"
)

// A derived key differs from the signing key and from every other
// purpose's, so a MAC made for one purpose never verifies for another.
func TestDeriveKey(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	state := deriveKey(key, "oidc state")
	if len(state) != 32 || bytes.Equal(state, key) || bytes.Equal(state, deriveKey(key, "oidc state2")) ||
		bytes.Equal(state, deriveKey(bytes.Repeat([]byte{8}, 32), "oidc state")) {
		t.Errorf("deriveKey does not separate keys: %x", state)
	}
	if !bytes.Equal(state, deriveKey(key, "oidc state")) {
		t.Error("deriveKey is not deterministic: nodes sharing the signing key would not share the state key")
	}
}

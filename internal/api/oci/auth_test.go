package oci_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// ociToken asks /v2/token for scope with Basic user:pass ("" for none).
func ociToken(t *testing.T, in *servertest.Instance, user, pass, scope string) (string, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.URL+"/v2/token?service=silo&scope="+scope, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return b.Token, resp.StatusCode
}

// startWith POSTs an upload with a bearer token and returns the answer.
func startWith(t *testing.T, in *servertest.Instance, repo, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestTokens checks what /v2/token grants and that every request is
// still held to it: one repository, pull only for anonymous callers and
// read-only API tokens, nothing once the API token is revoked, and never
// more than the access rules allow.
func TestTokens(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	reg := in.Server.Registry
	alice := actorOf(t, in, "alice")

	full, st := ociToken(t, in, "alice", tok, "repository:alice/a/x:pull,push")
	if st != http.StatusOK || full == "" {
		t.Fatalf("token: %d", st)
	}
	if resp := startWith(t, in, "alice/a/x", full); resp.StatusCode != http.StatusAccepted {
		t.Errorf("push with a push token: %s", resp.Status)
	}
	// The token covers one repository.
	resp := startWith(t, in, "alice/a/y", full)
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(ch, `scope="repository:alice/a/y:pull,push"`) || !strings.Contains(ch, `realm="`+in.URL+`/v2/token"`) {
		t.Errorf("push to another repository: %s %q", resp.Status, ch)
	}
	// Anonymous callers get pull only.
	anon, st := ociToken(t, in, "", "", "repository:alice/a/x:pull,push")
	if st != http.StatusOK {
		t.Fatalf("anonymous token: %d", st)
	}
	if resp := startWith(t, in, "alice/a/x", anon); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("push with an anonymous token: %s", resp.Status)
	}
	// A read-only API token gets pull only.
	ro, err := reg.CreateToken(t.Context(), alice, registry.TokenSpec{Name: "ro", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	roTok, _ := ociToken(t, in, "alice", ro.Secret, "repository:alice/a/x:pull,push")
	if resp := startWith(t, in, "alice/a/x", roTok); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("push with a token from a read-only API token: %s", resp.Status)
	}
	// Revoking the API token ends the OCI tokens issued for it.
	rw, err := reg.CreateToken(t.Context(), alice, registry.TokenSpec{Name: "rw"})
	if err != nil {
		t.Fatal(err)
	}
	rwTok, _ := ociToken(t, in, "alice", rw.Secret, "repository:alice/a/x:pull,push")
	if resp := startWith(t, in, "alice/a/x", rwTok); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("push before revoking: %s", resp.Status)
	}
	if err := reg.RevokeToken(t.Context(), alice, rw.ID); err != nil {
		t.Fatal(err)
	}
	if resp := startWith(t, in, "alice/a/x", rwTok); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("push after revoking the API token: %s", resp.Status)
	}
	// Wrong secrets and forged tokens are refused.
	if _, st := ociToken(t, in, "alice", "wrong", "repository:alice/a/x:pull"); st != http.StatusUnauthorized {
		t.Errorf("token for a wrong password: %d", st)
	}
	forged := full[:len(full)-2] + "AA"
	if resp := startWith(t, in, "alice/a/x", forged); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("push with a forged token: %s", resp.Status)
	}
	// A password works as well as an API token.
	if err := reg.SetPassword(t.Context(), adminActor(t, in), "alice", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	pw, st := ociToken(t, in, "alice", "correct horse battery staple", "repository:alice/a/x:push")
	if st != http.StatusOK {
		t.Fatalf("token for a password: %d", st)
	}
	if resp := startWith(t, in, "alice/a/x", pw); resp.StatusCode != http.StatusAccepted {
		t.Errorf("push with a password's token: %s", resp.Status)
	}
	// Bob may not push into alice's namespace even with a push token.
	bobTok := in.User(t, "bob", false)
	bob, _ := ociToken(t, in, "bob", bobTok, "repository:alice/a/x:pull,push")
	resp = startWith(t, in, "alice/a/x", bob)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob pushing to alice's repository: %s", resp.Status)
	}
}

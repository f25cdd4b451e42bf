package silo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	aclient "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// acCall sends a request to the server (path is absolute, so the library
// API can be reached too), following redirects; see send.
func acCall(t *testing.T, in *servertest.Instance, method, path, token string, body any, edit ...func(*http.Request)) reply {
	t.Helper()
	return send(t, http.DefaultClient, in, method, path, token, body, edit...)
}

// acAPI is acCall under the silo API's prefix.
func acAPI(t *testing.T, in *servertest.Instance, method, path, token string, body any, edit ...func(*http.Request)) reply {
	t.Helper()
	return acCall(t, in, method, silo.Prefix+path, token, body, edit...)
}

// acAccount makes an account with a password through the API, as an
// admin would, and returns a token from logging in with it.
func acAccount(t *testing.T, in *servertest.Instance, name, role, password string) string {
	t.Helper()
	var u silo.User
	acAPI(t, in, "POST", "users", in.AdminToken, silo.NewUserRequest{Name: name, Email: name + "@example.org", Role: role, Password: password}).
		ok(t, "create "+name, http.StatusCreated, &u)
	if u.Name != name || u.Role != role || !u.HasPassword {
		t.Fatalf("created %+v", u)
	}
	var lr silo.LoginResponse
	acAPI(t, in, "POST", "login", "", silo.LoginRequest{Username: name, Password: password}).ok(t, "login "+name, http.StatusOK, &lr)
	return lr.Token
}

// acTokenStatus asks the library API about a token, as `apptainer remote
// login` does, and returns the status.
func acTokenStatus(t *testing.T, in *servertest.Instance, token string) int {
	t.Helper()
	return acCall(t, in, "GET", "/v1/token-status", token, nil).status
}

func acLib(t *testing.T, in *servertest.Instance, token string) *aclient.Client {
	t.Helper()
	c, err := aclient.NewClient(&aclient.Config{BaseURL: in.URL, AuthToken: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// acPush pushes a SIF with the library client and returns its error.
func acPush(t *testing.T, in *servertest.Instance, token, file, name string) error {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = acLib(t, in, token).UploadImage(context.Background(), f, name, "amd64", []string{"latest"}, "", nil)
	return err
}

func TestLoginAndMe(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	var u silo.User
	r := acAPI(t, in, "POST", "users", in.AdminToken, silo.NewUserRequest{Name: "alice", Email: "alice@example.org", Password: "alice-password"})
	r.ok(t, "create alice", http.StatusCreated, &u)
	if u.Role != meta.RoleUser || u.Source != "local" || !u.HasPassword || bytes.Contains(r.body, []byte("alice-password")) {
		t.Errorf("created %s", r.body)
	}

	// JSON and Basic auth both log in; the answer may not be cached.
	start := time.Now()
	var lr silo.LoginResponse
	r = acAPI(t, in, "POST", "login", "", silo.LoginRequest{Username: "alice", Password: "alice-password"})
	r.ok(t, "login", http.StatusOK, &lr)
	if !strings.HasPrefix(lr.Token, "silo_") || lr.User.Name != "alice" ||
		lr.Expires.Before(start.Add(30*24*time.Hour-time.Minute)) || lr.Expires.After(time.Now().Add(30*24*time.Hour)) {
		t.Errorf("login answer %s", r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login: Cache-Control %q", cc)
	}
	basic := func(user, pass string) func(*http.Request) {
		return func(req *http.Request) { req.SetBasicAuth(user, pass) }
	}
	var lr2 silo.LoginResponse
	acAPI(t, in, "POST", "login", "", nil, basic("alice", "alice-password")).ok(t, "basic login", http.StatusOK, &lr2)
	if lr2.Token == lr.Token {
		t.Error("two logins got the same token")
	}

	// The token is alice's everywhere: this API and the library API.
	var me silo.User
	r = acAPI(t, in, "GET", "me", lr.Token, nil)
	r.ok(t, "me", http.StatusOK, &me)
	if me.Name != "alice" || me.Email != "alice@example.org" || me.Role != meta.RoleUser || me.Teams == nil {
		t.Errorf("me: %s", r.body)
	}
	if st := acTokenStatus(t, in, lr2.Token); st != http.StatusOK {
		t.Errorf("token-status with a login token: %d", st)
	}

	for _, tc := range []struct {
		what   string
		body   any
		edit   []func(*http.Request)
		status int
		words  []string
	}{
		{"wrong password", silo.LoginRequest{Username: "alice", Password: "alice-passwore"}, nil, 401, []string{"invalid user name or password"}},
		{"unknown user", silo.LoginRequest{Username: "nobody", Password: "alice-password"}, nil, 401, []string{"invalid user name or password"}},
		{"basic, wrong", nil, []func(*http.Request){basic("alice", "nope-nope")}, 401, nil},
		{"no password", silo.LoginRequest{Username: "alice"}, nil, 400, []string{"password"}},
		{"no body", nil, nil, 400, nil},
		{"not JSON", "{", nil, 400, []string{"invalid JSON"}},
		{"unknown field", `{"user":"alice","password":"alice-password"}`, nil, 400, []string{"unknown field"}},
	} {
		acAPI(t, in, "POST", "login", "", tc.body, tc.edit...).wantErr(t, tc.what, tc.status, tc.words...)
	}
	acAPI(t, in, "GET", "me", "", nil).wantErr(t, "anonymous me", 401)
	acAPI(t, in, "GET", "me", "silo_not-a-token", nil).wantErr(t, "me with a bad token", 401, "invalid or expired token")
	acAPI(t, in, "GET", "login", "", nil).wantErr(t, "GET login", 405)
}

// TestTokens: create (shown once), list (never shown), scopes, revoke;
// a revoked token is refused by both APIs at once.
func TestTokens(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)

	for _, tc := range []struct {
		body   any
		status int
		words  string
	}{
		{silo.TokenRequest{Name: "x", Scopes: []string{"admin"}}, 403, "admin scope"},
		{silo.TokenRequest{Name: "x", Scopes: []string{"write"}}, 400, "unknown scope"},
		{silo.TokenRequest{Name: "x", Expires: "soon"}, 400, "expires"},
		{silo.TokenRequest{Name: "x", Expires: "-1h"}, 400, "expires"},
		{`{"name":"x","ttl":"1h"}`, 400, "unknown field"},
	} {
		acAPI(t, in, "POST", "tokens", alice, tc.body).wantErr(t, "create token "+string(acMust(json.Marshal(tc.body))), tc.status, tc.words)
	}
	acAPI(t, in, "POST", "tokens", "", silo.TokenRequest{Name: "x"}).wantErr(t, "anonymous creates a token", 401)

	var nt silo.NewToken
	r := acAPI(t, in, "POST", "tokens", alice, silo.TokenRequest{Name: "cluster", Scopes: []string{"read"}, Expires: "30d"})
	r.ok(t, "create token", http.StatusCreated, &nt)
	if !strings.HasPrefix(nt.Secret, "silo_") || nt.Name != "cluster" || nt.User != "alice" || !slices.Equal(nt.Scopes, []string{"read"}) ||
		time.Until(nt.Expires) < 30*24*time.Hour-time.Minute || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("new token %s", r.body)
	}

	var l silo.TokenList
	r = acAPI(t, in, "GET", "tokens", alice, nil)
	r.ok(t, "list tokens", http.StatusOK, &l)
	if bytes.Contains(r.body, []byte(nt.Secret)) || bytes.Contains(r.body, []byte(`"hash"`)) {
		t.Errorf("the listing shows a secret: %s", r.body)
	}
	if len(l.Tokens) != 2 || l.Tokens[0].ID != nt.ID || l.Tokens[0].Current || !l.Tokens[1].Current || len(l.Tokens[1].Scopes) != 0 {
		t.Errorf("tokens %s", r.body)
	}
	acAPI(t, in, "GET", "tokens?user=alice", bob, nil).wantErr(t, "bob lists alice's tokens", 403)
	acAPI(t, in, "GET", "tokens?user=alice", in.AdminToken, nil).ok(t, "admin lists alice's tokens", http.StatusOK, &l)

	// The read token pulls but cannot push, through the real library client.
	file, _ := writeSIF(t, 7)
	push(t, in, alice, file, "alice/tools/app", "latest")
	if err := acLib(t, in, nt.Secret).DownloadImage(context.Background(), io.Discard, "amd64", "alice/tools/app", "latest", nil); err != nil {
		t.Errorf("pull with a read token: %v", err)
	}
	other, _ := writeSIF(t, 8)
	for _, name := range []string{"alice/tools/app", "alice/tools/new", "alice/other/app"} {
		if err := acPush(t, in, nt.Secret, other, name); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("push to %s with a read token: %v, want 403", name, err)
		}
	}

	// Revoked: refused at once by both APIs; the id is others' "not found".
	acAPI(t, in, "DELETE", "tokens/"+strconv.FormatInt(nt.ID, 10), bob, nil).wantErr(t, "bob revokes alice's token", 404)
	acAPI(t, in, "DELETE", "tokens/abc", alice, nil).wantErr(t, "revoke a non-id", 400)
	if r := acAPI(t, in, "DELETE", "tokens/"+strconv.FormatInt(nt.ID, 10), alice, nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if st := acTokenStatus(t, in, nt.Secret); st != http.StatusUnauthorized {
		t.Errorf("token-status with a revoked token: %d", st)
	}
	if _, err := acLib(t, in, nt.Secret).GetImage(context.Background(), "amd64", "alice/tools/app:latest"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("library GetImage with a revoked token: %v, want 401", err)
	}
	acAPI(t, in, "GET", "me", nt.Secret, nil).wantErr(t, "me with a revoked token", 401)
	acAPI(t, in, "GET", "images", nt.Secret, nil).wantErr(t, "images with a revoked token", 401)
	acAPI(t, in, "GET", "tokens", alice, nil).ok(t, "list again", http.StatusOK, &l)
	if !l.Tokens[0].Revoked {
		t.Errorf("revoked token listed as %+v", l.Tokens[0])
	}
}

func TestExpiredToken(t *testing.T) {
	clk := &clock{t: time.Now()}
	in := servertest.Start(t, server.Config{Now: clk.Now})
	alice := in.User(t, "alice", false)
	var nt silo.NewToken
	acAPI(t, in, "POST", "tokens", alice, silo.TokenRequest{Name: "short", Expires: "1h"}).ok(t, "create", http.StatusCreated, &nt)
	if st := acTokenStatus(t, in, nt.Secret); st != http.StatusOK {
		t.Fatalf("fresh token: %d", st)
	}
	clk.Add(59 * time.Minute)
	if st := acTokenStatus(t, in, nt.Secret); st != http.StatusOK {
		t.Fatalf("token a minute before expiry: %d", st)
	}
	clk.Add(time.Minute)
	if st := acTokenStatus(t, in, nt.Secret); st != http.StatusUnauthorized {
		t.Errorf("expired token on the library API: %d", st)
	}
	acAPI(t, in, "GET", "me", nt.Secret, nil).wantErr(t, "expired token on the silo API", 401)
	var l silo.TokenList
	acAPI(t, in, "GET", "tokens", alice, nil).ok(t, "list", http.StatusOK, &l)
	if !l.Tokens[0].Expired || l.Tokens[0].LastUsed.IsZero() {
		t.Errorf("expired token listed as %+v", l.Tokens[0])
	}
}

// TestDisabledUser: disabling stops existing tokens and logins at once;
// enabling brings them back.
func TestDisabledUser(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	bob := acAccount(t, in, "bob", meta.RoleUser, "bob-password")
	file, _ := writeSIF(t, 3)
	if err := acPush(t, in, bob, file, "bob/tools/a"); err != nil {
		t.Fatal(err)
	}
	var u silo.User
	acAPI(t, in, "PATCH", "users/bob", in.AdminToken, silo.UserPatch{Disabled: acPtr(true)}).ok(t, "disable", http.StatusOK, &u)
	if !u.Disabled {
		t.Errorf("disabled: %+v", u)
	}
	if st := acTokenStatus(t, in, bob); st != http.StatusUnauthorized {
		t.Errorf("token-status of a disabled user: %d", st)
	}
	if err := acPush(t, in, bob, file, "bob/tools/b"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("push by a disabled user: %v, want 401", err)
	}
	acAPI(t, in, "GET", "me", bob, nil).wantErr(t, "me of a disabled user", 401)
	acAPI(t, in, "POST", "login", "", silo.LoginRequest{Username: "bob", Password: "bob-password"}).wantErr(t, "disabled login", 403, "disabled")

	acAPI(t, in, "PATCH", "users/bob", in.AdminToken, silo.UserPatch{Disabled: acPtr(false)}).ok(t, "enable", http.StatusOK, &u)
	if st := acTokenStatus(t, in, bob); st != http.StatusOK {
		t.Errorf("token-status after enabling: %d", st)
	}
	newAccountLogin := acAPI(t, in, "POST", "login", "", silo.LoginRequest{Username: "bob", Password: "bob-password"})
	newAccountLogin.ok(t, "login after enabling", http.StatusOK, nil)
}

func TestUserAdminAPI(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	alice := acAccount(t, in, "alice", meta.RoleUser, "alice-password")

	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "users", nil},
		{"POST", "users", silo.NewUserRequest{Name: "eve"}},
		{"PATCH", "users/alice", silo.UserPatch{Role: acPtr("admin")}},
		{"PATCH", "users/alice", silo.UserPatch{QuotaBytes: acPtr(int64(1 << 40))}},
		{"PATCH", "users/admin", silo.UserPatch{Disabled: acPtr(true)}},
		{"GET", "audit", nil},
	} {
		acAPI(t, in, tc.method, tc.path, alice, tc.body).wantErr(t, "alice: "+tc.method+" "+tc.path, 403)
		acAPI(t, in, tc.method, tc.path, "", tc.body).wantErr(t, "anonymous: "+tc.method+" "+tc.path, 401)
	}

	// Alice's own e-mail and password.
	var u silo.User
	acAPI(t, in, "PATCH", "users/alice", alice, silo.UserPatch{Email: acPtr("a@lab.example.org")}).ok(t, "own email", 200, &u)
	if u.Email != "a@lab.example.org" {
		t.Errorf("email: %+v", u)
	}
	acAPI(t, in, "PATCH", "users/alice", alice, silo.UserPatch{Password: acPtr("alice-second")}).wantErr(t, "password without the old", 400, "current password")
	acAPI(t, in, "PATCH", "users/alice", alice, silo.UserPatch{Password: acPtr("alice-second"), OldPassword: acPtr("wrong-one")}).wantErr(t, "wrong old", 403)
	acAPI(t, in, "PATCH", "users/alice", alice, silo.UserPatch{Password: acPtr("alice-second"), OldPassword: acPtr("alice-password")}).ok(t, "own password", 200, nil)
	acAPI(t, in, "POST", "login", "", silo.LoginRequest{Username: "alice", Password: "alice-second"}).ok(t, "new password", 200, nil)

	// Admins: list (no hashes), change, refuse nonsense.
	var l silo.UserList
	r := acAPI(t, in, "GET", "users", in.AdminToken, nil)
	r.ok(t, "list", 200, &l)
	if len(l.Users) != 2 || l.Users[0].Name != "admin" || l.Users[1].Name != "alice" || bytes.Contains(r.body, []byte("argon2")) {
		t.Errorf("users: %s", r.body)
	}
	acAPI(t, in, "PATCH", "users/alice", in.AdminToken, silo.UserPatch{Role: acPtr("manager"), QuotaBytes: acPtr(int64(5 << 30))}).ok(t, "admin patch", 200, &u)
	if u.Role != meta.RoleManager || u.QuotaBytes != 5<<30 {
		t.Errorf("patched: %+v", u)
	}
	acAPI(t, in, "PATCH", "users/alice", in.AdminToken, silo.UserPatch{Password: acPtr("set-by-admin")}).ok(t, "admin sets a password", 200, nil)
	acAPI(t, in, "POST", "login", "", silo.LoginRequest{Username: "alice", Password: "set-by-admin"}).ok(t, "admin's password", 200, nil)
	acAPI(t, in, "PATCH", "users/alice", in.AdminToken, silo.UserPatch{QuotaBytes: acPtr(int64(-1))}).wantErr(t, "negative quota", 400)
	acAPI(t, in, "PATCH", "users/alice", in.AdminToken, silo.UserPatch{Role: acPtr("root")}).wantErr(t, "bad role", 400, "unknown role")
	acAPI(t, in, "PATCH", "users/alice", in.AdminToken, `{"quota":5}`).wantErr(t, "misspelt field", 400, "unknown field")
	acAPI(t, in, "PATCH", "users/nobody", in.AdminToken, silo.UserPatch{Email: acPtr("x@y.z")}).wantErr(t, "missing user", 404)
	acAPI(t, in, "PATCH", "users/admin", in.AdminToken, silo.UserPatch{Role: acPtr("user")}).wantErr(t, "last admin", 409, "last enabled admin")
	acAPI(t, in, "POST", "users", in.AdminToken, silo.NewUserRequest{Name: "alice"}).wantErr(t, "duplicate", 409, "already exists")
	acAPI(t, in, "POST", "users", in.AdminToken, silo.NewUserRequest{Name: "Alice!"}).wantErr(t, "bad name", 400)
	acAPI(t, in, "POST", "users", in.AdminToken, silo.NewUserRequest{Name: "carol", Password: "short"}).wantErr(t, "short password", 400, "too short")
}

// TestAuditLog drives each audited kind of event through the real
// interfaces, reads them back through the API, and scans the stored
// audit table, and the database files themselves, for the secrets used.
func TestAuditLog(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	const alicePW, wrongPW = "alice-secret-password", "alice-wrong-password-guess"
	alice := acAccount(t, in, "alice", meta.RoleUser, alicePW)
	acAPI(t, in, "POST", "login", "", silo.LoginRequest{Username: "alice", Password: wrongPW}).wantErr(t, "wrong password", 401)
	var nt silo.NewToken
	acAPI(t, in, "POST", "tokens", alice, silo.TokenRequest{Name: "ci", Scopes: []string{"push"}}).ok(t, "token", 201, &nt)
	acAPI(t, in, "DELETE", "tokens/"+strconv.FormatInt(nt.ID, 10), alice, nil).ok(t, "revoke", 204, nil)
	file, _ := writeSIF(t, 11)
	push(t, in, alice, file, "alice/tools/app", "v1")
	if err := acLib(t, in, alice).DeleteImage(context.Background(), "alice/tools/app:v1", "amd64"); err != nil {
		t.Fatal(err)
	}
	if st := acTokenStatus(t, in, alice); st != 200 {
		t.Fatalf("token-status: %d", st)
	}
	const badToken = "silo_stolen-or-made-up-token-value"
	if st := acTokenStatus(t, in, badToken); st != 401 {
		t.Fatalf("token-status with a bad token: %d", st)
	}
	acAPI(t, in, "GET", "me", nt.Secret, nil).wantErr(t, "revoked token", 401)

	var l silo.AuditList
	acAPI(t, in, "GET", "audit", in.AdminToken, nil).ok(t, "audit", 200, &l)
	seen := map[string]int{}
	for _, e := range l.Events {
		seen[e.Action+" by "+e.Actor]++
		if e.At.IsZero() || (e.Actor != "anonymous" && e.Remote != "127.0.0.1") {
			t.Errorf("event without a time or an address: %+v", e)
		}
	}
	for _, want := range []string{"user-create by admin", "login by alice", "login-failed by alice", "token-create by alice",
		"token-revoke by alice", "push by alice", "delete by alice", "login-failed by anonymous"} {
		if seen[want] == 0 {
			t.Errorf("no %q event; got %v", want, seen)
		}
	}
	if seen["login by alice"] != 2 || seen["login-failed by anonymous"] != 2 {
		t.Errorf("want 2 logins (password, token-status) and 2 refused tokens: %v", seen)
	}

	// Filters.
	for q, want := range map[string]func(silo.AuditEvent) bool{
		"?action=login-failed":        func(e silo.AuditEvent) bool { return e.Action == "login-failed" },
		"?actor=alice&action=push":    func(e silo.AuditEvent) bool { return e.Actor == "alice" && e.Action == "push" },
		"?since=1h&actor=admin":       func(e silo.AuditEvent) bool { return e.Actor == "admin" },
		"?since=2099-01-01T00:00:00Z": func(silo.AuditEvent) bool { return false },
	} {
		var fl silo.AuditList
		acAPI(t, in, "GET", "audit"+q, in.AdminToken, nil).ok(t, "audit"+q, 200, &fl)
		n := 0
		for _, e := range l.Events {
			if want(e) {
				n++
			}
		}
		if len(fl.Events) != n {
			t.Errorf("audit%s: %d events, want %d", q, len(fl.Events), n)
		}
		for _, e := range fl.Events {
			if !want(e) {
				t.Errorf("audit%s returned %+v", q, e)
			}
		}
	}
	var one silo.AuditList
	acAPI(t, in, "GET", "audit?limit=1", in.AdminToken, nil).ok(t, "limit", 200, &one)
	if len(one.Events) != 1 || one.Events[0].ID != l.Events[0].ID {
		t.Errorf("limit=1: %+v, want the newest", one.Events)
	}
	acAPI(t, in, "GET", "audit?since=yesterday", in.AdminToken, nil).wantErr(t, "bad since", 400)
	acAPI(t, in, "GET", "audit?limit=0", in.AdminToken, nil).wantErr(t, "limit 0", 400)

	// No secret anywhere in the audit table...
	secrets := []string{alicePW, wrongPW, alice, nt.Secret, badToken, in.AdminToken}
	evs, err := in.Server.Meta.Audit(context.Background(), meta.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		row := strings.Join([]string{e.Actor, e.Action, e.Target, e.Remote, e.Detail}, "\x00")
		for _, s := range secrets {
			if strings.Contains(row, s) {
				t.Errorf("audit row %+v holds a secret", e)
			}
		}
	}
	// ...nor anywhere in the database files (tokens are stored hashed,
	// passwords as argon2id).
	db := backendtest.DatabaseText(t, in.Backend())
	if len(db) == 0 {
		t.Fatal("no database contents found")
	}
	for name, b := range db {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret in clear", name)
			}
		}
	}
}

func acMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func acPtr[T any](v T) *T { return &v }

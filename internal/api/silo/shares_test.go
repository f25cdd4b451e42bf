package silo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// shDo sends a request with a raw body (none when empty) and returns the
// status and the raw answer, which must be JSON.
func shDo(t *testing.T, in *servertest.Instance, method, path, token, body string) (int, []byte) {
	t.Helper()
	var b any
	if body != "" {
		b = body
	}
	res := send(t, http.DefaultClient, in, method, silo.Prefix+path, token, b)
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return res.status, res.body
}

// shWant decodes a JSON answer into v after checking its status.
func shWant(t *testing.T, what string, status int, body []byte, want int, v any) {
	t.Helper()
	if status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, status, want, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: decoding %s: %v", what, body, err)
	}
}

// TestSharesAPI creates, lists and revokes links through the JSON API,
// and checks its errors.
func TestSharesAPI(t *testing.T) {
	clk := &clock{t: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
	in := servertest.Start(t, server.Config{Now: clk.Now})
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)

	// alice/lab is private; alice/pub and bob's tools are public.
	ctx := context.Background()
	u, err := in.Server.Meta.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	e, err := in.Server.Registry.CreateEntity(ctx, access.Actor{User: u}, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Server.Registry.CreateCollection(ctx, access.Actor{User: u}, e.ID, "lab", "", true); err != nil {
		t.Fatal(err)
	}
	img, size := writeSIF(t, 1)
	push(t, in, alice, img, "alice/lab/tool", "v1")
	push(t, in, alice, img, "alice/pub/tool", "v1")
	other, _ := writeSIF(t, 2)
	push(t, in, bob, other, "default/tools/bwa", "0.7.17")

	var made silo.ShareCreated
	st, body := shDo(t, in, "POST", "shares", alice, `{"name": "alice/lab/tool:v1", "expires": "7d"}`)
	shWant(t, "create", st, body, http.StatusCreated, &made)
	if made.ID == 0 || made.Image != "alice/lab/tool" || made.Tag != "v1" || made.Arch != "amd64" || made.Size != size ||
		!strings.HasPrefix(made.Version, "sha256.") || made.CreatedBy != "alice" || !made.Active || made.Downloads != 0 || made.LastUsed != "" {
		t.Errorf("created %+v", made)
	}
	if want := clk.Now().Add(7 * 24 * time.Hour).Format(time.RFC3339); made.Expires != want {
		t.Errorf("7d expires %s, want %s", made.Expires, want)
	}
	if !strings.HasPrefix(made.URL, in.URL+"/s/") || !strings.HasSuffix(made.URL, "/tool_v1.sif") {
		t.Errorf("url %q", made.URL)
	}
	secret, _, _ := strings.Cut(strings.TrimPrefix(made.URL, in.URL+"/s/"), "/")
	// A version link, with a short name in OCI's spelling: the server's
	// defaults fill it in, and the file is named after the version.
	var bwa silo.ImageList
	get(t, in, "", silo.Prefix+"images?container=bwa", &bwa)
	var byVersion silo.ShareCreated
	oci := strings.Replace(bwa.Images[0].Version, "sha256.", "sha256:", 1)
	st, body = shDo(t, in, "POST", "shares", bob, `{"name": "tools/bwa@`+oci+`", "expires": "90m"}`)
	shWant(t, "create by version", st, body, http.StatusCreated, &byVersion)
	if byVersion.Image != "default/tools/bwa" || byVersion.Tag != "" ||
		!strings.HasSuffix(byVersion.URL, "/bwa_"+bwa.Images[0].Version[:len("sha256.")+12]+".sif") {
		t.Errorf("by version: %+v", byVersion)
	}

	// Listing: one's own links, never a secret or its hash; admins all.
	var l silo.ShareList
	st, body = shDo(t, in, "GET", "shares", alice, "")
	shWant(t, "list", st, body, http.StatusOK, &l)
	if len(l.Shares) != 1 || l.Shares[0] != made.Share {
		t.Errorf("alice lists %+v, want %+v", l.Shares, made.Share)
	}
	if bytes.Contains(body, []byte(secret)) || bytes.Contains(body, []byte("hash")) {
		t.Errorf("the listing shows the secret or its hash: %s", body)
	}
	st, body = shDo(t, in, "GET", "shares?all=true", in.AdminToken, "")
	shWant(t, "admin lists all", st, body, http.StatusOK, &l)
	if len(l.Shares) != 2 || l.Shares[0].ID != byVersion.ID || l.Shares[0].CreatedBy != "bob" {
		t.Errorf("admin lists %+v", l.Shares)
	}
	st, body = shDo(t, in, "GET", "shares", in.AdminToken, "")
	shWant(t, "admin's own", st, body, http.StatusOK, &l)
	if l.Shares == nil || len(l.Shares) != 0 {
		t.Errorf("admin's own links: %s, want an empty list", body)
	}

	// Revoking: the creator may, twice over; the row says so.
	var row silo.Share
	path := "shares/" + strconv.FormatInt(made.ID, 10)
	st, body = shDo(t, in, "DELETE", path, alice, "")
	shWant(t, "revoke", st, body, http.StatusOK, &row)
	if !row.Revoked || row.Active || row.ID != made.ID {
		t.Errorf("revoked row %+v", row)
	}
	st, body = shDo(t, in, "DELETE", path, alice, "")
	shWant(t, "revoke again", st, body, http.StatusOK, &row)

	// Expiry shows in the listing by the server's clock.
	clk.Add(90 * time.Minute)
	st, body = shDo(t, in, "GET", "shares", bob, "")
	shWant(t, "list after expiry", st, body, http.StatusOK, &l)
	if len(l.Shares) != 1 || l.Shares[0].Active || l.Shares[0].Revoked {
		t.Errorf("expired link listed as %+v", l.Shares)
	}

	for _, tc := range []struct {
		method, path, token, body string
		status                    int
		words                     []string
	}{
		{"POST", "shares", "", `{"name": "alice/pub/tool:v1"}`, http.StatusUnauthorized, []string{"log in"}},
		{"POST", "shares", "silo_not-a-real-token", `{"name": "alice/pub/tool:v1"}`, http.StatusUnauthorized, []string{"invalid or expired token"}},
		{"POST", "shares", bob, `{"name": "alice/pub/tool:v1"}`, http.StatusForbidden, []string{"bob may not share"}},
		{"POST", "shares", bob, `{"name": "alice/lab/tool:v1"}`, http.StatusNotFound, []string{"not found"}},
		{"POST", "shares", alice, `{"name": "alice/pub/tool:v2"}`, http.StatusNotFound, []string{"alice/pub/tool:v2"}},
		{"POST", "shares", alice, `{"name": "Alice/pub/tool"}`, http.StatusBadRequest, []string{"invalid name"}},
		{"POST", "shares", alice, `{"name": ""}`, http.StatusBadRequest, []string{"name is missing"}},
		{"POST", "shares", alice, ``, http.StatusBadRequest, []string{"name is missing"}},
		{"POST", "shares", alice, `{"name": "alice/pub/tool:v1", "expiry": "1h"}`, http.StatusBadRequest, []string{"unknown field", "expiry"}},
		{"POST", "shares", alice, `not json`, http.StatusBadRequest, []string{"invalid JSON"}},
		{"POST", "shares", alice, `{"name": "alice/pub/tool:v1", "expires": "3 days"}`, http.StatusBadRequest, []string{"72h, 90m or 7d"}},
		{"POST", "shares", alice, `{"name": "alice/pub/tool:v1", "expires": "31d"}`, http.StatusBadRequest, []string{"at most 720h (30 days)", "744h"}},
		{"POST", "shares", alice, `{"name": "alice/pub/tool:v1", "expires": "0s"}`, http.StatusBadRequest, []string{"positive"}},
		{"POST", "shares", alice, `{"name": "alice/pub/tool:v1", "expires": "99999999999d"}`, http.StatusBadRequest, []string{"not a duration"}},
		{"GET", "shares", "", ``, http.StatusUnauthorized, []string{"log in"}},
		{"GET", "shares?all=true", bob, ``, http.StatusForbidden, []string{"only admins"}},
		{"GET", "shares?all=maybe", bob, ``, http.StatusBadRequest, []string{"true or false"}},
		{"DELETE", "shares/" + strconv.FormatInt(byVersion.ID, 10), alice, ``, http.StatusNotFound, []string{"not found"}},
		{"DELETE", "shares/999", alice, ``, http.StatusNotFound, []string{"share link 999 not found"}},
		{"DELETE", "shares/abc", alice, ``, http.StatusNotFound, []string{"silo share list"}},
		{"DELETE", "shares/1", "", ``, http.StatusUnauthorized, []string{"log in"}},
		{"PUT", "shares", alice, `{}`, http.StatusMethodNotAllowed, []string{"use POST, GET"}},
	} {
		var eb silo.ErrorBody
		st, body := shDo(t, in, tc.method, tc.path, tc.token, tc.body)
		shWant(t, tc.method+" "+tc.path+" "+tc.body, st, body, tc.status, &eb)
		for _, w := range tc.words {
			if !strings.Contains(eb.Error.Message, w) {
				t.Errorf("%s %s %s: message %q does not say %q", tc.method, tc.path, tc.body, eb.Error.Message, w)
			}
		}
	}
}

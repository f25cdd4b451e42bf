package library_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// TestPushPermissions: anonymous pushes get 401, pushes into another
// user's entity 403, at every step the push can reach, and leave nothing;
// what does not exist is a 404.
func TestPushPermissions(t *testing.T) {
	f := writeSIF(t, t.TempDir(), "app.sif", siftest.Options{Seed: 90})
	eachClient(t, func(t *testing.T, kind string) {
		s := startSilo(t, server.Config{})
		aliceTok, bobTok := s.User(t, "alice", false), s.User(t, "bob", false)
		alice := newClient(t, kind, s.URL, aliceTok, nil)
		bob := newClient(t, kind, s.URL, bobTok, nil)
		anon := newClient(t, kind, s.URL, "", nil)
		ctx := context.Background()

		// refused pushes f to path as tok, and checks the push fails on an
		// error answer with status and a message containing msg (which the
		// client passes on), leaving the stores as they were.
		refused := func(t *testing.T, tok, path string, status int, msg string) {
			t.Helper()
			rec := newRecorder(t)
			before := s.state(t)
			_, err := newClient(t, kind, s.URL, tok, rec).Push(ctx, f.open(t), path, "amd64", []string{"latest"}, "")
			if err == nil || !strings.Contains(err.Error(), msg) {
				t.Errorf("push to %s: err = %v, want one saying %q", path, err, msg)
			}
			var last *seenRequest
			for _, q := range rec.matching(".") {
				if q.Status >= 400 && q.Line != "GET /v1/oci-redirect" && q.Status != http.StatusNotFound {
					last = &q
				}
			}
			if last == nil {
				t.Fatalf("push to %s: no request was refused", path)
			}
			wantError(t, last.Line, last.response(), status, msg)
			s.assertState(t, before)
		}
		const anonMsg, bobMsg = "log in", "bob may not"
		// The entity does not exist yet, then only it does, then the
		// collection, then the container and image too.
		refused(t, "", "alice/tools/app", 401, anonMsg)
		refused(t, bobTok, "alice/tools/app", 403, bobMsg)
		push(t, alice, f, "alice/other/app", "amd64", "v1")
		refused(t, "", "alice/tools/app", 401, anonMsg)
		refused(t, bobTok, "alice/tools/app", 403, bobMsg)
		push(t, alice, f, "alice/tools/lib", "amd64", "v1")
		refused(t, "", "alice/tools/app", 401, anonMsg)
		refused(t, bobTok, "alice/tools/app", 403, bobMsg)
		refused(t, "", "alice/tools/lib", 401, anonMsg)
		refused(t, bobTok, "alice/tools/lib", 403, bobMsg)
		// A bad token is a 401 even where anonymous reads are fine.
		badTok := strings.Repeat("x", 200)
		refused(t, badTok, "alice/tools/lib", 401, "invalid or expired token")
		if _, err := newClient(t, kind, s.URL, badTok, nil).GetImage(ctx, "amd64", "alice/tools/lib:v1"); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("GetImage with a bad token: err = %v, want 401", err)
		}

		// Bob may push to his own entity; the shared bytes are stored once.
		push(t, bob, f, "bob/tools/app", "amd64", "v1")
		if st := s.state(t); len(st.Blobs) != 1 {
			t.Errorf("blobs %v, want 1", st.Blobs)
		}

		// Missing things are 404s, through the clients and raw.
		wantNotFound(t, anon, "amd64", "alice/tools/nope", "v1")
		wantNotFound(t, anon, "amd64", "alice/tools/lib", "v2")
		wantNotFound(t, anon, "amd64", "nobody/tools/lib", "v1")
		wantNotFound(t, anon, "amd64", "alice/tools/lib", "sha256."+strings.Repeat("0", 64))
		for _, p := range []string{"/v1/images/alice/tools/nope:v1", "/v1/imagefile/alice/tools/nope:v1", "/v1/images/alice/tools/lib:v2?arch=amd64",
			"/v1/entities/nobody", "/v1/collections/alice/nope", "/v1/containers/alice/tools/nope", "/v2/tags/999999", "/v1/tags/0"} {
			wantError(t, p, call(t, "GET", s.URL+p, "", nil), http.StatusNotFound, "not found")
		}
	})
}

// TestPrivateCollections: a private collection is invisible to anonymous
// callers and to other users (the same 404, word for word, as for a name
// that does not exist) in lookups, pulls and search; its owner and the
// admin see it.
func TestPrivateCollections(t *testing.T) {
	f := writeSIF(t, t.TempDir(), "app.sif", siftest.Options{Seed: 91, Labels: map[string]string{"purpose": "secret-sauce"}})
	eachClient(t, func(t *testing.T, kind string) {
		s := startSilo(t, server.Config{})
		aliceTok := s.User(t, "alice", false)
		bobTok := s.User(t, "bob", false)
		ctx := context.Background()
		// The clients create public collections; make this one private first.
		alice := s.actor(t, "alice")
		e, err := s.Server.Registry.CreateEntity(ctx, alice, "alice", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Server.Registry.CreateCollection(ctx, alice, e.ID, "secret", "", true); err != nil {
			t.Fatal(err)
		}
		owner := newClient(t, kind, s.URL, aliceTok, nil)
		push(t, owner, f, "alice/secret/app", "amd64", "v1")
		var cont struct {
			ID string `json:"id"`
		}
		data(t, "owner's container", call(t, "GET", s.URL+"/v1/containers/alice/secret/app", aliceTok, nil), &cont)

		for _, who := range []struct{ name, tok string }{{"anonymous", ""}, {"bob", bobTok}} {
			t.Run(who.name, func(t *testing.T) {
				c := newClient(t, kind, s.URL, who.tok, nil)
				wantNotFound(t, c, "amd64", "alice/secret/app", "v1")
				wantNotFound(t, c, "amd64", "alice/secret/app", f.Hash())
				for _, v := range []string{"secret", "alice", "app", "secret-sauce"} {
					if res, err := c.Search(ctx, map[string]string{"value": v}); err != nil || len(res.Images) != 0 {
						t.Errorf("search %q = %+v, %v; want nothing", v, res, err)
					}
				}
				// Word for word the answer for something that does not exist.
				for _, tc := range []struct{ hidden, missing, hiddenName, missingName string }{
					{"/v1/images/alice/secret/app:v1?arch=amd64", "/v1/images/alice/secret/nope:v1?arch=amd64", "secret/app", "secret/nope"},
					{"/v1/images/alice/secret/app:" + f.Hash() + "?arch=amd64", "/v1/images/alice/secret/nope:" + f.Hash() + "?arch=amd64", "secret/app", "secret/nope"},
					{"/v1/imagefile/alice/secret/app:v1?arch=amd64", "/v1/imagefile/alice/secret/nope:v1?arch=amd64", "secret/app", "secret/nope"},
					{"/v1/containers/alice/secret/app", "/v1/containers/alice/secret/nope", "secret/app", "secret/nope"},
					{"/v1/collections/alice/secret", "/v1/collections/alice/nope", "alice/secret", "alice/nope"},
					{"/v2/tags/" + cont.ID, "/v2/tags/999999", "container " + cont.ID, "container 999999"},
					{"/v1/tags/" + cont.ID, "/v1/tags/999999", "container " + cont.ID, "container 999999"},
				} {
					hidden := call(t, "GET", s.URL+tc.hidden, who.tok, nil)
					missing := call(t, "GET", s.URL+tc.missing, who.tok, nil)
					wantError(t, tc.hidden, hidden, http.StatusNotFound)
					if h, m := strings.ReplaceAll(string(hidden.Body), tc.hiddenName, "NAME"), strings.ReplaceAll(string(missing.Body), tc.missingName, "NAME"); h != m {
						t.Errorf("GET %s answers\n  %s\nbut a missing name answers\n  %s", tc.hidden, hidden.Body, missing.Body)
					}
				}
				// Nor can they push into it.
				before := s.state(t)
				if _, err := c.Push(ctx, f.open(t), "alice/secret/app", "amd64", []string{"mine"}, ""); err == nil {
					t.Error("push into another's private collection succeeded")
				}
				s.assertState(t, before)
			})
		}

		for _, who := range []struct{ name, tok string }{{"owner", aliceTok}, {"admin", s.AdminToken}} {
			t.Run(who.name, func(t *testing.T) {
				c := newClient(t, kind, s.URL, who.tok, nil)
				pullParts(t, c, "amd64", "alice/secret/app", "v1", f)
				res, err := c.Search(ctx, map[string]string{"value": "secret-sauce"})
				if err != nil || len(res.Images) != 1 || res.Images[0].Hash != f.Hash() {
					t.Errorf("search = %+v, %v; want the private image", res, err)
				}
			})
		}
	})
}

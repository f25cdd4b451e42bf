package sregistry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// serverNow is the server's clock: two minutes past an hour, so a
// signature dated the previous hour is inside the tolerated skew.
var serverNow = time.Date(2026, 5, 6, 10, 2, 0, 0, time.UTC)

type site struct {
	*servertest.Instance
	t       *testing.T
	secrets map[string]string
}

func startSite(t *testing.T) *site {
	t.Helper()
	in := servertest.Start(t, server.Config{Now: func() time.Time { return serverNow }})
	s := &site{Instance: in, t: t, secrets: map[string]string{}}
	s.user("alice", false)
	s.user("bob", false)
	s.user("root", true)
	t.Cleanup(s.checkNoLeftovers)
	return s
}

// user makes an account with an sregistry secret, as `silo sregistry-secret` does.
func (s *site) user(name string, admin bool) {
	s.t.Helper()
	s.Instance.User(s.t, name, admin)
	secret, err := registry.NewSregistrySecret()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.Server.Registry.SetSregistrySecret(context.Background(), registry.Operator("test"), name, secret); err != nil {
		s.t.Fatal(err)
	}
	s.secrets[name] = secret
}

func (s *site) cli(name string) *cli {
	c := newCLI(s.t, s.URL, name, s.secrets[name])
	c.now = func() time.Time { return serverNow }
	return c
}

// checkNoLeftovers: whatever was refused, no upload bytes stay behind.
func (s *site) checkNoLeftovers() {
	n := 0
	_ = s.Server.Blobs.Uploads(context.Background(), func(blob.UploadInfo) error { n++; return nil })
	if n != 0 {
		s.t.Errorf("%d unfinished uploads left in the blob store", n)
	}
}

func sifFile(t *testing.T, seed int64, labels map[string]string) (path, digest string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), fmt.Sprintf("img%d.sif", seed))
	d, _, err := siftest.Write(path, siftest.Options{Seed: seed, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	return path, d
}

func wantStatus(t *testing.T, what string, r response, code int) {
	t.Helper()
	if r.status != code {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, code, r.body)
	}
}

func TestPushPullByTheCLI(t *testing.T) {
	s := startSite(t)
	alice := s.cli("alice")
	path, digest := sifFile(t, 1, map[string]string{"maintainer": "alice"})

	check, up := alice.push(path, "Tools/bwa:0.7.17")
	wantStatus(t, "push check", check, 200)
	wantStatus(t, "upload", up, 200)
	if !strings.Contains(string(up.body), `"message":"Upload Complete"`) {
		t.Errorf("upload answer %s, want message Upload Complete", up.body)
	}

	// Anyone pulls a public image; the version is the file's sha256.
	anon := newCLI(t, s.URL, "", "")
	m, data, r := anon.pull("tools/bwa:0.7.17")
	wantStatus(t, "pull", r, 200)
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != digest {
		t.Errorf("pulled bytes hash to %x, want %s", sum, digest)
	}
	if m["version"] != "sha256."+digest || m["collection"] != "tools" || m["name"] != "bwa" || m["tag"] != "0.7.17" || m["frozen"] != false {
		t.Errorf("manifest %v", m)
	}

	// The same image is tools/bwa in the library API (default entity).
	resp, err := http.Get(s.URL + "/v1/images/default/tools/bwa:0.7.17?arch=amd64")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), digest) {
		t.Errorf("library API: %d %s", resp.StatusCode, b)
	}

	// Search, as query.py asks.
	var cols struct {
		Count   int `json:"count"`
		Results []struct {
			Name       string `json:"name"`
			Containers []struct{ URI, Detail string }
		} `json:"results"`
	}
	alice.get(alice.base+"/collections/").json(t, &cols)
	if cols.Count != 1 || cols.Results[0].Name != "tools" || cols.Results[0].Containers[0].URI != "tools/bwa:0.7.17" {
		t.Errorf("collections: %+v", cols)
	}
	var col struct {
		Containers []struct{ Name, Tag, URI string }
	}
	alice.get(alice.base+"/collection/tools").json(t, &col)
	if len(col.Containers) != 1 || col.Containers[0].Tag != "0.7.17" {
		t.Errorf("collection/tools: %+v", col)
	}
	for _, u := range []string{"/container/search/name/bwa", "/container/search/name/bw/tag/0.7.17",
		"/container/search/collection/tools/name/bwa", "/container/search/collection/tools/name/bwa/tag/0.7.17"} {
		var found []struct{ Collection, Name, Tag string }
		alice.get(alice.base+u).json(t, &found)
		if len(found) != 1 || found[0].Collection != "tools" || found[0].Name != "bwa" {
			t.Errorf("%s: %+v", u, found)
		}
	}
	var none []any
	alice.get(alice.base+"/container/search/name/bwa/tag/nope").json(t, &none)
	if len(none) != 0 {
		t.Errorf("search for a missing tag found %v", none)
	}
	var labels []struct {
		Key, Value string
		Containers []string
	}
	alice.get(alice.base+"/labels/search/maintainer/key/alice/value").json(t, &labels)
	if len(labels) != 1 || labels[0].Containers[0] != "tools/bwa:0.7.17" {
		t.Errorf("labels: %+v", labels)
	}
	var id map[string]string
	alice.get(alice.base+"/registry/identity").json(t, &id)
	if id["url"] != s.URL {
		t.Errorf("identity %v", id)
	}
	// The detail link of a collection entry serves the container.
	var byID map[string]any
	alice.get(cols.Results[0].Containers[0].Detail).json(t, &byID)
	if byID["version"] != "sha256."+digest || byID["image"] == "" {
		t.Errorf("container by id: %v", byID)
	}
}

func TestPushPermissions(t *testing.T) {
	s := startSite(t)
	path, _ := sifFile(t, 2, nil)
	_, up := s.cli("alice").push(path, "tools/bwa:1")
	wantStatus(t, "alice's push", up, 200)

	// Not an owner, not an admin: refused before any byte is sent.
	check, _ := s.cli("bob").push(path, "tools/bwa:2")
	wantStatus(t, "bob pushing to alice's collection", check, 403)
	// An admin may push anywhere (sregistry's staff/superuser).
	_, up = s.cli("root").push(path, "tools/bwa:2")
	wantStatus(t, "root's push", up, 200)

	// With collections for managers only (sregistry's USER_COLLECTIONS off),
	// a plain user cannot make a new one.
	if _, err := s.Server.Registry.ChangeSettings(context.Background(), registry.Operator("test"), registry.SettingsChange{ManagersOnly: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	check, _ = s.cli("bob").push(path, "bobs/thing:1")
	wantStatus(t, "bob creating a collection", check, 403)
	_, up = s.cli("alice").push(path, "tools/bwa:3") // her own still works
	wantStatus(t, "alice pushing to her collection", up, 200)

	// The upload step checks the signature and permission again: bob
	// cannot upload to alice's collection with the id he was never given.
	bob := s.cli("bob")
	n := parseImageName("tools/evil:1")
	var cid struct{ CID int64 }
	s.cli("alice").pushCheck(n, s.cli("alice").authorize("push", n.collection, n.image, n.tag)).json(t, &cid)
	r := bob.upload(n, cid.CID, bob.authorize("upload", n.collection, n.image, n.tag), path)
	wantStatus(t, "bob uploading to alice's collection", r, 403)
	// An id that does not exist reads like a bad signature.
	r = bob.upload(n, 99999, bob.authorize("upload", n.collection, n.image, n.tag), path)
	wantStatus(t, "upload to a missing collection", r, 403)
}

func ptr[T any](v T) *T { return &v }

func TestSignatures(t *testing.T) {
	s := startSite(t)
	path, _ := sifFile(t, 3, nil)
	n := parseImageName("tools/bwa:1")
	alice := s.cli("alice")

	cases := []struct {
		name string
		auth func() string
		want string
	}{
		{"wrong token", func() string {
			c := s.cli("alice")
			c.token = s.secrets["bob"]
			return c.authorize("push", n.collection, n.image, n.tag)
		}, "invalid credentials"},
		{"unknown user", func() string {
			c := s.cli("alice")
			c.username = "mallory"
			return c.authorize("push", n.collection, n.image, n.tag)
		}, "invalid credentials"},
		{"stale timestamp", func() string {
			c := s.cli("alice")
			c.now = func() time.Time { return serverNow.Add(-2 * time.Hour) }
			return c.authorize("push", n.collection, n.image, n.tag)
		}, "not the current hour"},
		{"future timestamp", func() string {
			c := s.cli("alice")
			c.now = func() time.Time { return serverNow.Add(time.Hour) }
			return c.authorize("push", n.collection, n.image, n.tag)
		}, "not the current hour"},
		{"wrong kind", func() string { return alice.authorize("upload", n.collection, n.image, n.tag) }, `needs "push"`},
		{"other payload", func() string { return alice.authorize("push", n.collection, "other", n.tag) }, "invalid credentials"},
		{"not signed", func() string { return "Bearer " + s.secrets["alice"] }, "Authorization must be"},
		{"garbage", func() string { return "SREGISTRY-HMAC-SHA256 Credential=push/%%%/x,Signature=1" }, "Authorization must be"},
		{"no credential", func() string { return "SREGISTRY-HMAC-SHA256 Signature=ab" }, "Authorization must be"},
		{"missing", func() string { return "" }, "Authentication Required"},
	}
	for _, tc := range cases {
		r := alice.pushCheck(n, tc.auth())
		if r.status != 403 || !strings.Contains(r.detail(), tc.want) {
			t.Errorf("%s: %d %q, want 403 with %q", tc.name, r.status, r.detail(), tc.want)
		}
	}
	// The previous hour is taken within five minutes of the boundary.
	prev := s.cli("alice")
	prev.now = func() time.Time { return serverNow.Add(-time.Hour) }
	wantStatus(t, "previous hour near the boundary", prev.pushCheck(n, prev.authorize("push", n.collection, n.image, n.tag)), 200)

	// A bad signature on the upload step stores nothing.
	var cid struct{ CID int64 }
	alice.pushCheck(n, alice.authorize("push", n.collection, n.image, n.tag)).json(t, &cid)
	wrong := s.cli("alice")
	wrong.token = "0000000000000000000000000000000000000000"
	r := alice.upload(n, cid.CID, wrong.authorize("upload", n.collection, n.image, n.tag), path)
	wantStatus(t, "upload with a wrong signature", r, 403)
	_, _, r = alice.pull("tools/bwa:1")
	if r.status == 200 {
		t.Error("a refused upload became an image")
	}
}

func TestBadUploads(t *testing.T) {
	s := startSite(t)
	alice := s.cli("alice")
	notSIF := filepath.Join(t.TempDir(), "x.sif")
	os.WriteFile(notSIF, bytes.Repeat([]byte("not a sif "), 1000), 0o644)
	_, up := alice.push(notSIF, "tools/junk:1")
	wantStatus(t, "not a SIF", up, 400)
	empty := filepath.Join(t.TempDir(), "e.sif")
	os.WriteFile(empty, nil, 0o644)
	_, up = alice.push(empty, "tools/junk:1")
	wantStatus(t, "empty", up, 400)
	if _, _, r := alice.pull("tools/junk:1"); r.status != 404 {
		t.Errorf("pull after refused uploads: %d %s", r.status, r.body)
	}

	// A body that is cut off in the middle of the image stores nothing.
	path, _ := sifFile(t, 4, nil)
	n := parseImageName("tools/cut:1")
	var cid struct{ CID int64 }
	alice.pushCheck(n, alice.authorize("push", n.collection, n.image, n.tag)).json(t, &cid)
	data, _ := os.ReadFile(path)
	body, ctype := uploadBody([][2]string{{"name", n.image}, {"collection", fmt.Sprint(cid.CID)}, {"tag", n.tag}},
		"file1", "cut.sif", io.MultiReader(bytes.NewReader(data[:len(data)/2]), errReader{}))
	req, _ := http.NewRequest("POST", s.URL+"/upload", body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", alice.authorize("upload", n.collection, n.image, n.tag))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("a cut upload succeeded")
		}
	}
	// Not multipart, no file part.
	req, _ = http.NewRequest("POST", s.URL+"/upload", strings.NewReader("x"))
	req.Header.Set("Authorization", alice.authorize("upload", n.collection, n.image, n.tag))
	wantStatus(t, "not multipart", alice.do(req), 400)
	body, ctype = uploadBody([][2]string{{"name", n.image}}, "other", "x", strings.NewReader("x"))
	req, _ = http.NewRequest("POST", s.URL+"/upload", body)
	req.Header.Set("Content-Type", ctype)
	wantStatus(t, "no file part", alice.do(req), 400)
	// The server notices the cut connection asynchronously; wait for its
	// cleanup before checkNoLeftovers looks.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		k := 0
		_ = s.Server.Blobs.Uploads(context.Background(), func(blob.UploadInfo) error { k++; return nil })
		if k == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestPrivatePull(t *testing.T) {
	s := startSite(t)
	path, digest := sifFile(t, 5, nil)
	_, up := s.cli("alice").push(path, "secret/tool:1")
	wantStatus(t, "push", up, 200)
	if _, _, err := s.Server.Registry.SetCollectionPrivate(context.Background(), registry.Operator("test"), "default", "secret", true); err != nil {
		t.Fatal(err)
	}

	// Anonymous: 403, which makes sregistry-cli retry signed; a missing
	// container answers the same, so nothing leaks.
	anon := newCLI(t, s.URL, "", "")
	r := anon.get(anon.base + "/container/secret/tool:1")
	wantStatus(t, "anonymous, private", r, 403)
	r2 := anon.get(anon.base + "/container/nothere/tool:1")
	if r2.status != r.status || r2.detail() != r.detail() {
		t.Errorf("missing answers %d %q, private %d %q", r2.status, r2.detail(), r.status, r.detail())
	}
	// Bob signs, but may not see it: not found.
	_, _, r = s.cli("bob").pull("secret/tool:1")
	wantStatus(t, "bob", r, 404)
	// Alice's signed pull works, and so does root's.
	for _, who := range []string{"alice", "root"} {
		_, data, r := s.cli(who).pull("secret/tool:1")
		wantStatus(t, who, r, 200)
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != digest {
			t.Errorf("%s pulled other bytes", who)
		}
	}
	// Plain token authentication with the same secret.
	for _, scheme := range []string{"Bearer", "Token"} {
		c := newCLI(t, s.URL, "", "")
		c.headers.Set("Authorization", scheme+" "+s.secrets["alice"])
		wantStatus(t, scheme, c.get(c.base+"/container/secret/tool:1"), 200)
		c.headers.Set("Authorization", scheme+" "+s.secrets["bob"])
		wantStatus(t, scheme+" bob", c.get(c.base+"/container/secret/tool:1"), 404)
	}
	// Listings hide it from those who may not see it.
	for who, want := range map[string]bool{"": false, "bob": false, "alice": true} {
		c := newCLI(t, s.URL, "", "")
		if who != "" {
			c.headers.Set("Authorization", "Bearer "+s.secrets[who])
		}
		for _, u := range []string{"/collections/", "/containers/", "/collection/secret", "/container/search/name/tool", "/collection/search/secret"} {
			got := strings.Contains(string(c.get(c.base+u).body), "secret")
			if got != want {
				t.Errorf("%q %s: shows the private collection %v, want %v", who, u, got, want)
			}
		}
	}
	// A stale pull signature is refused, not answered.
	stale := s.cli("alice")
	stale.now = func() time.Time { return serverNow.Add(-3 * time.Hour) }
	stale.headers.Set("Authorization", stale.authorize("pull", "secret", "tool", "1"))
	wantStatus(t, "stale pull", stale.get(stale.base+"/container/secret/tool:1"), 403)
}

func TestDelete(t *testing.T) {
	s := startSite(t)
	p1, _ := sifFile(t, 6, nil)
	p2, d2 := sifFile(t, 7, nil)
	alice := s.cli("alice")
	for _, push := range []struct{ path, name string }{{p1, "tools/bwa:1"}, {p1, "tools/bwa:stable"}, {p2, "tools/bwa:2"}} {
		_, up := alice.push(push.path, push.name)
		wantStatus(t, "push "+push.name, up, 200)
	}
	wantStatus(t, "bob deletes", s.cli("bob").remove("tools/bwa:1"), 403)
	bad := s.cli("alice")
	bad.now = func() time.Time { return serverNow.Add(-2 * time.Hour) }
	wantStatus(t, "stale delete", bad.remove("tools/bwa:1"), 403)

	// Deleting one tag of an image with two keeps the other.
	wantStatus(t, "delete tools/bwa:1", alice.remove("tools/bwa:1"), 204)
	if _, _, r := alice.pull("tools/bwa:1"); r.status != 404 {
		t.Errorf("deleted tag still answers %d", r.status)
	}
	wantStatus(t, "other tag of the same image", func() response { _, _, r := alice.pull("tools/bwa:stable"); return r }(), 200)
	wantStatus(t, "delete missing", alice.remove("tools/nothing:1"), 404)

	// Frozen: no delete, no push.
	if err := s.Server.Registry.SetFrozen(context.Background(), registry.Operator("test"), refOf("tools/bwa"), true); err != nil {
		t.Fatal(err)
	}
	if r := alice.remove("tools/bwa:2"); r.status != 409 || !strings.Contains(r.detail(), "frozen") {
		t.Errorf("delete in a frozen container: %d %s", r.status, r.body)
	}
	if _, up := alice.push(p2, "tools/bwa:3"); up.status != 409 {
		t.Errorf("push to a frozen container: %d %s", up.status, up.body)
	}
	m, _, r := alice.pull("tools/bwa:2")
	wantStatus(t, "frozen pull", r, 200)
	if m["frozen"] != true {
		t.Errorf("frozen container says %v", m["frozen"])
	}
	var col struct{ Containers []struct{ URI string } }
	alice.get(alice.base+"/collection/tools").json(t, &col)
	if !strings.Contains(fmt.Sprint(col.Containers), "tools/bwa:2@sha256."+d2) {
		t.Errorf("a frozen container's uri carries its version: %+v", col)
	}
}

func TestLegacyPush(t *testing.T) {
	s := startSite(t)
	path, digest := sifFile(t, 8, nil)
	alice := s.cli("alice")
	n := parseImageName("old/client:1")
	f, _ := os.Open(path)
	defer f.Close()
	body, ctype := uploadBody([][2]string{{"collection", n.collection}, {"name", n.image}, {"metadata", `{"data":{}}`}, {"tag", n.tag}},
		"datafile", "client:1.sif", f)
	req, _ := http.NewRequest("POST", alice.base+"/push/", body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", alice.authorize("push", n.collection, n.image, n.tag))
	wantStatus(t, "legacy push", alice.do(req), 200)
	m, _, r := alice.pull("old/client:1")
	wantStatus(t, "pull", r, 200)
	if m["version"] != "sha256."+digest {
		t.Errorf("version %v", m["version"])
	}
}

func refOf(s string) ref.Ref {
	r, err := ref.Parse(s, ref.Defaults{Entity: "default", Collection: "default"})
	if err != nil {
		panic(err)
	}
	return r
}

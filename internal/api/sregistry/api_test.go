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

	"github.com/siloreg/silo/internal/api/sregistry/sregistrytest"
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
	t       testing.TB
	secrets map[string]string
}

func startSite(t testing.TB) *site {
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

func (s *site) cli(name string) *sregistrytest.CLI {
	c := sregistrytest.New(s.t, s.URL, name, s.secrets[name])
	c.Now = func() time.Time { return serverNow }
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

func wantStatus(t *testing.T, what string, r sregistrytest.Response, code int) {
	t.Helper()
	if r.Status != code {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, code, r.Body)
	}
}

func TestPushPullByTheCLI(t *testing.T) {
	s := startSite(t)
	alice := s.cli("alice")
	path, digest := sifFile(t, 1, map[string]string{"maintainer": "alice"})

	check, up := alice.Push(path, "Tools/bwa:0.7.17")
	wantStatus(t, "push check", check, 200)
	wantStatus(t, "upload", up, 200)
	if !strings.Contains(string(up.Body), `"message":"Upload Complete"`) {
		t.Errorf("upload answer %s, want message Upload Complete", up.Body)
	}

	// Anyone pulls a public image; the version is the file's sha256.
	anon := sregistrytest.New(t, s.URL, "", "")
	m, data, r := anon.Pull("tools/bwa:0.7.17")
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
	alice.Get(alice.Base+"/collections/").JSON(t, &cols)
	if cols.Count != 1 || cols.Results[0].Name != "tools" || cols.Results[0].Containers[0].URI != "tools/bwa:0.7.17" {
		t.Errorf("collections: %+v", cols)
	}
	var col struct {
		Containers []struct{ Name, Tag, URI string }
	}
	alice.Get(alice.Base+"/collection/tools").JSON(t, &col)
	if len(col.Containers) != 1 || col.Containers[0].Tag != "0.7.17" {
		t.Errorf("collection/tools: %+v", col)
	}
	for _, u := range []string{"/container/search/name/bwa", "/container/search/name/bw/tag/0.7.17",
		"/container/search/collection/tools/name/bwa", "/container/search/collection/tools/name/bwa/tag/0.7.17"} {
		var found []struct{ Collection, Name, Tag string }
		alice.Get(alice.Base+u).JSON(t, &found)
		if len(found) != 1 || found[0].Collection != "tools" || found[0].Name != "bwa" {
			t.Errorf("%s: %+v", u, found)
		}
	}
	var none []any
	alice.Get(alice.Base+"/container/search/name/bwa/tag/nope").JSON(t, &none)
	if len(none) != 0 {
		t.Errorf("search for a missing tag found %v", none)
	}
	var labels []struct {
		Key, Value string
		Containers []string
	}
	alice.Get(alice.Base+"/labels/search/maintainer/key/alice/value").JSON(t, &labels)
	if len(labels) != 1 || labels[0].Containers[0] != "tools/bwa:0.7.17" {
		t.Errorf("labels: %+v", labels)
	}
	var id map[string]string
	alice.Get(alice.Base+"/registry/identity").JSON(t, &id)
	if id["url"] != s.URL {
		t.Errorf("identity %v", id)
	}
	// The detail link of a collection entry serves the container.
	var byID map[string]any
	alice.Get(cols.Results[0].Containers[0].Detail).JSON(t, &byID)
	if byID["version"] != "sha256."+digest || byID["image"] == "" {
		t.Errorf("container by id: %v", byID)
	}
}

func TestPushPermissions(t *testing.T) {
	s := startSite(t)
	path, _ := sifFile(t, 2, nil)
	_, up := s.cli("alice").Push(path, "tools/bwa:1")
	wantStatus(t, "alice's push", up, 200)

	// Not an owner, not an admin: refused before any byte is sent.
	check, _ := s.cli("bob").Push(path, "tools/bwa:2")
	wantStatus(t, "bob pushing to alice's collection", check, 403)
	// An admin may push anywhere (sregistry's staff/superuser).
	_, up = s.cli("root").Push(path, "tools/bwa:2")
	wantStatus(t, "root's push", up, 200)

	// With collections for managers only (sregistry's USER_COLLECTIONS off),
	// a plain user cannot make a new one.
	if _, err := s.Server.Registry.ChangeSettings(context.Background(), registry.Operator("test"), registry.SettingsChange{ManagersOnly: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	check, _ = s.cli("bob").Push(path, "bobs/thing:1")
	wantStatus(t, "bob creating a collection", check, 403)
	_, up = s.cli("alice").Push(path, "tools/bwa:3") // her own still works
	wantStatus(t, "alice pushing to her collection", up, 200)

	// The upload step checks the signature and permission again: bob
	// cannot upload to alice's collection with the id he was never given.
	bob := s.cli("bob")
	n := sregistrytest.ParseImageName("tools/evil:1")
	var cid struct{ CID int64 }
	s.cli("alice").PushCheck(n, s.cli("alice").Authorize("push", n.Collection, n.Image, n.Tag)).JSON(t, &cid)
	r := bob.Upload(n, cid.CID, bob.Authorize("upload", n.Collection, n.Image, n.Tag), path)
	wantStatus(t, "bob uploading to alice's collection", r, 403)
	// An id that does not exist reads like a bad signature.
	r = bob.Upload(n, 99999, bob.Authorize("upload", n.Collection, n.Image, n.Tag), path)
	wantStatus(t, "upload to a missing collection", r, 403)
}

func ptr[T any](v T) *T { return &v }

func TestSignatures(t *testing.T) {
	s := startSite(t)
	path, _ := sifFile(t, 3, nil)
	n := sregistrytest.ParseImageName("tools/bwa:1")
	alice := s.cli("alice")

	s.Instance.User(t, "nosecret", false) // a Silo account that never got an sregistry secret
	s.user("dora", false)
	if err := s.Server.Registry.Disable(context.Background(), registry.Operator("test"), "dora"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		auth func() string
		want string
	}{
		{"wrong token", func() string {
			c := s.cli("alice")
			c.Token = s.secrets["bob"]
			return c.Authorize("push", n.Collection, n.Image, n.Tag)
		}, "invalid credentials"},
		{"unknown user", func() string {
			c := s.cli("alice")
			c.Username = "mallory"
			return c.Authorize("push", n.Collection, n.Image, n.Tag)
		}, "invalid credentials"},
		{"stale timestamp", func() string {
			c := s.cli("alice")
			c.Now = func() time.Time { return serverNow.Add(-2 * time.Hour) }
			return c.Authorize("push", n.Collection, n.Image, n.Tag)
		}, "not the current hour"},
		{"future timestamp", func() string {
			c := s.cli("alice")
			c.Now = func() time.Time { return serverNow.Add(time.Hour) }
			return c.Authorize("push", n.Collection, n.Image, n.Tag)
		}, "not the current hour"},
		{"wrong kind", func() string { return alice.Authorize("upload", n.Collection, n.Image, n.Tag) }, `needs "push"`},
		{"other payload", func() string { return alice.Authorize("push", n.Collection, "other", n.Tag) }, "invalid credentials"},
		{"not signed", func() string { return "Bearer " + s.secrets["alice"] }, "Authorization must be"},
		{"garbage", func() string { return "SREGISTRY-HMAC-SHA256 Credential=push/%%%/x,Signature=1" }, "Authorization must be"},
		{"no credential", func() string { return "SREGISTRY-HMAC-SHA256 Signature=ab" }, "Authorization must be"},
		{"missing", func() string { return "" }, "Authentication Required"},
		{"user without a secret", func() string {
			c := s.cli("alice")
			c.Username = "nosecret"
			return c.Authorize("push", n.Collection, n.Image, n.Tag)
		}, "invalid credentials"},
		{"disabled user", func() string { return s.cli("dora").Authorize("push", n.Collection, n.Image, n.Tag) }, "disabled"},
	}
	for _, tc := range cases {
		r := alice.PushCheck(n, tc.auth())
		if r.Status != 403 || !strings.Contains(r.Detail(), tc.want) {
			t.Errorf("%s: %d %q, want 403 with %q", tc.name, r.Status, r.Detail(), tc.want)
		}
	}
	// The previous hour is taken within five minutes of the boundary.
	prev := s.cli("alice")
	prev.Now = func() time.Time { return serverNow.Add(-time.Hour) }
	wantStatus(t, "previous hour near the boundary", prev.PushCheck(n, prev.Authorize("push", n.Collection, n.Image, n.Tag)), 200)

	// A bad signature on the upload step stores nothing.
	var cid struct{ CID int64 }
	alice.PushCheck(n, alice.Authorize("push", n.Collection, n.Image, n.Tag)).JSON(t, &cid)
	wrong := s.cli("alice")
	wrong.Token = "0000000000000000000000000000000000000000"
	r := alice.Upload(n, cid.CID, wrong.Authorize("upload", n.Collection, n.Image, n.Tag), path)
	wantStatus(t, "upload with a wrong signature", r, 403)
	_, _, r = alice.Pull("tools/bwa:1")
	if r.Status == 200 {
		t.Error("a refused upload became an image")
	}
}

func TestBadUploads(t *testing.T) {
	s := startSite(t)
	alice := s.cli("alice")
	notSIF := filepath.Join(t.TempDir(), "x.sif")
	os.WriteFile(notSIF, bytes.Repeat([]byte("not a sif "), 1000), 0o644)
	_, up := alice.Push(notSIF, "tools/junk:1")
	wantStatus(t, "not a SIF", up, 400)
	empty := filepath.Join(t.TempDir(), "e.sif")
	os.WriteFile(empty, nil, 0o644)
	_, up = alice.Push(empty, "tools/junk:1")
	wantStatus(t, "empty", up, 400)
	if _, _, r := alice.Pull("tools/junk:1"); r.Status != 404 {
		t.Errorf("pull after refused uploads: %d %s", r.Status, r.Body)
	}

	// A body that is cut off in the middle of the image stores nothing.
	path, _ := sifFile(t, 4, nil)
	n := sregistrytest.ParseImageName("tools/cut:1")
	var cid struct{ CID int64 }
	alice.PushCheck(n, alice.Authorize("push", n.Collection, n.Image, n.Tag)).JSON(t, &cid)
	data, _ := os.ReadFile(path)
	body, ctype := sregistrytest.UploadBody([][2]string{{"name", n.Image}, {"collection", fmt.Sprint(cid.CID)}, {"tag", n.Tag}},
		"file1", "cut.sif", io.MultiReader(bytes.NewReader(data[:len(data)/2]), errReader{}))
	req, _ := http.NewRequest("POST", s.URL+"/upload", body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", alice.Authorize("upload", n.Collection, n.Image, n.Tag))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("a cut upload succeeded")
		}
	}
	// Not multipart, no file part.
	req, _ = http.NewRequest("POST", s.URL+"/upload", strings.NewReader("x"))
	req.Header.Set("Authorization", alice.Authorize("upload", n.Collection, n.Image, n.Tag))
	wantStatus(t, "not multipart", alice.Do(req), 400)
	body, ctype = sregistrytest.UploadBody([][2]string{{"name", n.Image}}, "other", "x", strings.NewReader("x"))
	req, _ = http.NewRequest("POST", s.URL+"/upload", body)
	req.Header.Set("Content-Type", ctype)
	wantStatus(t, "no file part", alice.Do(req), 400)
	// The server handles the cut request asynchronously: the client may
	// see the cut before the server has even begun its upload. Wait until
	// no upload has been seen for half a second before checkNoLeftovers looks.
	deadline := time.Now().Add(10 * time.Second)
	for quiet := 0; quiet < 10 && time.Now().Before(deadline); {
		k := 0
		_ = s.Server.Blobs.Uploads(context.Background(), func(blob.UploadInfo) error { k++; return nil })
		if k == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestPrivatePull(t *testing.T) {
	s := startSite(t)
	path, digest := sifFile(t, 5, nil)
	_, up := s.cli("alice").Push(path, "secret/tool:1")
	wantStatus(t, "push", up, 200)
	if _, _, err := s.Server.Registry.SetCollectionPrivate(context.Background(), registry.Operator("test"), "default", "secret", true); err != nil {
		t.Fatal(err)
	}

	// Anonymous: 403, which makes sregistry-cli retry signed; a missing
	// container answers the same, so nothing leaks.
	anon := sregistrytest.New(t, s.URL, "", "")
	r := anon.Get(anon.Base + "/container/secret/tool:1")
	wantStatus(t, "anonymous, private", r, 403)
	r2 := anon.Get(anon.Base + "/container/nothere/tool:1")
	if r2.Status != r.Status || r2.Detail() != r.Detail() {
		t.Errorf("missing answers %d %q, private %d %q", r2.Status, r2.Detail(), r.Status, r.Detail())
	}
	// Bob signs, but may not see it: not found.
	_, _, r = s.cli("bob").Pull("secret/tool:1")
	wantStatus(t, "bob", r, 404)
	// Alice's signed pull works, and so does root's.
	for _, who := range []string{"alice", "root"} {
		_, data, r := s.cli(who).Pull("secret/tool:1")
		wantStatus(t, who, r, 200)
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != digest {
			t.Errorf("%s pulled other bytes", who)
		}
	}
	// Plain token authentication with the same secret.
	for _, scheme := range []string{"Bearer", "Token"} {
		c := sregistrytest.New(t, s.URL, "", "")
		c.Headers.Set("Authorization", scheme+" "+s.secrets["alice"])
		wantStatus(t, scheme, c.Get(c.Base+"/container/secret/tool:1"), 200)
		c.Headers.Set("Authorization", scheme+" "+s.secrets["bob"])
		wantStatus(t, scheme+" bob", c.Get(c.Base+"/container/secret/tool:1"), 404)
	}
	// Refused plain credentials are refused (403, sregistry's answer to
	// every refusal), never a server error, and never anonymous.
	for _, scheme := range []string{"Bearer", "Token"} {
		c := sregistrytest.New(t, s.URL, "", "")
		c.Headers.Set("Authorization", scheme+" 0123456789abcdef0123456789abcdef01234567")
		for _, u := range []string{"/container/secret/tool:1", "/container/nothere/tool:1", "/collections/", "/container/search/name/tool"} {
			if r := c.Get(c.Base + u); r.Status != 403 || !strings.Contains(r.Detail(), "invalid or expired credentials") {
				t.Errorf("%s with an unknown token: %d %s", u, r.Status, r.Body)
			}
		}
	}
	// Listings hide it from those who may not see it.
	for who, want := range map[string]bool{"": false, "bob": false, "alice": true} {
		c := sregistrytest.New(t, s.URL, "", "")
		if who != "" {
			c.Headers.Set("Authorization", "Bearer "+s.secrets[who])
		}
		for _, u := range []string{"/collections/", "/containers/", "/collection/secret", "/container/search/name/tool", "/collection/search/secret"} {
			got := strings.Contains(string(c.Get(c.Base+u).Body), "secret")
			if got != want {
				t.Errorf("%q %s: shows the private collection %v, want %v", who, u, got, want)
			}
		}
	}
	// A stale pull signature is refused, not answered.
	stale := s.cli("alice")
	stale.Now = func() time.Time { return serverNow.Add(-3 * time.Hour) }
	stale.Headers.Set("Authorization", stale.Authorize("pull", "secret", "tool", "1"))
	wantStatus(t, "stale pull", stale.Get(stale.Base+"/container/secret/tool:1"), 403)
}

func TestDelete(t *testing.T) {
	s := startSite(t)
	p1, _ := sifFile(t, 6, nil)
	p2, d2 := sifFile(t, 7, nil)
	alice := s.cli("alice")
	for _, push := range []struct{ path, name string }{{p1, "tools/bwa:1"}, {p1, "tools/bwa:stable"}, {p2, "tools/bwa:2"}} {
		_, up := alice.Push(push.path, push.name)
		wantStatus(t, "push "+push.name, up, 200)
	}
	wantStatus(t, "bob deletes", s.cli("bob").Remove("tools/bwa:1"), 403)
	bad := s.cli("alice")
	bad.Now = func() time.Time { return serverNow.Add(-2 * time.Hour) }
	wantStatus(t, "stale delete", bad.Remove("tools/bwa:1"), 403)

	// Deleting one tag of an image with two keeps the other.
	wantStatus(t, "delete tools/bwa:1", alice.Remove("tools/bwa:1"), 204)
	if _, _, r := alice.Pull("tools/bwa:1"); r.Status != 404 {
		t.Errorf("deleted tag still answers %d", r.Status)
	}
	wantStatus(t, "other tag of the same image", func() sregistrytest.Response { _, _, r := alice.Pull("tools/bwa:stable"); return r }(), 200)
	wantStatus(t, "delete missing", alice.Remove("tools/nothing:1"), 404)

	// Frozen: no delete, no push.
	if err := s.Server.Registry.SetFrozen(context.Background(), registry.Operator("test"), refOf("tools/bwa"), true); err != nil {
		t.Fatal(err)
	}
	if r := alice.Remove("tools/bwa:2"); r.Status != 409 || !strings.Contains(r.Detail(), "frozen") {
		t.Errorf("delete in a frozen container: %d %s", r.Status, r.Body)
	}
	if _, up := alice.Push(p2, "tools/bwa:3"); up.Status != 409 {
		t.Errorf("push to a frozen container: %d %s", up.Status, up.Body)
	}
	m, _, r := alice.Pull("tools/bwa:2")
	wantStatus(t, "frozen pull", r, 200)
	if m["frozen"] != true {
		t.Errorf("frozen container says %v", m["frozen"])
	}
	var col struct{ Containers []struct{ URI string } }
	alice.Get(alice.Base+"/collection/tools").JSON(t, &col)
	if !strings.Contains(fmt.Sprint(col.Containers), "tools/bwa:2@sha256."+d2) {
		t.Errorf("a frozen container's uri carries its version: %+v", col)
	}
}

func TestLegacyPush(t *testing.T) {
	s := startSite(t)
	path, digest := sifFile(t, 8, nil)
	alice := s.cli("alice")
	n := sregistrytest.ParseImageName("old/client:1")
	f, _ := os.Open(path)
	defer f.Close()
	body, ctype := sregistrytest.UploadBody([][2]string{{"collection", n.Collection}, {"name", n.Image}, {"metadata", `{"data":{}}`}, {"tag", n.Tag}},
		"datafile", "client:1.sif", f)
	req, _ := http.NewRequest("POST", alice.Base+"/push/", body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", alice.Authorize("push", n.Collection, n.Image, n.Tag))
	wantStatus(t, "legacy push", alice.Do(req), 200)
	m, _, r := alice.Pull("old/client:1")
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

func TestNewSecret(t *testing.T) {
	s := startSite(t)
	tok := s.Instance.User(t, "erin", false)
	post := func(auth string) sregistrytest.Response {
		req, _ := http.NewRequest("POST", s.URL+"/api/sregistry/secret", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return newPlain(t).Do(req)
	}
	wantStatus(t, "anonymous", post(""), 403)
	wantStatus(t, "bad token", post("Bearer nope"), 403)
	r := post("Bearer " + tok)
	wantStatus(t, "erin", r, 200)
	var cfg struct {
		Registry struct{ Base, Username, Token string }
	}
	r.JSON(t, &cfg)
	if cfg.Registry.Base != s.URL || cfg.Registry.Username != "erin" || len(cfg.Registry.Token) != 40 {
		t.Fatalf("~/.sregistry: %+v", cfg)
	}
	// The file works as it is: erin pushes and pulls with sregistry-cli.
	c := sregistrytest.New(t, cfg.Registry.Base, cfg.Registry.Username, cfg.Registry.Token)
	c.Now = func() time.Time { return serverNow }
	path, _ := sifFile(t, 9, nil)
	_, up := c.Push(path, "erins/tool:1")
	wantStatus(t, "push with the new secret", up, 200)
	// A second secret replaces the first.
	post("Bearer " + tok)
	ck, _ := c.Push(path, "erins/tool:2")
	wantStatus(t, "push with the replaced secret", ck, 403)
}

func newPlain(t *testing.T) *sregistrytest.CLI { return sregistrytest.New(t, "http://unused", "", "") }

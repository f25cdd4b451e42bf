package silo_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	aclient "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// push uploads a test SIF with the library client, as apptainer would.
func push(t *testing.T, in *servertest.Instance, token, path, name, tag string) {
	t.Helper()
	c, err := aclient.NewClient(&aclient.Config{BaseURL: in.URL, AuthToken: token})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := c.UploadImage(context.Background(), f, name, "amd64", []string{tag}, "", nil); err != nil {
		t.Fatalf("pushing %s: %v", name, err)
	}
}

func writeSIF(t *testing.T, seed int64) (path string, size int64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "img.sif")
	_, size, err := siftest.Write(path, siftest.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return path, size
}

// get fetches an API path with token (none when empty) and decodes the
// answer into v, returning the status.
func get(t *testing.T, in *servertest.Instance, token, path string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, in.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q, want application/json", path, ct)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decoding: %v", path, err)
	}
	return res.StatusCode
}

func names(l silo.ImageList) []string {
	var out []string
	for _, im := range l.Images {
		out = append(out, im.Name)
	}
	return out
}

func TestInfo(t *testing.T) {
	in := servertest.Start(t, server.Config{DefaultEntity: "lab", DefaultCollection: "misc", Version: "1.2.3"})
	var info silo.Info
	if st := get(t, in, "", "/api/silo/v1/info", &info); st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	want := silo.Info{Version: "1.2.3", DefaultEntity: "lab", DefaultCollection: "misc"}
	if info != want {
		t.Errorf("info = %+v, want %+v", info, want)
	}
}

// TestImagesVisibility pushes into a private and a public collection and
// checks who sees what, and that the totals count only what is seen, with
// shared bytes counted once in storedBytes.
func TestImagesVisibility(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)

	// A private collection of alice's, made through the registry: the
	// library push always creates public ones.
	ctx := context.Background()
	u, err := in.Server.Meta.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	act := access.Actor{User: u}
	e, err := in.Server.Registry.CreateEntity(ctx, act, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Server.Registry.CreateCollection(ctx, act, e.ID, "secret", "", true); err != nil {
		t.Fatal(err)
	}

	shared, sharedSize := writeSIF(t, 1)
	other, otherSize := writeSIF(t, 2)
	push(t, in, alice, shared, "alice/secret/tool", "v1")
	push(t, in, alice, shared, "alice/public/tool", "v1") // same bytes, stored once
	push(t, in, bob, other, "default/tools/bwa", "0.7.17")

	all := []string{"alice/public/tool", "alice/secret/tool", "default/tools/bwa"}
	public := []string{"alice/public/tool", "default/tools/bwa"}
	for _, tc := range []struct {
		who, token  string
		want        []string
		bytes, disk int64
	}{
		{"anonymous", "", public, sharedSize + otherSize, sharedSize + otherSize},
		{"bob", bob, public, sharedSize + otherSize, sharedSize + otherSize},
		{"alice", alice, all, 2*sharedSize + otherSize, sharedSize + otherSize},
		{"admin", in.AdminToken, all, 2*sharedSize + otherSize, sharedSize + otherSize},
	} {
		var l silo.ImageList
		if st := get(t, in, tc.token, "/api/silo/v1/images", &l); st != http.StatusOK {
			t.Fatalf("%s: status %d", tc.who, st)
		}
		if got := names(l); !slices.Equal(got, tc.want) {
			t.Errorf("%s sees %v, want %v", tc.who, got, tc.want)
		}
		want := silo.Totals{Images: len(tc.want), Bytes: tc.bytes, StoredBytes: tc.disk}
		if l.Totals != want {
			t.Errorf("%s: totals %+v, want %+v", tc.who, l.Totals, want)
		}
	}

	// Filters, and a filter naming a private collection finds nothing for
	// others rather than an error that would confirm it exists.
	for _, tc := range []struct {
		token, query string
		want         []string
	}{
		{alice, "?entity=alice", []string{"alice/public/tool", "alice/secret/tool"}},
		{alice, "?collection=secret", []string{"alice/secret/tool"}},
		{bob, "?collection=secret", nil},
		{"", "?entity=default&collection=tools&container=bwa", []string{"default/tools/bwa"}},
		{"", "?q=BWA", []string{"default/tools/bwa"}},
		{"", "?q=0.7.17", []string{"default/tools/bwa"}},
		{bob, "?q=secret", nil},
	} {
		var l silo.ImageList
		if st := get(t, in, tc.token, "/api/silo/v1/images"+tc.query, &l); st != http.StatusOK {
			t.Fatalf("%s: status %d", tc.query, st)
		}
		if got := names(l); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.query, got, tc.want)
		}
		if l.Images == nil {
			t.Errorf("%s: images is null, want a list", tc.query)
		}
	}

	// One row in full.
	var l silo.ImageList
	get(t, in, "", "/api/silo/v1/images?container=bwa", &l)
	if len(l.Images) != 1 {
		t.Fatalf("got %d rows", len(l.Images))
	}
	im := l.Images[0]
	if !slices.Equal(im.Tags, []string{"0.7.17"}) || im.Arch != "amd64" || im.Size != otherSize ||
		len(im.Version) != len("sha256.")+64 || im.Private || im.Signed {
		t.Errorf("row = %+v", im)
	}
	if _, err := time.Parse(time.RFC3339, im.Created); err != nil {
		t.Errorf("created %q: %v", im.Created, err)
	}
}

func TestImagesErrors(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	for _, tc := range []struct {
		token, path string
		status      int
	}{
		{"", "/api/silo/v1/images?entity=Not_Valid", http.StatusBadRequest},
		{"", "/api/silo/v1/images?collection=a//b", http.StatusBadRequest},
		{"", "/api/silo/v1/images?container=-x", http.StatusBadRequest},
		{"silo_not-a-real-token", "/api/silo/v1/images", http.StatusUnauthorized},
		{"", "/api/silo/v1/nothing-here", http.StatusNotFound},
	} {
		var body silo.ErrorBody
		st := get(t, in, tc.token, tc.path, &body)
		if st != tc.status || body.Error.Code != tc.status || body.Error.Message == "" {
			t.Errorf("GET %s: status %d, body %+v; want %d with a message", tc.path, st, body, tc.status)
		}
	}

	// A wrong method on a real endpoint is 405, still in JSON.
	res, err := http.Post(in.URL+"/api/silo/v1/images", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body silo.ErrorBody
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusMethodNotAllowed || body.Error.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST images: %d %+v", res.StatusCode, body)
	}
}

// TestList checks the listing arithmetic on its own: dedup by digest,
// order, and tag names once each even when several arches share them.
func TestList(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(container, digest string, size int64, created time.Time, tags ...string) meta.ImageRecord {
		r := meta.ImageRecord{Image: meta.Image{Digest: digest, Size: size, Arch: "amd64", Created: created},
			Entity: "e", Collection: "c", Container: container}
		for _, name := range tags {
			r.Tags = append(r.Tags, meta.Tag{Name: name, Arch: "amd64"})
		}
		return r
	}
	l := silo.List([]meta.ImageRecord{
		rec("b", "d1", 100, t0, "z", "a", "z"),
		rec("a", "d2", 50, t0),
		rec("b", "d3", 10, t0.Add(time.Hour)),
		rec("c", "d1", 100, t0, "x"),
	})
	if want := (silo.Totals{Images: 4, Bytes: 260, StoredBytes: 160}); l.Totals != want {
		t.Errorf("totals %+v, want %+v", l.Totals, want)
	}
	var order []string
	for _, im := range l.Images {
		order = append(order, im.Name+"@"+im.Version)
	}
	want := []string{"e/c/a@sha256.d2", "e/c/b@sha256.d3", "e/c/b@sha256.d1", "e/c/c@sha256.d1"}
	if !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if got := l.Images[2].Tags; !slices.Equal(got, []string{"a", "z"}) {
		t.Errorf("tags %v, want [a z]", got)
	}
	if l.Images[0].Tags == nil {
		t.Error("untagged image has null tags")
	}
	if empty := silo.List(nil); empty.Images == nil || empty.Totals != (silo.Totals{}) {
		t.Errorf("empty listing %+v", empty)
	}
}

package library_test

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// TestSearch checks what `search` prints (the image list): names, tags,
// description, and the arch and signed filters.
func TestSearch(t *testing.T) {
	dir := t.TempDir()
	bwa := writeSIF(t, dir, "bwa.sif", siftest.Options{Seed: 20})
	samtools := writeSIF(t, dir, "samtools.sif", siftest.Options{Seed: 21, Arch: "arm64"})
	signed := writeSIF(t, dir, "signed.sif", siftest.Options{Seed: 22, Signed: true})
	eachClient(t, func(t *testing.T, kind string) {
		s := startSilo(t, server.Config{})
		c := newClient(t, kind, s.URL, s.User(t, "alice", false), nil)
		ctx := context.Background()
		if _, err := c.Push(ctx, bwa.open(t), "alice/genomics/bwa", "amd64", []string{"0.7.17"}, "Burrows-Wheeler Aligner"); err != nil {
			t.Fatal(err)
		}
		push(t, c, samtools, "alice/genomics/samtools", "arm64", "1.19", "latest")
		push(t, c, signed, "alice/tools/verified", "amd64", "v1")

		// found lists "entity/collection/container:tags[arch]" per result.
		found := func(args map[string]string) []string {
			t.Helper()
			res, err := c.Search(ctx, args)
			if err != nil {
				t.Fatalf("search %v: %v", args, err)
			}
			var out []string
			for _, im := range res.Images {
				arch := "?"
				if im.Arch != nil {
					arch = *im.Arch
				}
				out = append(out, im.EntityName+"/"+im.CollectionName+"/"+im.ContainerName+":"+strings.Join(im.Tags, ",")+"["+arch+"]")
			}
			sort.Strings(out)
			return out
		}
		for _, tc := range []struct {
			args map[string]string
			want []string
		}{
			{map[string]string{"value": "genomics"}, []string{"alice/genomics/bwa:0.7.17[amd64]", "alice/genomics/samtools:1.19,latest[arm64]"}},
			{map[string]string{"value": "SAMTOOLS"}, []string{"alice/genomics/samtools:1.19,latest[arm64]"}},
			{map[string]string{"value": "wheeler"}, []string{"alice/genomics/bwa:0.7.17[amd64]"}},
			{map[string]string{"value": "0.7.1"}, []string{"alice/genomics/bwa:0.7.17[amd64]"}},
			{map[string]string{"value": "genomics", "arch": "arm64"}, []string{"alice/genomics/samtools:1.19,latest[arm64]"}},
			{map[string]string{"value": "genomics", "arch": "amd64"}, []string{"alice/genomics/bwa:0.7.17[amd64]"}},
			{map[string]string{"value": "alice", "arch": "amd64,arm64"}, []string{"alice/genomics/bwa:0.7.17[amd64]", "alice/genomics/samtools:1.19,latest[arm64]", "alice/tools/verified:v1[amd64]"}},
			{map[string]string{"value": "alice", "signed": "true"}, []string{"alice/tools/verified:v1[amd64]"}},
			{map[string]string{"value": "alice", "arch": "arm64", "signed": "true"}, nil},
			{map[string]string{"value": "nothing-like-it"}, nil},
		} {
			if got := found(tc.args); !slices.Equal(got, tc.want) {
				t.Errorf("search %v = %v, want %v", tc.args, got, tc.want)
			}
		}

		res, err := c.Search(ctx, map[string]string{"value": "wheeler"})
		if err != nil || len(res.Images) != 1 {
			t.Fatalf("search = %+v, %v", res, err)
		}
		if im := res.Images[0]; im.Description != "Burrows-Wheeler Aligner" || im.Hash != bwa.Hash() || im.Size != bwa.Size ||
			im.Signed == nil || *im.Signed {
			t.Errorf("search result %+v", im)
		}
		res, err = c.Search(ctx, map[string]string{"value": "verified"})
		if err != nil || len(res.Images) != 1 || res.Images[0].Signed == nil || !*res.Images[0].Signed {
			t.Errorf("signed image in search = %+v, %v", res, err)
		}

		// Under 3 characters: the client refuses, and so does the server.
		if _, err := c.Search(ctx, map[string]string{"value": "bw"}); err == nil {
			t.Error("client searched for 2 characters")
		}
		for _, v := range []string{"bw", "", "%20%20bw%20"} {
			wantError(t, "search "+v, call(t, "GET", s.URL+"/v1/search?value="+v, "", nil), http.StatusBadRequest, "3 characters")
		}
	})
}

// TestDelete checks that deleting a tag deletes its image and every tag
// on it, leaves other names (and shared bytes) alone, and that a frozen
// container refuses deletes and tag moves.
func TestDelete(t *testing.T) {
	dir := t.TempDir()
	a := writeSIF(t, dir, "a.sif", siftest.Options{Seed: 30})
	b := writeSIF(t, dir, "b.sif", siftest.Options{Seed: 31})
	c3 := writeSIF(t, dir, "c.sif", siftest.Options{Seed: 32})
	eachClient(t, func(t *testing.T, kind string) {
		s := startSilo(t, server.Config{})
		alice := newClient(t, kind, s.URL, s.User(t, "alice", false), nil)
		bob := newClient(t, kind, s.URL, s.User(t, "bob", false), nil)
		anon := newClient(t, kind, s.URL, "", nil)
		ctx := context.Background()
		const path = "alice/del/app"
		push(t, alice, a, path, "amd64", "v1", "latest")
		push(t, alice, b, path, "amd64", "v2")
		push(t, alice, a, "alice/keep/app", "amd64", "v1")

		t.Run("refused to others", func(t *testing.T) {
			before := s.state(t)
			// The clients pass the server's message on: "<message> (<code> <text>)".
			if err := anon.DeleteImage(ctx, path+":v1", "amd64"); err == nil || !strings.Contains(err.Error(), "log in") || !strings.Contains(err.Error(), "401") {
				t.Errorf("anonymous delete: err = %v, want a 401 asking to log in", err)
			}
			if err := bob.DeleteImage(ctx, path+":v1", "amd64"); err == nil || !strings.Contains(err.Error(), "bob may not delete") || !strings.Contains(err.Error(), "403") {
				t.Errorf("bob's delete: err = %v, want a 403 saying bob may not", err)
			}
			if err := alice.DeleteImage(ctx, path+":v1", "arm64"); !isNotFound(err) {
				t.Errorf("delete for an arch with no such tag: err = %v, want not found", err)
			}
			if err := alice.DeleteImage(ctx, path+":nope", "amd64"); !isNotFound(err) {
				t.Errorf("delete of a missing tag: err = %v, want not found", err)
			}
			s.assertState(t, before)
		})

		t.Run("deletes the image and its tags", func(t *testing.T) {
			if err := alice.DeleteImage(ctx, path+":v1", "amd64"); err != nil {
				t.Fatal(err)
			}
			wantNotFound(t, alice, "amd64", path, "v1")
			wantNotFound(t, alice, "amd64", path, "latest")
			wantNotFound(t, alice, "amd64", path, a.Hash())
			pullParts(t, alice, "amd64", path, "v2", b)
			pullParts(t, alice, "amd64", "alice/keep/app", "v1", a)
			st := s.state(t)
			wantImages := sortedCopy([]string{path + "@" + b.Digest, "alice/keep/app@" + a.Digest})
			wantTags := sortedCopy([]string{path + ":v2[amd64]@" + b.Digest, "alice/keep/app:v1[amd64]@" + a.Digest})
			if !slices.Equal(st.Images, wantImages) || !slices.Equal(st.Tags, wantTags) {
				t.Errorf("after delete: images %v tags %v; want %v %v", st.Images, st.Tags, wantImages, wantTags)
			}
		})

		t.Run("frozen", func(t *testing.T) {
			rf := ref.Ref{Entity: "alice", Collection: "del", Container: "app"}
			if err := s.Server.Registry.SetFrozen(ctx, s.actor(t, "admin"), rf, true); err != nil {
				t.Fatal(err)
			}
			before := s.state(t)
			if err := alice.DeleteImage(ctx, path+":v2", "amd64"); err == nil || !strings.Contains(err.Error(), "frozen") {
				t.Errorf("delete in a frozen container: err = %v, want a refusal naming the freeze", err)
			}
			_, err := alice.Push(ctx, c3.open(t), path, "amd64", []string{"v2"}, "")
			if err == nil || !strings.Contains(err.Error(), "frozen") {
				t.Errorf("moving a frozen tag: err = %v, want a refusal naming the freeze", err)
			}
			if st := s.state(t); !slices.Equal(st.Tags, before.Tags) {
				t.Errorf("tags moved in a frozen container: %v, want %v", st.Tags, before.Tags)
			}
			pullParts(t, alice, "amd64", path, "v2", b)

			if err := s.Server.Registry.SetFrozen(ctx, s.actor(t, "admin"), rf, false); err != nil {
				t.Fatal(err)
			}
			if err := alice.DeleteImage(ctx, path+":v2", "amd64"); err != nil {
				t.Errorf("delete after unfreezing: %v", err)
			}
			wantNotFound(t, alice, "amd64", path, "v2")
		})
	})
}

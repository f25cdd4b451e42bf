package metatest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/siloreg/silo/internal/meta"
)

// findWorld is the data the Find tests search: two entities, three
// collections, three containers and five uploaded images, plus one pending
// image that matches almost everything and must never be found.
type findWorld struct {
	alice, bob             *meta.User
	alpha, beta            *meta.Entity
	alphaTools, alphaVault *meta.Collection
	betaTools              *meta.Collection
	grep, vault, betaGrep  *meta.Container
	g1, g2, g3, v1, b1     *meta.Image
	pending                *meta.Image
}

func makeFindWorld(t *testing.T, s meta.Store) *findWorld {
	t.Helper()
	w := &findWorld{}
	w.alice = mustUser(t, s, "alice")
	w.bob = mustUser(t, s, "bob")
	w.alpha = &meta.Entity{Name: "alpha", OwnerID: w.alice.ID, DefaultPrivate: true}
	w.beta = &meta.Entity{Name: "beta_team"} // shared: no owner
	for _, e := range []*meta.Entity{w.alpha, w.beta} {
		if err := s.CreateEntity(t.Context(), e); err != nil {
			t.Fatalf("CreateEntity(%q): %v", e.Name, err)
		}
	}
	// alpha's DefaultPrivate is only a default for new collections: the
	// record's Private follows the collection (tools public, secret not).
	// Each collection has its own creator, none of them the entity's owner
	// by accident, so a record naming the wrong one shows.
	w.alphaTools = &meta.Collection{EntityID: w.alpha.ID, Name: "tools", CreatedBy: w.alice.ID}
	w.alphaVault = &meta.Collection{EntityID: w.alpha.ID, Name: "secret", Private: true, CreatedBy: w.bob.ID}
	w.betaTools = &meta.Collection{EntityID: w.beta.ID, Name: "tools"}
	for _, c := range []*meta.Collection{w.alphaTools, w.alphaVault, w.betaTools} {
		if err := s.CreateCollection(t.Context(), c); err != nil {
			t.Fatalf("CreateCollection(%q): %v", c.Name, err)
		}
	}
	w.grep = mustContainer(t, s, w.alphaTools.ID, "grep")
	w.vault = mustContainer(t, s, w.alphaVault.ID, "vault")
	w.betaGrep = mustContainer(t, s, w.betaTools.ID, "grep")

	// Created and completed in this order, so newest first is b1, v1, g3,
	// g2, g1 by creation and by completion alike.
	w.g1 = mustUploaded(t, s, &meta.Image{ContainerID: w.grep.ID, Digest: digest("g1"), Arch: "amd64",
		Description: "GNU grep 3.11", Labels: map[string]string{"org.vendor": "ZebraCorp"}, PushedBy: w.alice.ID})
	w.g2 = mustUploaded(t, s, &meta.Image{ContainerID: w.grep.ID, Digest: digest("g2"), Arch: "arm64", Signed: true,
		Description: "GNU grep 3.11 for ARM"})
	w.g3 = mustUploaded(t, s, &meta.Image{ContainerID: w.grep.ID, Digest: digest("g3"), Arch: "amd64", Signed: true,
		Description: "100% pure grep", Labels: map[string]string{"note": "a<b&c>"}})
	w.v1 = mustUploaded(t, s, &meta.Image{ContainerID: w.vault.ID, Digest: digest("v1"), Arch: "amd64", Signed: true, Encrypted: true,
		Description: `kept in C:\store`, Labels: map[string]string{"license": "MPL"}})
	w.b1 = mustUploaded(t, s, &meta.Image{ContainerID: w.betaGrep.ID, Digest: digest("b1"), Arch: "amd64",
		Description: "beta's grep", Labels: map[string]string{"maintainer": "Quux"}})
	w.pending = &meta.Image{ContainerID: w.grep.ID, Digest: digest("pending"), Arch: "amd64", Signed: true,
		Description: "pending GNU grep 100% alpha", Labels: map[string]string{"org.vendor": "ZebraCorp"}}
	if err := s.CreateImage(t.Context(), w.pending); err != nil {
		t.Fatalf("CreateImage(pending): %v", err)
	}

	mustTag(t, s, w.grep.ID, "amd64", "3.11", w.g1.ID)
	mustTag(t, s, w.grep.ID, "arm64", "latest", w.g2.ID)
	mustTag(t, s, w.grep.ID, "amd64", "latest", w.g3.ID)
	mustTag(t, s, w.grep.ID, "amd64", "Stable-Release", w.g3.ID)
	mustTag(t, s, w.betaGrep.ID, "amd64", "latest", w.b1.ID)
	mustTag(t, s, w.grep.ID, "amd64", "pending-only", w.pending.ID)

	if err := s.SetFrozen(t.Context(), w.vault.ID, true); err != nil {
		t.Fatalf("SetFrozen: %v", err)
	}
	return w
}

func testFind(t *testing.T, s meta.Store) {
	w := makeFindWorld(t, s)
	g1, g2, g3, v1, b1 := w.g1, w.g2, w.g3, w.v1, w.b1
	all := []*meta.Image{b1, v1, g3, g2, g1}

	for _, c := range []struct {
		name string
		q    meta.Query
		want []*meta.Image
	}{
		{"everything", meta.Query{}, all},

		{"entity", meta.Query{Entity: "alpha"}, []*meta.Image{v1, g3, g2, g1}},
		{"other entity", meta.Query{Entity: "beta_team"}, []*meta.Image{b1}},
		{"entity is exact", meta.Query{Entity: "alph"}, nil},
		{"unknown entity", meta.Query{Entity: "nobody"}, nil},
		{"collection", meta.Query{Collection: "tools"}, []*meta.Image{b1, g3, g2, g1}},
		{"other collection", meta.Query{Collection: "secret"}, []*meta.Image{v1}},
		{"container", meta.Query{Container: "grep"}, []*meta.Image{b1, g3, g2, g1}},
		{"container is exact", meta.Query{Container: "gre"}, nil},
		{"entity and container", meta.Query{Entity: "alpha", Container: "grep"}, []*meta.Image{g3, g2, g1}},
		{"entity and foreign collection", meta.Query{Entity: "beta_team", Collection: "secret"}, nil},
		{"full path", meta.Query{Entity: "beta_team", Collection: "tools", Container: "grep"}, []*meta.Image{b1}},
		{"arch", meta.Query{Arch: "arm64"}, []*meta.Image{g2}},
		{"other arch", meta.Query{Arch: "amd64"}, []*meta.Image{b1, v1, g3, g1}},
		{"no such arch", meta.Query{Arch: "riscv64"}, nil},
		{"signed", meta.Query{SignedOnly: true}, []*meta.Image{v1, g3, g2}},
		{"signed and arch", meta.Query{SignedOnly: true, Arch: "amd64"}, []*meta.Image{v1, g3}},

		{"limit", meta.Query{Limit: 2}, []*meta.Image{b1, v1}},
		{"limit with filter", meta.Query{Entity: "alpha", Limit: 1}, []*meta.Image{v1}},
		{"limit above count", meta.Query{Limit: 100}, all},

		// Text: each field on its own, in another case than stored.
		{"text: entity name", meta.Query{Text: "ALPH"}, []*meta.Image{v1, g3, g2, g1}},
		{"text: collection name", meta.Query{Text: "SeCrE"}, []*meta.Image{v1}},
		{"text: container name", meta.Query{Text: "VAUL"}, []*meta.Image{v1}},
		{"text: names", meta.Query{Text: "Grep"}, []*meta.Image{b1, g3, g2, g1}},
		{"text: description", meta.Query{Text: "gnu GREP"}, []*meta.Image{g2, g1}},
		{"text: label value", meta.Query{Text: "zebracorp"}, []*meta.Image{g1}},
		{"text: label value with markup", meta.Query{Text: "<B&C>"}, []*meta.Image{g3}},
		{"text: label value only, not key", meta.Query{Text: "org.vendor"}, nil},
		{"text: tag", meta.Query{Text: "stable-rel"}, []*meta.Image{g3}},
		{"text: common tag", meta.Query{Text: "LATEST"}, []*meta.Image{b1, g3, g2}},
		{"text: tag of a pending image", meta.Query{Text: "pending"}, nil},
		{"text: no match", meta.Query{Text: "emacs"}, nil},
		{"text: no match in structure", meta.Query{Text: "{"}, nil},
		{"text: no match in quoting", meta.Query{Text: `"`}, nil},

		// Text is a plain substring: LIKE/regexp metacharacters are literal.
		{"text: percent", meta.Query{Text: "%"}, []*meta.Image{g3}},
		{"text: percent in context", meta.Query{Text: "0% P"}, []*meta.Image{g3}},
		{"text: percent is not a wildcard", meta.Query{Text: "10%pure"}, nil},
		{"text: underscore", meta.Query{Text: "_"}, []*meta.Image{b1}},
		{"text: underscore in context", meta.Query{Text: "A_T"}, []*meta.Image{b1}},
		{"text: underscore is not a wildcard", meta.Query{Text: "1_0"}, nil},
		{"text: backslash", meta.Query{Text: `\`}, []*meta.Image{v1}},
		{"text: backslash in context", meta.Query{Text: `c:\S`}, []*meta.Image{v1}},
		{"text: backslash is not an escape", meta.Query{Text: `\%`}, nil},
		{"text: dot is not a wildcard", meta.Query{Text: "3.1."}, nil},
		{"text: star is not a wildcard", meta.Query{Text: "g*p"}, nil},

		{"text and filters", meta.Query{Text: "grep", Entity: "beta_team"}, []*meta.Image{b1}},
		{"text and signed", meta.Query{Text: "grep", SignedOnly: true}, []*meta.Image{g3, g2}},
		{"text and limit", meta.Query{Text: "grep", Limit: 2}, []*meta.Image{b1, g3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Find(t.Context(), c.q)
			if err != nil {
				t.Fatalf("Find(%+v): %v", c.q, err)
			}
			var want []int64
			for _, im := range c.want {
				want = append(want, im.ID)
			}
			if g := ids(got); !slices.Equal(g, want) {
				t.Errorf("Find(%+v) = images %v, want %v (g1..g3=%d..%d v1=%d b1=%d)",
					c.q, g, want, g1.ID, g3.ID, v1.ID, b1.ID)
			}
		})
	}
}

// testFindTags checks what comes with each record: the image itself, the
// names above it, privacy, freezing, owner, creator, and its own tags only.
func testFindTags(t *testing.T, s meta.Store) {
	ctx := t.Context()
	w := makeFindWorld(t, s)
	recs, err := s.Find(ctx, meta.Query{})
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	type expect struct {
		entity, collection, container string
		private, frozen               bool
		owner, createdBy              int64
		tags                          []meta.Tag
	}
	tag := func(c *meta.Container, arch, name string, im *meta.Image) meta.Tag {
		return meta.Tag{ContainerID: c.ID, Arch: arch, Name: name, ImageID: im.ID}
	}
	want := map[int64]expect{
		w.g1.ID: {"alpha", "tools", "grep", false, false, w.alice.ID, w.alice.ID, []meta.Tag{tag(w.grep, "amd64", "3.11", w.g1)}},
		w.g2.ID: {"alpha", "tools", "grep", false, false, w.alice.ID, w.alice.ID, []meta.Tag{tag(w.grep, "arm64", "latest", w.g2)}},
		w.g3.ID: {"alpha", "tools", "grep", false, false, w.alice.ID, w.alice.ID, []meta.Tag{
			tag(w.grep, "amd64", "latest", w.g3), tag(w.grep, "amd64", "Stable-Release", w.g3)}},
		w.v1.ID: {"alpha", "secret", "vault", true, true, w.alice.ID, w.bob.ID, nil},
		w.b1.ID: {"beta_team", "tools", "grep", false, false, 0, 0, []meta.Tag{tag(w.betaGrep, "amd64", "latest", w.b1)}},
	}
	if len(recs) != len(want) {
		t.Fatalf("Find returned %d records %v, want %d", len(recs), ids(recs), len(want))
	}
	for _, r := range recs {
		e, ok := want[r.ID]
		if !ok {
			t.Errorf("Find returned unexpected image %d", r.ID)
			continue
		}
		delete(want, r.ID) // so a duplicate record shows up as unexpected
		im, err := s.Image(ctx, r.ID)
		if err != nil {
			t.Fatalf("Image(%d): %v", r.ID, err)
		}
		what := fmt.Sprintf("record %d", r.ID)
		same(t, what+" Image", &r.Image, im)
		if r.Entity != e.entity || r.Collection != e.collection || r.Container != e.container {
			t.Errorf("%s path = %s/%s/%s, want %s/%s/%s", what, r.Entity, r.Collection, r.Container, e.entity, e.collection, e.container)
		}
		if r.Private != e.private {
			t.Errorf("%s Private = %v, want %v", what, r.Private, e.private)
		}
		if r.Frozen != e.frozen {
			t.Errorf("%s Frozen = %v, want %v", what, r.Frozen, e.frozen)
		}
		if r.OwnerID != e.owner {
			t.Errorf("%s OwnerID = %d, want %d", what, r.OwnerID, e.owner)
		}
		if r.CreatedBy != e.createdBy {
			t.Errorf("%s CreatedBy = %d, want %d (the collection's creator)", what, r.CreatedBy, e.createdBy)
		}
		for _, tg := range r.Tags {
			checkRecent(t, what+" tag Updated", tg.Updated)
		}
		if g, w := tagKeys(r.Tags), tagKeys(e.tags); !slices.Equal(g, w) {
			t.Errorf("%s Tags = %v, want %v", what, g, w)
		}
	}

	// Moving a tag moves it between records too.
	mustTag(t, s, w.grep.ID, "amd64", "latest", w.g1.ID)
	recs, err = s.Find(ctx, meta.Query{Container: "grep", Entity: "alpha"})
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	wantTags := map[int64][]meta.Tag{
		w.g1.ID: {tag(w.grep, "amd64", "3.11", w.g1), tag(w.grep, "amd64", "latest", w.g1)},
		w.g2.ID: {tag(w.grep, "arm64", "latest", w.g2)},
		w.g3.ID: {tag(w.grep, "amd64", "Stable-Release", w.g3)},
	}
	if len(recs) != len(wantTags) {
		t.Fatalf("Find returned %d records %v, want %d", len(recs), ids(recs), len(wantTags))
	}
	for _, r := range recs {
		if g, w := tagKeys(r.Tags), tagKeys(wantTags[r.ID]); !slices.Equal(g, w) {
			t.Errorf("after moving latest, record %d Tags = %v, want %v", r.ID, g, w)
		}
	}
}

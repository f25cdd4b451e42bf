package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/backend/backendtest"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// clock is a registry clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fixture is a registry on real stores in a temporary directory.
type fixture struct {
	t     *testing.T
	reg   *registry.Registry
	meta  meta.Store
	clock *clock
}

var defaults = ref.Defaults{Entity: "default", Collection: "default"}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m, b := backendtest.Open(t)
	c := &clock{t: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
	reg := registry.New(registry.Config{Meta: m, Blobs: b, Defaults: defaults, Now: c.Now})
	return &fixture{t: t, reg: reg, meta: m, clock: c}
}

// user creates an account and returns it as an actor.
func (f *fixture) user(name, role string) access.Actor {
	f.t.Helper()
	u := &meta.User{Name: name, Role: role}
	if err := f.meta.CreateUser(context.Background(), u); err != nil {
		f.t.Fatal(err)
	}
	return access.Actor{User: u}
}

// push stores a test SIF under name (entity/collection/container:tag) in a
// collection made private when asked, and returns the image and its bytes.
func (f *fixture) push(a access.Actor, name string, private bool, o siftest.Options) (*registry.ImageView, []byte) {
	f.t.Helper()
	ctx := context.Background()
	rf, err := ref.Parse(name, defaults)
	if err != nil {
		f.t.Fatal(err)
	}
	e, err := f.reg.CreateEntity(ctx, a, rf.Entity, "")
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := f.reg.CreateCollection(ctx, a, e.ID, rf.Collection, "", private)
	if err != nil {
		f.t.Fatal(err)
	}
	v, err := f.reg.CreateContainer(ctx, a, c.ID, rf.Container, "")
	if err != nil {
		f.t.Fatal(err)
	}
	path := filepath.Join(f.t.TempDir(), "img.sif")
	digest, size, err := siftest.Write(path, o)
	if err != nil {
		f.t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	iv, err := f.reg.CreateImage(ctx, a, v.Container.ID, digest, "")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.reg.PutImage(ctx, a, iv.Image.ID, size, bytes.NewReader(data)); err != nil {
		f.t.Fatal(err)
	}
	if err := f.reg.SetTag(ctx, a, v.Container.ID, "", rf.Tag, iv.Image.ID); err != nil {
		f.t.Fatal(err)
	}
	return iv, data
}

func (f *fixture) share(a access.Actor, name, arch string, ttl time.Duration) (*registry.ShareView, string) {
	f.t.Helper()
	rf, err := ref.Parse(name, defaults)
	if err != nil {
		f.t.Fatal(err)
	}
	v, secret, err := f.reg.CreateShare(context.Background(), a, rf, arch, ttl)
	if err != nil {
		f.t.Fatalf("sharing %s: %v", name, err)
	}
	return v, secret
}

// open fetches what secret grants, failing the test unless it is want.
func (f *fixture) open(secret string, count bool, want []byte) *registry.ShareView {
	f.t.Helper()
	v, rd, err := f.reg.OpenShare(context.Background(), secret, "192.0.2.1", count)
	if err != nil {
		f.t.Fatalf("opening the link: %v", err)
	}
	defer rd.Close()
	got, err := io.ReadAll(io.NewSectionReader(rd, 0, rd.Size()))
	if err != nil {
		f.t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		f.t.Fatalf("the link gave %d bytes that differ from the %d shared", len(got), len(want))
	}
	return v
}

// gone checks that secret opens nothing, with the one answer for every
// link that does not work.
func (f *fixture) gone(secret, why string) {
	f.t.Helper()
	_, rd, err := f.reg.OpenShare(context.Background(), secret, "192.0.2.1", true)
	if err == nil {
		rd.Close()
		f.t.Fatalf("%s: the link still works", why)
	}
	if registry.KindOf(err) != registry.NotFound || err.Error() != "link unknown, expired or revoked" {
		f.t.Fatalf("%s: error %v (kind %v), want NotFound \"link unknown, expired or revoked\"", why, err, registry.KindOf(err))
	}
}

func wantKind(t *testing.T, err error, k registry.Kind, words ...string) {
	t.Helper()
	if err == nil || registry.KindOf(err) != k {
		t.Fatalf("error %v (kind %v), want kind %v", err, registry.KindOf(err), k)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// TestShareLifecycle makes a link to a private image, downloads through
// it, and checks the secret's strength and storage, counting, auditing
// and the expiry boundary.
func TestShareLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.user("alice", meta.RoleUser)
	_, data := f.push(alice, "alice/lab/tool:v1", true, siftest.Options{Seed: 1})

	created := f.clock.Now()
	v, secret := f.share(alice, "alice/lab/tool:v1", "", time.Hour)
	if v.Name() != "alice/lab/tool:v1" || v.Share.Tag != "v1" || v.CreatedBy != "alice" || !v.Active() {
		t.Errorf("share = %+v (name %s)", v.Share, v.Name())
	}
	if want := created.Add(time.Hour); !v.Share.Expires.Equal(want) {
		t.Errorf("expires %v, want %v: the registry's clock plus the lifetime", v.Share.Expires, want)
	}
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(raw) < 16 {
		t.Fatalf("secret %q: %d random bytes (%v), want at least 16", secret, len(raw), err)
	}

	// Only the hash is stored, and nothing stored or audited holds the secret.
	rows, err := f.meta.Shares(ctx, alice.ID())
	if err != nil || len(rows) != 1 {
		t.Fatalf("stored shares %v, %v", rows, err)
	}
	sum := sha256.Sum256([]byte(secret))
	if rows[0].Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("stored hash %q is not the secret's sha256", rows[0].Hash)
	}

	// Anyone holding the secret gets the private image; only counted
	// opens count, on the link and on the image.
	f.open(secret, true, data)
	f.open(secret, false, data)
	f.clock.Set(created.Add(10 * time.Minute))
	f.open(secret, true, data)
	sh, err := f.meta.Share(ctx, v.Share.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sh.Downloads != 2 || !sh.LastUsed.Equal(created.Add(10*time.Minute)) {
		t.Errorf("downloads %d, last used %v; want 2 at %v", sh.Downloads, sh.LastUsed, created.Add(10*time.Minute))
	}
	if im, _ := f.meta.Image(ctx, v.Image.ID); im.Downloads != 2 {
		t.Errorf("the image counts %d downloads, want 2", im.Downloads)
	}
	events, err := f.meta.Audit(ctx, meta.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var shared, downloads int
	for _, e := range events {
		if strings.Contains(e.Actor+e.Target+e.Detail+e.Remote, secret) {
			t.Errorf("audit event %+v holds the secret", e)
		}
		switch e.Action {
		case "share":
			shared++
			if e.Actor != "alice" || e.Target != "alice/lab/tool:v1" {
				t.Errorf("share event %+v", e)
			}
		case "share-download":
			downloads++
			if e.Actor != "share:"+strconv.FormatInt(v.Share.ID, 10) || e.Remote != "192.0.2.1" || !strings.HasPrefix(e.Target, "alice/lab/tool@sha256.") {
				t.Errorf("download event %+v", e)
			}
		}
	}
	if shared != 1 || downloads != 2 {
		t.Errorf("audited %d shares and %d downloads, want 1 and 2", shared, downloads)
	}

	// The link works up to the last instant before its expiry, not at it.
	f.clock.Set(v.Share.Expires.Add(-time.Nanosecond))
	f.open(secret, false, data)
	f.clock.Set(v.Share.Expires)
	f.gone(secret, "at the expiry")
	f.clock.Set(v.Share.Expires.Add(24 * time.Hour))
	f.gone(secret, "a day after the expiry")
	list, err := f.reg.ListShares(ctx, alice, false)
	if err != nil || len(list) != 1 || !list[0].Expired || list[0].Active() {
		t.Errorf("listing after expiry: %+v, %v", list, err)
	}
}

// TestShareGrantsOneImage checks that a link opens the image it was made
// for and nothing else: not what its tag points at later, not anything
// once that image is deleted, not with a secret one character off.
func TestShareGrantsOneImage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.user("alice", meta.RoleUser)
	first, a := f.push(alice, "alice/lab/tool:v1", false, siftest.Options{Seed: 1})
	_, secret := f.share(alice, "alice/lab/tool:v1", "", time.Hour)
	_, other := f.share(alice, "alice/lab/tool@sha256."+first.Image.Digest, "", time.Hour)

	// The tag moves to new bytes; the link keeps granting the old ones.
	second, b := f.push(alice, "alice/lab/tool:v1", false, siftest.Options{Seed: 2})
	if second.Image.ID == first.Image.ID {
		t.Fatal("the second push made no new image")
	}
	if v := f.open(secret, false, a); v.Image.ID != first.Image.ID || v.Name() != "alice/lab/tool:v1" {
		t.Errorf("after the tag moved the link opens image %d (%s), want %d", v.Image.ID, v.Name(), first.Image.ID)
	}
	_, bSecret := f.share(alice, "alice/lab/tool:v1", "", time.Hour)
	f.open(bSecret, false, b)

	// A secret one character off, cut short or made longer opens nothing.
	flip := []byte(secret)
	flip[len(flip)-1] ^= 1
	for why, s := range map[string]string{
		"one character off": string(flip), "cut short": secret[:len(secret)-1], "longer": secret + "A",
		"empty": "", "not base64url": strings.Repeat("!", len(secret)),
	} {
		f.gone(s, why)
	}

	// Deleting the image ends its links, and a link to it never falls
	// through to another image of the same name.
	if _, err := f.reg.DeleteImage(ctx, alice, ref.Ref{Entity: "alice", Collection: "lab", Container: "tool", Digest: first.Image.Digest}, ""); err != nil {
		t.Fatal(err)
	}
	f.gone(secret, "after its image was deleted")
	f.gone(other, "made for the version, after it was deleted")
	f.open(bSecret, false, b)
}

// TestCreateShareRules: who may make a link, to what, for how long.
func TestCreateShareRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.user("alice", meta.RoleUser)
	bob := f.user("bob", meta.RoleUser)
	admin := f.user("root", meta.RoleAdmin)
	f.push(alice, "alice/pub/tool:v1", false, siftest.Options{Seed: 1})
	f.push(alice, "alice/priv/tool:v1", true, siftest.Options{Seed: 2})
	// One tag for two architectures.
	f.push(alice, "alice/pub/multi:v1", false, siftest.Options{Seed: 3, Arch: "amd64"})
	f.push(alice, "alice/pub/multi:v1", false, siftest.Options{Seed: 4, Arch: "arm64"})

	create := func(a access.Actor, name, arch string, ttl time.Duration) error {
		rf, err := ref.Parse(name, defaults)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.reg.CreateShare(ctx, a, rf, arch, ttl)
		return err
	}
	wantKind(t, create(access.Anonymous, "alice/pub/tool:v1", "", time.Hour), registry.Unauthorized, "log in")
	// Bob sees the public image but does not own it; the private one does
	// not exist for him.
	wantKind(t, create(bob, "alice/pub/tool:v1", "", time.Hour), registry.Forbidden, "bob may not share")
	wantKind(t, create(bob, "alice/priv/tool:v1", "", time.Hour), registry.NotFound)
	// A token that may only read cannot share, even the owner's.
	readOnly := alice
	readOnly.Token = &meta.Token{Scopes: []string{access.ScopeRead}}
	wantKind(t, create(readOnly, "alice/pub/tool:v1", "", time.Hour), registry.Forbidden)

	wantKind(t, create(alice, "alice/pub/tool:v1", "", 0), registry.Invalid, "positive", "72h")
	wantKind(t, create(alice, "alice/pub/tool:v1", "", -time.Minute), registry.Invalid, "-1m")
	wantKind(t, create(alice, "alice/pub/tool:v1", "", registry.MaxShareTTL+time.Second), registry.Invalid, "at most 720h (30 days)")
	wantKind(t, create(alice, "alice/pub/tool:v2", "", time.Hour), registry.NotFound, "alice/pub/tool:v2")
	// No tag means latest, which this container does not have.
	wantKind(t, create(alice, "alice/priv/tool", "", time.Hour), registry.NotFound, "tool:latest")
	wantKind(t, create(alice, "alice/pub/multi:v1", "", time.Hour), registry.Invalid, "amd64, arm64", "architecture")

	for _, tc := range []struct {
		who  access.Actor
		name string
		arch string
		tag  string
	}{
		{alice, "alice/pub/tool:v1", "", "v1"},
		{alice, "alice/pub/multi:v1", "arm64", "v1"},
		{admin, "alice/priv/tool:v1", "", "v1"}, // admins may share anything
	} {
		v, _ := f.share(tc.who, tc.name, tc.arch, registry.MaxShareTTL)
		if v.Share.Tag != tc.tag || (tc.arch != "" && v.Image.Arch != tc.arch) {
			t.Errorf("%s: tag %q arch %q", tc.name, v.Share.Tag, v.Image.Arch)
		}
	}
	// A link made for a version records no tag, and names the version.
	iv, err := f.reg.ResolveImage(ctx, alice, ref.Ref{Entity: "alice", Collection: "pub", Container: "multi", Tag: "v1"}, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := f.share(alice, "alice/pub/multi@sha256."+iv.Image.Digest, "", time.Hour)
	if v.Share.Tag != "" || v.Name() != "alice/pub/multi@sha256."+iv.Image.Digest {
		t.Errorf("version link: tag %q, name %s", v.Share.Tag, v.Name())
	}
}

// TestShareRevokeAndList: links are listed to their creator (and to
// admins with all), revoked by their creator or an admin, and stop
// working when revoked or when their creator loses the right to make them.
func TestShareRevokeAndList(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.user("alice", meta.RoleUser)
	bob := f.user("bob", meta.RoleUser)
	admin := f.user("root", meta.RoleAdmin)
	_, a := f.push(alice, "alice/lab/tool:v1", true, siftest.Options{Seed: 1})
	_, b := f.push(bob, "bob/lab/tool:v1", false, siftest.Options{Seed: 2})
	va, sa := f.share(alice, "alice/lab/tool:v1", "", time.Hour)
	vb, sb := f.share(bob, "bob/lab/tool:v1", "", time.Hour)

	ids := func(a access.Actor, all bool) []int64 {
		t.Helper()
		l, err := f.reg.ListShares(ctx, a, all)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, v := range l {
			out = append(out, v.Share.ID)
		}
		return out
	}
	if got := ids(alice, false); len(got) != 1 || got[0] != va.Share.ID {
		t.Errorf("alice lists %v", got)
	}
	if got := ids(admin, false); len(got) != 0 {
		t.Errorf("admin's own links: %v, want none", got)
	}
	if got := ids(admin, true); len(got) != 2 || got[0] != vb.Share.ID {
		t.Errorf("admin lists all: %v, want both, newest first", got)
	}
	_, err := f.reg.ListShares(ctx, bob, true)
	wantKind(t, err, registry.Forbidden, "only admins")
	_, err = f.reg.ListShares(ctx, access.Anonymous, false)
	wantKind(t, err, registry.Unauthorized)

	// Another user cannot revoke a link, nor learn that it exists.
	_, err = f.reg.RevokeShare(ctx, bob, va.Share.ID)
	wantKind(t, err, registry.NotFound, "share link")
	_, err = f.reg.RevokeShare(ctx, bob, 999)
	wantKind(t, err, registry.NotFound, "share link 999 not found")
	f.open(sa, false, a)

	got, err := f.reg.RevokeShare(ctx, alice, va.Share.ID)
	if err != nil || !got.Share.Revoked || got.Active() {
		t.Fatalf("revoke: %+v, %v", got, err)
	}
	f.gone(sa, "revoked")
	if _, err := f.reg.RevokeShare(ctx, alice, va.Share.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if _, err := f.reg.RevokeShare(ctx, admin, vb.Share.ID); err != nil {
		t.Errorf("admin revoking bob's link: %v", err)
	}
	f.gone(sb, "revoked by an admin")
	events, err := f.meta.Audit(ctx, meta.AuditQuery{Action: "share-revoke"})
	if err != nil || len(events) != 2 {
		t.Errorf("revocations audited: %+v, %v; want 2 (revoking twice records once)", events, err)
	}

	// A link dies with its creator's account, and comes back with it.
	_, sc := f.share(bob, "bob/lab/tool:v1", "", time.Hour)
	f.open(sc, false, b)
	bob.User.Disabled = true
	if err := f.meta.UpdateUser(ctx, bob.User); err != nil {
		t.Fatal(err)
	}
	f.gone(sc, "its creator is disabled")
	bob.User.Disabled = false
	if err := f.meta.UpdateUser(ctx, bob.User); err != nil {
		t.Fatal(err)
	}
	f.open(sc, false, b)

	// Private mode hides everything from anonymous callers, but a link is
	// the way to hand one image out of a private registry.
	if err := f.reg.SetSettings(ctx, admin, registry.Settings{PrivateMode: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.ResolveImage(ctx, access.Anonymous, ref.Ref{Entity: "bob", Collection: "lab", Container: "tool", Tag: "v1"}, ""); err == nil {
		t.Fatal("private mode shows bob's image to anonymous callers")
	}
	f.open(sc, true, b)
}

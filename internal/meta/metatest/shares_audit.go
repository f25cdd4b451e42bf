package metatest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

func shareID(sh *meta.Share) int64 { return sh.ID }

func sameShare(t *testing.T, what string, got, want *meta.Share) {
	t.Helper()
	same(t, what, got, want)
}

func testShares(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	bob := mustUser(t, s, "bob")
	a := mustUploaded(t, s, &meta.Image{ContainerID: tr.container.ID, Digest: digest("a"), Arch: "amd64"})
	b := mustUploaded(t, s, &meta.Image{ContainerID: tr.container.ID, Digest: digest("b"), Arch: "amd64"})

	if all, err := s.Shares(ctx, 0); err != nil || len(all) != 0 {
		t.Fatalf("Shares(0) on a new store = %v, %v; want none", all, err)
	}

	s1 := &meta.Share{Hash: digest("share-1"), ImageID: a.ID, Tag: "grep:latest", CreatedBy: tr.user.ID, Expires: odd(2031, 123456789)}
	s2 := &meta.Share{Hash: digest("share-2"), ImageID: b.ID, CreatedBy: bob.ID, Expires: odd(2030, 5000)}
	s3 := &meta.Share{Hash: digest("share-3"), ImageID: a.ID, Tag: "grep:3.11", CreatedBy: bob.ID, Expires: odd(2029, 0), Revoked: true}
	all := []*meta.Share{s1, s2, s3}
	for _, sh := range all {
		if err := s.CreateShare(ctx, sh); err != nil {
			t.Fatalf("CreateShare(%q): %v", sh.Tag, err)
		}
		if sh.ID == 0 {
			t.Errorf("CreateShare(%q) left ID 0", sh.Tag)
		}
		checkRecent(t, "Share.Created", sh.Created)
	}
	if s1.ID == s2.ID || s2.ID == s3.ID || s1.ID == s3.ID {
		t.Errorf("shares got IDs %d, %d, %d; want them distinct", s1.ID, s2.ID, s3.ID)
	}
	for _, want := range all {
		got, err := s.Share(ctx, want.ID)
		if err != nil {
			t.Fatalf("Share(%d): %v", want.ID, err)
		}
		same(t, "Share", got, want)
		got, err = s.ShareByHash(ctx, want.Hash)
		if err != nil {
			t.Fatalf("ShareByHash(%d): %v", want.ID, err)
		}
		same(t, "ShareByHash", got, want)
	}

	shares := func(when string, createdBy int64, want ...*meta.Share) {
		t.Helper()
		got, err := s.Shares(ctx, createdBy)
		if err != nil {
			t.Fatalf("%s, Shares(%d): %v", when, createdBy, err)
		}
		sameSet(t, fmt.Sprintf("%s, Shares(%d)", when, createdBy), got, want, shareID, sameShare)
	}
	shares("after create", 0, s1, s2, s3)
	shares("after create", tr.user.ID, s1)
	shares("after create", bob.ID, s2, s3)
	shares("after create", missing)

	// The hash is the lookup key, so it is unique.
	err := s.CreateShare(ctx, &meta.Share{Hash: s1.Hash, ImageID: b.ID, CreatedBy: bob.ID, Expires: odd(2040, 0)})
	wantErr(t, "CreateShare with a taken hash", err, meta.ErrConflict)
	if got, err := s.ShareByHash(ctx, s1.Hash); err != nil {
		t.Errorf("after a refused duplicate, ShareByHash: %v", err)
	} else {
		same(t, "after a refused duplicate, ShareByHash", got, s1)
	}
	shares("after a refused duplicate", 0, s1, s2, s3)

	_, err = s.Share(ctx, missing)
	wantErr(t, "Share(missing)", err, meta.ErrNotFound)
	_, err = s.ShareByHash(ctx, digest("no such share"))
	wantErr(t, "ShareByHash(missing)", err, meta.ErrNotFound)

	// RevokeShare marks it; it stays listed; again is no error.
	if err := s.RevokeShare(ctx, s1.ID); err != nil {
		t.Fatalf("RevokeShare: %v", err)
	}
	if err := s.RevokeShare(ctx, s1.ID); err != nil {
		t.Errorf("RevokeShare twice: %v", err)
	}
	if err := s.RevokeShare(ctx, s3.ID); err != nil {
		t.Errorf("RevokeShare of a share created revoked: %v", err)
	}
	s1.Revoked = true
	shares("after RevokeShare", 0, s1, s2, s3)
	wantErr(t, "RevokeShare(missing)", s.RevokeShare(ctx, missing), meta.ErrNotFound)

	// CountShareDownload counts and records the time given, on that share.
	t1 := odd(2026, 250000000)
	for i := range 3 {
		if err := s.CountShareDownload(ctx, s2.ID, t1.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatalf("CountShareDownload: %v", err)
		}
	}
	s2.Downloads, s2.LastUsed = 3, t1.Add(2*time.Minute)
	if err := s.CountShareDownload(ctx, s1.ID, t1); err != nil {
		t.Errorf("CountShareDownload of a revoked share: %v", err)
	}
	s1.Downloads, s1.LastUsed = 1, t1
	shares("after downloads", 0, s1, s2, s3)
	if got, err := s.ShareByHash(ctx, s2.Hash); err != nil {
		t.Errorf("ShareByHash after downloads: %v", err)
	} else {
		same(t, "ShareByHash after downloads", got, s2)
	}
	wantErr(t, "CountShareDownload(missing)", s.CountShareDownload(ctx, missing, t1), meta.ErrNotFound)
	// A share's downloads are its own, not the image's.
	if im, err := s.Image(ctx, b.ID); err != nil || im.Downloads != 0 {
		t.Errorf("after share downloads, image Downloads = %+v, %v; want 0", im, err)
	}

	// Deleting an image takes its shares with it, and only its shares.
	if err := s.DeleteImage(ctx, a.ID); err != nil {
		t.Fatalf("DeleteImage: %v", err)
	}
	for _, gone := range []*meta.Share{s1, s3} {
		_, err := s.Share(ctx, gone.ID)
		wantErr(t, "Share of a deleted image", err, meta.ErrNotFound)
		_, err = s.ShareByHash(ctx, gone.Hash)
		wantErr(t, "ShareByHash of a deleted image", err, meta.ErrNotFound)
	}
	shares("after DeleteImage", 0, s2)
	shares("after DeleteImage", tr.user.ID)
	shares("after DeleteImage", bob.ID, s2)
	wantErr(t, "RevokeShare of a deleted image's share", s.RevokeShare(ctx, s3.ID), meta.ErrNotFound)
	wantErr(t, "CountShareDownload of a deleted image's share", s.CountShareDownload(ctx, s3.ID, t1), meta.ErrNotFound)
	// Nothing lingers to block the hash.
	again := &meta.Share{Hash: s1.Hash, ImageID: b.ID, CreatedBy: tr.user.ID, Expires: odd(2032, 0)}
	if err := s.CreateShare(ctx, again); err != nil {
		t.Errorf("CreateShare with the hash of a deleted share: %v", err)
	}
}

// testRaceShareDownload counts downloads through one link at once: none
// may be lost.
func testRaceShareDownload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	im := mustUploaded(t, s, &meta.Image{ContainerID: tr.container.ID, Digest: digest("a")})
	sh := &meta.Share{Hash: digest("share"), ImageID: im.ID, CreatedBy: tr.user.ID, Expires: time.Now().Add(time.Hour)}
	if err := s.CreateShare(ctx, sh); err != nil {
		t.Fatalf("CreateShare: %v", err)
	}
	const rounds = 5
	at := odd(2026, 0)
	for range rounds {
		startTogether(func(w int) {
			if err := s.CountShareDownload(ctx, sh.ID, at); err != nil {
				t.Errorf("worker %d: CountShareDownload: %v", w, err)
			}
		})
	}
	got, err := s.Share(ctx, sh.ID)
	if err != nil {
		t.Fatalf("Share: %v", err)
	}
	if got.Downloads != rounds*workers {
		t.Errorf("Downloads = %d, want %d", got.Downloads, rounds*workers)
	}
	checkTime(t, "LastUsed", got.LastUsed, at)
}

func testAudit(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if evs, err := s.Audit(ctx, meta.AuditQuery{}); err != nil || len(evs) != 0 {
		t.Fatalf("Audit on a new store = %v, %v; want none", evs, err)
	}

	// Whole microseconds, so a boundary query means the same in a backend
	// that keeps no more; not in UTC, so a backend must not care.
	base := odd(2026, 123456000)
	at := func(sec float64) time.Time { return base.Add(time.Duration(sec * float64(time.Second))) }
	// Added out of time order: newest first is by At, not by insertion.
	e1 := &meta.AuditEvent{At: at(0), Actor: "alice", Action: "push", Target: "alice/tools/grep:latest", Remote: "192.0.2.1", Detail: "sha256." + digest("x")}
	e2 := &meta.AuditEvent{At: at(3), Actor: "bob", Action: "delete", Target: "bob/x/y:1", Remote: "[2001:db8::1]:5555"}
	e3 := &meta.AuditEvent{At: at(1), Actor: "alice", Action: "login", Remote: "192.0.2.1", Detail: "via ldap ✓ \"quoted\""}
	e4 := &meta.AuditEvent{At: at(5), Actor: "alice", Action: "push", Target: "alice/tools/sed:latest"}
	e5 := &meta.AuditEvent{At: at(2), Actor: "anonymous", Action: "login-failed", Remote: "198.51.100.7", Detail: "user mallory"}
	e6 := &meta.AuditEvent{At: at(4), Actor: "share:7", Action: "download", Target: "alice/tools/grep:latest"}
	for _, e := range []*meta.AuditEvent{e1, e2, e3, e4, e5, e6} {
		if err := s.AddAudit(ctx, e); err != nil {
			t.Fatalf("AddAudit(%s %s): %v", e.Actor, e.Action, err)
		}
		if e.ID == 0 {
			t.Errorf("AddAudit(%s %s) left ID 0", e.Actor, e.Action)
		}
	}
	seen := map[int64]bool{}
	for _, e := range []*meta.AuditEvent{e1, e2, e3, e4, e5, e6} {
		if seen[e.ID] {
			t.Errorf("two events got ID %d", e.ID)
		}
		seen[e.ID] = true
	}

	name := map[int64]string{e1.ID: "e1", e2.ID: "e2", e3.ID: "e3", e4.ID: "e4", e5.ID: "e5", e6.ID: "e6"}
	names := func(evs []meta.AuditEvent) []string {
		out := []string{}
		for _, e := range evs {
			out = append(out, name[e.ID])
		}
		return out
	}
	for _, c := range []struct {
		name string
		q    meta.AuditQuery
		want []*meta.AuditEvent
	}{
		{"everything", meta.AuditQuery{}, []*meta.AuditEvent{e4, e6, e2, e5, e3, e1}},
		{"actor", meta.AuditQuery{Actor: "alice"}, []*meta.AuditEvent{e4, e3, e1}},
		{"actor is exact", meta.AuditQuery{Actor: "ali"}, nil},
		{"share actor", meta.AuditQuery{Actor: "share:7"}, []*meta.AuditEvent{e6}},
		{"unknown actor", meta.AuditQuery{Actor: "nobody"}, nil},
		{"action", meta.AuditQuery{Action: "push"}, []*meta.AuditEvent{e4, e1}},
		{"action is exact", meta.AuditQuery{Action: "login"}, []*meta.AuditEvent{e3}},
		{"actor and action", meta.AuditQuery{Actor: "alice", Action: "login"}, []*meta.AuditEvent{e3}},
		{"actor and another's action", meta.AuditQuery{Actor: "bob", Action: "push"}, nil},
		{"since, at an event (inclusive)", meta.AuditQuery{Since: at(2)}, []*meta.AuditEvent{e4, e6, e2, e5}},
		{"since, in UTC", meta.AuditQuery{Since: at(2).UTC()}, []*meta.AuditEvent{e4, e6, e2, e5}},
		{"since, between events", meta.AuditQuery{Since: at(2.5)}, []*meta.AuditEvent{e4, e6, e2}},
		{"since, a microsecond after an event", meta.AuditQuery{Since: at(3).Add(time.Microsecond)}, []*meta.AuditEvent{e4, e6}},
		{"since, before all", meta.AuditQuery{Since: at(-3600)}, []*meta.AuditEvent{e4, e6, e2, e5, e3, e1}},
		{"since, after all", meta.AuditQuery{Since: at(6)}, nil},
		{"since and actor", meta.AuditQuery{Since: at(1), Actor: "alice"}, []*meta.AuditEvent{e4, e3}},
		{"limit", meta.AuditQuery{Limit: 2}, []*meta.AuditEvent{e4, e6}},
		{"limit one", meta.AuditQuery{Limit: 1}, []*meta.AuditEvent{e4}},
		{"limit above count", meta.AuditQuery{Limit: 100}, []*meta.AuditEvent{e4, e6, e2, e5, e3, e1}},
		{"limit with actor", meta.AuditQuery{Actor: "alice", Limit: 2}, []*meta.AuditEvent{e4, e3}},
		{"limit with everything", meta.AuditQuery{Actor: "alice", Action: "push", Since: at(0), Limit: 1}, []*meta.AuditEvent{e4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Audit(t.Context(), c.q)
			if err != nil {
				t.Fatalf("Audit(%+v): %v", c.q, err)
			}
			var want []meta.AuditEvent
			for _, e := range c.want {
				want = append(want, *e)
			}
			if g, w := names(got), names(want); !slices.Equal(g, w) {
				t.Fatalf("Audit(%+v) = %v, want %v", c.q, g, w)
			}
			for i := range got {
				same(t, "Audit "+name[got[i].ID], &got[i], &want[i])
			}
		})
	}
}

func testHit(t *testing.T, s meta.Store) {
	ctx := t.Context()
	w1 := time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC)
	w2 := w1.Add(time.Minute)
	hit := func(key string, window time.Time, want int64) {
		t.Helper()
		got, err := s.Hit(ctx, key, window)
		if err != nil {
			t.Fatalf("Hit(%q, %v): %v", key, window, err)
		}
		if got != want {
			t.Errorf("Hit(%q, %v) = %d, want %d", key, window, got, want)
		}
	}
	const k, k2 = "login:192.0.2.1", "login:192.0.2.10"
	hit(k, w1, 1)
	hit(k, w1, 2)
	hit(k, w1, 3)
	// Keys count apart, even one that extends another.
	hit(k2, w1, 1)
	hit(k, w1, 4)
	// A new window starts again at 1, for each key on its own.
	hit(k, w2, 1)
	hit(k, w2, 2)
	hit(k2, w2, 1)
	// A window is an instant: the same one in another zone is the same window.
	hit(k, w2.In(time.FixedZone("UTC+5:30", 5*3600+1800)), 3)
	hit(k2, w2, 2)
	w3 := w2.Add(time.Minute)
	hit(k2, w3, 1)
	hit(k, w2, 4)
	// A hit for a window older than the key's newest (a request that took
	// its window just before the boundary, or a node whose clock is behind)
	// counts in the newest window: it must not restart the count, or hits
	// alternating between old and new windows would keep it near 1.
	hit(k, w1, 5)
	hit(k, w2, 6)
	hit(k2, w1, 2)
	hit(k2, w2, 3)
	hit(k2, w3, 4)
	hit(k2, w3.Add(time.Minute), 1)
}

// testRaceHit has workers hit one key at once: each must get its own count,
// 1 to workers, with none lost or repeated.
func testRaceHit(t *testing.T, s meta.Store) {
	ctx := t.Context()
	window := time.Date(2026, time.May, 1, 12, 0, 0, 0, time.UTC)
	for round := range 5 {
		key := fmt.Sprint("key-", round)
		if round%2 == 1 {
			// Odd rounds race on a key that already has an older window,
			// so the workers all race to restart it.
			if _, err := s.Hit(ctx, key, window.Add(-time.Minute)); err != nil {
				t.Fatalf("Hit: %v", err)
			}
		}
		var mu sync.Mutex
		var got []int64
		startTogether(func(w int) {
			n, err := s.Hit(ctx, key, window)
			if err != nil {
				t.Errorf("round %d, worker %d: Hit: %v", round, w, err)
				return
			}
			mu.Lock()
			got = append(got, n)
			mu.Unlock()
		})
		slices.Sort(got)
		want := make([]int64, workers)
		for i := range want {
			want[i] = int64(i + 1)
		}
		if !slices.Equal(got, want) {
			t.Errorf("round %d: counts %v, want %v", round, got, want)
		}
		if n, err := s.Hit(ctx, key, window); err != nil || n != workers+1 {
			t.Errorf("round %d: Hit after the race = %d, %v; want %d", round, n, err, workers+1)
		}
	}
}

func testSetSetting(t *testing.T, s meta.Store) {
	ctx := t.Context()
	setting := func(key, want string) {
		t.Helper()
		got, err := s.Setting(ctx, key)
		if err != nil || got != want {
			t.Errorf("Setting(%q) = %q, %v; want %q, nil", key, got, err, want)
		}
	}
	set := func(key, value string) {
		t.Helper()
		if err := s.SetSetting(ctx, key, value); err != nil {
			t.Fatalf("SetSetting(%q, %q): %v", key, value, err)
		}
	}
	set("private-mode", "true")
	setting("private-mode", "true")
	set("private-mode", "false")
	setting("private-mode", "false")
	set("private-mode", "false")
	setting("private-mode", "false")
	// An empty value is a value.
	set("user-quota", "")
	setting("user-quota", "")
	setting("private-mode", "false")
	// InitSetting adopts what SetSetting stored, and SetSetting replaces
	// what InitSetting stored.
	if got, err := s.InitSetting(ctx, "private-mode", "true"); err != nil || got != "false" {
		t.Errorf("InitSetting over a SetSetting = %q, %v; want \"false\"", got, err)
	}
	if _, err := s.InitSetting(ctx, "secret", "first"); err != nil {
		t.Fatalf("InitSetting: %v", err)
	}
	set("secret", "second")
	setting("secret", "second")
	setting("private-mode", "false")
	setting("user-quota", "")
	_, err := s.Setting(ctx, "private")
	wantErr(t, "Setting(a key that is only a prefix)", err, meta.ErrNotFound)
}

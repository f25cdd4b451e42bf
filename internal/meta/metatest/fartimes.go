package metatest

import (
	"slices"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// testFarTimes stores times far from now, as a caller asking for a token
// that "never" expires, or an audit search from the beginning of time, may
// give. A backend may keep such a time only approximately (clamped to the
// end of the range it can store), but it must stay on the same side of now
// and of the times around it: a far-future expiry must not read back as
// the past.
func testFarTimes(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	now := time.Now()
	farFuture := time.Date(9999, time.December, 31, 23, 59, 59, 0, time.UTC)
	future := time.Date(2300, time.January, 1, 0, 0, 0, 0, time.UTC)
	farPast := time.Date(1000, time.January, 1, 0, 0, 0, 0, time.UTC)
	// A far-future time read back must at least be later than this (any
	// backend can store up to here, SQLite's nanoseconds to 2262).
	horizon := time.Date(2200, time.January, 1, 0, 0, 0, 0, time.UTC)

	later := func(what string, got, want time.Time) {
		t.Helper()
		if got.IsZero() || !got.After(horizon) {
			t.Errorf("%s = %v, want %v or at least later than %v", what, got, want, horizon)
		}
	}
	for _, exp := range []time.Time{future, farFuture} {
		tk := &meta.Token{UserID: tr.user.ID, Name: "forever", Hash: digest(exp.String()), Expires: exp}
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatalf("CreateToken(expires %v): %v", exp, err)
		}
		got, err := s.TokenByHash(ctx, tk.Hash)
		if err != nil {
			t.Fatalf("TokenByHash: %v", err)
		}
		later("Token.Expires", got.Expires, exp)
		if err := s.TouchToken(ctx, tk.ID, exp); err != nil {
			t.Fatalf("TouchToken: %v", err)
		}
		if got, err = s.TokenByHash(ctx, tk.Hash); err != nil {
			t.Fatalf("TokenByHash: %v", err)
		}
		later("Token.LastUsed", got.LastUsed, exp)
	}

	im := mustUploaded(t, s, &meta.Image{ContainerID: tr.container.ID, Digest: digest("a"), SIFCreated: farFuture})
	if got, err := s.Image(ctx, im.ID); err != nil {
		t.Fatalf("Image: %v", err)
	} else {
		later("Image.SIFCreated", got.SIFCreated, farFuture)
	}
	sh := &meta.Share{Hash: digest("share"), ImageID: im.ID, CreatedBy: tr.user.ID, Expires: farFuture}
	if err := s.CreateShare(ctx, sh); err != nil {
		t.Fatalf("CreateShare: %v", err)
	}
	if got, err := s.Share(ctx, sh.ID); err != nil {
		t.Fatalf("Share: %v", err)
	} else {
		later("Share.Expires", got.Expires, farFuture)
	}

	up := &meta.Upload{ID: "long", ImageID: im.ID, Size: 1, Expires: farFuture}
	if err := s.CreateUpload(ctx, up); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	if ex, err := s.ExpiredUploads(ctx, now); err != nil || len(ex) != 0 {
		t.Errorf("ExpiredUploads(now) with an upload expiring in 9999 = %v, %v; want none", ex, err)
	}
	if ex, err := s.ExpiredUploads(ctx, farPast); err != nil || len(ex) != 0 {
		t.Errorf("ExpiredUploads(year 1000) = %v, %v; want none", ex, err)
	}

	old := &meta.AuditEvent{At: farPast, Actor: "alice", Action: "old"}
	recent := &meta.AuditEvent{At: now, Actor: "alice", Action: "recent"}
	for _, e := range []*meta.AuditEvent{old, recent} {
		if err := s.AddAudit(ctx, e); err != nil {
			t.Fatalf("AddAudit: %v", err)
		}
	}
	audit := func(what string, q meta.AuditQuery, want ...*meta.AuditEvent) {
		t.Helper()
		got, err := s.Audit(ctx, q)
		if err != nil {
			t.Fatalf("Audit(%s): %v", what, err)
		}
		var g, w []int64
		for _, e := range got {
			g = append(g, e.ID)
		}
		for _, e := range want {
			w = append(w, e.ID)
		}
		if !slices.Equal(g, w) {
			t.Errorf("Audit(%s) = events %v, want %v", what, g, w)
		}
	}
	audit("everything, newest first", meta.AuditQuery{}, recent, old)
	audit("since a far past", meta.AuditQuery{Since: farPast.AddDate(-1, 0, 0)}, recent, old)
	audit("since an hour ago", meta.AuditQuery{Since: now.Add(-time.Hour)}, recent)
	audit("since a far future", meta.AuditQuery{Since: farFuture})
}

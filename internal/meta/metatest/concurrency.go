package metatest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// workers is how many writers the concurrency tests run at once: more than
// a small machine has cores, so they really interleave.
const workers = 8

// startTogether runs fn in workers goroutines released at the same moment,
// and waits for all of them.
func startTogether(fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// testConcurrentWrites has every worker write a user and a push's worth of
// rows at once. A server takes pushes in parallel, so none may fail for
// being concurrent (SQLite's "database is locked", say).
func testConcurrentWrites(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "shared")
	const perWorker = 5
	startTogether(func(w int) {
		u := &meta.User{Name: fmt.Sprintf("worker-%d", w)}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Errorf("worker %d: CreateUser: %v", w, err)
			return
		}
		for i := range perWorker {
			im := &meta.Image{ContainerID: tr.container.ID, Digest: digest(fmt.Sprint(w, "/", i))}
			if err := s.CreateImage(ctx, im); err != nil {
				t.Errorf("worker %d: CreateImage: %v", w, err)
				return
			}
			up := &meta.Upload{ID: fmt.Sprint("up-", w, "-", i), ImageID: im.ID, Size: 1, Expires: time.Now().Add(time.Hour)}
			if err := s.CreateUpload(ctx, up); err != nil {
				t.Errorf("worker %d: CreateUpload: %v", w, err)
				return
			}
			if err := s.AdvanceUpload(ctx, up.ID, 0, 1, []byte{byte(w)}); err != nil {
				t.Errorf("worker %d: AdvanceUpload: %v", w, err)
				return
			}
			im.Size, im.Arch, im.PushedBy = int64(w*100+i), "amd64", u.ID
			if err := s.CompleteImage(ctx, im); err != nil {
				t.Errorf("worker %d: CompleteImage: %v", w, err)
				return
			}
			if err := s.SetTag(ctx, meta.Tag{ContainerID: tr.container.ID, Arch: "amd64", Name: fmt.Sprint("w", w), ImageID: im.ID}); err != nil {
				t.Errorf("worker %d: SetTag: %v", w, err)
				return
			}
			if err := s.DeleteUpload(ctx, up.ID); err != nil {
				t.Errorf("worker %d: DeleteUpload: %v", w, err)
				return
			}
			if err := s.AddDownload(ctx, im.ID); err != nil {
				t.Errorf("worker %d: AddDownload: %v", w, err)
				return
			}
		}
	})
	if t.Failed() {
		return
	}

	// Every write landed, once.
	if n, err := s.CountUsers(ctx); err != nil || n != workers+1 {
		t.Errorf("CountUsers = %d, %v; want %d", n, err, workers+1)
	}
	for w := range workers {
		for i := range perWorker {
			im, err := s.ImageByDigest(ctx, tr.container.ID, digest(fmt.Sprint(w, "/", i)))
			if err != nil {
				t.Errorf("image %d/%d: %v", w, i, err)
				continue
			}
			if !im.Uploaded || im.Size != int64(w*100+i) || im.Downloads != 1 {
				t.Errorf("image %d/%d = uploaded %v, size %d, downloads %d; want true, %d, 1", w, i, im.Uploaded, im.Size, im.Downloads, w*100+i)
			}
		}
	}
	recs, err := s.Find(ctx, meta.Query{Container: tr.container.Name})
	if err != nil || len(recs) != workers*perWorker {
		t.Errorf("Find = %d records, %v; want %d", len(recs), err, workers*perWorker)
	}
	tags, err := s.Tags(ctx, tr.container.ID)
	if err != nil || len(tags) != workers {
		t.Errorf("Tags = %d tags, %v; want %d", len(tags), err, workers)
	}
	if left, err := s.ExpiredUploads(ctx, time.Now().Add(24*time.Hour)); err != nil || len(left) != 0 {
		t.Errorf("uploads left = %d, %v; want 0", len(left), err)
	}
}

// testRaceCreateEntity has workers claim one name at once, several times
// over: the uniqueness rule must hold under concurrency, with the losers
// told ErrConflict rather than some other error.
func testRaceCreateEntity(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for round := range 5 {
		name := fmt.Sprint("contested-", round)
		var wins, conflicts atomic.Int32
		var winner atomic.Int64
		startTogether(func(w int) {
			e := &meta.Entity{Name: name, Description: fmt.Sprint("worker ", w)}
			err := s.CreateEntity(ctx, e)
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(e.ID)
			case errors.Is(err, meta.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("round %d, worker %d: CreateEntity: %v, want nil or ErrConflict", round, w, err)
			}
		})
		if wins.Load() != 1 || conflicts.Load() != workers-1 {
			t.Errorf("round %d: %d wins and %d conflicts, want 1 and %d", round, wins.Load(), conflicts.Load(), workers-1)
		}
		if e, err := s.EntityByName(ctx, name); err != nil || e.ID != winner.Load() {
			t.Errorf("round %d: EntityByName = %+v, %v; want the winner, ID %d", round, e, err, winner.Load())
		}
	}
}

// testRaceAdvanceUpload has workers advance one upload from the same prefix
// at once, as two servers resuming the same upload would: exactly one wins
// and its state is the one stored.
func testRaceAdvanceUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	tr := mustTree(t, s, "alice")
	im := mustImage(t, s, tr.container.ID, "a")
	up := &meta.Upload{ID: "up", ImageID: im.ID, Size: 1 << 20, Expires: time.Now().Add(time.Hour)}
	if err := s.CreateUpload(ctx, up); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	for round := range 5 {
		from := int64(round * 1000)
		var wins, losses atomic.Int32
		var winner atomic.Int32
		startTogether(func(w int) {
			err := s.AdvanceUpload(ctx, up.ID, from, from+1000, []byte{byte(round), byte(w)})
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(int32(w))
			case errors.Is(err, meta.ErrNotFound):
				losses.Add(1)
			default:
				t.Errorf("round %d, worker %d: AdvanceUpload: %v, want nil or ErrNotFound", round, w, err)
			}
		})
		if wins.Load() != 1 || losses.Load() != workers-1 {
			t.Fatalf("round %d: %d wins and %d losses, want 1 and %d", round, wins.Load(), losses.Load(), workers-1)
		}
		got, err := s.Upload(ctx, up.ID)
		if err != nil {
			t.Fatalf("Upload: %v", err)
		}
		if want := []byte{byte(round), byte(winner.Load())}; got.Hashed != from+1000 || string(got.HashState) != string(want) {
			t.Errorf("round %d: stored %d bytes, state %x; want %d, %x (the winner's)", round, got.Hashed, got.HashState, from+1000, want)
		}
	}
}

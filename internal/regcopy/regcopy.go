// Package regcopy moves a whole registry from one pair of stores to another
// (SQLite and files to PostgreSQL and S3, say) with nothing lost: every row
// of every table with its id, and every blob, each re-hashed on the way.
//
// It works on tables, not on entity types (meta.TableStore), so a feature
// that adds a table is copied without a change here. A copy can be
// repeated: rows are upserted by primary key and blobs already at the
// destination are skipped, so an interrupted copy is finished by running it
// again and a finished one is a no-op. Blobs go before the rows that name
// them, so the destination never names bytes it lacks once a copy ends.
package regcopy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/meta"
)

// SigningKey is the setting holding the registry's URL signing key: made
// once when a registry is first served, it tells one registry from another.
const SigningKey = "url-signing-key"

// Stores is one side of a copy.
type Stores struct {
	Meta  meta.Store
	Blobs blob.Store
}

// Options tune a copy.
type Options struct {
	// Replace empties the destination's tables before copying: one that
	// holds some other registry is otherwise refused, and one holding an
	// earlier copy of this one otherwise keeps rows the source has since
	// deleted.
	Replace bool
	// Progress, if set, is told what is happening, a line at a time.
	Progress func(format string, args ...any)
	// BatchRows is how many rows go to the destination per transaction;
	// default 500.
	BatchRows int
}

// Report says what a copy did.
type Report struct {
	Rows        map[string]int64 // rows written per table
	Tables      []string         // tables copied, in the order copied
	Skipped     []string         // transient tables left behind
	BlobsCopied int
	BlobsKept   int   // already at the destination, intact in size
	Bytes       int64 // bytes copied
}

// ErrOtherRegistry is returned when the destination holds rows of a
// registry other than the source and Options.Replace is not set.
var ErrOtherRegistry = errors.New("the destination holds a different registry")

// Copy copies everything from src to dst. The source is only read (but for
// giving a registry that was never served its signing key, as a server's
// first start would), so it may keep serving; rows and blobs it gains
// during the copy are copied only if the snapshot of the rows saw them.
func Copy(ctx context.Context, src, dst Stores, opt Options) (*Report, error) {
	if opt.BatchRows <= 0 {
		opt.BatchRows = 500
	}
	say := opt.Progress
	if say == nil {
		say = func(string, ...any) {}
	}
	rep := &Report{Rows: map[string]int64{}}

	srcTables, dstTables, err := matchTables(ctx, src.Meta, dst.Meta, rep)
	if err != nil {
		return nil, err
	}
	if err := claim(ctx, src.Meta, dst.Meta, dstTables, opt.Replace, say); err != nil {
		return nil, err
	}

	// Blobs first, so that no row at the destination names missing bytes
	// for longer than the copy takes.
	copied := map[string]bool{}
	if err := copyBlobs(ctx, src.Blobs, dst.Blobs, copied, rep, say); err != nil {
		return nil, err
	}

	say("copying rows")
	if err := copyRows(ctx, src.Meta, dst.Meta, srcTables, dstTables, opt.BatchRows, rep, say); err != nil {
		return nil, err
	}
	if err := dst.Meta.ResetSequences(ctx); err != nil {
		return nil, fmt.Errorf("destination id sequences: %w", err)
	}

	// Blobs committed while the first pass ran may be named by rows the
	// snapshot saw; a second walk picks them up (and costs a listing).
	if err := copyBlobs(ctx, src.Blobs, dst.Blobs, copied, rep, say); err != nil {
		return nil, err
	}
	return rep, nil
}

// matchTables lists the source's tables to copy and checks the destination
// has each with the same columns. The destination's key is used for upserts.
func matchTables(ctx context.Context, src, dst meta.Store, rep *Report) (srcT, dstT []meta.Table, err error) {
	all, err := src.Tables(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("source tables: %w", err)
	}
	theirs, err := dst.Tables(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("destination tables: %w", err)
	}
	byName := map[string]meta.Table{}
	for _, t := range theirs {
		byName[t.Name] = t
	}
	for _, t := range all {
		if meta.Transient[t.Name] {
			rep.Skipped = append(rep.Skipped, t.Name)
			continue
		}
		d, ok := byName[t.Name]
		if !ok {
			return nil, nil, fmt.Errorf("the destination has no table %q: are both stores migrated by this version of silo?", t.Name)
		}
		a, b := slices.Sorted(slices.Values(t.Columns)), slices.Sorted(slices.Values(d.Columns))
		if !slices.Equal(a, b) {
			return nil, nil, fmt.Errorf("table %s: the source has columns %s, the destination %s: are both stores migrated by this version of silo?",
				t.Name, strings.Join(a, ","), strings.Join(b, ","))
		}
		srcT = append(srcT, t)
		dstT = append(dstT, meta.Table{Name: t.Name, Columns: t.Columns, Key: d.Key, Refs: d.Refs})
		rep.Tables = append(rep.Tables, t.Name)
	}
	for _, d := range theirs {
		if !meta.Transient[d.Name] && !slices.Contains(rep.Tables, d.Name) {
			return nil, nil, fmt.Errorf("the source has no table %q: are both stores migrated by this version of silo?", d.Name)
		}
	}
	return srcT, dstT, nil
}

// claim makes sure the destination is empty, or a (partial) copy of this
// same registry, or emptied because the caller asked (replace empties any
// destination, a copy of this registry too, so that rows deleted from the
// source since go as well); then marks it as a copy of the source before
// anything else is written, so that an interrupted copy is recognised when
// it is run again.
func claim(ctx context.Context, src, dst meta.Store, dstTables []meta.Table, replace bool, say func(string, ...any)) error {
	key, err := src.Setting(ctx, SigningKey)
	if errors.Is(err, meta.ErrNotFound) {
		// Never served: give it the key its first start would have.
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		key, err = src.InitSetting(ctx, SigningKey, hex.EncodeToString(b[:]))
	}
	if err != nil {
		return fmt.Errorf("source settings: %w", err)
	}
	theirs, err := dst.Setting(ctx, SigningKey)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("destination settings: %w", err)
	}
	if theirs != key || replace {
		var rows []string
		for _, t := range dstTables {
			n, err := dst.CountRows(ctx, t)
			if err != nil {
				return fmt.Errorf("destination table %s: %w", t.Name, err)
			}
			if n > 0 {
				rows = append(rows, fmt.Sprintf("%d %s", n, t.Name))
			}
		}
		if len(rows) > 0 {
			if !replace {
				return fmt.Errorf("%w (%s); pass --replace to empty it first", ErrOtherRegistry, strings.Join(rows, ", "))
			}
			if err := notSame(ctx, src, dst); err != nil {
				return err
			}
			say("emptying the destination (%s)", strings.Join(rows, ", "))
			all, err := dst.Tables(ctx)
			if err != nil {
				return err
			}
			if err := dst.ClearTables(ctx, all); err != nil {
				return fmt.Errorf("emptying the destination: %w", err)
			}
		}
	}
	return dst.SetSetting(ctx, SigningKey, key)
}

// notSame refuses to go on when src and dst are one database spelt two
// ways: emptying the destination would empty the source. It writes a
// setting under a random name at the destination and looks for it in the
// source; the destination is emptied next anyway, and if they are the same
// the stray setting is all that is left of the attempt.
func notSame(ctx context.Context, src, dst meta.Store) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	probe := "copy-probe-" + hex.EncodeToString(b[:])
	if err := dst.SetSetting(ctx, probe, "1"); err != nil {
		return fmt.Errorf("destination settings: %w", err)
	}
	_, err := src.Setting(ctx, probe)
	switch {
	case err == nil:
		return errors.New("the source and the destination are the same database: refusing to empty it")
	case !errors.Is(err, meta.ErrNotFound):
		return fmt.Errorf("source settings: %w", err)
	}
	return nil
}

// copyRows streams the source's snapshot into the destination, a batch per
// transaction, tables in dependency order.
func copyRows(ctx context.Context, src, dst meta.Store, srcT, dstT []meta.Table, batch int, rep *Report, say func(string, ...any)) error {
	target := map[string]meta.Table{}
	for _, t := range dstT {
		target[t.Name] = t
	}
	var cur string
	var pending []meta.Row
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := dst.WriteRows(ctx, target[cur], pending); err != nil {
			return err
		}
		rep.Rows[cur] += int64(len(pending))
		pending = pending[:0]
		return nil
	}
	err := src.ReadRows(ctx, srcT, func(t meta.Table, r meta.Row) error {
		if t.Name != cur {
			if err := flush(); err != nil {
				return err
			}
			if cur != "" {
				say("  %-12s %d rows", cur, rep.Rows[cur])
			}
			cur = t.Name
		}
		pending = append(pending, r)
		if len(pending) >= batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("copying rows: %w", err)
	}
	if cur != "" {
		say("  %-12s %d rows", cur, rep.Rows[cur])
	}
	return nil
}

// copyBlobs copies every source blob the destination lacks (or holds with
// the wrong size), skipping those in done, and adds what it copied to done.
func copyBlobs(ctx context.Context, src, dst blob.Store, done map[string]bool, rep *Report, say func(string, ...any)) error {
	var todo []blob.Info
	if err := src.Walk(ctx, func(b blob.Info) error {
		if !done[b.Digest] {
			todo = append(todo, b)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("listing source blobs: %w", err)
	}
	if len(todo) > 0 {
		say("copying %d blobs", len(todo))
	}
	last := time.Now()
	for i, b := range todo {
		if time.Since(last) > 5*time.Second {
			say("  %d of %d blobs, %d bytes copied", i, len(todo), rep.Bytes)
			last = time.Now()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := dst.Stat(ctx, b.Digest)
		switch {
		case err == nil && st.Size == b.Size:
			rep.BlobsKept++
			done[b.Digest] = true
			continue
		case err == nil:
			// Cannot be a committed copy of these bytes: replace it.
			if err := dst.Delete(ctx, b.Digest); err != nil {
				return fmt.Errorf("blob sha256.%s: %w", b.Digest, err)
			}
		case !errors.Is(err, blob.ErrNotFound):
			return fmt.Errorf("blob sha256.%s at the destination: %w", b.Digest, err)
		}
		n, err := copyBlob(ctx, src, dst, b)
		if err != nil {
			return fmt.Errorf("blob sha256.%s: %w", b.Digest, err)
		}
		rep.BlobsCopied++
		rep.Bytes += n
		done[b.Digest] = true
	}
	return nil
}

// copyBlob streams one blob through sha256 into a destination upload and
// commits it only if the bytes hash to its name.
func copyBlob(ctx context.Context, src, dst blob.Store, b blob.Info) (int64, error) {
	r, err := src.Open(ctx, b.Digest)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	id, err := dst.NewUpload(ctx)
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	n, err := dst.WriteAt(ctx, id, 0, io.TeeReader(r, h))
	if err == nil && hex.EncodeToString(h.Sum(nil)) != b.Digest {
		err = fmt.Errorf("the source's bytes hash to sha256.%x: the source is corrupt ('silo fsck --verify' on it)", h.Sum(nil))
	}
	if err == nil && n != r.Size() {
		err = fmt.Errorf("read %d bytes of %d", n, r.Size())
	}
	if err == nil {
		err = dst.Commit(ctx, id, b.Digest, n)
	}
	if err != nil {
		dst.Cancel(context.WithoutCancel(ctx), id)
		return 0, err
	}
	return n, nil
}

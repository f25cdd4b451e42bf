package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/meta/metatest"
)

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		return open(t, filepath.Join(t.TempDir(), "meta.db"))
	})
}

// open opens path or stops the test. The caller closes the store.
func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func closeStore(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// schemaVersions returns every row of schema_version; there must be one.
func schemaVersions(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), `SELECT version FROM schema_version`)
	if err != nil {
		t.Fatalf("read schema_version: %v", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("scan schema_version: %v", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read schema_version: %v", err)
	}
	return out
}

// setMigrations replaces the migration list for one test, as a newer silo
// with more migrations would have it.
func setMigrations(t *testing.T, m []string) {
	saved := migrations
	migrations = m
	t.Cleanup(func() { migrations = saved })
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	s := open(t, path)
	u := &meta.User{Name: "alice"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	e := &meta.Entity{Name: "alice", OwnerID: u.ID}
	if err := s.CreateEntity(ctx, e); err != nil {
		t.Fatalf("CreateEntity: %v", err)
	}
	c := &meta.Collection{EntityID: e.ID, Name: "tools"}
	if err := s.CreateCollection(ctx, c); err != nil {
		t.Fatalf("CreateCollection: %v", err)
	}
	k := &meta.Container{CollectionID: c.ID, Name: "grep"}
	if err := s.CreateContainer(ctx, k); err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	im := &meta.Image{ContainerID: k.ID, Digest: strings.Repeat("ab", 32), Labels: map[string]string{"a": "b"}}
	if err := s.CreateImage(ctx, im); err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	if err := s.SetTag(ctx, meta.Tag{ContainerID: k.ID, Arch: "amd64", Name: "latest", ImageID: im.ID}); err != nil {
		t.Fatalf("SetTag: %v", err)
	}
	up := &meta.Upload{ID: "up", ImageID: im.ID, Size: 1, HashState: []byte{1, 2}, Expires: time.Now().Add(time.Hour)}
	if err := s.CreateUpload(ctx, up); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	closeStore(t, s)

	for range 2 {
		s = open(t, path)
		if got, err := s.UserByName(ctx, "alice"); err != nil || got.ID != u.ID {
			t.Errorf("after reopening, UserByName = %+v, %v; want ID %d", got, err, u.ID)
		}
		if got, err := s.Image(ctx, im.ID); err != nil || got.Digest != im.Digest || got.Labels["a"] != "b" {
			t.Errorf("after reopening, Image = %+v, %v", got, err)
		}
		if tags, err := s.Tags(ctx, k.ID); err != nil || len(tags) != 1 || tags[0].ImageID != im.ID {
			t.Errorf("after reopening, Tags = %+v, %v", tags, err)
		}
		if got, err := s.Upload(ctx, "up"); err != nil || string(got.HashState) != "\x01\x02" {
			t.Errorf("after reopening, Upload = %+v, %v", got, err)
		}
		if v := schemaVersions(t, s); !slices.Equal(v, []int{len(migrations)}) {
			t.Errorf("schema_version rows = %v, want [%d]", v, len(migrations))
		}
		closeStore(t, s)
	}
}

func TestMigrationsRunOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	closeStore(t, open(t, path)) // a database made by this silo

	// A newer silo adds a migration that counts its own runs.
	const counting = `CREATE TABLE IF NOT EXISTS migration_runs (n INTEGER NOT NULL);
INSERT INTO migration_runs VALUES (1);`
	setMigrations(t, append(slices.Clip(migrations), counting))
	for i := range 3 {
		s := open(t, path)
		var runs int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM migration_runs`).Scan(&runs); err != nil {
			t.Fatalf("open %d: count runs: %v", i, err)
		}
		if runs != 1 {
			t.Errorf("open %d: the new migration has run %d times, want once", i, runs)
		}
		if v := schemaVersions(t, s); !slices.Equal(v, []int{len(migrations)}) {
			t.Errorf("open %d: schema_version rows = %v, want [%d]", i, v, len(migrations))
		}
		closeStore(t, s)
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	closeStore(t, open(t, path))
	old := len(migrations)

	// The first statement works, the second does not: neither may stick.
	setMigrations(t, append(slices.Clip(migrations), `CREATE TABLE half_done (x INTEGER);
INSERT INTO no_such_table VALUES (1);`))
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("Open with a broken migration succeeded")
	} else if !strings.Contains(err.Error(), fmt.Sprint("migration ", old+1)) {
		t.Errorf("Open error %q does not name the failed migration", err)
	}

	setMigrations(t, migrations[:old])
	s := open(t, path)
	defer s.Close()
	if v := schemaVersions(t, s); !slices.Equal(v, []int{old}) {
		t.Errorf("schema_version rows = %v, want [%d]", v, old)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'half_done'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("half_done tables = %d, %v; want the failed migration rolled back", n, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	s := open(t, path)
	if err := s.CreateUser(ctx, &meta.User{Name: "alice"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	// As if a newer silo had migrated this database.
	newer := len(migrations) + 1
	if _, err := s.db.ExecContext(ctx, `UPDATE schema_version SET version = ?`, newer); err != nil {
		t.Fatalf("set schema_version: %v", err)
	}
	closeStore(t, s)

	s, err := Open(ctx, path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer silo succeeded")
	}
	// The operator must learn what is wrong and what to do about it.
	for _, want := range []string{path, "newer", "upgrade", fmt.Sprint("version ", newer)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error %q does not mention %q", err, want)
		}
	}

	// Refusing must not have touched the database: the newer silo can
	// still use it.
	setMigrations(t, append(slices.Clip(migrations), `SELECT 1`))
	s = open(t, path)
	defer s.Close()
	if v := schemaVersions(t, s); !slices.Equal(v, []int{newer}) {
		t.Errorf("schema_version rows = %v, want [%d]", v, newer)
	}
	if _, err := s.UserByName(ctx, "alice"); err != nil {
		t.Errorf("UserByName after a refused open: %v", err)
	}
}

// TestOpenPathWithURICharacters opens a database in a directory whose name
// holds the characters a SQLite URI treats specially. Open must use exactly
// the path it was given, not a truncated or unescaped one.
func TestOpenPathWithURICharacters(t *testing.T) {
	ctx := t.Context()
	parent := t.TempDir()
	for _, name := range []string{"a#b", "a?b", "a%41b", "a%b", "a b", "a&_pragma=query_only(1)"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(parent, name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "meta.db")
			s := open(t, path)
			if err := s.CreateUser(ctx, &meta.User{Name: "alice"}); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			closeStore(t, s)
			if _, err := os.Stat(path); err != nil {
				t.Errorf("the database is not at %s: %v", path, err)
			}
			s = open(t, path)
			defer s.Close()
			if _, err := s.UserByName(ctx, "alice"); err != nil {
				t.Errorf("after reopening %s: %v", path, err)
			}
		})
	}
	// Nothing may have been created beside the directories asked for.
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 6 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %q, want only the six test directories", parent, names)
	}
}

// TestOpenPathForms opens the path shapes an operator may configure: a
// relative path, and an absolute one written with a leading "//" (which a
// careless URI would read as a host name).
func TestOpenPathForms(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	t.Chdir(dir)
	for _, c := range []struct{ path, file string }{
		{"meta.db", filepath.Join(dir, "meta.db")},
		{"sub dir/x.db", filepath.Join(dir, "sub dir", "x.db")},
		{"/" + filepath.Join(dir, "slashes.db"), filepath.Join(dir, "slashes.db")},
	} {
		if err := os.MkdirAll(filepath.Dir(c.file), 0o755); err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, c.path)
		if err != nil {
			t.Errorf("Open(%q): %v", c.path, err)
			continue
		}
		if err := s.CreateUser(ctx, &meta.User{Name: "alice"}); err != nil {
			t.Errorf("Open(%q): CreateUser: %v", c.path, err)
		}
		closeStore(t, s)
		if _, err := os.Stat(c.file); err != nil {
			t.Errorf("Open(%q) did not make %s: %v", c.path, c.file, err)
		}
	}
}

// TestFindManyImages lists more images than SQLite takes parameters in one
// statement (32766), as an unlimited listing of a big registry does. The
// rows go in through one raw transaction: through the API each would be an
// fsync, far too slow for a unit test.
func TestFindManyImages(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "meta.db"))
	defer s.Close()
	e := &meta.Entity{Name: "big"}
	if err := s.CreateEntity(ctx, e); err != nil {
		t.Fatalf("CreateEntity: %v", err)
	}
	c := &meta.Collection{EntityID: e.ID, Name: "big"}
	if err := s.CreateCollection(ctx, c); err != nil {
		t.Fatalf("CreateCollection: %v", err)
	}
	k := &meta.Container{CollectionID: c.ID, Name: "big"}
	if err := s.CreateContainer(ctx, k); err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}

	const n = 33000
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO images (container_id, digest, uploaded, arch, created, updated) VALUES (?, ?, 1, 'amd64', ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).UnixNano()
	var first, last int64
	for i := range n {
		res, err := stmt.ExecContext(ctx, k.ID, fmt.Sprintf("%064x", i), base+int64(i), base+int64(i))
		if err != nil {
			t.Fatalf("insert image %d: %v", i, err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = id
		}
		last = id
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Tags on the first and last images, which land in different batches
	// of any batched tag lookup.
	for _, tg := range []meta.Tag{
		{ContainerID: k.ID, Arch: "amd64", Name: "oldest", ImageID: first},
		{ContainerID: k.ID, Arch: "amd64", Name: "latest", ImageID: last},
		{ContainerID: k.ID, Arch: "arm64", Name: "latest", ImageID: last},
	} {
		if err := s.SetTag(ctx, tg); err != nil {
			t.Fatalf("SetTag: %v", err)
		}
	}

	recs, err := s.Find(ctx, meta.Query{})
	if err != nil {
		t.Fatalf("Find with no limit over %d images: %v", n, err)
	}
	if len(recs) != n {
		t.Fatalf("Find returned %d records, want %d", len(recs), n)
	}
	if recs[0].ID != last || recs[n-1].ID != first {
		t.Errorf("Find order: first %d, last %d; want %d (newest) then %d", recs[0].ID, recs[n-1].ID, last, first)
	}
	tagged := 0
	for _, r := range recs {
		tagged += len(r.Tags)
	}
	if len(recs[0].Tags) != 2 || len(recs[n-1].Tags) != 1 || recs[n-1].Tags[0].Name != "oldest" || tagged != 3 {
		t.Errorf("tags: newest %+v, oldest %+v, %d in all; want 2, [oldest], 3", recs[0].Tags, recs[n-1].Tags, tagged)
	}
}

// TestOpenCanceled checks that Open reports a dead context instead of
// leaving a half-opened store behind.
func TestOpenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err == nil {
		s.Close()
		t.Fatal("Open with a canceled context succeeded")
	}
}

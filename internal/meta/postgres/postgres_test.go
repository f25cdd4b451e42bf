package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/meta/metatest"
	"github.com/siloreg/silo/internal/meta/postgres/pgtest"
)

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	pgtest.Admin(t) // skip once here, not in each of the suite's subtests
	metatest.Run(t, func(t *testing.T) meta.Store {
		return open(t, pgtest.FreshDSN(t))
	})
}

// schemaVersions returns every row of schema_version; there must be one.
func schemaVersions(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT version FROM schema_version`)
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

// TestConcurrentOpenMigratesOnce starts several nodes at once on an empty
// database: all must open it, and the migrations must run exactly once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := pgtest.FreshDSN(t)
	// A last migration that counts its own runs.
	setMigrations(t, append(slices.Clip(migrations), `CREATE TABLE IF NOT EXISTS migration_runs (n INTEGER NOT NULL);
INSERT INTO migration_runs VALUES (1);`))
	const nodes = 4
	stores := make([]*Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range nodes {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: Open: %v", i, err)
		} else {
			defer stores[i].Close()
		}
	}
	if t.Failed() {
		return
	}
	s := stores[0]
	var runs int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM migration_runs`).Scan(&runs); err != nil || runs != 1 {
		t.Errorf("migrations ran %d times (%v), want once", runs, err)
	}
	if v := schemaVersions(t, s); !slices.Equal(v, []int{len(migrations)}) {
		t.Errorf("schema_version rows = %v, want [%d]", v, len(migrations))
	}
}

// TestReopenMigratesNothing opens a database this silo made, with a new
// migration added: only that one runs, once, however often it is opened.
func TestReopenMigratesNothing(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.FreshDSN(t)
	s := open(t, dsn)
	if err := s.CreateUser(ctx, &meta.User{Name: "alice"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	s.Close()
	setMigrations(t, append(slices.Clip(migrations), `CREATE TABLE IF NOT EXISTS migration_runs (n INTEGER NOT NULL);
INSERT INTO migration_runs VALUES (1);`))
	for i := range 2 {
		s := open(t, dsn)
		var runs int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM migration_runs`).Scan(&runs); err != nil || runs != 1 {
			t.Errorf("open %d: the new migration ran %d times (%v), want once", i, runs, err)
		}
		if u, err := s.UserByName(ctx, "alice"); err != nil || u.Name != "alice" {
			t.Errorf("open %d: UserByName = %+v, %v", i, u, err)
		}
		s.Close()
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.FreshDSN(t)
	open(t, dsn).Close()
	old := len(migrations)

	// The first statement works, the second does not: neither may stick.
	setMigrations(t, append(slices.Clip(migrations), `CREATE TABLE half_done (x INTEGER);
INSERT INTO no_such_table VALUES (1);`))
	if s, err := Open(ctx, dsn); err == nil {
		s.Close()
		t.Fatal("Open with a broken migration succeeded")
	} else if !strings.Contains(err.Error(), fmt.Sprint("migration ", old+1)) {
		t.Errorf("Open error %q does not name the failed migration", err)
	}

	setMigrations(t, migrations[:old])
	s := open(t, dsn)
	defer s.Close()
	if v := schemaVersions(t, s); !slices.Equal(v, []int{old}) {
		t.Errorf("schema_version rows = %v, want [%d]", v, old)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("half_done tables = %d, %v; want the failed migration rolled back", n, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.FreshDSN(t)
	s := open(t, dsn)
	// As if a newer silo had migrated this database.
	newer := len(migrations) + 1
	if _, err := s.pool.Exec(ctx, `UPDATE schema_version SET version = $1`, newer); err != nil {
		t.Fatalf("set schema_version: %v", err)
	}
	s.Close()

	s, err := Open(ctx, dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer silo succeeded")
	}
	// The operator must learn what is wrong and what to do about it.
	for _, want := range []string{"newer", "upgrade", fmt.Sprint("version ", newer)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error %q does not mention %q", err, want)
		}
	}
}

// TestOpenHidesPassword checks that a failed Open does not repeat the
// password from the DSN into logs.
func TestOpenHidesPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// Port 1 on localhost: refused at once.
	s, err := Open(ctx, "postgres://silo:hunter2secret@127.0.0.1:1/silo?sslmode=disable")
	if err == nil {
		s.Close()
		t.Fatal("Open of a server that is not there succeeded")
	}
	if strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("Open error %q contains the password", err)
	}
}

// TestOpenCanceled checks that Open reports a dead context instead of
// leaving a half-opened store behind.
func TestOpenCanceled(t *testing.T) {
	dsn := pgtest.FreshDSN(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s, err := Open(ctx, dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open with a canceled context succeeded")
	}
}

// TestFindManyImages lists more images than one tag batch holds, with
// tags on images in the first and the last batch.
func TestFindManyImages(t *testing.T) {
	ctx := t.Context()
	s := open(t, pgtest.FreshDSN(t))
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
	n := 2*tagBatch + 1
	base := time.Now().Add(-time.Hour).UnixNano()
	if _, err := s.pool.Exec(ctx, `INSERT INTO images (container_id, digest, uploaded, arch, created, updated)
		SELECT $1, lpad(to_hex(g), 64, '0'), true, 'amd64', $2::BIGINT + g, $2::BIGINT + g FROM generate_series(0, $3 - 1) AS g`,
		k.ID, base, n); err != nil {
		t.Fatalf("insert images: %v", err)
	}
	var first, last int64
	if err := s.pool.QueryRow(ctx, `SELECT min(id), max(id) FROM images`).Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
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

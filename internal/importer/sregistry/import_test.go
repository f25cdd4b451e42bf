package sregistry_test

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	library "github.com/apptainer/container-library-client/client"
	"github.com/jackc/pgx/v5"

	"github.com/siloreg/silo/internal/api/sregistry/sregistrytest"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/backend"
	"github.com/siloreg/silo/internal/backend/backendtest"
	importer "github.com/siloreg/silo/internal/importer/sregistry"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const defaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func serverDSN() string {
	if dsn := os.Getenv("SILO_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return defaultDSN
}

// freshSchema makes a schema of its own for the test's sregistry database,
// dropped at the end, and returns a DSN whose search_path is that schema.
// Without a server the test skips loudly, and fails in CI.
func freshSchema(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverDSN())
	if err != nil {
		msg := fmt.Sprintf("START POSTGRES: the silo import tests need a PostgreSQL server for the sregistry database (SILO_TEST_POSTGRES, default %s): %v", defaultDSN, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "sreg_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		conn.Close(context.Background())
	})
	if _, err := conn.Exec(ctx, `SET search_path TO `+schema); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, sregistrySchema); err != nil {
		t.Fatalf("creating sregistry's tables: %v", err)
	}
	u, _ := url.Parse(serverDSN())
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), conn
}

// site is a realistic sregistry: its database rows and its image files.
type site struct {
	dsn, images  string
	tokens       map[string]string
	digests      map[string]string // "collection/name:tag" → sha256 hex of what it should be
	shareExpires time.Time
}

func shareName(id, container int, expires time.Time) string {
	return fmt.Sprintf("#%d (container #%d, expires %s)", id, container, expires.UTC().Format(time.RFC3339))
}

// sregistry's share secrets are uuid4s.
const (
	shareSecret   = "3f2b9c1e-8d4a-4c6b-9e7f-0a1b2c3d4e5f"
	expiredSecret = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"
)

func token(i int) string { return fmt.Sprintf("%040x", 0xabc000+i) }

func buildSite(t *testing.T) *site {
	dsn, db := freshSchema(t)
	ctx := context.Background()
	s := &site{dsn: dsn, images: t.TempDir(), tokens: map[string]string{}, digests: map[string]string{}}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	now := time.Now()
	users := []struct {
		name                 string
		super, staff, active bool
		hasToken             bool
	}{
		{"siteadmin", true, false, true, true},   // 1
		{"staffer", false, true, true, true},     // 2
		{"alice", false, false, true, true},      // 3
		{"bob", false, false, true, true},        // 4
		{"carol", false, false, false, true},     // 5: deactivated
		{"Bad Name", false, false, true, true},   // 6: not a Silo name
		{"dave", false, false, true, false},      // 7: never made a token
		{"olduser", false, false, true, true},    // 8: a Silo account of that name exists already
		{"Mixed.Case", false, false, true, true}, // 9: becomes mixed.case
	}
	for i, u := range users {
		exec(`INSERT INTO users_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined, active, agree_terms)
			VALUES ('pbkdf2_sha256$x', $1, $2, '', '', $3, $4, $5, $6, true, true)`, u.super, u.name, strings.ToLower(u.name)+"@example.org", u.staff, u.active, now)
		if u.hasToken {
			s.tokens[u.name] = token(i + 1)
			exec(`INSERT INTO authtoken_token (key, created, user_id) VALUES ($1, $2, $3)`, token(i+1), now, i+1)
		}
	}
	exec(`INSERT INTO users_team (name, created_at, updated_at, permission) VALUES ('lab', $1, $1, 'invite')`, now)
	exec(`INSERT INTO users_team_owners (team_id, user_id) VALUES (1, 3)`)
	exec(`INSERT INTO users_team_members (team_id, user_id) VALUES (1, 4)`)

	for _, c := range []struct {
		name    string
		private bool
	}{{"tools", false}, {"private-stuff", true}, {"staffonly", true}, {"Bad Collection", false}, {"olddata", false}} {
		exec(`INSERT INTO main_collection (name, add_date, modify_date, secret, metadata, private) VALUES ($1, $2, $2, 'x', '{}', $3)`, c.name, now, c.private)
	}
	exec(`INSERT INTO main_collection_owners (collection_id, user_id) VALUES (1, 3), (2, 3), (3, 2), (4, 3)`)
	exec(`INSERT INTO main_collection_contributors (collection_id, user_id) VALUES (2, 4)`)

	file := func(rel string, seed int64) (sha, md string) {
		t.Helper()
		p := filepath.Join(s.images, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		d, _, err := siftest.Write(p, siftest.Options{Seed: seed, Labels: map[string]string{"org.label-schema.name": fmt.Sprint("image ", seed)}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		m := md5.Sum(b)
		return d, hex.EncodeToString(m[:])
	}
	nimg := 0
	container := func(col int, name, tag, version, datafile string, frozen bool) {
		t.Helper()
		var image any
		if datafile != "" {
			nimg++
			exec(`INSERT INTO api_imagefile (created, collection, tag, metadata, name, owner_id, datafile) VALUES ($1, '', $2, '', $3, '3', $4)`, now, tag, name, datafile)
			image = nimg
		}
		exec(`INSERT INTO main_container (add_date, collection_id, image_id, metadata, metrics, name, tag, secret, version, frozen)
			VALUES ($1, $2, $3, '{"size_mb": 0}', '{}', $4, $5, 'x', $6, $7)`, now, col, image, name, tag, version, frozen)
	}
	d1, m1 := file("tools/bwa-0.7.17.sif", 1)
	container(1, "bwa", "0.7.17", "sha256."+d1, "tools/bwa-0.7.17.sif", false)
	// The same bytes under another tag, recorded with an absolute path and
	// the md5 version nginx gave it before sregistry's job replaced it.
	file("tools/bwa-latest.sif", 1)
	container(1, "bwa", "latest", m1, "/var/www/images/tools/bwa-latest.sif", false)
	s.digests["tools/bwa:0.7.17"], s.digests["tools/bwa:latest"] = d1, d1
	d2, _ := file("tools/samtools-1.0.sif", 2)
	container(1, "samtools", "1.0", "sha256."+d2, "tools/samtools-1.0.sif", true)
	d3, _ := file("tools/samtools-1.1.sif", 3) // "latest" moved here from 1.0
	container(1, "samtools", "latest", "", "tools/samtools-1.1.sif", false)
	s.digests["tools/samtools:1.0"], s.digests["tools/samtools:latest"] = d2, d3
	d4, _ := file("private-stuff/secret-1.sif", 4)
	container(2, "secret", "1", "sha256."+d4, "private-stuff/secret-1.sif", false)
	s.digests["private-stuff/secret:1"] = d4
	d5, _ := file("staffonly/x-1.sif", 5)
	container(3, "x", "1", "sha256."+d5, "/var/www/images/staffonly/x-1.sif", false)
	s.digests["staffonly/x:1"] = d5
	file("Bad Collection/y.sif", 6)
	container(4, "y", "1", "", "Bad Collection/y.sif", false)
	container(1, "missing", "1", "", "tools/missing.sif", false)
	file("olddata/z.sif", 10)
	container(5, "z", "1", "", "olddata/z.sif", false)
	_, _ = file("tools/damaged.sif", 7)
	container(1, "damaged", "1", "sha256."+strings.Repeat("0", 64), "tools/damaged.sif", false)
	container(1, "remote", "1", "", "", false)
	container(1, "escape", "1", "", "../../etc/passwd", false)
	file("tools/bwa-dummy.sif", 8)
	container(1, "bwa", "DUMMY-1b2c", "", "tools/bwa-dummy.sif", false)

	// Stars: alice and bob on tools, bob on the private collection he
	// contributes to, carol (disabled) on a public one; Bad Name is not
	// imported, dave cannot read private-stuff, Bad Collection is not imported.
	exec(`INSERT INTO main_star (user_id, collection_id) VALUES (3, 1), (4, 1), (4, 2), (5, 1), (6, 1), (7, 2), (3, 4)`)
	s.shareExpires = now.Add(72 * time.Hour).Truncate(time.Microsecond)
	exec(`INSERT INTO main_share (container_id, expire_date, secret) VALUES (1, $1, $3), (2, $2, $4)`, s.shareExpires, now.Add(-time.Hour), shareSecret, expiredSecret)
	exec(`INSERT INTO main_label (key, value) VALUES ('maintainer', 'alice')`)
	exec(`INSERT INTO main_label_containers (label_id, container_id) VALUES (1, 1)`)
	return s
}

// runImport runs silo import's code on the Silo data directory data.
func runImport(t *testing.T, ctx context.Context, s *site, data string, opts importer.Options) (*importer.Report, error) {
	t.Helper()
	st, err := importer.Read(ctx, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	m, b, err := backend.Open(ctx, storesFor(t, data))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	key, err := server.SregistryKey(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.Config{Meta: m, Blobs: b, Defaults: ref.Defaults{Entity: "default", Collection: "default"}, SecretKey: key, Log: quiet})
	opts.Images = s.images
	return importer.New(reg, registry.Operator("test"), st, opts).Run(ctx)
}

// snapshot is everything the import made, in a stable order.
func snapshot(t *testing.T, data string) string {
	t.Helper()
	ctx := context.Background()
	m, b, err := backend.Open(ctx, storesFor(t, data))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	reg := registry.New(registry.Config{Meta: m, Blobs: b, Defaults: ref.Defaults{Entity: "default", Collection: "default"}, Log: quiet})
	recs, err := reg.Find(ctx, registry.Operator("test"), meta.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range recs {
		var tags []string
		for _, tg := range r.Tags {
			tags = append(tags, tg.Name)
		}
		sort.Strings(tags)
		lines = append(lines, fmt.Sprintf("image %s/%s/%s %v sha256.%s private=%v frozen=%v creator=%d team=%d",
			r.Entity, r.Collection, r.Container, tags, r.Digest, r.Private, r.Frozen, r.CreatedBy, r.TeamID))
	}
	users, _ := m.Users(ctx)
	cols := map[string]bool{}
	for _, r := range recs {
		if cols[r.Collection] {
			continue
		}
		cols[r.Collection] = true
		_, c, err := reg.Collection(ctx, registry.Operator("test"), r.Entity, r.Collection)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if _, on, _ := m.Stars(ctx, c.ID, u.ID); on {
				lines = append(lines, fmt.Sprintf("star %s %s/%s", u.Name, r.Entity, r.Collection))
			}
		}
	}
	for _, u := range users {
		toks, _ := m.Tokens(ctx, u.ID)
		lines = append(lines, fmt.Sprintf("user %s %s disabled=%v tokens=%d", u.Name, u.Role, u.Disabled, len(toks)))
	}
	teams, _ := m.Teams(ctx)
	for _, tm := range teams {
		ms, _ := m.Members(ctx, tm.ID)
		var names []string
		for _, x := range ms {
			u, _ := m.User(ctx, x.UserID)
			names = append(names, fmt.Sprintf("%s:%v", u.Name, x.Owner))
		}
		sort.Strings(names)
		lines = append(lines, fmt.Sprintf("team %s %v", tm.Name, names))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func find(rep *importer.Report, kind, name string) *importer.Item {
	for i := range rep.Items {
		if rep.Items[i].Kind == kind && rep.Items[i].Name == name {
			return &rep.Items[i]
		}
	}
	return nil
}

func TestImport(t *testing.T) {
	s := buildSite(t)
	ctx := context.Background()
	data := t.TempDir()

	// Silo already has an account called olduser, which may be someone else.
	m, _, err := backend.Open(ctx, storesFor(t, data))
	if err != nil {
		t.Fatal(err)
	}
	old, err := auth.CreateUser(ctx, m, "olduser", "", meta.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	// And a team called lab, and a collection default/olddata, made in Silo.
	if err := m.CreateTeam(ctx, &meta.Team{Name: "lab"}); err != nil {
		t.Fatal(err)
	}
	ent := &meta.Entity{Name: "default"}
	if err := m.CreateEntity(ctx, ent); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateCollection(ctx, &meta.Collection{EntityID: ent.ID, Name: "olddata", CreatedBy: old.ID}); err != nil {
		t.Fatal(err)
	}
	m.Close()

	// A dry run plans and writes nothing.
	rep, err := runImport(t, ctx, s, data, importer.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.Print(&out)
	t.Logf("dry run:\n%s", out.String())
	// The dry run does not read whole files, so the damaged one is planned
	// too; the import finds it out.
	if got := rep.Count("image", importer.Planned); got != 7 {
		t.Errorf("dry run plans %d images, want 7", got)
	}
	if got := rep.Count("star", importer.Planned); got != 5 {
		t.Errorf("dry run plans %d stars, want 5", got)
	}
	if rep.Count("", importer.Moved) != 0 || !strings.Contains(out.String(), "nothing was written") {
		t.Error("the dry run says it moved something")
	}
	if snap := snapshot(t, data); strings.Contains(snap, "image ") || strings.Contains(snap, "alice") || strings.Contains(snap, "olduser user false tokens=1") {
		t.Errorf("the dry run wrote:\n%s", snap)
	}

	rep, err = runImport(t, ctx, s, data, importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	rep.Print(&out)
	t.Logf("import:\n%s", out.String())
	if got := rep.Count("image", importer.Moved); got != 6 {
		t.Errorf("moved %d images, want 6", got)
	}
	for _, want := range []struct{ kind, name, result, why string }{
		{"user", "Bad Name", importer.Skipped, "not a valid Silo name"},
		{"user", "Mixed.Case → mixed.case", importer.Moved, "token kept"},
		{"collection", "Bad Collection", importer.Skipped, "not a valid Silo name"},
		{"image", "tools/missing:1", importer.Skipped, "no such file"},
		{"image", "tools/damaged:1", importer.Skipped, "damaged or replaced"},
		{"image", "tools/remote:1", importer.Skipped, "no image file"},
		{"image", "tools/escape:1", importer.Skipped, "leaves the images directory"},
		{"image", "tools/bwa:DUMMY-1b2c", importer.Skipped, "unfinished library:// push"},
		{"star", "alice → tools", importer.Moved, ""},
		{"star", "bob → private-stuff", importer.Moved, ""},
		{"star", "carol → tools", importer.Moved, ""},
		{"star", "Bad Name → tools", importer.Skipped, "user was not imported"},
		{"star", "dave → private-stuff", importer.Skipped, "may not read"},
		{"star", "alice → Bad Collection", importer.Skipped, "collection was not imported"},
		{"share", shareName(1, 1, s.shareExpires), importer.Moved, "tools/bwa:0.7.17"},
		{"freeze", "tools/samtools", importer.Noted, "frozen"},
		{"user", "carol", importer.Moved, "disabled"},
		{"user", "siteadmin", importer.Moved, "admin"},
		{"user", "olduser", importer.Present, ""},
		{"token", "olduser", importer.Skipped, "existed before the import"},
		{"team", "lab", importer.Skipped, "exists already"},
		{"collection", "olddata", importer.Skipped, "exists already"},
		{"image", "olddata/z:1", importer.Skipped, "collection was not imported"},
	} {
		it := find(rep, want.kind, want.name)
		if it == nil || it.Result != want.result || !strings.Contains(it.Detail, want.why) {
			t.Errorf("%s %s: %+v, want %s (%s)", want.kind, want.name, it, want.result, want.why)
		}
	}
	first := snapshot(t, data)
	for _, want := range []string{"star alice default/tools", "star bob default/tools", "star bob default/private-stuff", "star carol default/tools"} {
		if !strings.Contains(first, want+"\n") {
			t.Errorf("after the import, no %q in:\n%s", want, first)
		}
	}
	if n := strings.Count(first, "star "); n != 4 {
		t.Errorf("%d stars after the import, want 4:\n%s", n, first)
	}

	// Twice: nothing doubles, nothing moves.
	rep, err = runImport(t, ctx, s, data, importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := rep.Count("", importer.Moved); n != 0 {
		out.Reset()
		rep.Print(&out)
		t.Errorf("the second run moved %d items:\n%s", n, out.String())
	}
	if second := snapshot(t, data); second != first {
		t.Errorf("the second run changed the registry:\n%s\n---\n%s", first, second)
	}

	checkServed(t, s, data)
}

// checkServed starts Silo on the imported data and checks names, digests
// and permissions through the web UI, the sregistry API (as sregistry-cli)
// and the library API (as apptainer's client asks it).
func checkServed(t *testing.T, s *site, data string) {
	in := servertest.StartExisting(t, serverFor(t, data))
	checkWeb(t, s, in)
	as := func(user string) *sregistrytest.CLI { return sregistrytest.New(t, in.URL, user, s.tokens[user]) }
	// Every image, by every tag, to its owner, with the recorded digest.
	owner := map[string]string{"tools": "alice", "private-stuff": "alice", "staffonly": "staffer"}
	for name, digest := range s.digests {
		c := as(owner[strings.Split(name, "/")[0]])
		m, _, r := c.Pull(name)
		if r.Status != 200 || m["version"] != "sha256."+digest {
			t.Errorf("pull %s: %d %v, want sha256.%s", name, r.Status, m["version"], digest)
		}
	}
	type check struct {
		who, name string
		ok        bool
	}
	for _, c := range []check{
		{"bob", "private-stuff/secret:1", true},    // a contributor sees a private collection
		{"bob", "staffonly/x:1", false},            // but not someone else's
		{"siteadmin", "staffonly/x:1", true},       // superusers see everything
		{"alice", "staffonly/x:1", false},          //
		{"carol", "tools/bwa:0.7.17", true},        // public: her disabled account does not matter, the unsigned GET answers
		{"carol", "private-stuff/secret:1", false}, // disabled
	} {
		_, _, r := as(c.who).Pull(c.name)
		if (r.Status == 200) != c.ok {
			t.Errorf("%s pulls %s: %d %s, want ok=%v", c.who, c.name, r.Status, r.Body, c.ok)
		}
	}
	m, _, _ := as("alice").Pull("tools/samtools:1.0")
	if m["frozen"] != true {
		t.Errorf("samtools is not frozen: %v", m)
	}
	if r := as("alice").Remove("tools/samtools:1.0"); r.Status != 409 {
		t.Errorf("deleting from a frozen container: %d", r.Status)
	}
	// A renamed user signs with the name sregistry knew.
	if _, _, r := as("Mixed.Case").Pull("tools/bwa:0.7.17"); r.Status != 200 {
		t.Errorf("Mixed.Case pulls: %d", r.Status)
	}
	mc := as("Mixed.Case")
	mc.Headers.Set("Authorization", mc.Authorize("pull", "private-stuff", "secret", "1"))
	if r := mc.Get(mc.Base + "/container/private-stuff/secret:1"); r.Status != 404 {
		t.Errorf("Mixed.Case's signature is not recognised: %d %s", r.Status, r.Body)
	}
	// Old tokens push with sregistry-cli.
	p := filepath.Join(t.TempDir(), "new.sif")
	if _, _, err := siftest.Write(p, siftest.Options{Seed: 99}); err != nil {
		t.Fatal(err)
	}
	if _, up := as("alice").Push(p, "tools/bwa:0.8"); up.Status != 200 {
		t.Errorf("alice pushes with her sregistry token: %d %s", up.Status, up.Body)
	}
	if ck, _ := as("bob").Push(p, "tools/bwa:0.9"); ck.Status != 403 {
		t.Errorf("bob pushes to alice's collection: %d", ck.Status)
	}

	// The share link sregistry handed out still downloads; the expired one does not.
	for secret, want := range map[string]int{shareSecret: 200, expiredSecret: 404} {
		resp, err := http.Get(in.URL + "/containers/1/download/share/" + secret)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha256.Sum256(b)
		if resp.StatusCode != want || (want == 200 && hex.EncodeToString(sum[:]) != s.digests["tools/bwa:0.7.17"]) {
			t.Errorf("share link %s: %d, want %d with the image", secret, resp.StatusCode, want)
		}
	}

	// The library API through apptainer's own client: names under the
	// default entity, privacy, and the imported tokens as API tokens.
	lib := func(tok, path string) (string, error) {
		c, err := library.NewClient(&library.Config{BaseURL: in.URL, AuthToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		img, err := c.GetImage(context.Background(), "amd64", "default/"+path)
		if err != nil {
			return "", err
		}
		return img.Hash, nil
	}
	for _, c := range []struct {
		tok, path string
		ok        bool
	}{
		{"", "tools/bwa:0.7.17", true},
		{"", "tools/bwa:latest", true},
		{"", "tools/samtools:latest", true},
		{"", "tools/samtools:1.0", true},
		{"", "private-stuff/secret:1", false},
		{s.tokens["alice"], "private-stuff/secret:1", true},
		{s.tokens["bob"], "private-stuff/secret:1", true},
		{s.tokens["bob"], "staffonly/x:1", false},
		{s.tokens["staffer"], "staffonly/x:1", true},
		{s.tokens["siteadmin"], "staffonly/x:1", true},
	} {
		hash, err := lib(c.tok, c.path)
		if (err == nil) != c.ok || (c.ok && hash != "sha256."+s.digests[c.path]) {
			t.Errorf("library API %s with token %q: %q %v, want ok=%v with sha256.%s", c.path, c.tok, hash, err, c.ok, s.digests[c.path])
		}
	}
	if _, err := lib(s.tokens["olduser"], "tools/bwa:0.7.17"); err == nil {
		t.Error("sregistry's olduser token opens the Silo account that had that name before")
	}
	// A disabled account's token opens nothing.
	if _, err := lib(s.tokens["carol"], "tools/bwa:0.7.17"); err == nil {
		t.Error("carol's token works though her account was inactive in sregistry")
	}
}

func TestImportResumes(t *testing.T) {
	s := buildSite(t)
	whole := t.TempDir()
	if _, err := runImport(t, context.Background(), s, whole, importer.Options{}); err != nil {
		t.Fatal(err)
	}
	// Stop the import as it starts its third image, as Ctrl-C would.
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := runImport(t, ctx, s, data, importer.Options{Progress: func(string) {
		if n++; n == 3 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted import: %v", err)
	}
	if snap := snapshot(t, data); strings.Count(snap, "image ") >= 5 {
		t.Fatalf("the interruption came too late to test anything:\n%s", snap)
	}
	rep, err := runImport(t, context.Background(), s, data, importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count("image", importer.Present) == 0 {
		t.Error("the second run found nothing of the first")
	}
	if a, b := snapshot(t, whole), snapshot(t, data); a != b {
		t.Errorf("interrupted and resumed differs from a whole import:\n%s\n---\n%s", a, b)
	}
	// With the old site's files gone, what was imported by its sha256
	// version is still found there, not reported missing.
	if err := os.RemoveAll(s.images); err != nil {
		t.Fatal(err)
	}
	rep, err = runImport(t, context.Background(), s, data, importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tools/bwa:0.7.17", "tools/samtools:1.0", "private-stuff/secret:1"} {
		if it := find(rep, "image", name); it == nil || it.Result != importer.Present {
			t.Errorf("%s once its file is gone: %+v", name, it)
		}
	}
}

// stores remembers the stores chosen for each Silo data directory, so that
// every open of one directory in a test finds the same registry on either
// test configuration (backendtest).
var stores sync.Map

func storesFor(t *testing.T, data string) backend.Config {
	t.Helper()
	if c, ok := stores.Load(data); ok {
		return c.(backend.Config)
	}
	c := backendtest.Config(t, data)
	stores.Store(data, c)
	return c
}

func serverFor(t *testing.T, data string) server.Config {
	c := storesFor(t, data)
	return server.Config{Data: c.Data, DB: c.DB, Store: c.Store}
}

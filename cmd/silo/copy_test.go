package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/backend"
	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/regcopy"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// world is a small but complete registry, made through the CLI and the API
// the way people make one, and what must still be true of it after a copy.
type world struct {
	alice, bob, ci string // API tokens
	bwa, app, bobs []byte // images pushed
	share          string // a share link's path, /s/<secret>/...
}

func makeWorld(t *testing.T, c *cli) *world {
	t.Helper()
	w := &world{}
	w.alice = c.login("alice")
	w.bob = c.in.User(t, "bob", false)
	c.with("alice-password\n", c.in.Offline("user", "passwd", "alice")...)

	w.bwa = c.sif("bwa.sif", siftest.Options{Seed: 1, Labels: map[string]string{"org.opencontainers.image.title": "BWA \"aligner\""}})
	c.ok("push", "bwa.sif", "alice/tools/bwa:0.7.17")
	c.ok("push", "bwa.sif", "alice/tools/bwa:latest")
	w.app = c.sif("app.sif", siftest.Options{Seed: 2})
	c.ok("push", "app.sif", "alice/secret/app:1")
	c.ok("collection", "private", "alice/secret")

	c.as(c.in.AdminToken, func() {
		c.ok("team", "create", "lab", "--description", "The lab")
		c.ok("team", "add", "lab", "alice", "--owner")
		c.ok("team", "add", "lab", "bob")
	})
	c.ok("collection", "give", "alice/tools", "lab")
	w.bobs = c.sif("bobs.sif", siftest.Options{Seed: 3})
	c.as(w.bob, func() { c.ok("push", "bobs.sif", "alice/tools/bobs:1") })

	w.ci = strings.TrimSpace(c.ok("token", "create", "--name", "ci", "--scope", "push,read"))
	r := c.run("", "share", "alice/tools/bwa:0.7.17", "--expires", "72h")
	if r.e != nil {
		t.Fatalf("silo share: %v", r.e)
	}
	w.share = strings.TrimPrefix(strings.TrimSpace(r.out), c.in.URL)
	c.ok("freeze", "alice/tools/bwa")
	return w
}

// check drives a server holding a copy of the world through the CLI and
// plain HTTP, as its users would.
func (w *world) check(t *testing.T, c *cli, url string) {
	t.Helper()
	t.Setenv("SILO_SERVER", url)
	defer t.Setenv("SILO_SERVER", "")
	c.as(w.alice, func() {
		out := c.ok("ls")
		has(t, "ls", out, `alice/tools/bwa`, `0\.7\.17`, `alice/secret/app`, `alice/tools/bobs`)
		c.ok("pull", "alice/tools/bwa:0.7.17", "-o", "bwa.out", "--force")
		c.sameFile("bwa.out", w.bwa)
		c.ok("pull", "alice/secret/app:1", "-o", "app.out", "--force")
		c.sameFile("app.out", w.app)
		has(t, "search", c.ok("search", "aligner"), `alice/tools/bwa`)
		has(t, "team list", c.ok("team", "list"), `(?m)^lab\s+admin\*, alice\*, bob\s+The lab$`)
		// Frozen still: the tag cannot move.
		c.fails([]string{"push", "app.sif", "alice/tools/bwa:latest"}, "frozen")
	})
	c.as(w.bob, func() {
		c.ok("pull", "alice/tools/bobs:1", "-o", "bobs.out", "--force")
		c.sameFile("bobs.out", w.bobs)
		c.fails([]string{"pull", "alice/secret/app:1", "-o", "nope.out"}, "not found")
	})
	c.as("", func() {
		c.fails([]string{"pull", "alice/secret/app:1", "-o", "nope.out"}, "not found")
	})
	c.as(w.ci, func() {
		c.ok("push", "app.sif", "alice/ci/app:new")
		c.ok("delete", "-F", "alice/ci/app:new")
	})
	// The password hash came along.
	c.with("alice-password\n", "login", url, "--user", "alice")
	// The share link's secret still opens the same bytes, anonymously.
	st, got := download(t, url+w.share)
	if st != http.StatusOK || !bytes.Equal(got, w.bwa) {
		t.Errorf("share link after the copy: %d, %d bytes", st, len(got))
	}
}

// dumpRows reads every registry table of s, with flags as 0/1 and JSON
// objects re-encoded, so rows from different backends compare equal.
func dumpRows(t *testing.T, s meta.Store) map[string][]meta.Row {
	t.Helper()
	ts, err := s.Tables(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var keep []meta.Table
	for _, tb := range ts {
		if !meta.Transient[tb.Name] {
			keep = append(keep, tb)
		}
	}
	out := map[string][]meta.Row{}
	err = s.ReadRows(t.Context(), keep, func(tb meta.Table, r meta.Row) error {
		// Columns in name order, so column order cannot differ either.
		byCol := map[string]any{}
		for i, c := range tb.Columns {
			v := r[i]
			switch x := v.(type) {
			case bool:
				v = int64(0)
				if x {
					v = int64(1)
				}
			case string:
				var obj map[string]any
				if strings.HasPrefix(x, "{") && json.Unmarshal([]byte(x), &obj) == nil {
					b, _ := json.Marshal(obj)
					v = string(b)
				}
			}
			byCol[c] = v
		}
		b, _ := json.Marshal(byCol) // sorted keys
		out[tb.Name] = append(out[tb.Name], meta.Row{string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameRows(t *testing.T, what string, got, want map[string][]meta.Row) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	for name, rows := range want {
		if !reflect.DeepEqual(got[name], rows) {
			t.Errorf("%s: table %s has\n%v\nwant\n%v", what, name, got[name], rows)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected table %s", what, name)
		}
	}
}

// TestCopyRoundTrip copies a registry from SQLite and files to PostgreSQL
// and S3 and back to a new data directory, serves each copy, and checks
// everything in it as its users would; then repeats the copy (nothing
// doubles) and finishes an interrupted one.
func TestCopyRoundTrip(t *testing.T) {
	pg, store := backendtest.FreshDB(t), backendtest.FreshStore(t)
	c := newCLI(t)
	w := makeWorld(t, c)
	want := openSide(t, c.in.Data, c.in.DB, c.in.Store)
	from := sideFlags("from", c.in)

	// To PostgreSQL and S3, served there, then a second time.
	// How many blobs a push makes depends on the path the client took
	// (an OCI push keeps its config blob too), so count the source's.
	n := blobCount(t, want)
	out := c.ok(append(from, "--to-db", pg, "--to-store", store)...)
	has(t, "copy", out, fmt.Sprintf(`(?m)^copied \d+ rows and %d blobs`, n))
	mid := openSide(t, t.TempDir(), pg, store)
	sameRows(t, "postgres+s3", dumpRows(t, mid.Meta), dumpRows(t, want.Meta))
	c.ok("fsck", "--verify", "--db", pg, "--store", store)
	out = c.ok(append(from, "--to-db", pg, "--to-store", store)...)
	has(t, "second copy", out, fmt.Sprintf(`(?m)^copied \d+ rows and 0 blobs \(%d already there`, n))
	sameRows(t, "postgres+s3, copied twice", dumpRows(t, mid.Meta), dumpRows(t, want.Meta))
	onPG := servertest.StartExisting(t, server.Config{Data: t.TempDir(), DB: pg, Store: store})
	w.check(t, c, onPG.URL)

	// And back, into a new data directory: interrupted once, then finished.
	back := t.TempDir()
	onPGStores := openSide(t, t.TempDir(), pg, store)
	to := openSide(t, back, "", "")
	ctx, cancel := context.WithCancel(t.Context())
	_, err := regcopy.Copy(ctx, onPGStores, to, regcopy.Options{BatchRows: 1, Progress: func(f string, args ...any) {
		if strings.Contains(fmt.Sprintf(f, args...), "images") {
			cancel() // partway through the rows
		}
	}})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted copy: %v, want context.Canceled", err)
	}
	to.Meta.Close()
	out = c.ok("copy", "--from-db", pg, "--from-store", store, "--to-data", back)
	has(t, "resumed copy", out, `(?m)^copied \d+ rows`)
	c.ok("fsck", "--verify", "--data", back)
	final := openSide(t, back, "", "")
	// The PostgreSQL copy has been used since (downloads, logins, audit).
	sameRows(t, "back in SQLite", dumpRows(t, final.Meta), dumpRows(t, onPGStores.Meta))
	onFS := servertest.StartExisting(t, server.Config{Data: back})
	w.check(t, c, onFS.URL)
	// New rows get new ids.
	c.ok("user", "add", "carol", "--data", back)
}

// TestCopyRefusesAnotherRegistry: a destination holding some other
// registry is left alone unless --replace says to empty it.
func TestCopyRefusesAnotherRegistry(t *testing.T) {
	c := newCLI(t)
	c.login("alice")
	c.sif("a.sif", siftest.Options{Seed: 1})
	c.ok("push", "a.sif", "alice/tools/a:1")
	other := servertest.Start(t, server.Config{}) // its own admin, its own key
	from, to := sideFlags("from", c.in), sideFlags("to", other)[1:]
	c.fails(append(from, to...), "holds a different registry", "--replace")
	c.fails(append(from, sideFlags("to", c.in)[1:]...), "same")
	c.fails(append([]string{"copy"}, to...), "--from-data")
	// The same stores spelt another way: --replace must not empty the source.
	self := sideFlags("to", c.in)[1:]
	if c.in.DB != "" {
		self[slices.Index(self, "--to-db")+1] += "&application_name=silo-copy-test"
	} else {
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(c.in.Data, link); err != nil {
			t.Fatal(err)
		}
		self[1] = link
	}
	c.fails(append(append(from, self...), "--replace"), "same database")
	c.ok("ls", "alice/tools")
	r := c.run("", append(append(from, to...), "--replace")...)
	if r.e != nil {
		t.Fatalf("copy --replace: %v", r.e)
	}
	has(t, "copy --replace", r.err, `emptying the destination \(.*\d+ users`)
	has(t, "copy --replace", r.out, fmt.Sprintf(`(?m)^copied \d+ rows and %d blobs`, blobCount(t, openSide(t, c.in.Data, c.in.DB, c.in.Store))))
	c.ok(other.Offline("fsck")...)
	sameRows(t, "after --replace", dumpRows(t, openSide(t, other.Data, other.DB, other.Store).Meta), dumpRows(t, openSide(t, c.in.Data, c.in.DB, c.in.Store).Meta))
}

// sideFlags returns `copy` and the flags naming in's stores as the side
// dir ("from" or "to") of a copy.
func sideFlags(dir string, in *servertest.Instance) []string {
	out := []string{"copy", "--" + dir + "-data", in.Data}
	if in.DB != "" {
		out = append(out, "--"+dir+"-db", in.DB)
	}
	if in.Store != "" {
		out = append(out, "--"+dir+"-store", in.Store)
	}
	return out
}

// openSide opens a side's stores for the test to inspect, closed at the end.
func openSide(t *testing.T, data, db, store string) regcopy.Stores {
	t.Helper()
	m, b, err := backend.Open(t.Context(), backend.Config{Data: data, DB: db, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return regcopy.Stores{Meta: m, Blobs: b}
}

// blobCount counts the blobs a registry's store holds.
func blobCount(t *testing.T, s regcopy.Stores) int {
	t.Helper()
	n := 0
	if err := s.Blobs.Walk(t.Context(), func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

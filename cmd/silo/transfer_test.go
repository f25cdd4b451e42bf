package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/sif/siftest"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestPushPullListDelete walks an image through its life with the CLI:
// pushed under short and full names, listed, found, pulled by tag and by
// version, deleted.
func TestPushPullListDelete(t *testing.T) {
	c := newCLI(t)
	c.login("alice")
	bwa := c.sif("bwa.sif", siftest.Options{Seed: 1, Size: 200 << 10, Labels: map[string]string{"org.label-schema.name": "bwa"}})
	sam := c.sif("sam.sif", siftest.Options{Seed: 2, Size: 100 << 10, Arch: "arm64"})
	bwaDigest, samDigest := digestOf(bwa), digestOf(sam)

	// Two-part name, two tags: lands under the default entity.
	out := c.ok("push", "bwa.sif", "tools/bwa:0.7.17,latest")
	want := fmt.Sprintf("pushed default/tools/bwa:0.7.17,latest (amd64, %s, sha256.%s)\n", humanBytes(int64(len(bwa))), bwaDigest)
	if out != want {
		t.Errorf("push printed %q, want %q", out, want)
	}
	// Three-part name, same bytes: a second name, stored once.
	if out := c.ok("push", "bwa.sif", "alice/tools/bwa:1"); !strings.HasPrefix(out, "pushed alice/tools/bwa:1 (amd64") {
		t.Errorf("push printed %q", out)
	}
	// No tag means latest; the arch comes from the image, not the host.
	if out := c.ok("push", "sam.sif", "tools/samtools"); !strings.HasPrefix(out, "pushed default/tools/samtools:latest (arm64") {
		t.Errorf("push printed %q", out)
	}

	// ls: the table, and totals counting shared bytes once.
	total, stored := int64(2*len(bwa)+len(sam)), int64(len(bwa)+len(sam))
	ls := lines(c.ok("ls"))
	if len(ls) != 5 || !strings.HasPrefix(ls[0], "NAME") {
		t.Fatalf("ls printed:\n%s", strings.Join(ls, "\n"))
	}
	for i, row := range []string{
		`^alice/tools/bwa\s+1\s+amd64\s+` + regexp.QuoteMeta(humanBytes(int64(len(bwa)))) + `\s+\d{4}-\d\d-\d\d \d\d:\d\d$`,
		`^default/tools/bwa\s+0\.7\.17,latest\s+amd64\s`,
		`^default/tools/samtools\s+latest\s+arm64\s`,
	} {
		if !regexp.MustCompile(row).MatchString(ls[i+1]) {
			t.Errorf("ls row %d = %q, want match for %s", i+1, ls[i+1], row)
		}
	}
	if want := fmt.Sprintf("3 images, %s (%s stored)", humanBytes(total), humanBytes(stored)); ls[4] != want {
		t.Errorf("totals line %q, want %q", ls[4], want)
	}
	var list silo.ImageList
	if err := json.Unmarshal([]byte(c.ok("ls", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if want := (silo.Totals{Images: 3, Bytes: total, StoredBytes: stored}); list.Totals != want {
		t.Errorf("ls --json totals %+v, want %+v", list.Totals, want)
	}
	for filter, n := range map[string]int{"tools": 3, "alice/tools": 1, "default/tools/samtools": 1, "nothing": 0} {
		if last := lines(c.ok("ls", filter)); !strings.HasPrefix(last[len(last)-1], fmt.Sprintf("%d image", n)) {
			t.Errorf("ls %s: %v, want %d images", filter, last, n)
		}
	}
	c.fails([]string{"ls", "tools:latest"}, "invalid name")

	// search finds by name and says so when nothing matches.
	found := lines(c.ok("search", "bwa"))
	if len(found) != 3 || !strings.HasPrefix(found[1], "alice/tools/bwa ") || !strings.HasPrefix(found[2], "default/tools/bwa ") {
		t.Errorf("search bwa:\n%s", strings.Join(found, "\n"))
	}
	if out := c.ok("search", "zzzzz"); out != "no images match \"zzzzz\"\n" {
		t.Errorf("empty search printed %q", out)
	}

	// pull by tag, to the default name.
	out = c.ok("pull", "tools/bwa:0.7.17")
	if want := fmt.Sprintf("pulled default/tools/bwa@sha256.%s (amd64, %s) to bwa_0.7.17.sif\n", bwaDigest, humanBytes(int64(len(bwa)))); out != want {
		t.Errorf("pull printed %q, want %q", out, want)
	}
	c.sameFile("bwa_0.7.17.sif", bwa)
	if st, _ := os.Stat("bwa_0.7.17.sif"); st.Mode().Perm()&0o100 == 0 {
		t.Errorf("pulled image mode %v is not executable", st.Mode())
	}
	// An existing file is kept unless --force.
	os.WriteFile("bwa_0.7.17.sif", []byte("mine"), 0o644)
	c.fails([]string{"pull", "tools/bwa:0.7.17"}, "bwa_0.7.17.sif already exists", "--force")
	if b, _ := os.ReadFile("bwa_0.7.17.sif"); string(b) != "mine" {
		t.Error("a refused pull changed the existing file")
	}
	c.ok("pull", "--force", "tools/bwa:0.7.17")
	c.sameFile("bwa_0.7.17.sif", bwa)

	// pull by version, both spellings, and into a directory.
	c.ok("pull", "tools/bwa@sha256."+bwaDigest, "-o", "by-at.sif")
	c.sameFile("by-at.sif", bwa)
	c.ok("pull", "alice/tools/bwa:sha256."+bwaDigest, "-o", "by-colon.sif")
	c.sameFile("by-colon.sif", bwa)
	os.Mkdir("sub", 0o755)
	c.ok("pull", "tools/samtools", "--arch", "arm64", "-o", "sub")
	c.sameFile("sub/samtools_latest.sif", sam)
	c.fails([]string{"pull", "tools/samtools", "--arch", "amd64"}, "not found", "latest is tagged for arm64 only")
	c.fails([]string{"pull", "tools/bwa@sha256." + samDigest}, "not found")

	// delete: refused without -F when nobody can confirm.
	c.fails([]string{"delete", "tools/bwa:0.7.17"}, "--force")
	out = c.ok("delete", "-F", "tools/bwa:0.7.17")
	if want := fmt.Sprintf("deleted default/tools/bwa@sha256.%s (amd64, %s, tags: 0.7.17, latest)\n", bwaDigest, humanBytes(int64(len(bwa)))); out != want {
		t.Errorf("delete printed %q, want %q", out, want)
	}
	// Gone by both its tags; the other name of the same bytes still pulls.
	c.fails([]string{"pull", "tools/bwa:0.7.17", "-o", "gone.sif"}, "image tools/bwa:0.7.17 for amd64 not found")
	c.fails([]string{"pull", "tools/bwa", "-o", "gone.sif"}, "not found")
	if _, err := os.Stat("gone.sif"); err == nil {
		t.Error("a failed pull left a file")
	}
	c.ok("pull", "alice/tools/bwa:1", "-o", "still.sif")
	c.sameFile("still.sif", bwa)
	if last := lines(c.ok("ls")); last[len(last)-1] != fmt.Sprintf("2 images, %s (%s stored)", humanBytes(stored), humanBytes(stored)) {
		t.Errorf("ls after delete: %v", last)
	}
	noTemps(t, c.dir)
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".part") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func TestPushRefusesBadInput(t *testing.T) {
	c := newCLI(t)
	c.login("alice")
	os.WriteFile("notes.txt", []byte("this is not an image, just some text that is long enough to have a header's worth of bytes in it"), 0o644)
	c.sif("a.sif", siftest.Options{})

	c.fails([]string{"push", "notes.txt", "tools/notes:1"}, "notes.txt is not a SIF image")
	c.fails([]string{"push", "missing.sif", "tools/a:1"}, "missing.sif")
	c.fails([]string{"push", "a.sif", "Tools/A:1"}, "invalid name", "lower-case")
	c.fails([]string{"push", "a.sif", "a/b/c/d:1"}, "invalid name")
	c.fails([]string{"push", "a.sif", "tools/a:1,,2"}, "tag is empty")
	c.fails([]string{"push", "a.sif", "tools/a@sha256." + strings.Repeat("0", 64)}, "push takes tags")
	c.fails([]string{"pull", "tools/a:1,2"}, "invalid name")
	// alice may not push into bob's entity.
	c.fails([]string{"push", "a.sif", "bob/tools/a:1"}, "alice may not")

	if last := lines(c.ok("ls")); last[0] != "0 images, 0 B (0 B stored)" {
		t.Errorf("after refused pushes, ls: %v", last)
	}
}

// TestQuietWithoutTerminal: with stderr not a terminal, push and pull print
// their result line and nothing else: no progress bar, not even blank.
// With a terminal the same commands draw bars, so the quiet is the check
// working, not the bars being absent.
func TestQuietWithoutTerminal(t *testing.T) {
	c := newCLI(t)
	c.login("alice")
	c.sif("a.sif", siftest.Options{Size: 1 << 20})

	for _, args := range [][]string{{"push", "a.sif", "tools/a:1"}, {"pull", "tools/a:1"}} {
		r := c.run("", args...)
		if r.e != nil {
			t.Fatal(r.e)
		}
		if r.err != "" || len(lines(r.out)) != 1 || !strings.HasSuffix(r.out, "\n") {
			t.Errorf("silo %v: stdout %q, stderr %q; want one line and nothing else", args, r.out, r.err)
		}
	}

	pretendTerminal(t)
	c.sif("b.sif", siftest.Options{Seed: 9, Size: 12 << 20}) // several parts, pulled concurrently
	for _, tc := range []struct {
		args []string
		bar  string
	}{{[]string{"push", "b.sif", "tools/b:1"}, "pushing"}, {[]string{"pull", "tools/b:1"}, "pulling"}} {
		r := c.run("", tc.args...)
		if r.e != nil {
			t.Fatal(r.e)
		}
		if !strings.Contains(r.err, tc.bar) || !strings.Contains(r.err, "100%") || len(lines(r.out)) != 1 {
			t.Errorf("silo %v on a terminal: stdout %q, stderr %q; want a finished bar", tc.args, r.out, r.err)
		}
	}
}

func TestDeleteAsks(t *testing.T) {
	c := newCLI(t)
	c.login("alice")
	c.sif("a.sif", siftest.Options{})
	c.ok("push", "a.sif", "tools/a:1")
	pretendTerminal(t)

	r := c.run("n\n", "delete", "tools/a:1")
	if r.e != nil || r.out != "not deleted\n" || !strings.Contains(r.err, "Delete default/tools/a@sha256.") {
		t.Fatalf("answering n: %v, stdout %q, stderr %q", r.e, r.out, r.err)
	}
	c.ok("pull", "tools/a:1") // still there

	r = c.run("y\n", "delete", "tools/a:1")
	if r.e != nil || !strings.HasPrefix(r.out, "deleted default/tools/a@sha256.") {
		t.Fatalf("answering y: %v, stdout %q", r.e, r.out)
	}
	c.fails([]string{"pull", "tools/a:1", "-o", "x.sif"}, "not found")
}

// TestPullCorrupted serves the image through a proxy that flips a byte of
// every blob download: the pull must fail and leave nothing behind, not a
// damaged image at the output path. It runs with /v1/oci-redirect on (the
// default: the client downloads OCI blobs, and container-library-client
// does not check them) and off (library blob URLs).
func TestPullCorrupted(t *testing.T) {
	for _, tc := range []struct {
		name       string
		noRedirect bool
		path       string // the downloads the proxy damages
	}{
		{"oci-redirect", false, "/v2/default/tools/a/blobs/sha256:"},
		{"library", true, "/v2/blob/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The bytes pass through Silo, where the proxy below can damage them.
			c := newCLIWith(t, server.Config{BlobAccess: server.BlobProxy, NoOCIRedirect: tc.noRedirect})
			c.login("alice")
			c.sif("a.sif", siftest.Options{Size: 300 << 10})
			c.ok("push", "a.sif", "tools/a:1")

			target, _ := url.Parse(c.in.URL)
			proxy := httputil.NewSingleHostReverseProxy(target)
			var flipped atomic.Int64
			proxy.ModifyResponse = func(res *http.Response) error {
				if strings.HasPrefix(res.Request.URL.Path, tc.path) && res.StatusCode/100 == 2 && res.ContentLength > 1000 {
					flipped.Add(1)
					res.Body = &flipFirst{ReadCloser: res.Body}
				}
				return nil
			}
			// The proxy keeps the client's Host, so the server's redirects point
			// back through it.
			ps := httptest.NewServer(proxy)
			defer ps.Close()

			c.fails([]string{"pull", "--server", ps.URL, "tools/a:1"}, "corrupt")
			if flipped.Load() == 0 {
				t.Fatalf("no download of %s passed the proxy: the pull took another path", tc.path)
			}
			if _, err := os.Stat("a_1.sif"); err == nil {
				t.Error("a corrupt pull left a file at the output path")
			}
			noTemps(t, c.dir)
			// The same pull without the proxy works: the failure was the bytes.
			c.ok("pull", "tools/a:1")
		})
	}
}

type flipFirst struct {
	io.ReadCloser
	done bool
}

func (f *flipFirst) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if n > 0 && !f.done {
		p[0] ^= 0xff
		f.done = true
	}
	return n, err
}

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// download fetches url with plain net/http and no credentials.
func download(t *testing.T, url string) (int, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

// TestShare walks a link through its life with the CLI: made, used by
// someone without an account, listed with its count, revoked.
func TestShare(t *testing.T) {
	c := newCLI(t)
	c.login("alice")
	bwa := c.sif("bwa.sif", siftest.Options{Seed: 1})
	c.ok("push", "bwa.sif", "tools/bwa:0.7.17")

	// The URL alone on stdout, so that $(silo share ...) is the link; what
	// it grants on stderr.
	r := c.run("", "share", "tools/bwa:0.7.17", "--expires", "2h")
	if r.e != nil {
		t.Fatalf("silo share: %v\n%s", r.e, r.err)
	}
	url := strings.TrimSuffix(r.out, "\n")
	link := regexp.MustCompile(`^` + regexp.QuoteMeta(c.in.URL) + `/s/([A-Za-z0-9_-]{43})/bwa_0\.7\.17\.sif$`).FindStringSubmatch(url)
	if link == nil {
		t.Fatalf("silo share printed %q, want the link alone", r.out)
	}
	secret := link[1]
	if !strings.Contains(r.err, "anyone with it can download default/tools/bwa:0.7.17 (sha256."+digestOf(bwa)[:12]) {
		t.Errorf("stderr %q does not say what the link grants", r.err)
	}

	// Anyone: no login, no token.
	st, got := download(t, url)
	if st != http.StatusOK || !bytes.Equal(got, bwa) || digestOf(got) != digestOf(bwa) {
		t.Fatalf("downloading the link: %d, %d bytes; want the %d pushed", st, len(got), len(bwa))
	}

	list := lines(c.ok("share", "list"))
	if len(list) != 2 || !strings.HasPrefix(list[0], "ID ") {
		t.Fatalf("share list printed:\n%s", strings.Join(list, "\n"))
	}
	row := `^(\d+)\s+default/tools/bwa:0\.7\.17\s+sha256\.` + digestOf(bwa)[:12] + `\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+active\s+1\s+\d{4}-\d\d-\d\d \d\d:\d\d$`
	m := regexp.MustCompile(row).FindStringSubmatch(list[1])
	if m == nil {
		t.Fatalf("share list row %q, want match for %s", list[1], row)
	}
	id := m[1]
	var js silo.ShareList
	if err := json.Unmarshal([]byte(c.ok("share", "list", "--json")), &js); err != nil {
		t.Fatal(err)
	}
	if len(js.Shares) != 1 || strconv.FormatInt(js.Shares[0].ID, 10) != id || js.Shares[0].Downloads != 1 || js.Shares[0].Version != "sha256."+digestOf(bwa) {
		t.Errorf("share list --json: %+v", js.Shares)
	}
	if out := c.ok("share", "list", "--json"); strings.Contains(out, secret) {
		t.Error("share list --json shows the secret")
	}

	if out := c.ok("share", "revoke", id); out != "revoked link "+id+" to default/tools/bwa:0.7.17\n" {
		t.Errorf("revoke printed %q", out)
	}
	if st, _ := download(t, url); st != http.StatusNotFound {
		t.Errorf("after revoking: %d, want 404", st)
	}
	if list := lines(c.ok("share", "list")); len(list) != 2 || !regexp.MustCompile(`\srevoked\s+1\s`).MatchString(list[1]) {
		t.Errorf("after revoking, share list:\n%s", strings.Join(list, "\n"))
	}
}

// TestShareErrors: what goes wrong says what to do.
func TestShareErrors(t *testing.T) {
	c := newCLI(t)
	c.login("alice")
	c.sif("bwa.sif", siftest.Options{Seed: 1})
	c.ok("push", "bwa.sif", "tools/bwa:0.7.17")

	c.fails([]string{"share", "tools/bwa:0.7.17", "--expires", "60d"}, "at most 720h (30 days)")
	c.fails([]string{"share", "tools/bwa:0.7.17", "--expires", "soon"}, "72h, 90m or 7d")
	c.fails([]string{"share", "tools/bwa:9"}, "not found")
	c.fails([]string{"share", "Tools/bwa"}, "invalid name")
	c.fails([]string{"share", "revoke", "x"}, "not a share link id")
	c.fails([]string{"share", "revoke", "42"}, "share link 42 not found")
	if out := c.ok("share", "list"); out != "no share links\n" {
		t.Errorf("share list with none printed %q", out)
	}
	c.fails([]string{"share", "list", "--all"}, "only admins")

	// Another user may not share alice's image; nobody may anonymously.
	c.login("bob")
	c.fails([]string{"share", "tools/bwa:0.7.17"}, "bob may not share")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	c.fails([]string{"share", "--server", c.in.URL, "tools/bwa:0.7.17"}, "needs a token", "silo login")

	// The help says what a link gives away.
	if out := c.ok("share", "--help"); !strings.Contains(out, "anyone who has the link can") || !strings.Contains(out, "until it expires") {
		t.Errorf("share --help does not explain the link:\n%s", out)
	}
}

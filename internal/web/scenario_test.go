package web_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/siloreg/silo/internal/sif/siftest"
)

// TestBrowserScenario is a person's afternoon in Chromium: log in, push
// (with the library client, as apptainer does), find the image, open its
// page, share it and use the link, make and revoke a token, and watch the
// storage summary grow. Every page is kept as a screenshot.
func TestBrowserScenario(t *testing.T) {
	proc := browserProcess(t)
	s := startSite(t, "alice")
	b := newBrowser(t, proc, s.URL, "alice")

	b.open("/")
	b.shot("home-empty")
	b.login("alice", password)

	b.open("/storage")
	before := b.text("#total-stored")

	bwa := s.push(t, "alice", "alice/tools/bwa", "0.7.17", siftest.Options{Seed: 1, Size: 200 << 10,
		Labels:     map[string]string{"org.label-schema.description": "Burrows-Wheeler aligner", "maintainer": "alice@example.org"},
		Definition: "Bootstrap: docker\nFrom: debian:12\n\n%post\n    apt-get install -y bwa\n", Signed: true})
	s.push(t, "alice", "alice/tools/samtools", "1.19", siftest.Options{Seed: 2})

	// Home: recent pushes and totals.
	b.open("/")
	if home := b.text("main"); !strings.Contains(home, "alice/tools/bwa") || !strings.Contains(home, "alice/tools/samtools") {
		t.Errorf("home page does not list the pushes:\n%s", home)
	}
	if n := b.text(".stats .stat:nth-child(2) b"); n != "2" {
		t.Errorf("home page counts %q containers, want 2", n)
	}
	b.shot("home")

	// Search finds it; the filters narrow.
	b.fill(`input[name=q]`, "bwa")
	b.submit(`form.searchbox button`)
	if loc := b.location(); !strings.Contains(loc, "/search?q=bwa") {
		t.Fatalf("search went to %s", loc)
	}
	res := b.text("main table")
	if !strings.Contains(res, "alice/tools/bwa") || strings.Contains(res, "samtools") {
		t.Errorf("search for bwa lists:\n%s", res)
	}
	b.shot("search")
	b.open("/search?q=tools&signed=1")
	if res := b.text("main"); !strings.Contains(res, "alice/tools/bwa") || strings.Contains(res, "samtools") {
		t.Errorf("signed-only search lists:\n%s", res)
	}
	b.open("/search?arch=arm64")
	if res := b.text("main"); !strings.Contains(res, "No containers match") {
		t.Errorf("arm64 search lists:\n%s", res)
	}

	// The container page, reached by clicking the result.
	b.open("/search?q=bwa")
	b.submit(`main table a[href="/c/alice/tools/bwa"]`)
	page := b.text("main")
	host := strings.TrimPrefix(s.URL, "http://")
	for _, want := range []string{
		"apptainer pull library://" + host + "/alice/tools/bwa:0.7.17",
		"silo pull alice/tools/bwa:0.7.17",
		"oras pull " + host + "/alice/tools/bwa:0.7.17",
		"sha256." + bwa.Digest,
		"Burrows-Wheeler aligner",
		"apt-get install -y bwa",
		"signed",
		"by alice",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("container page lacks %q", want)
		}
	}
	b.shot("container")

	// Share the tag and use the link without any credentials.
	b.submit(`form[action$="/share"] button[type=submit]`)
	link := b.text("#share-url")
	if !strings.HasPrefix(link, s.URL+"/s/") {
		t.Fatalf("share link %q", link)
	}
	if !strings.Contains(b.text("main"), "curl -fLO "+link) {
		t.Error("the page does not show the curl command for the link")
	}
	b.shot("container-shared")
	if code, sum := download(t, link); code != 200 || sum != bwa.Digest {
		t.Fatalf("downloading through the share link: %d, sha256 %s; want 200, %s", code, sum, bwa.Digest)
	}
	b.open("/account")
	if row := b.text("#shares tbody tr td"); row != "alice/tools/bwa:0.7.17" {
		t.Errorf("share row on the account page names %q", row)
	}
	if n := b.text("#shares tbody tr td.num"); n != "1" {
		t.Errorf("share link downloads: %q, want 1", n)
	}
	b.submit(`#shares form button`)
	if code, _ := download(t, link); code != 404 {
		t.Errorf("a revoked share link answers %d, want 404", code)
	}
	if row := b.text("#shares tbody tr"); !strings.Contains(row, "revoked") {
		t.Errorf("revoked share row: %q", row)
	}

	// A token: create with a scope, see it once, use it, revoke it.
	b.fill(`input[name=name]`, "ci")
	b.do("tick push", chromedp.Click(chromedp.CSS(`input[name=scope][value=push]`)))
	b.submit(`form[action="/account/tokens"] button`)
	tok := b.text("#new-token")
	if !strings.HasPrefix(tok, "silo_") {
		t.Fatalf("new token %q", tok)
	}
	b.shot("account-token")
	if code := s.apiGet(t, "/api/silo/v1/images", tok, nil); code != 200 {
		t.Fatalf("the new token: %d", code)
	}
	b.open("/account")
	if b.has("#new-token") {
		t.Error("the token is shown again on a later visit")
	}
	var ciRow string
	rows := run(b, "token rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#tokens tbody tr")].map(r => r.innerText)`))
	for i, r := range rows {
		if strings.HasPrefix(r, "ci") {
			ciRow = r
			b.submit(`#tokens tbody tr:nth-child(` + strconv.Itoa(i+1) + `) button`)
		}
	}
	if !strings.Contains(ciRow, "push") {
		t.Errorf("token row %q does not show its scope", ciRow)
	}
	if code := s.apiGet(t, "/api/silo/v1/images", tok, nil); code != 401 {
		t.Errorf("a revoked token: %d, want 401", code)
	}
	b.shot("account")

	// The storage summary grows with a push.
	b.open("/storage")
	mid := b.text("#total-stored")
	if mid == before {
		t.Errorf("storage total stayed %q after two pushes", mid)
	}
	s.push(t, "alice", "alice/data/big", "v1", siftest.Options{Seed: 3, Size: 3 << 20})
	s.push(t, "alice", "alice/data/copy", "v1", siftest.Options{Seed: 3, Size: 3 << 20}) // the same bytes: dedup
	b.open("/storage")
	after := b.text("#total-stored")
	if after == mid {
		t.Errorf("storage total stayed %q after a 3 MiB push", after)
	}
	st := b.text("main")
	for _, want := range []string{"alice/data/big", "saved by dedup", "3.0 MiB"} {
		if !strings.Contains(st, want) {
			t.Errorf("storage page lacks %q", want)
		}
	}
	if !b.has("svg.chart rect.bar") || !b.has("svg.chart polyline") {
		t.Error("storage page has no chart")
	}
	b.shot("storage")
	b.open("/storage?sort=name")
	if first := b.text("table.storage tbody tr td"); first != "alice/data" {
		t.Errorf("sorted by name, the first collection is %q", first)
	}

	// The collection page, with a star.
	b.open("/c/alice/tools")
	b.submit(`form[action$="/star"] button`)
	if got := b.text("main"); !strings.Contains(got, "1 star") || !strings.Contains(got, "Unstar") {
		t.Errorf("after starring: %s", got)
	}
	b.shot("collection")
	// Owners may hand it to a team they are in; the registry refuses others.
	b.fill(`form[action$="/team"] input[name=team]`, "nosuchteam")
	b.submit(`form[action$="/team"] button`)
	if got := b.text("main"); !strings.Contains(got, `team "nosuchteam" not found`) {
		t.Errorf("giving to a missing team: %s", got)
	}

	// On a phone.
	b.phone(true)
	b.open("/c/alice/tools/bwa")
	b.shot("container-phone")
	b.open("/")
	b.shot("home-phone")
	b.phone(false)

	// Logging out revokes the session's token.
	b.submit(`form[action="/logout"] button`)
	if b.has("header .who span") {
		t.Error("still logged in after logging out")
	}
	b.open("/account")
	if loc := b.location(); !strings.Contains(loc, "/login") {
		t.Errorf("the account page after logout went to %s", loc)
	}
	b.shot("login")
}

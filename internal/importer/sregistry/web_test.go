package sregistry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/server/servertest"
)

const webPassword = "imported users get this one from an admin"

// browser is an HTTP client with its own cookies, like one person's
// browser; anonymous when it never logged in.
type browser struct {
	t    *testing.T
	base string
	name string
	c    *http.Client
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newBrowser(t *testing.T, base, name string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, name: name, c: &http.Client{Jar: jar}}
}

// get returns a page's status and its <main> part (the layout around it
// differs between people, not between pages).
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := string(body)
	if i := strings.Index(s, "<main>"); i >= 0 {
		s = s[i:]
	}
	if i := strings.Index(s, "</main>"); i >= 0 {
		s = s[:i]
	}
	return resp.StatusCode, s
}

// login signs in through the login form, as a person would.
func (b *browser) login(user, password string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + "/login")
	if err != nil {
		b.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on the login page:\n%s", page)
	}
	resp, err = b.c.PostForm(b.base+"/login", url.Values{"username": {user}, "password": {password}, "csrf": {string(m[1])}})
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "<span>"+user+"</span>") {
		b.t.Fatalf("%s cannot log in through the form (%d):\n%s", user, resp.StatusCode, body)
	}
}

var (
	versionRE = regexp.MustCompile(`<dt>Digest</dt><dd class="mono">sha256\.([0-9a-f]{64})</dd>`)
	badgeRE   = regexp.MustCompile(`<span class="badge">([^<]+)</span>`)
)

// versions reads a container page's versions: digest → its tags, sorted.
func versions(page string) map[string]string {
	out := map[string]string{}
	for _, card := range strings.Split(page, `<section class="card version">`)[1:] {
		m := versionRE.FindStringSubmatch(card)
		if m == nil {
			continue
		}
		row := card
		if i := strings.Index(row, "<dl"); i >= 0 {
			row = row[:i]
		}
		var tags []string
		for _, b := range badgeRE.FindAllStringSubmatch(row, -1) {
			tags = append(tags, b[1])
		}
		sort.Strings(tags)
		out[m[1]] = strings.Join(tags, " ")
	}
	return out
}

// expected is what a container's page should list: digest → sorted tags.
func expected(s *site, collection, container string) map[string]string {
	tags := map[string][]string{}
	for name, d := range s.digests {
		c, tag, _ := strings.Cut(name, ":")
		if c == collection+"/"+container {
			tags[d] = append(tags[d], tag)
		}
	}
	out := map[string]string{}
	for d, ts := range tags {
		sort.Strings(ts)
		out[d] = strings.Join(ts, " ")
	}
	return out
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkWeb checks the imported site through the web UI: public
// collections show their containers, tags and digests to anyone; private
// ones answer exactly like missing ones to anonymous visitors and to
// people who could not see them in sregistry, and show to those who could.
// Imported users have no password; an admin gives them one (the path of
// `silo user passwd`).
func checkWeb(t *testing.T, s *site, in *servertest.Instance) {
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "dave", "staffer"} {
		if err := in.Server.Registry.SetPassword(ctx, registry.Operator("test"), u, "", webPassword); err != nil {
			t.Fatalf("giving %s a password: %v", u, err)
		}
	}
	anon := newBrowser(t, in.URL, "anonymous")
	people := map[string]*browser{"anonymous": anon}
	for _, u := range []string{"alice", "bob", "dave", "staffer"} {
		people[u] = newBrowser(t, in.URL, u)
		people[u].login(u, webPassword)
	}

	// Public: containers, tags, digests and stars, to anyone.
	for _, who := range []string{"anonymous", "dave"} {
		b := people[who]
		code, page := b.get("/c/default/tools")
		if code != 200 || !strings.Contains(page, `href="/c/default/tools/bwa"`) || !strings.Contains(page, `href="/c/default/tools/samtools"`) {
			t.Errorf("%s: /c/default/tools: %d\n%s", who, code, page)
		}
		// alice, bob and carol starred it in sregistry.
		if !strings.Contains(page, "3 stars") {
			t.Errorf("%s: /c/default/tools does not show its 3 stars:\n%s", who, page)
		}
		for _, c := range []string{"bwa", "samtools"} {
			code, page := b.get("/c/default/tools/" + c)
			if got, want := versions(page), expected(s, "tools", c); code != 200 || !sameMap(got, want) {
				t.Errorf("%s: /c/default/tools/%s: %d, versions %v, want %v", who, c, code, got, want)
			}
		}
		if _, page := b.get("/c/default/tools/samtools"); !strings.Contains(page, `badge frozen`) {
			t.Errorf("%s: samtools is not shown frozen", who)
		}
		if _, page := b.get("/search?q=bwa"); !strings.Contains(page, `href="/c/default/tools/bwa"`) {
			t.Errorf("%s: searching bwa does not find it:\n%s", who, page)
		}
	}

	// Private: exactly like missing to those who could not see it.
	hidden := map[string][]string{
		"anonymous": {"private-stuff/secret", "staffonly/x"},
		"dave":      {"private-stuff/secret", "staffonly/x"},
		"bob":       {"staffonly/x"},
		"alice":     {"staffonly/x"},
	}
	for who, names := range hidden {
		b := people[who]
		for _, name := range names {
			col, ctr, _ := strings.Cut(name, "/")
			for _, pair := range [][2]string{
				{"/c/default/" + col, "/c/default/nothing-here"},
				{"/c/default/" + name, "/c/default/nothing-here/" + ctr},
			} {
				hc, hp := b.get(pair[0])
				mc, mp := b.get(pair[1])
				if hc != mc || strings.ReplaceAll(hp, col, "X") != strings.ReplaceAll(mp, "nothing-here", "X") {
					t.Errorf("%s: %s answers %d, unlike a missing one (%d):\n%s\n---\n%s", who, pair[0], hc, mc, hp, mp)
				}
				if hc == 200 {
					t.Errorf("%s: %s answers 200", who, pair[0])
				}
			}
			for _, q := range []string{"/search?q=" + ctr, "/search?q=" + col, "/search?owner=default", "/"} {
				// The search form echoes the query; what must not show is a link.
				if _, page := b.get(q); strings.Contains(page, "/c/default/"+col) {
					t.Errorf("%s: %s shows %s:\n%s", who, q, col, page)
				}
			}
		}
	}

	// Those who could see it in sregistry: owners, contributors (through the
	// collection's team), admins.
	shown := map[string][]string{
		"alice":   {"private-stuff/secret"},
		"bob":     {"private-stuff/secret"},
		"staffer": {"private-stuff/secret", "staffonly/x"},
	}
	for who, names := range shown {
		b := people[who]
		for _, name := range names {
			col, ctr, _ := strings.Cut(name, "/")
			code, page := b.get("/c/default/" + col)
			if code != 200 || !strings.Contains(page, `href="/c/default/`+name+`"`) || !strings.Contains(page, "badge private") {
				t.Errorf("%s: /c/default/%s: %d\n%s", who, col, code, page)
			}
			code, page = b.get("/c/default/" + name)
			if got, want := versions(page), expected(s, col, ctr); code != 200 || !sameMap(got, want) {
				t.Errorf("%s: /c/default/%s: %d, versions %v, want %v", who, name, code, got, want)
			}
			if _, page := b.get("/search?q=" + ctr); !strings.Contains(page, `href="/c/default/`+name+`"`) {
				t.Errorf("%s: searching %s does not find it", who, ctr)
			}
		}
	}
	// bob starred the private collection he contributes to; he sees his star.
	if _, page := people["bob"].get("/c/default/private-stuff"); !strings.Contains(page, "1 star") || !strings.Contains(page, "Unstar") {
		t.Errorf("bob does not see his star on private-stuff:\n%s", page)
	}
}

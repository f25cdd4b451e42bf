package authz_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	aclient "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// The names of the image under test. Team lab owns the entity.
const (
	entity     = "lab"
	collection = "tools"
	container  = "app"
	tag        = "latest"
	arch       = "amd64"
	api        = "/api/silo/v1/"
)

// clock is the server's clock: real time plus an offset the test moves,
// so that tokens and share links can expire without anyone waiting.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// sifFile is a test image on disk.
type sifFile struct {
	path   string
	digest string // lower-case hex sha256
}

func writeSIF(t *testing.T, dir string, seed int64) sifFile {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("seed%d.sif", seed))
	d, _, err := siftest.Write(p, siftest.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return sifFile{path: p, digest: d}
}

// cred is what an actor presents: a token for the APIs (also a share
// link's secret, which must not work as one), and for link actors the
// link's path.
type cred struct {
	token string   // sent as a Bearer token; "" for none
	link  string   // "/s/<secret>/<file>", link actors only
	sreg  sregCred // the user's sregistry-cli secret, user actors only
}

// world is one server holding the image under test in one visibility,
// with every actor's credentials.
type world struct {
	in      *servertest.Instance
	clock   *clock
	private bool
	// imgA is the image under test, at lab/tools/app:latest; imgB is what
	// the push cells push; imgP is bob's public image elsewhere, so that
	// listings are not empty.
	imgA, imgB, imgP sifFile
	creds            map[string]cred
	transport        *http.Transport
	plain            *http.Client // for setup calls, which are not recorded
	baseline         []string     // the registry's contents after setup
	broken           bool         // a restore failed: the cells after it mean nothing
	seq              int          // numbers the names cells create
}

// newWorld starts a server and sets up the cast:
//   - team lab (alice owner; tm, dis members); carol, a member at the time,
//     pushes lab/tools/app:latest and so creates the collection, then leaves;
//   - bob pushes bob/pub/demo:latest (public, elsewhere);
//   - tokens of tm's: read-only, revoked, expiring in an hour;
//   - share links by alice: live, expiring in an hour, revoked; one by dis;
//   - dis is disabled; the clock then moves two hours on.
//
// Each credential is checked to work before it is spoiled, so that a
// refusal later is the spoiling's doing and not a broken setup.
func newWorld(t *testing.T, private bool) *world {
	t.Helper()
	clk := &clock{}
	in := servertest.Start(t, server.Config{Now: clk.Now})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Registered after Start, so it runs before the server shuts down,
	// which would otherwise wait on idle keep-alive connections.
	t.Cleanup(tr.CloseIdleConnections)
	dir := t.TempDir()
	w := &world{
		in: in, clock: clk, private: private,
		imgA: writeSIF(t, dir, 1), imgB: writeSIF(t, dir, 2), imgP: writeSIF(t, dir, 3),
		creds:     map[string]cred{},
		transport: tr,
		plain:     &http.Client{Transport: tr, Timeout: time.Minute},
	}
	ctx := context.Background()
	admin := in.AdminToken
	tok := map[string]string{"admin": admin}
	for _, u := range []string{"alice", "tm", "bob", "carol", "dis"} {
		tok[u] = in.User(t, u, false)
	}
	if _, err := auth.CreateUser(ctx, in.Server.Meta, "mgr", "mgr@example.org", meta.RoleManager); err != nil {
		t.Fatal(err)
	}
	mgr, err := auth.IssueToken(ctx, in.Server.Meta, "mgr", "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	tok["mgr"] = mgr

	// The team, which the admin creates and then leaves to its members.
	w.api(t, "POST", api+"teams", admin, silo.NewTeam{Name: entity}, nil, http.StatusCreated)
	for _, m := range []struct {
		name  string
		owner bool
	}{{"alice", true}, {"tm", false}, {"carol", false}, {"dis", false}} {
		w.api(t, "PUT", api+"teams/"+entity+"/members/"+m.name, admin, silo.Membership{Owner: m.owner}, nil, http.StatusOK)
	}
	w.api(t, "DELETE", api+"teams/"+entity+"/members/admin", admin, nil, nil, http.StatusOK)

	w.push(t, tok["carol"], w.imgA, entity+"/"+collection+"/"+container)
	w.push(t, tok["bob"], w.imgP, "bob/pub/demo")
	if private {
		w.api(t, "PATCH", api+"collections/"+entity+"/"+collection, tok["alice"], silo.CollectionChange{Private: ptr(true)}, nil, http.StatusOK)
	}
	// The same image where the sregistry API names it (tools/app:latest is
	// default/tools/app there), with the same people: carol creates the
	// collection and hands it to team lab, alice sets its privacy.
	w.push(t, tok["carol"], w.imgA, mirror)
	w.api(t, "PATCH", api+"collections/"+mirrorEntity+"/"+collection, tok["carol"], silo.CollectionChange{Team: ptr(entity)}, nil, http.StatusOK)
	if private {
		w.api(t, "PATCH", api+"collections/"+mirrorEntity+"/"+collection, tok["alice"], silo.CollectionChange{Private: ptr(true)}, nil, http.StatusOK)
	}
	// carol leaves: from now on only her being the creator counts.
	w.api(t, "DELETE", api+"teams/"+entity+"/members/carol", tok["alice"], nil, nil, http.StatusOK)

	var ro, revoked, expiring silo.NewToken
	w.api(t, "POST", api+"tokens", tok["tm"], silo.TokenRequest{Name: "read-only", Scopes: []string{"read"}}, &ro, http.StatusCreated)
	w.api(t, "POST", api+"tokens", tok["tm"], silo.TokenRequest{Name: "revoked"}, &revoked, http.StatusCreated)
	w.api(t, "POST", api+"tokens", tok["tm"], silo.TokenRequest{Name: "expiring", Expires: "1h"}, &expiring, http.StatusCreated)
	sreg := w.sregistrySecrets(t, tok)
	for _, s := range []string{revoked.Secret, expiring.Secret, tok["dis"]} {
		w.api(t, "GET", api+"me", s, nil, nil, http.StatusOK)
	}
	w.api(t, "DELETE", fmt.Sprintf("%stokens/%d", api, revoked.ID), tok["tm"], nil, nil, http.StatusNoContent)

	name := entity + "/" + collection + "/" + container + ":" + tag
	var live, expired, gone, orphan silo.ShareCreated
	w.api(t, "POST", api+"shares", tok["alice"], silo.ShareRequest{Name: name}, &live, http.StatusCreated)
	w.api(t, "POST", api+"shares", tok["alice"], silo.ShareRequest{Name: name, Expires: "1h"}, &expired, http.StatusCreated)
	w.api(t, "POST", api+"shares", tok["alice"], silo.ShareRequest{Name: name}, &gone, http.StatusCreated)
	w.api(t, "POST", api+"shares", tok["dis"], silo.ShareRequest{Name: name}, &orphan, http.StatusCreated)
	links := map[string]string{}
	for k, s := range map[string]silo.ShareCreated{"share-link": live, "expired-link": expired, "revoked-link": gone, "orphaned-link": orphan} {
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		links[k] = u.Path
		w.api(t, "GET", u.Path, "", nil, nil, http.StatusOK)
	}
	w.api(t, "DELETE", fmt.Sprintf("%sshares/%d", api, gone.ID), tok["alice"], nil, nil, http.StatusOK)
	w.api(t, "PATCH", api+"users/dis", admin, silo.UserPatch{Disabled: ptr(true)}, nil, http.StatusOK)
	w.clock.advance(2 * time.Hour)

	w.creds = map[string]cred{
		"anonymous":       {},
		"user":            {token: tok["carol"]},
		"other-user":      {token: tok["bob"]},
		"team-member":     {token: tok["tm"]},
		"team-owner":      {token: tok["alice"]},
		"manager":         {token: tok["mgr"]},
		"admin":           {token: admin},
		"disabled-user":   {token: tok["dis"]},
		"revoked-token":   {token: revoked.Secret},
		"expired-token":   {token: expiring.Secret},
		"read-only-token": {token: ro.Secret},
	}
	for k, p := range links {
		w.creds[k] = cred{token: secretOf(p), link: p}
	}
	for k, c := range w.creds {
		c.sreg = sreg[k]
		w.creds[k] = c
	}
	for _, a := range actors {
		if _, ok := w.creds[a]; !ok {
			t.Fatalf("no credentials for actor %q", a)
		}
	}
	w.baseline = w.contents(t)
	return w
}

func ptr[T any](v T) *T { return &v }

// secretOf is the secret in a link's path /s/<secret>/<file>.
func secretOf(path string) string {
	s, _, _ := strings.Cut(strings.TrimPrefix(path, "/s/"), "/")
	return s
}

// api makes a setup call as token and decodes the JSON answer into out;
// any status but want ends the test, since the matrix means nothing on a
// world that is not what it should be.
func (w *world) api(t *testing.T, method, path, token string, body, out any, want int) {
	t.Helper()
	w.in.CallVia(t, w.plain, method, path, token, body, out, want)
}

// push uploads f to path:latest as token with the library client.
func (w *world) push(t *testing.T, token string, f sifFile, path string) {
	t.Helper()
	c, err := aclient.NewClient(&aclient.Config{BaseURL: w.in.URL, AuthToken: token, HTTPClient: w.plain})
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := c.UploadImage(context.Background(), r, path, arch, []string{tag}, "", nil); err != nil {
		t.Fatalf("setup: pushing to %s: %v", path, err)
	}
}

// contents lists every uploaded image with its tags, freeze and privacy:
// what a cell may change, and what is put back afterwards.
func (w *world) contents(t *testing.T) []string {
	t.Helper()
	recs, err := w.in.Server.Meta.Find(context.Background(), meta.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		var tags []string
		for _, tg := range r.Tags {
			tags = append(tags, tg.Name+"["+tg.Arch+"]")
		}
		sort.Strings(tags)
		out = append(out, fmt.Sprintf("%s/%s/%s@%s tags=%v frozen=%v private=%v",
			r.Entity, r.Collection, r.Container, r.Digest, tags, r.Frozen, r.Private))
	}
	sort.Strings(out)
	return out
}

// changed reports whether the registry's contents differ from setup's.
func (w *world) changed(t *testing.T) bool { return !slices.Equal(w.contents(t), w.baseline) }

// restore undoes what a write did, as the admin: unfreeze, put the image
// under test back under its tag (uploading it again if it was deleted),
// delete every image setup did not make. A failure leaves the world
// broken, and the cells after it are not run: their answers would say
// nothing about the rules.
func (w *world) restore(t *testing.T) {
	t.Helper()
	w.broken = true
	admin := w.creds["admin"].token
	w.api(t, "DELETE", api+"containers/"+entity+"/"+collection+"/"+container+"/frozen", admin, nil, nil, http.StatusOK)
	w.push(t, admin, w.imgA, entity+"/"+collection+"/"+container)
	w.api(t, "DELETE", api+"containers/"+mirror+"/frozen", admin, nil, nil, http.StatusOK)
	w.push(t, admin, w.imgA, mirror)
	keep := map[string]bool{}
	for _, b := range w.baseline {
		key, _, _ := strings.Cut(b, " ")
		keep[key] = true
	}
	recs, err := w.in.Server.Meta.Find(context.Background(), meta.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		path := r.Entity + "/" + r.Collection + "/" + r.Container
		if keep[path+"@"+r.Digest] {
			continue
		}
		if r.Frozen {
			w.api(t, "DELETE", api+"containers/"+path+"/frozen", admin, nil, nil, http.StatusOK)
		}
		w.api(t, "DELETE", fmt.Sprintf("/v1/images/%s:sha256.%s?arch=%s", path, r.Digest, arch), admin, nil, nil, http.StatusOK)
	}
	if got := w.contents(t); !slices.Equal(got, w.baseline) {
		t.Fatalf("could not restore the registry:\n got  %v\n want %v", got, w.baseline)
	}
	w.broken = false
}

// next returns a number no earlier cell used, for names cells create.
func (w *world) next() int {
	w.seq++
	return w.seq
}

// sha256Hex is the lower-case hex sha256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

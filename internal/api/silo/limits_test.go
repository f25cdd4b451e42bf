package silo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// recorder remembers the method, path and status of every request a
// client makes.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.seen = append(r.seen, fmt.Sprintf("%s %s %d", req.Method, req.URL.Path, res.StatusCode))
		r.mu.Unlock()
	}
	return res, err
}

// matching lists the requests seen matching the regular expression re.
func (r *recorder) matching(re string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.seen {
		if regexp.MustCompile(re).MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

// sized writes a SIF of about size bytes and returns its path, digest and size.
func sized(t *testing.T, seed, size int64) (string, string, int64) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img.sif")
	d, n, err := siftest.Write(p, siftest.Options{Seed: seed, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	return p, d, n
}

// stored lists the blobs, unfinished uploads and upload sessions a server holds.
func stored(t *testing.T, in *servertest.Instance) (blobs []string, partial, sessions int) {
	t.Helper()
	ctx := context.Background()
	if err := in.Server.Blobs.Walk(ctx, func(b blob.Info) error {
		blobs = append(blobs, b.Digest)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := in.Server.Blobs.Uploads(ctx, func(blob.UploadInfo) error {
		partial++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ups, err := in.Server.Meta.ExpiredUploads(ctx, time.Now().AddDate(100, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return blobs, partial, len(ups)
}

// oldAPI serves in through a proxy whose /version announces no v2 upload,
// so that the library client falls back to the raw POST /v1/imagefile.
func oldAPI(t *testing.T, in *servertest.Instance) *servertest.Instance {
	t.Helper()
	u, err := url.Parse(in.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(res *http.Response) error {
		if res.Request.URL.Path != "/version" {
			return nil
		}
		b := `{"data":{"version":"old"}}`
		res.Body = io.NopCloser(strings.NewReader(b))
		res.ContentLength = int64(len(b))
		res.Header.Set("Content-Length", fmt.Sprint(len(b)))
		return nil
	}
	ps := httptest.NewServer(rp)
	t.Cleanup(ps.Close)
	proxied := *in
	proxied.URL = ps.URL
	return &proxied
}

func usageOf(t *testing.T, in *servertest.Instance, token string) silo.Usage {
	t.Helper()
	var u silo.Usage
	tmDo(t, in, "GET", api+"usage", token, nil).ok(t, "usage", http.StatusOK, &u)
	return u
}

// TestUserQuota pushes through every upload path of the library client
// until the user's quota is reached: the refused push is a 413 with the
// numbers, before a byte is stored; bytes the user already holds are not
// charged again.
func TestUserQuota(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int64  // of the image that does not fit; the client uploads over 64 MiB in parts
		old      bool   // through a server announcing the v1 upload
		refusing string // the request that must answer 413
	}{
		{"single PUT", 256 << 10, false, `^POST /v2/imagefile/\d+ 413$`},
		{"multipart", 65 << 20, false, `^POST /v2/imagefile/\d+/_multipart 413$`},
		{"v1 raw POST", 256 << 10, true, `^POST /v1/imagefile/\d+ 413$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := servertest.Start(t, server.Config{})
			alice := in.User(t, "alice", false)
			first, firstDigest, size := sized(t, 1, 256<<10)
			second, _, secondSize := sized(t, 2, tc.size)
			quota := size + size/2
			tmDo(t, in, "PUT", api+"settings", in.AdminToken, silo.SettingsChange{UserQuota: &quota}).ok(t, "quota", http.StatusOK, nil)
			to := in
			if tc.old {
				to = oldAPI(t, in)
			}

			if err := tmPush(to, alice, first, "alice/tools/one", nil); err != nil {
				t.Fatalf("first push: %v", err)
			}
			// The same bytes under another name cost nothing more.
			if err := tmPush(to, alice, first, "alice/other/copy", nil); err != nil {
				t.Fatalf("pushing held bytes again: %v", err)
			}
			if u := usageOf(t, in, alice); u.User != (silo.Quota{Name: "alice", UsedBytes: size, QuotaBytes: quota}) {
				t.Errorf("usage %+v; want %d of %d", u.User, size, quota)
			}

			rec := &recorder{}
			err := tmPush(to, alice, second, "alice/tools/two", rec)
			want := fmt.Sprintf("push refused: alice's quota is %s and %s is used; this image is %s",
				registry.HumanSize(quota), registry.HumanSize(size), registry.HumanSize(secondSize))
			if httpCode(err) != http.StatusRequestEntityTooLarge || !strings.Contains(err.Error(), want) {
				t.Fatalf("over-quota push: %v; want 413 with %q", err, want)
			}
			if len(rec.matching(tc.refusing)) != 1 {
				t.Errorf("requests %v; want one matching %s", rec.seen, tc.refusing)
			}
			if got := rec.matching(`^PUT /v2/(upload|imagefile/\d+/_multipart)`); len(got) != 0 {
				t.Errorf("bytes were sent after the refusal: %v", got)
			}
			blobs, partial, sessions := stored(t, in)
			if len(blobs) != 1 || blobs[0] != firstDigest || partial != 0 || sessions != 0 {
				t.Errorf("after the refusal: blobs %v, %d partial uploads, %d sessions; want only the first image", blobs, partial, sessions)
			}
			if u := usageOf(t, in, alice); u.User.UsedBytes != size {
				t.Errorf("usage after the refusal %+v", u.User)
			}

			// A larger quota lets the same push through.
			more := size + secondSize
			tmDo(t, in, "PUT", api+"settings", in.AdminToken, silo.SettingsChange{UserQuota: &more}).ok(t, "more", http.StatusOK, nil)
			if err := tmPush(to, alice, second, "alice/tools/two", nil); err != nil {
				t.Errorf("pushing after the quota was raised: %v", err)
			}
		})
	}
}

// TestUserQuotaAdminPush: an admin pushing into a user's collection is
// held to that user's quota, since the bytes are the user's.
func TestUserQuotaAdminPush(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	alice := in.User(t, "alice", false)
	first, _, size := sized(t, 1, 128<<10)
	second, _, _ := sized(t, 2, 128<<10)
	if err := tmPush(in, alice, first, "alice/tools/one", nil); err != nil {
		t.Fatal(err)
	}
	quota := size + 1
	tmDo(t, in, "PUT", api+"settings", in.AdminToken, silo.SettingsChange{UserQuota: &quota}).ok(t, "quota", http.StatusOK, nil)
	err := tmPush(in, in.AdminToken, second, "alice/tools/two", nil)
	if httpCode(err) != http.StatusRequestEntityTooLarge || !strings.Contains(err.Error(), "alice's quota") {
		t.Errorf("admin pushing into alice's full collection: %v", err)
	}
	// The admin's own collections count against the admin's quota, not alice's.
	if err := tmPush(in, in.AdminToken, second, "admin/tools/two", nil); err != nil {
		t.Errorf("the admin pushing into their own collection: %v", err)
	}
}

// TestTeamQuota: a team's collections count against the team's quota, not
// the pushing member's, and an admin may give one team more.
func TestTeamQuota(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	mgr := manager(t, in, "mgr")
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)
	tmDo(t, in, "POST", api+"teams", mgr, silo.NewTeam{Name: "lab"}).ok(t, "team", http.StatusCreated, nil)
	for _, u := range []string{"alice", "bob"} {
		tmDo(t, in, "PUT", api+"teams/lab/members/"+u, mgr, silo.Membership{}).ok(t, "member", http.StatusOK, nil)
	}
	first, _, size := sized(t, 1, 256<<10)
	second, _, _ := sized(t, 2, 256<<10)
	teamQuota, userQuota := size+size/2, int64(1)
	tmDo(t, in, "PUT", api+"settings", in.AdminToken, silo.SettingsChange{TeamQuota: &teamQuota, UserQuota: &userQuota}).ok(t, "quotas", http.StatusOK, nil)

	// One byte of user quota does not stop pushes the team pays for.
	if err := tmPush(in, alice, first, "lab/tools/one", nil); err != nil {
		t.Fatalf("alice pushing to the team: %v", err)
	}
	if err := tmPush(in, bob, first, "lab/data/copy", nil); err != nil {
		t.Fatalf("bob pushing bytes the team holds: %v", err)
	}
	err := tmPush(in, bob, second, "lab/tools/two", nil)
	want := fmt.Sprintf("push refused: team lab's quota is %s and %s is used", registry.HumanSize(teamQuota), registry.HumanSize(size))
	if httpCode(err) != http.StatusRequestEntityTooLarge || !strings.Contains(err.Error(), want) {
		t.Fatalf("over the team quota: %v; want 413 with %q", err, want)
	}
	if err := tmPush(in, bob, second, "bob/tools/two", nil); httpCode(err) != http.StatusRequestEntityTooLarge || !strings.Contains(err.Error(), "bob's quota") {
		t.Errorf("bob over his own quota: %v", err)
	}

	u := usageOf(t, in, alice)
	wantUsage := silo.Usage{User: silo.Quota{Name: "alice", QuotaBytes: userQuota}, Teams: []silo.Quota{{Name: "lab", UsedBytes: size, QuotaBytes: teamQuota}}}
	if u.User != wantUsage.User || len(u.Teams) != 1 || u.Teams[0] != wantUsage.Teams[0] {
		t.Errorf("usage %+v, want %+v", u, wantUsage)
	}
	tmDo(t, in, "GET", api+"usage", "", nil).wantErr(t, "anonymous usage", http.StatusUnauthorized)

	big := 3 * size
	tmDo(t, in, "PATCH", api+"teams/lab", in.AdminToken, silo.TeamChange{QuotaBytes: &big}).ok(t, "team quota", http.StatusOK, nil)
	if err := tmPush(in, bob, second, "lab/tools/two", nil); err != nil {
		t.Errorf("pushing after the team's quota was raised: %v", err)
	}
	if u := usageOf(t, in, bob); len(u.Teams) != 1 || u.Teams[0].QuotaBytes != big || u.Teams[0].UsedBytes != 2*size {
		t.Errorf("usage after: %+v", u)
	}
}

// TestCollectionLimit: a plain user may create only so many collections;
// pushing into the ones they have goes on working.
func TestCollectionLimit(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	alice := in.User(t, "alice", false)
	limit := 2
	tmDo(t, in, "PUT", api+"settings", in.AdminToken, silo.SettingsChange{CollectionLimit: &limit}).ok(t, "limit", http.StatusOK, nil)
	for i, name := range []string{"alice/one/app", "default/two/app"} {
		if err := tmPush(in, alice, sifFile(t, int64(i)), name, nil); err != nil {
			t.Fatalf("push %s: %v", name, err)
		}
	}
	err := tmPush(in, alice, sifFile(t, 3), "alice/three/app", nil)
	if httpCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), "alice has reached the limit of 2 collections") {
		t.Errorf("third collection: %v; want 403 naming the limit", err)
	}
	if err := tmPush(in, alice, sifFile(t, 4), "alice/one/more", nil); err != nil {
		t.Errorf("pushing into an existing collection: %v", err)
	}
	if err := tmPush(in, in.AdminToken, sifFile(t, 5), "admin/three/app", nil); err != nil {
		t.Errorf("admins have no collection limit: %v", err)
	}
	var l silo.ImageList
	get(t, in, alice, api+"images?entity=alice", &l)
	if len(l.Images) != 2 {
		t.Errorf("alice has %v", names(l))
	}
}

// TestUsageJSON guards the wire names of GET usage, which scripts read.
func TestUsageJSON(t *testing.T) {
	b, err := json.Marshal(silo.Usage{User: silo.Quota{Name: "a", UsedBytes: 1, QuotaBytes: 2}, Teams: []silo.Quota{}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"user":{"name":"a","usedBytes":1,"quotaBytes":2},"teams":[]}`; string(b) != want {
		t.Errorf("usage JSON %s, want %s", b, want)
	}
}

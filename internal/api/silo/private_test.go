package silo_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	aclient "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// probe is a request an anonymous caller makes of a private-mode registry.
type probe struct{ method, path string }

// anonymousView asks every probe anonymously and returns the answers.
func anonymousView(t *testing.T, in *servertest.Instance, probes []probe) []reply {
	t.Helper()
	out := make([]reply, len(probes))
	for i, p := range probes {
		out[i] = tmDo(t, in, p.method, p.path, "", nil)
	}
	return out
}

// TestPrivateMode: in private mode nothing, names included, is visible
// without logging in. Every answer an anonymous caller gets about a name
// that exists is the answer, byte for byte, it got before the name
// existed; listings and search are empty. Logged-in users see public
// images as before.
func TestPrivateMode(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	alice := in.User(t, "alice", false)
	bob := in.User(t, "bob", false)
	mgr := manager(t, in, "mgr")
	tmDo(t, in, "PUT", api+"settings", in.AdminToken, silo.SettingsChange{PrivateMode: ptr(true)}).ok(t, "private mode", http.StatusOK, nil)

	probes := []probe{
		{"GET", "/v1/entities/alice"},
		{"GET", "/v1/collections/alice/tools"},
		{"GET", "/v1/containers/alice/tools/app"},
		{"GET", "/v1/images/alice/tools/app:v1?arch=amd64"},
		{"GET", "/v1/images/alice/tools/app?arch=amd64"},
		{"GET", "/v1/imagefile/alice/tools/app:v1?arch=amd64"}, // pull
		{"GET", "/v1/imagefile/tools/app:v1?arch=amd64"},       // pull by a short name
		{"GET", "/v1/search?value=app"},
		{"GET", "/v1/search?value=alice"},
		{"GET", api + "images"},
		{"GET", api + "images?entity=alice"},
		{"GET", api + "images?q=tools"},
		{"GET", api + "teams"},
		{"GET", api + "teams/lab"},
		{"PATCH", api + "collections/alice/tools"},
		{"PUT", api + "containers/alice/tools/app/frozen"},
	}
	before := anonymousView(t, in, probes)

	path, _ := writeSIF(t, 1)
	push(t, in, alice, path, "alice/tools/app", "v1")
	push(t, in, alice, path, "default/tools/app", "v1")
	tmDo(t, in, "POST", api+"teams", mgr, silo.NewTeam{Name: "lab"}).ok(t, "team", http.StatusCreated, nil)

	after := anonymousView(t, in, probes)
	for i, p := range probes {
		b, a := before[i], after[i]
		if a.status != b.status || !bytes.Equal(a.body, b.body) {
			t.Errorf("%s %s: before the name existed %d %s; after %d %s", p.method, p.path, b.status, b.body, a.status, a.body)
		}
		// Writes ask anonymous callers to log in before looking anything
		// up, so their 401 is the same whether the name exists or not.
		if a.status != http.StatusNotFound && a.status != http.StatusOK && (p.method == "GET" || a.status != http.StatusUnauthorized) {
			t.Errorf("%s %s: status %d, want 404 (or an empty 200 listing; 401 for a write)", p.method, p.path, a.status)
		}
	}
	var l silo.ImageList
	if st := get(t, in, "", api+"images", &l); st != http.StatusOK || len(l.Images) != 0 || l.Totals != (silo.Totals{}) {
		t.Errorf("anonymous listing: %d %+v", st, l)
	}

	// Logged in, bob sees alice's public image: listing, search, pull.
	get(t, in, bob, api+"images", &l)
	if got := names(l); !slices.Equal(got, []string{"alice/tools/app", "default/tools/app"}) {
		t.Errorf("bob lists %v", got)
	}
	c, err := aclient.NewClient(&aclient.Config{BaseURL: in.URL, AuthToken: bob})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Search(context.Background(), map[string]string{"value": "app"})
	if err != nil || len(res.Images) != 2 {
		t.Errorf("bob's search: %+v, %v", res, err)
	}
	out := filepath.Join(t.TempDir(), "pulled.sif")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := c.DownloadImage(context.Background(), f, "amd64", "alice/tools/app", "v1", nil); err != nil {
		t.Errorf("bob pulling: %v", err)
	}
	want, _ := os.ReadFile(path)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Errorf("bob pulled %d bytes, want the %d pushed", len(got), len(want))
	}

	// A bad token is refused outright, not treated as anonymous.
	tmDo(t, in, "GET", "/v1/entities/alice", "silo_not-a-token", nil).wantErr(t, "bad token", http.StatusUnauthorized)

	// Out of private mode, anonymous callers see public images again.
	tmDo(t, in, "PUT", api+"settings", in.AdminToken, silo.SettingsChange{PrivateMode: ptr(false)}).ok(t, "public mode", http.StatusOK, nil)
	tmDo(t, in, "GET", "/v1/images/alice/tools/app:v1?arch=amd64", "", nil).ok(t, "anonymous GET", http.StatusOK, nil)
	if st := get(t, in, "", api+"images", &l); st != http.StatusOK || len(l.Images) != 2 {
		t.Errorf("anonymous listing out of private mode: %d %v", st, names(l))
	}
}

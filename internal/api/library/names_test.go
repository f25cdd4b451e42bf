package library_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// TestBadNames sends malformed names to every call that takes one. Each
// must get a 400 in the json-resp envelope and change nothing, even when
// a lenient reading of the name would reach a real image.
func TestBadNames(t *testing.T) {
	s := startSilo(t, server.Config{})
	tok := s.User(t, "alice", false)
	f := writeSIF(t, t.TempDir(), "app.sif", siftest.Options{Seed: 50})
	c := newClient(t, "apptainer", s.URL, tok, nil)
	push(t, c, f, "alice/tools/app", "amd64", "v1")
	push(t, c, f, "default/alice/app", "amd64", "v1")
	before := s.state(t)

	t.Run("references", func(t *testing.T) {
		for _, tc := range []struct{ ref, why string }{
			{"Alice/tools/app:v1", "lower-case"},
			{"alice/tools/APP:v1", "lower-case"},
			{"alice/tools/app/extra:v1", "at most 3"},
			{"x/alice/tools/app:v1", "at most 3"},
			{"alice/tools/app:v1!", "tag"},
			{"alice/tools/app:-v1", "tag"},
			{"alice/tools/app:v1:v2", "tag"},
			{"alice/tools/app:", "nothing follows"},
			{"alice/tools/app:sha256.1234", "64 hex"},
			{"alice/tools/app:sha256." + strings.ToUpper(f.Digest), "lower-case"},
			{"alice/to..ols/app:v1", "lower-case"},
			{"alice/tools/app%20:v1", "lower-case"},
			// Escaped once more than the clients ever do: not alice/tools/app.
			{"alice%252Ftools%252Fapp:v1", "lower-case"},
		} {
			for _, call1 := range []struct{ method, prefix string }{
				{"GET", "/v1/images/"}, {"DELETE", "/v1/images/"}, {"GET", "/v1/imagefile/"},
			} {
				what := call1.method + " " + call1.prefix + tc.ref
				wantError(t, what, call(t, call1.method, s.URL+call1.prefix+tc.ref+"?arch=amd64", tok, nil), http.StatusBadRequest, "invalid name", tc.why)
			}
		}
		s.assertState(t, before)
	})

	t.Run("push calls", func(t *testing.T) {
		var e, c, ct, im struct {
			ID string `json:"id"`
		}
		data(t, "entity", call(t, "GET", s.URL+"/v1/entities/alice", tok, nil), &e)
		data(t, "collection", call(t, "GET", s.URL+"/v1/collections/alice/tools", tok, nil), &c)
		data(t, "container", call(t, "GET", s.URL+"/v1/containers/alice/tools/app", tok, nil), &ct)
		data(t, "image", call(t, "GET", s.URL+"/v1/images/alice/tools/app:v1?arch=amd64", tok, nil), &im)
		for _, tc := range []struct {
			method, path string
			body         any
			why          string
		}{
			{"GET", "/v1/entities/Alice", nil, "lower-case"},
			{"GET", "/v1/collections/alice/Tools", nil, "lower-case"},
			{"GET", "/v1/containers/alice/tools/a..b", nil, "lower-case"},
			{"POST", "/v1/entities", map[string]string{"name": "Alice"}, "lower-case"},
			{"POST", "/v1/entities", map[string]string{"name": ""}, "empty"},
			{"POST", "/v1/entities", `{"name":`, "invalid JSON"},
			{"POST", "/v1/collections", map[string]string{"name": "Tools", "entity": e.ID}, "lower-case"},
			{"POST", "/v1/collections", map[string]string{"name": "a/b", "entity": e.ID}, "lower-case"},
			{"POST", "/v1/containers", map[string]string{"name": "a..b", "collection": c.ID}, "lower-case"},
			{"POST", "/v1/containers", map[string]string{"name": strings.Repeat("a", 129), "collection": c.ID}, "at most 128"},
			{"POST", "/v1/images", map[string]string{"hash": "sha256.xyz", "container": ct.ID}, "64 hex"},
			{"POST", "/v1/images", map[string]string{"hash": "md5.0123", "container": ct.ID}, "sha256"},
			{"POST", "/v1/images", map[string]string{"hash": "sha256." + strings.ToUpper(f.Digest), "container": ct.ID}, "lower-case"},
			{"POST", "/v2/tags/" + ct.ID, map[string]string{"Arch": "amd64", "Tag": "bad tag", "ImageID": im.ID}, "tag"},
			{"POST", "/v2/tags/" + ct.ID, map[string]string{"Arch": "amd64", "Tag": "sha256.v1", "ImageID": im.ID}, "reserved"},
			{"POST", "/v1/tags/" + ct.ID, map[string]string{"Tag": "", "ImageID": im.ID}, "tag"},
			{"POST", "/v1/tags/" + ct.ID, map[string]string{"Tag": strings.Repeat("t", 129), "ImageID": im.ID}, "at most 128"},
		} {
			wantError(t, tc.method+" "+tc.path, call(t, tc.method, s.URL+tc.path, tok, tc.body), http.StatusBadRequest, tc.why)
		}
		s.assertState(t, before)
	})
}

// TestEmptyPathSegments: "alice//app" is a malformed name, not the
// two-part "alice/app" (which is default/alice/app). Answering it with a
// redirect to the cleaned path, as http.ServeMux does for any path with
// "//", makes a typo in `delete` delete another image: the clients follow
// a 307 with the same method.
func TestEmptyPathSegments(t *testing.T) {
	s := startSilo(t, server.Config{})
	tok := s.User(t, "alice", false)
	f := writeSIF(t, t.TempDir(), "app.sif", siftest.Options{Seed: 51})
	push(t, newClient(t, "apptainer", s.URL, tok, nil), f, "default/alice/app", "amd64", "v1")
	before := s.state(t)
	for _, p := range []string{"GET /v1/images/", "DELETE /v1/images/", "GET /v1/imagefile/"} {
		m, prefix, _ := strings.Cut(p, " ")
		wantError(t, p+"alice//app:v1", call(t, m, s.URL+prefix+"alice//app:v1?arch=amd64", tok, nil), http.StatusBadRequest)
	}
	s.assertState(t, before)
	eachClient(t, func(t *testing.T, kind string) {
		c := newClient(t, kind, s.URL, tok, nil)
		push(t, c, f, "default/alice/app", "amd64", "v1") // again, should a previous run have deleted it
		before := s.state(t)
		if err := c.DeleteImage(context.Background(), "alice//app:v1", "amd64"); err == nil {
			t.Error("DeleteImage alice//app:v1 succeeded")
		}
		s.assertState(t, before)
	})
}

package library_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// The client attempts a multipart upload only above this size.
const clientMultipartMin = 64 << 20

// TestPushPullLarge pushes a 150 MiB image (multipart upload), pulls it
// in 5 MiB ranges, in one stream and by digest, looks it up, finds it and
// deletes it, with each real client.
func TestPushPullLarge(t *testing.T) {
	big := writeSIF(t, t.TempDir(), "big.sif", siftest.Options{Size: 150 << 20, Seed: 150, Labels: map[string]string{"org.example.tool": "aligner"}})
	if big.Size <= clientMultipartMin {
		t.Fatalf("test image is %d bytes, not above the multipart threshold", big.Size)
	}
	eachClient(t, func(t *testing.T, kind string) {
		s := startSilo(t, server.Config{BlobAccess: server.BlobProxy}) // counts requests to Silo's own transfer URLs
		rec := newRecorder(t)
		c := newClient(t, kind, s.URL, s.User(t, "alice", false), rec)
		ctx := context.Background()
		const path = "alice/tools/bwa"

		res := push(t, c, big, path, "amd64", "0.7.17", "latest")
		if res == nil || res.ContainerURL != "library/"+path {
			t.Errorf("upload complete = %+v, want containerUrl library/%s", res, path)
		}

		// The multipart path ran: one start, one part URL and one part PUT
		// per 64 MiB, each accepted, then completion; no single-part upload.
		parts := int((big.Size + clientMultipartMin - 1) / clientMultipartMin)
		if n := rec.count(reqMultipartStart); n != 1 {
			t.Errorf("%d multipart starts, want 1", n)
		}
		if n := rec.count(reqMultipartPart); n != parts {
			t.Errorf("%d part URL requests, want %d", n, parts)
		}
		var got []string
		for _, q := range rec.matching(reqUploadBytes) {
			if q.Status != http.StatusOK || q.Header.Get("Authorization") != "" {
				t.Errorf("part PUT: status %d, Authorization %q", q.Status, q.Header.Get("Authorization"))
			}
			got = append(got, q.Query.Get("part"))
		}
		if want := []string{"1", "2", "3"}; !slices.Equal(got, want[:parts]) {
			t.Errorf("part PUTs %v, want %v", got, want[:parts])
		}
		if rec.count(reqMultipartDone) != 1 || rec.count(reqUploadStart) != 0 || rec.count(reqUploadDone) != 0 {
			t.Errorf("want exactly one multipart completion and no single-part upload; saw %d, %d, %d",
				rec.count(reqMultipartDone), rec.count(reqUploadStart), rec.count(reqUploadDone))
		}
		if n := rec.count(reqTagsV2); n != 2 {
			t.Errorf("%d v2 tag requests, want 2", n)
		}
		if st := s.state(t); !slices.Equal(st.Blobs, []string{big.Digest}) || len(st.Partial)+len(st.Sessions) != 0 {
			t.Errorf("after push the stores hold %+v", st)
		}

		im, err := c.GetImage(ctx, "amd64", path+":0.7.17")
		if err != nil {
			t.Fatal(err)
		}
		if im.Hash != big.Hash() || im.Size != big.Size || !im.Uploaded || im.Arch == nil || *im.Arch != "amd64" ||
			!slices.Equal(im.Tags, []string{"0.7.17", "latest"}) || im.ContainerName != "bwa" {
			t.Errorf("GetImage = %+v", im)
		}

		// Concurrent ranged download: every part a 206.
		rec.reset()
		pullParts(t, c, "amd64", path, "0.7.17", big)
		ranged := rec.matching(reqBlob)
		if want := int((big.Size + 5<<20 - 1) / (5 << 20)); len(ranged) != want {
			t.Errorf("%d blob requests, want %d parts", len(ranged), want)
		}
		for _, q := range ranged {
			if q.Status != http.StatusPartialContent || !strings.HasPrefix(q.Header.Get("Range"), "bytes=") {
				t.Errorf("blob request Range %q answered %d, want 206", q.Header.Get("Range"), q.Status)
			}
		}
		if q := rec.matching(reqPull); len(q) != 1 || q[0].Status != http.StatusSeeOther {
			t.Errorf("pull requests %+v, want one 303", q)
		}

		// Single stream (follows the 303) and by digest.
		pull(t, c, "amd64", path, "latest", big)
		pullParts(t, c, "amd64", path, big.Hash(), big)
		pull(t, c, "", path, big.Hash(), big)

		sr, err := c.Search(ctx, map[string]string{"value": "bwa", "arch": "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		if len(sr.Images) != 1 || sr.Images[0].Hash != big.Hash() || sr.Images[0].EntityName != "alice" {
			t.Errorf("search = %+v", sr)
		}

		if err := c.DeleteImage(ctx, path+":0.7.17", "amd64"); err != nil {
			t.Fatal(err)
		}
		wantNotFound(t, c, "amd64", path, "latest")
		wantNotFound(t, c, "amd64", path, big.Hash())
	})
}

// TestPushSmall covers the v2 single-part upload and the tag, dedup and
// arch rules, with each real client.
func TestPushSmall(t *testing.T) {
	dir := t.TempDir()
	amd := writeSIF(t, dir, "amd64.sif", siftest.Options{Size: 300 << 10, Seed: 1})
	arm := writeSIF(t, dir, "arm64.sif", siftest.Options{Size: 200 << 10, Seed: 2, Arch: "arm64"})
	eachClient(t, func(t *testing.T, kind string) {
		s := startSilo(t, server.Config{BlobAccess: server.BlobProxy}) // counts requests to Silo's own transfer URLs
		rec := newRecorder(t)
		c := newClient(t, kind, s.URL, s.User(t, "alice", false), rec)
		ctx := context.Background()

		t.Run("single part", func(t *testing.T) {
			rec.reset()
			push(t, c, amd, "alice/one/app", "amd64", "v1")
			if rec.count(reqUploadStart) != 1 || rec.count(reqUploadBytes) != 1 || rec.count(reqUploadDone) != 1 || rec.count(reqMultipartStart) != 0 {
				t.Errorf("want one single-part upload, saw %v", rec.matching(reqAnyUpload))
			}
			pullParts(t, c, "amd64", "alice/one/app", "v1", amd)
			pull(t, c, "amd64", "alice/one/app", "v1", amd)
		})

		t.Run("same bytes under another name are stored once", func(t *testing.T) {
			push(t, c, amd, "alice/two/copy", "amd64", "latest")
			if st := s.state(t); !slices.Equal(st.Blobs, []string{amd.Digest}) || len(st.Images) != 2 {
				t.Errorf("stores hold %+v; want one blob named by two images", st)
			}
			pullParts(t, c, "amd64", "alice/two/copy", "latest", amd)
			pullParts(t, c, "amd64", "alice/one/app", "v1", amd)
		})

		t.Run("re-push of the same name is not uploaded again", func(t *testing.T) {
			im, err := c.GetImage(ctx, "amd64", "alice/one/app:"+amd.Hash())
			if err != nil || !im.Uploaded {
				t.Fatalf("GetImage by hash = %+v, %v; want an uploaded image", im, err)
			}
			rec.reset()
			push(t, c, amd, "alice/one/app", "amd64", "v1", "stable")
			if n := rec.count(reqAnyUpload) + rec.count(reqCreateImage); n != 0 {
				t.Errorf("re-push sent %d upload or create requests: %v", n, rec.matching(reqAnyUpload))
			}
			im, err = c.GetImage(ctx, "amd64", "alice/one/app:stable")
			if err != nil || im.Hash != amd.Hash() || !slices.Equal(im.Tags, []string{"stable", "v1"}) {
				t.Errorf("after re-push with a new tag: %+v, %v", im, err)
			}
		})

		t.Run("a tag per arch", func(t *testing.T) {
			push(t, c, amd, "alice/multi/app", "amd64", "1.0")
			push(t, c, arm, "alice/multi/app", "arm64", "1.0")
			pullParts(t, c, "amd64", "alice/multi/app", "1.0", amd)
			pullParts(t, c, "arm64", "alice/multi/app", "1.0", arm)
			pull(t, c, "arm64", "alice/multi/app", "1.0", arm)
			im, err := c.GetImage(ctx, "arm64", "alice/multi/app:1.0")
			if err != nil || im.Hash != arm.Hash() || im.Arch == nil || *im.Arch != "arm64" {
				t.Errorf("GetImage arm64 = %+v, %v", im, err)
			}
			wantNotFound(t, c, "ppc64le", "alice/multi/app", "1.0")
		})

		t.Run("an image cannot be tagged for another arch", func(t *testing.T) {
			before := s.state(t)
			_, err := c.Push(ctx, arm.open(t), "alice/multi/app", "amd64", []string{"wrong"}, "")
			if err == nil || !strings.Contains(err.Error(), "arm64") {
				t.Errorf("pushing an arm64 image as amd64: err = %v, want a refusal naming arm64", err)
			}
			s.assertState(t, before)
		})
	})
}

// TestOldUploadProtocols points the clients at a proxy whose /version
// says an older API: no apiVersion means the raw POST /v1/imagefile
// upload and v1 tags; 2.0.0-alpha.1 means the v2 upload with v1 tags.
func TestOldUploadProtocols(t *testing.T) {
	f := writeSIF(t, t.TempDir(), "app.sif", siftest.Options{Size: 256 << 10, Seed: 7})
	cases := []struct {
		apiVersion string
		upload     []string // request patterns that must appear once
		absent     []string // and must not appear
	}{
		{"", []string{reqUploadV1, reqTagsV1}, []string{reqUploadStart, reqMultipartStart, reqTagsV2}},
		{"2.0.0-alpha.1", []string{reqUploadStart, reqUploadBytes, reqUploadDone, reqTagsV1}, []string{reqUploadV1, reqTagsV2}},
	}
	for _, tc := range cases {
		t.Run("apiVersion="+tc.apiVersion, func(t *testing.T) {
			eachClient(t, func(t *testing.T, kind string) {
				s := startSilo(t, server.Config{BlobAccess: server.BlobProxy}) // counts requests to Silo's own transfer URLs
				tok := s.User(t, "alice", false)
				proxy := versionProxy(t, s.URL, tc.apiVersion)
				rec := newRecorder(t)
				old := newClient(t, kind, proxy, tok, rec)
				if v, err := old.GetVersion(context.Background()); err != nil || v != tc.apiVersion {
					t.Fatalf("through the proxy apiVersion = %q, %v", v, err)
				}
				push(t, old, f, "alice/old/app", "amd64", "1.0")
				for _, re := range tc.upload {
					if n := rec.count(re); n != 1 {
						t.Errorf("%d requests matching %s, want 1", n, re)
					}
				}
				for _, re := range tc.absent {
					if n := rec.count(re); n != 0 {
						t.Errorf("%d requests matching %s, want none", n, re)
					}
				}
				// Pulled back through the proxy and directly, with its arch.
				pullParts(t, old, "amd64", "alice/old/app", "1.0", f)
				direct := newClient(t, kind, s.URL, "", nil)
				pullParts(t, direct, "amd64", "alice/old/app", "1.0", f)
				im, err := direct.GetImage(context.Background(), "amd64", "alice/old/app:1.0")
				if err != nil || im.Arch == nil || *im.Arch != "amd64" {
					t.Errorf("GetImage = %+v, %v", im, err)
				}
			})
		})
	}
}

// versionProxy serves target through an httputil.ReverseProxy that
// rewrites /version to announce apiVersion ("" drops the field).
func versionProxy(t *testing.T, target, apiVersion string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(res *http.Response) error {
		if res.Request.URL.Path != "/version" {
			return nil
		}
		var env struct {
			Data map[string]string `json:"data"`
		}
		if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
			return err
		}
		res.Body.Close()
		if apiVersion == "" {
			delete(env.Data, "apiVersion")
		} else {
			env.Data["apiVersion"] = apiVersion
		}
		b, err := json.Marshal(env)
		if err != nil {
			return err
		}
		res.Body = io.NopCloser(strings.NewReader(string(b)))
		res.ContentLength = int64(len(b))
		res.Header.Set("Content-Length", fmt.Sprint(len(b)))
		return nil
	}
	ps := httptest.NewServer(rp)
	t.Cleanup(ps.Close)
	return ps.URL
}

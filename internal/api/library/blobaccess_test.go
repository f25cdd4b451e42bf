package library_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// TestBlobAccess pushes (multipart and single PUT) and pulls (ranged and
// one stream) with each real client on an S3 store, in both --blob-access
// modes: with redirect every image byte goes between client and bucket
// and none through Silo; with proxy every byte goes through Silo and the
// clients never see the bucket. The downloads are counted alike.
func TestBlobAccess(t *testing.T) {
	dir := t.TempDir()
	big := writeSIF(t, dir, "big.sif", siftest.Options{Size: clientMultipartMin + 6<<20, Seed: 160})
	small := writeSIF(t, dir, "small.sif", siftest.Options{Size: 256 << 10, Seed: 161})
	const partSize = 32 << 20
	parts := int((big.Size + partSize - 1) / partSize)
	for _, mode := range []string{server.BlobRedirect, server.BlobProxy} {
		t.Run(mode, func(t *testing.T) {
			// The bucket by another name than Silo's 127.0.0.1, as it is in
			// production: clients following a redirect to another host send
			// it no Authorization, which S3 would refuse beside a signature.
			store := strings.Replace(backendtest.FreshStore(t), "http%3A%2F%2F127.0.0.1", "http%3A%2F%2Flocalhost", 1)
			endpoint, err := url.Parse(mustQuery(t, store).Get("endpoint"))
			if err != nil {
				t.Fatal(err)
			}
			eachClient(t, func(t *testing.T, kind string) {
				s := startSilo(t, server.Config{Store: store, BlobAccess: mode, PartSize: partSize})
				silo, _ := url.Parse(s.URL)
				rec := newRecorder(t)
				tok := s.User(t, "alice", false)
				c := newClient(t, kind, s.URL, tok, rec)
				push(t, c, big, "alice/tools/big", "amd64", "1")
				push(t, c, small, "alice/tools/small", "amd64", "1")
				pullParts(t, c, "amd64", "alice/tools/big", "1", big)
				pull(t, c, "amd64", "alice/tools/big", "1", big)
				pull(t, c, "amd64", "alice/tools/small", "1", small)

				var toSilo, toStore, ranged int
				for _, q := range rec.matching(`^(PUT|GET) `) {
					isBytes := strings.HasPrefix(q.Line, "PUT /v2/upload/") || strings.HasPrefix(q.Line, "GET /v2/blob/")
					switch {
					case q.Host == endpoint.Host:
						toStore++
						if strings.HasPrefix(q.Line, "GET ") && q.Status == http.StatusPartialContent {
							ranged++
						}
						if q.Status != http.StatusOK && q.Status != http.StatusPartialContent {
							t.Errorf("%s to the store: status %d %s", q.Line, q.Status, q.Body)
						}
						if q.Header.Get("Authorization") != "" {
							t.Errorf("%s to the store carried an Authorization header", q.Line)
						}
					case q.Host == silo.Host && isBytes:
						toSilo++
					}
				}
				// Parts and the single PUT; the ranged pull, the two
				// single-stream pulls.
				transfers := parts + 1
				if mode == server.BlobRedirect {
					if toSilo != 0 || toStore < transfers+2 || ranged == 0 {
						t.Errorf("redirect: %d transfers through Silo, %d to the store (%d ranged); want none, at least %d, some",
							toSilo, toStore, ranged, transfers+2)
					}
				} else if toStore != 0 || toSilo < transfers+2 {
					t.Errorf("proxy: %d transfers through Silo, %d to the store; want at least %d, none", toSilo, toStore, transfers+2)
				}
				// Redirected or not, a pull is counted once per request.
				im, err := c.GetImage(context.Background(), "amd64", "alice/tools/big:1")
				if err != nil {
					t.Fatal(err)
				}
				id, _ := strconv.ParseInt(im.ID, 10, 64)
				if rec, err := s.Server.Meta.Image(context.Background(), id); err != nil || rec.Downloads != 2 {
					t.Errorf("image %s: %v downloads after two pulls (%v), want 2", im.ID, rec, err)
				}
				// Asking for what is not there (or not yours) hands out no URL.
				res := call(t, "GET", s.URL+"/v1/imagefile/alice/tools/big:2?arch=amd64", tok, nil)
				if res.Status != http.StatusNotFound || res.Header.Get("Location") != "" {
					t.Errorf("pull of a missing tag: %d Location %q, want a 404 and no URL", res.Status, res.Header.Get("Location"))
				}
			})
		})
	}
}

// TestRedirectedPartsAreVerified sends parts straight to the bucket the way
// no real client would: the store takes whatever it is sent, so Silo must
// still refuse an image whose parts are short, long or altered, and keep
// nothing.
func TestRedirectedPartsAreVerified(t *testing.T) {
	const partSize = 5 << 20 // S3's smallest part
	s := startSilo(t, server.Config{Store: backendtest.FreshStore(t), BlobAccess: server.BlobRedirect, PartSize: partSize})
	tok := s.User(t, "alice", false)
	f := writeSIF(t, t.TempDir(), "app.sif", siftest.Options{Size: 5 * partSize / 2, Seed: 162})
	whole := f.read(t)
	altered := append([]byte(nil), whole[partSize:2*partSize]...)
	altered[100] ^= 0xff
	for i, tc := range []struct {
		name   string
		bodies map[int][]byte // part number → body; the rest are sent as they are
		status int
		want   string
	}{
		{"short part", map[int][]byte{1: whole[:partSize-1]}, http.StatusBadRequest, "upload incomplete"},
		{"altered part", map[int][]byte{2: altered}, http.StatusUnprocessableEntity, "checksum mismatch"},
		// Parts go 1, 3, 2: a long part 2, written last, overwrites the
		// start of part 3.
		{"long part", map[int][]byte{2: append(whole[partSize:2*partSize:2*partSize], make([]byte, 10)...)}, http.StatusUnprocessableEntity, "checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "alice/bad/app" + string(rune('a'+i))
			id := createImage(t, s, tok, path, f.Digest)
			before := s.state(t)
			mp := startMultipart(t, s, tok, id, f.Size)
			for _, n := range []int{1, 3, 2} {
				res := putPart(t, s, tok, id, mp, n, whole, tc.bodies[n])
				if res.Status != http.StatusOK {
					t.Fatalf("part %d: %d %s", n, res.Status, res.Body)
				}
			}
			res := completeMultipart(t, s, tok, id, mp.UploadID, 1, 2, 3)
			wantError(t, "complete", res, tc.status, tc.want)
			s.assertState(t, before)
		})
	}
}

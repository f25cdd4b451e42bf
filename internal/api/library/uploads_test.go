package library_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// tampered reads a file faithfully on the client's first pass, when it
// computes the checksums it declares, and with one byte flipped once the
// client has rewound to upload: the bytes sent do not hash to the hash
// declared.
type tampered struct {
	f       *os.File
	at      int64 // offset of the flipped byte
	pos     int64
	rewound bool
}

func (r *tampered) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if r.rewound && r.pos <= r.at && r.at < r.pos+int64(n) {
		p[r.at-r.pos] ^= 0xff
	}
	r.pos += int64(n)
	return n, err
}

func (r *tampered) Seek(off int64, whence int) (int64, error) {
	n, err := r.f.Seek(off, whence)
	if err == nil {
		r.pos = n
		if whence == io.SeekStart && off == 0 {
			r.rewound = true
		}
	}
	return n, err
}

// TestRejectedUploads pushes, with the real clients, bytes that do not
// hash to what the client declared and files that are not SIF images,
// over each upload path (v2 single PUT, v2 multipart, v1 raw POST). Each
// push fails, the server says why, and nothing is kept.
func TestRejectedUploads(t *testing.T) {
	dir := t.TempDir()
	small := writeSIF(t, dir, "small.sif", siftest.Options{Size: 256 << 10, Seed: 60})
	large := writeSIF(t, dir, "large.sif", siftest.Options{Size: clientMultipartMin + 1<<20, Seed: 61})
	junk := writeRandom(t, dir, "junk.bin", 256<<10, 1)
	bigJunk := writeRandom(t, dir, "bigjunk.bin", clientMultipartMin+1<<20, 2)
	cases := []struct {
		name   string
		file   sifFile
		tamper bool
		v1     bool   // through a proxy that hides apiVersion: raw POST /v1/imagefile
		failed string // the request that must fail
		status int    // with this status
		reason string // and this in its error message
		want   string // in the client's error
	}{
		// The single PUT only receives the bytes; _complete verifies them,
		// because the clients print that call's error message.
		{"checksum/single", small, true, false, reqUploadDone, 422, "checksum mismatch", "checksum mismatch"},
		{"checksum/multipart", large, true, false, reqMultipartDone, 422, "checksum mismatch", "checksum mismatch"},
		{"checksum/v1", small, true, true, reqUploadV1, 422, "checksum mismatch", "checksum mismatch"},
		{"not SIF/single", junk, false, false, reqUploadDone, 400, "not a SIF", "not a SIF"},
		{"not SIF/multipart", bigJunk, false, false, reqMultipartDone, 400, "not a SIF", "not a SIF"},
		{"not SIF/v1", junk, false, true, reqUploadV1, 400, "not a SIF", "not a SIF"},
	}
	eachClient(t, func(t *testing.T, kind string) {
		s := startSilo(t, server.Config{})
		tok := s.User(t, "alice", false)
		legacy := versionProxy(t, s.URL, "")
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rec := newRecorder(t)
				base := s.URL
				if tc.v1 {
					base = legacy
				}
				c := newClient(t, kind, base, tok, rec)
				var r io.ReadSeeker = tc.file.open(t)
				if tc.tamper {
					r = &tampered{f: r.(*os.File), at: tc.file.Size - 1000}
				}
				before := s.state(t)
				path := fmt.Sprintf("alice/rejected/case%d", i)
				_, err := c.Push(context.Background(), r, path, "amd64", []string{"latest"}, "")
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("push: err = %v, want an error mentioning %q", err, tc.want)
				}
				failed := rec.matching(tc.failed)
				if len(failed) != 1 {
					t.Fatalf("%d requests matching %s, want 1", len(failed), tc.failed)
				}
				wantError(t, failed[0].Line, failed[0].response(), tc.status, tc.reason)
				if n := rec.count(reqTagsV1) + rec.count(reqTagsV2); n != 0 {
					t.Errorf("%d tag requests after a failed upload", n)
				}
				s.assertState(t, before)
				if im, err := c.GetImage(context.Background(), "amd64", path+":"+tc.file.Hash()); err != nil || im.Uploaded {
					t.Errorf("image record after the failed upload: %+v, %v; want one not uploaded", im, err)
				}
			})
		}
		// A declared sha256sum that is not the image's own is refused
		// before any byte is sent.
		id := createImage(t, s, tok, "alice/rejected/declared", small.Digest)
		wantError(t, "POST /v2/imagefile with another sha256sum",
			call(t, "POST", s.URL+"/v2/imagefile/"+id, tok, map[string]any{"filesize": small.Size, "sha256sum": junk.Digest}),
			http.StatusBadRequest, "does not match")
	})
}

// sendTruncated sends a request declaring a body of declared bytes,
// sends only body, and hangs up.
func sendTruncated(t *testing.T, method, rawURL, token string, declared int64, body []byte) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, u.RequestURI(), u.Host, declared)
	if token != "" {
		head += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body); err != nil {
		t.Fatal(err)
	}
}

// TestTruncatedBodies hangs up halfway through each kind of upload body.
// The server must treat it as the client's fault (a 4xx, not a 500 and
// not an error in its log) and keep nothing; the real client can then
// push the same image.
func TestTruncatedBodies(t *testing.T) {
	const partSize = 1 << 20
	s := startSilo(t, server.Config{PartSize: partSize, BlobAccess: server.BlobProxy}) // Silo's own upload URLs
	tok := s.User(t, "alice", false)
	f := writeSIF(t, t.TempDir(), "app.sif", siftest.Options{Size: 5 * partSize / 2, Seed: 70})
	whole := f.read(t)

	for _, tc := range []struct {
		name string
		// send starts an upload for image id and sends half a body; it
		// returns the method and path the server will log.
		send func(t *testing.T, id string) (method, path string)
	}{
		{"single PUT", func(t *testing.T, id string) (string, string) {
			var up struct {
				UploadURL string `json:"uploadURL"`
			}
			data(t, "start upload", call(t, "POST", s.URL+"/v2/imagefile/"+id, tok, map[string]any{"filesize": f.Size, "sha256sum": f.Digest}), &up)
			sendTruncated(t, "PUT", up.UploadURL, "", f.Size, whole[:f.Size/2])
			return "PUT", "/v2/upload/"
		}},
		{"v1 POST", func(t *testing.T, id string) (string, string) {
			sendTruncated(t, "POST", s.URL+"/v1/imagefile/"+id, tok, f.Size, whole[:f.Size/2])
			return "POST", "/v1/imagefile/" + id
		}},
		{"multipart part", func(t *testing.T, id string) (string, string) {
			mp := startMultipart(t, s, tok, id, f.Size)
			sendTruncated(t, "PUT", partURL(t, s, tok, id, mp.UploadID, 1, partSize), "", partSize, whole[:partSize/2])
			return "PUT", "/v2/upload/"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "alice/cut/" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")
			id := createImage(t, s, tok, path, f.Digest)
			before := s.state(t)
			mark := s.log.mark()
			method, logged := tc.send(t, id)
			q := s.log.wait(t, mark, method, logged)
			if q.Status < 400 || q.Status >= 500 {
				t.Errorf("%s %s cut short: the server answered %d, want a 4xx", q.Method, q.Path, q.Status)
			}
			if tc.name == "multipart part" {
				// Parts may be sent again, so the session stays until the
				// client aborts it, as the real clients do on any error.
				if st := s.state(t); len(st.Sessions) != 1 {
					t.Errorf("sessions after a cut part: %v", st.Sessions)
				}
				abortMultipart(t, s, tok, id)
			}
			s.assertState(t, before)
			// The real client can push it now.
			c := newClient(t, "apptainer", s.URL, tok, nil)
			push(t, c, f, path, "amd64", "v1")
			pullParts(t, c, "amd64", path, "v1", f)
		})
	}
}

// multipart is the answer to POST /v2/imagefile/{id}/_multipart.
type multipartUpload struct {
	UploadID   string `json:"uploadID"`
	TotalParts int    `json:"totalParts"`
	PartSize   int64  `json:"partSize"`
}

func startMultipart(t *testing.T, s *silo, tok, id string, size int64) multipartUpload {
	t.Helper()
	var mp multipartUpload
	data(t, "start multipart", call(t, "POST", s.URL+"/v2/imagefile/"+id+"/_multipart", tok, map[string]any{"filesize": size}), &mp)
	return mp
}

// partURL asks where part n goes, as the client does before each part.
func partURL(t *testing.T, s *silo, tok, id, uploadID string, n int, size int64) string {
	t.Helper()
	var p struct {
		PresignedURL string `json:"presignedURL"`
	}
	data(t, fmt.Sprintf("part %d URL", n), call(t, "PUT", s.URL+"/v2/imagefile/"+id+"/_multipart", tok,
		map[string]any{"uploadID": uploadID, "partNumber": n, "partSize": size}), &p)
	return p.PresignedURL
}

// putPart sends part n (1-based) of whole, or body when it is not nil.
func putPart(t *testing.T, s *silo, tok, id string, mp multipartUpload, n int, whole, body []byte) *response {
	t.Helper()
	if body == nil {
		start := int64(n-1) * mp.PartSize
		body = whole[start:min(start+mp.PartSize, int64(len(whole)))]
	}
	return call(t, "PUT", partURL(t, s, tok, id, mp.UploadID, n, int64(len(body))), "", body)
}

func completeMultipart(t *testing.T, s *silo, tok, id, uploadID string, parts ...int) *response {
	t.Helper()
	var done []map[string]any
	for _, n := range parts {
		done = append(done, map[string]any{"partNumber": n, "token": fmt.Sprintf(`"etag-%d"`, n)})
	}
	return call(t, "PUT", s.URL+"/v2/imagefile/"+id+"/_multipart_complete", tok, map[string]any{"uploadID": uploadID, "completedParts": done})
}

func abortMultipart(t *testing.T, s *silo, tok, id string) {
	t.Helper()
	st := s.state(t)
	for _, up := range st.Sessions {
		res := call(t, "PUT", s.URL+"/v2/imagefile/"+id+"/_multipart_abort", tok, map[string]any{"uploadID": up})
		if res.Status != http.StatusOK {
			t.Errorf("abort: status %d body %s", res.Status, res.Body)
		}
	}
}

// TestMultipartErrors drives the multipart protocol by hand, the way no
// real client would: missing, short, long, repeated and out-of-order
// parts. Completion must fail clearly and keep nothing, or store exactly
// the declared bytes.
func TestMultipartErrors(t *testing.T) {
	const partSize = 1 << 20
	s := startSilo(t, server.Config{PartSize: partSize, BlobAccess: server.BlobProxy}) // Silo's own upload URLs
	tok := s.User(t, "alice", false)
	f := writeSIF(t, t.TempDir(), "app.sif", siftest.Options{Size: 5 * partSize / 2, Seed: 80})
	whole := f.read(t)
	c := newClient(t, "apptainer", s.URL, tok, nil)
	n := 0
	// begin creates a fresh image and opens a 3-part upload for it.
	begin := func(t *testing.T) (id, path string, mp multipartUpload) {
		n++
		path = fmt.Sprintf("alice/multi/case%d", n)
		id = createImage(t, s, tok, path, f.Digest)
		mp = startMultipart(t, s, tok, id, f.Size)
		if mp.TotalParts != 3 || mp.PartSize != partSize {
			t.Fatalf("multipart start = %+v, want 3 parts of %d", mp, partSize)
		}
		return id, path, mp
	}
	sendParts := func(t *testing.T, id string, mp multipartUpload, parts ...int) {
		for _, p := range parts {
			if res := putPart(t, s, tok, id, mp, p, whole, nil); res.Status != http.StatusOK || res.Header.Get("ETag") == "" {
				t.Fatalf("part %d: status %d, ETag %q, body %s", p, res.Status, res.Header.Get("ETag"), res.Body)
			}
		}
	}
	notUploaded := func(t *testing.T, path string) {
		t.Helper()
		if im, err := c.GetImage(context.Background(), "amd64", path+":"+f.Hash()); err != nil || im.Uploaded {
			t.Errorf("image after a failed completion: %+v, %v; want one not uploaded", im, err)
		}
	}

	t.Run("completion without a part", func(t *testing.T) {
		before := s.state(t)
		id, path, mp := begin(t)
		sendParts(t, id, mp, 1, 3)
		wantError(t, "complete", completeMultipart(t, s, tok, id, mp.UploadID, 1, 3), http.StatusBadRequest, "part", "2")
		s.assertState(t, before)
		notUploaded(t, path)
	})

	t.Run("completion listing a part never sent", func(t *testing.T) {
		before := s.state(t)
		id, path, mp := begin(t)
		sendParts(t, id, mp, 1, 3)
		res := completeMultipart(t, s, tok, id, mp.UploadID, 1, 2, 3)
		if res.Status != http.StatusBadRequest && res.Status != http.StatusUnprocessableEntity {
			t.Errorf("complete: status %d, want 400 or 422; body %s", res.Status, res.Body)
		}
		wantError(t, "complete", res, res.Status)
		s.assertState(t, before)
		notUploaded(t, path)
	})

	t.Run("completion without the last part", func(t *testing.T) {
		before := s.state(t)
		id, path, mp := begin(t)
		sendParts(t, id, mp, 1, 2)
		wantError(t, "complete", completeMultipart(t, s, tok, id, mp.UploadID, 1, 2, 3), http.StatusBadRequest, "incomplete")
		s.assertState(t, before)
		notUploaded(t, path)
	})

	t.Run("parts of the wrong length or number", func(t *testing.T) {
		before := s.state(t)
		id, path, mp := begin(t)
		wantError(t, "short part 1", putPart(t, s, tok, id, mp, 1, whole, whole[:partSize-1]), http.StatusBadRequest, "must be")
		wantError(t, "long part 3", putPart(t, s, tok, id, mp, 3, whole, whole[2*partSize-1:]), http.StatusBadRequest, "must be")
		wantError(t, "empty part 2", putPart(t, s, tok, id, mp, 2, whole, []byte{}), http.StatusBadRequest, "must be")
		for _, p := range []int{0, 4, -1} {
			wantError(t, fmt.Sprintf("URL for part %d", p), call(t, "PUT", s.URL+"/v2/imagefile/"+id+"/_multipart", tok,
				map[string]any{"uploadID": mp.UploadID, "partNumber": p, "partSize": partSize}), http.StatusBadRequest, "outside")
		}
		wantError(t, "URL for another upload", call(t, "PUT", s.URL+"/v2/imagefile/"+id+"/_multipart", tok,
			map[string]any{"uploadID": "0123456789abcdef0123456789abcdef", "partNumber": 1, "partSize": partSize}), http.StatusNotFound)
		abortMultipart(t, s, tok, id)
		s.assertState(t, before)
		notUploaded(t, path)
	})

	t.Run("a received part cannot be replaced", func(t *testing.T) {
		id, path, mp := begin(t)
		sendParts(t, id, mp, 1)
		evil := append([]byte(nil), whole[:partSize]...)
		evil[len(evil)-1] ^= 0xff
		res := putPart(t, s, tok, id, mp, 1, whole, evil)
		if res.Status == http.StatusOK {
			// Accepting it is only right if completion then notices.
			sendParts(t, id, mp, 2, 3)
			wantError(t, "complete after a replaced part", completeMultipart(t, s, tok, id, mp.UploadID, 1, 2, 3), http.StatusUnprocessableEntity)
			return
		}
		wantError(t, "replacing part 1", res, http.StatusConflict, "part 1")
		sendParts(t, id, mp, 2, 3)
		if res := completeMultipart(t, s, tok, id, mp.UploadID, 1, 2, 3); res.Status != http.StatusOK {
			t.Fatalf("complete: %d %s", res.Status, res.Body)
		}
		// What is stored is exactly what was declared (checkBlobsIntact
		// confirms the blob hashes to its name when the test ends).
		pull(t, c, "", path, f.Hash(), f)
	})

	t.Run("parts out of order", func(t *testing.T) {
		id, path, mp := begin(t)
		sendParts(t, id, mp, 3, 1, 2)
		if res := completeMultipart(t, s, tok, id, mp.UploadID, 1, 2, 3); res.Status != http.StatusOK {
			t.Fatalf("complete: %d %s", res.Status, res.Body)
		}
		pull(t, c, "", path, f.Hash(), f)
		// The session is gone: completing again or sending a part fails.
		wantError(t, "second completion", completeMultipart(t, s, tok, id, mp.UploadID, 1, 2, 3), http.StatusNotFound)
		if st := s.state(t); len(st.Sessions)+len(st.Partial) != 0 {
			t.Errorf("after completion: %+v", st)
		}
	})
}

package oci_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// raw is an OCI client of bare HTTP requests with Basic credentials.
type raw struct {
	t          *testing.T
	base       string
	user, pass string
}

func (c raw) do(method, path, contentType string, body []byte, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// wantErr checks an answer's status and OCI error code.
func wantCode(t *testing.T, what string, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	var e struct {
		Errors []struct{ Code, Message string }
	}
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode != status || len(e.Errors) == 0 || e.Errors[0].Code != code {
		t.Errorf("%s: %s %s; want %d %s", what, resp.Status, body, status, code)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func (c raw) pushBlob(repo string, b []byte) string {
	c.t.Helper()
	d := sha(b)
	resp, body := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d, "application/octet-stream", b)
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("push blob: %s %s", resp.Status, body)
	}
	return d
}

func manifestJSON(config, layer string, configSize, layerSize int, configType, layerType string) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		configType, config, configSize, layerType, layer, layerSize)
}

// TestBadInput sends what a broken or hostile client might: every answer
// is the spec's error, and nothing is left stored.
func TestBadInput(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	c := raw{t: t, base: in.URL, user: "alice", pass: tok}
	const repo = "alice/bad/app"
	const mt = "application/vnd.oci.image.manifest.v1+json"
	cfg := c.pushBlob(repo, []byte(`{"architecture":"amd64","os":"linux"}`))
	layer := c.pushBlob(repo, []byte("not a tarball, but bytes"))
	good := manifestJSON(cfg, layer, 37, 24, "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar")

	resp, body := c.do(http.MethodPut, "/v2/"+repo+"/manifests/t1", mt, []byte(`{"schemaVersion":2,`))
	wantCode(t, "truncated JSON", resp, body, 400, "MANIFEST_INVALID")
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/t1", mt, bytes.Replace(good, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":1`), 1))
	wantCode(t, "schemaVersion 1", resp, body, 400, "MANIFEST_INVALID")
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/t1", "application/vnd.oci.image.index.v1+json", good)
	wantCode(t, "Content-Type not the mediaType", resp, body, 400, "MANIFEST_INVALID")
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/t1", mt, manifestJSON(cfg, sha([]byte("never pushed")), 37, 12, "application/vnd.oci.image.config.v1+json", "x"))
	wantCode(t, "layer never pushed", resp, body, 400, "MANIFEST_BLOB_UNKNOWN")
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/t1", mt, manifestJSON(cfg, layer, 37, 99, "application/vnd.oci.image.config.v1+json", "x"))
	wantCode(t, "wrong layer size", resp, body, 400, "MANIFEST_INVALID")
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/"+sha([]byte("other")), mt, good)
	wantCode(t, "manifest under another digest", resp, body, 400, "DIGEST_INVALID")
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/bad:tag:x", mt, good)
	wantCode(t, "bad digest as reference", resp, body, 400, "DIGEST_INVALID")
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/.bad", mt, good)
	wantCode(t, "bad tag", resp, body, 400, "TAG_INVALID")
	big := append(bytes.TrimSuffix(good, []byte("}")), []byte(`,"annotations":{"pad":"`+strings.Repeat("x", 4<<20)+`"}}`)...)
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/t1", mt, big)
	wantCode(t, "oversize manifest", resp, body, 413, "SIZE_INVALID")
	// A layer marked as a SIF that is not one makes no image.
	sifCfg := c.pushBlob(repo, []byte("{}"))
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/t1", mt, manifestJSON(sifCfg, layer, 2, 24, sifConfigType, sifLayerType))
	wantCode(t, "SIF layer that is not a SIF", resp, body, 400, "MANIFEST_INVALID")

	resp, _ = c.do(http.MethodGet, "/v2/"+repo+"/manifests/t1", "", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("after refused pushes, t1 answers %s", resp.Status)
	}
	if tags := listTags(t, c, repo); len(tags) != 0 {
		t.Errorf("tags after refused pushes: %v", tags)
	}
	if n, err := in.Server.Meta.Find(t.Context(), metaQuery("app")); err != nil || len(n) != 0 {
		t.Errorf("images after refused pushes: %+v, %v", n, err)
	}

	// Blobs: a wrong digest stores nothing, whichever upload style.
	payload := []byte("some bytes to upload")
	wrong := sha([]byte("other bytes"))
	resp, body = c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+wrong, "application/octet-stream", payload)
	wantCode(t, "monolithic upload with a wrong digest", resp, body, 400, "DIGEST_INVALID")
	loc := startUpload(t, c, repo)
	resp, body = c.do(http.MethodPatch, loc, "application/octet-stream", payload)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %s %s", resp.Status, body)
	}
	resp, body = c.do(http.MethodPut, resp.Header.Get("Location")+"?digest="+wrong, "", nil)
	wantCode(t, "PATCH then PUT with a wrong digest", resp, body, 400, "DIGEST_INVALID")
	resp, body = c.do(http.MethodPut, loc+"?digest="+sha(payload), "", nil)
	wantCode(t, "the upload after its failed completion", resp, body, 404, "BLOB_UPLOAD_UNKNOWN")
	resp, body = c.do(http.MethodGet, "/v2/"+repo+"/blobs/sha256:nothex", "", nil)
	wantCode(t, "malformed digest", resp, body, 400, "DIGEST_INVALID")
	resp, body = c.do(http.MethodGet, "/v2/"+repo+"/blobs/md5:0123456789abcdef0123456789abcdef", "", nil)
	wantCode(t, "unsupported algorithm", resp, body, 400, "DIGEST_INVALID")
	for _, d := range []string{wrong, sha(payload)} {
		if resp, _ := c.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d, "", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("blob %s after refused uploads: %s", d, resp.Status)
		}
	}

	// Chunks out of order are refused with 416 and the range held; the
	// upload then continues from where it really is.
	loc = startUpload(t, c, repo)
	resp, _ = c.do(http.MethodPatch, loc, "application/octet-stream", payload[:10], "Content-Range", "0-9")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first chunk: %s", resp.Status)
	}
	resp, body = c.do(http.MethodPatch, loc, "application/octet-stream", payload[15:], "Content-Range", fmt.Sprintf("15-%d", len(payload)-1))
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Range") != "0-9" {
		t.Errorf("chunk past the end: %s (Range %q) %s; want 416 with Range 0-9", resp.Status, resp.Header.Get("Range"), body)
	}
	resp, body = c.do(http.MethodPatch, loc, "application/octet-stream", payload[5:10], "Content-Range", "5-9")
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("chunk sent again: %s %s; want 416", resp.Status, body)
	}
	resp, body = c.do(http.MethodPatch, loc, "application/octet-stream", payload[10:], "Content-Range", fmt.Sprintf("10-%d", len(payload)-1))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("next chunk in order: %s %s", resp.Status, body)
	}
	resp, body = c.do(http.MethodPut, loc+"?digest="+sha(payload), "", nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("completing: %s %s", resp.Status, body)
	}
	resp, body = c.do(http.MethodGet, "/v2/"+repo+"/blobs/"+sha(payload), "", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, payload) {
		t.Errorf("the blob: %s %q", resp.Status, body)
	}

	// Names Silo cannot hold.
	resp, body = c.do(http.MethodGet, "/v2/a/b/c/d/tags/list", "", nil)
	wantCode(t, "four-part name", resp, body, 400, "NAME_INVALID")
	resp, body = c.do(http.MethodGet, "/v2/Alice/tags/list", "", nil)
	wantCode(t, "upper-case name", resp, body, 400, "NAME_INVALID")

	// No upload session or partial file is left behind.
	n := 0
	if err := in.Server.Blobs.Uploads(t.Context(), func(blob.UploadInfo) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("%d uploads left in the blob store (%v)", n, err)
	}
}

func startUpload(t *testing.T, c raw, repo string) string {
	t.Helper()
	resp, body := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Location") == "" {
		t.Fatalf("POST upload: %s %s", resp.Status, body)
	}
	return resp.Header.Get("Location")
}

func listTags(t *testing.T, c raw, repo string) []string {
	t.Helper()
	resp, body := c.do(http.MethodGet, "/v2/"+repo+"/tags/list", "", nil)
	var l struct{ Tags []string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &l) != nil {
		t.Fatalf("tags: %s %s", resp.Status, body)
	}
	return l.Tags
}

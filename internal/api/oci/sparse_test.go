package oci_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestSparseIndex pushes what `regctl image copy --platform` leaves: an
// index naming two platforms of which only one was copied. The index is
// taken (the spec lets an index name manifests the registry lacks) and
// pulled by tag and digest, its present child whole; an image manifest
// naming a layer never pushed is still refused, so every image Silo serves
// can be pulled completely.
func TestSparseIndex(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	c := raw{t: t, base: in.URL, user: "alice", pass: tok}
	const repo = "alice/sparse/app"
	const mt = "application/vnd.oci.image.manifest.v1+json"
	const it = "application/vnd.oci.image.index.v1+json"
	cfgBody := []byte(`{"architecture":"amd64","os":"linux"}`)
	layerBody := []byte("layer bytes of the amd64 image")
	cfg := c.pushBlob(repo, cfgBody)
	layer := c.pushBlob(repo, layerBody)
	child := manifestJSON(cfg, layer, len(cfgBody), len(layerBody), "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar")
	childDig := sha(child)
	if resp, body := c.do(http.MethodPut, "/v2/"+repo+"/manifests/"+childDig, mt, child); resp.StatusCode != http.StatusCreated {
		t.Fatalf("push the amd64 manifest: %s %s", resp.Status, body)
	}
	absent := sha([]byte("the arm64 manifest, never copied"))
	index := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"manifests":[`+
		`{"mediaType":%q,"digest":%q,"size":%d,"platform":{"os":"linux","architecture":"amd64"}},`+
		`{"mediaType":%q,"digest":%q,"size":1234,"platform":{"os":"linux","architecture":"arm64"}}]}`,
		it, mt, childDig, len(child), mt, absent)
	indexDig := sha(index)
	resp, body := c.do(http.MethodPut, "/v2/"+repo+"/manifests/v1", it, index)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != indexDig {
		t.Fatalf("push the sparse index: %s %q %s", resp.Status, resp.Header.Get("Docker-Content-Digest"), body)
	}
	for _, ref := range []string{"v1", indexDig} {
		resp, body = c.do(http.MethodGet, "/v2/"+repo+"/manifests/"+ref, "", nil, "Accept", it)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, index) || resp.Header.Get("Content-Type") != it {
			t.Errorf("GET index by %s: %s %s %s", ref, resp.Status, resp.Header.Get("Content-Type"), body)
		}
	}
	resp, body = c.do(http.MethodGet, "/v2/"+repo+"/manifests/"+childDig, "", nil, "Accept", mt)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, child) {
		t.Errorf("GET the present child: %s %s", resp.Status, body)
	}
	for d, want := range map[string][]byte{cfg: cfgBody, layer: layerBody} {
		if resp, body = c.do(http.MethodGet, "/v2/"+repo+"/blobs/"+d, "", nil); resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
			t.Errorf("GET blob %s of the present child: %s %s", d, resp.Status, body)
		}
	}
	resp, body = c.do(http.MethodGet, "/v2/"+repo+"/manifests/"+absent, "", nil, "Accept", mt)
	wantCode(t, "the absent child", resp, body, http.StatusNotFound, "MANIFEST_UNKNOWN")

	// A present child must be the manifest the index describes.
	wrongSize := bytes.Replace(index, fmt.Appendf(nil, `"size":%d`, len(child)), fmt.Appendf(nil, `"size":%d`, len(child)+1), 1)
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/v2", it, wrongSize)
	wantCode(t, "index giving a present child the wrong size", resp, body, http.StatusBadRequest, "MANIFEST_INVALID")

	// Sparse stops at indexes: an image manifest whose layer was never
	// pushed (the conformance suite's "sparse-image") is refused.
	resp, body = c.do(http.MethodPut, "/v2/"+repo+"/manifests/broken", mt,
		manifestJSON(cfg, sha([]byte("a layer never pushed")), len(cfgBody), 20, "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar"))
	wantCode(t, "image manifest with a missing layer", resp, body, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	if tags := listTags(t, c, repo); len(tags) != 1 || tags[0] != "v1" {
		t.Errorf("tags: %v; want [v1]", tags)
	}
}

package oci_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestUploadAcrossNodes runs two servers on one store, as a scaled-out
// Silo does: an upload begun on one continues and completes on the
// other, with a token the first issued.
func TestUploadAcrossNodes(t *testing.T) {
	a := servertest.Start(t, server.Config{})
	b := servertest.StartExisting(t, a.Config())
	tok := a.User(t, "alice", false)
	bearer, st := ociToken(t, a, "alice", tok, "repository:alice/n/app:pull,push")
	if st != http.StatusOK {
		t.Fatalf("token: %d", st)
	}
	on := func(in *servertest.Instance) raw { return raw{t: t, base: in.URL} }
	auth := []string{"Authorization", "Bearer " + bearer}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	half := len(payload) / 2

	resp, body := on(a).do(http.MethodPost, "/v2/alice/n/app/blobs/uploads/", "", nil, auth...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST on node a: %s %s", resp.Status, body)
	}
	loc := resp.Header.Get("Location")
	resp, body = on(a).do(http.MethodPatch, loc, "application/octet-stream", payload[:half], append(auth, "Content-Range", fmt.Sprintf("0-%d", half-1))...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first half on node a: %s %s", resp.Status, body)
	}
	resp, body = on(b).do(http.MethodPatch, loc, "application/octet-stream", payload[half:], append(auth, "Content-Range", fmt.Sprintf("%d-%d", half, len(payload)-1))...)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != fmt.Sprintf("0-%d", len(payload)-1) {
		t.Fatalf("second half on node b: %s (Range %q) %s", resp.Status, resp.Header.Get("Range"), body)
	}
	d := sha(payload)
	resp, body = on(b).do(http.MethodPut, loc+"?digest="+d, "", nil, auth...)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("completing on node b: %s %s", resp.Status, body)
	}
	resp, body = on(a).do(http.MethodGet, "/v2/alice/n/app/blobs/"+d, "", nil, auth...)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, payload) {
		t.Errorf("the blob from node a: %s, %d bytes", resp.Status, len(body))
	}
}

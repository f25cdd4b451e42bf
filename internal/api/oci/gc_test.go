package oci_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestGCKeepsLinkedBlobs checks garbage collection and fsck know OCI
// blobs: kept while a repository links them, freed once none does.
func TestGCKeepsLinkedBlobs(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	c := raw{t: t, base: in.URL, user: "alice", pass: tok}
	payload := []byte("a blob only the OCI API knows")
	d := c.pushBlob("alice/gc/app", payload)
	key := strings.TrimPrefix(d, "sha256:")
	// An upload left open, which gc must not remove while it is young.
	startUpload(t, c, "alice/gc/app")

	reg := in.Server.Registry
	if _, err := reg.GC(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Server.Blobs.Stat(t.Context(), key); err != nil {
		t.Fatalf("gc removed a linked blob: %v", err)
	}
	rep, err := reg.Fsck(t.Context(), true)
	if err != nil || !rep.Clean() || rep.Unused != 0 || rep.Blobs != 1 {
		t.Errorf("fsck = %+v, %v; want one sound blob, none unused", rep, err)
	}
	if resp, _ := c.do(http.MethodDelete, "/v2/alice/gc/app/blobs/"+d, "", nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE blob: %s", resp.Status)
	}
	if _, err := reg.GC(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Server.Blobs.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("blob after delete and gc: %v; want it gone", err)
	}
}

package library_test

import (
	"net/http"
	"testing"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// TestUploadAcrossNodes: two servers on one registry's stores (one data
// directory on sqlite+fs, one schema and prefix on postgres+s3) share
// everything an upload needs. A multipart push starts on one, sends its
// parts to both, completes on the other, and each serves the image.
func TestUploadAcrossNodes(t *testing.T) {
	const partSize = 5 << 20
	cfg := server.Config{PartSize: partSize, BlobAccess: server.BlobProxy} // parts through the nodes themselves
	a := startSilo(t, cfg)
	cfg.Data, cfg.DB, cfg.Store = a.Data, a.DB, a.Store
	b := &silo{Instance: servertest.StartExisting(t, cfg)}
	tok := a.User(t, "alice", false)
	f := writeSIF(t, t.TempDir(), "app.sif", siftest.Options{Size: 5 * partSize / 2, Seed: 170})
	whole := f.read(t)

	id := createImage(t, a, tok, "alice/nodes/app", f.Digest)
	mp := startMultipart(t, b, tok, id, f.Size)
	for n, node := range map[int]*silo{1: a, 2: b, 3: a} {
		if res := putPart(t, node, tok, id, mp, n, whole, nil); res.Status != http.StatusOK {
			t.Fatalf("part %d: %d %s", n, res.Status, res.Body)
		}
	}
	if res := completeMultipart(t, b, tok, id, mp.UploadID, 1, 2, 3); res.Status != http.StatusOK {
		t.Fatalf("complete on the other node: %d %s", res.Status, res.Body)
	}
	for name, node := range map[string]*silo{"first node": a, "second node": b} {
		t.Run(name, func(t *testing.T) {
			eachClient(t, func(t *testing.T, kind string) {
				pull(t, newClient(t, kind, node.URL, tok, nil), "amd64", "alice/nodes/app", f.Hash(), f)
			})
		})
	}
}

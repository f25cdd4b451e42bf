package oci_test

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/siloreg/silo/internal/api/oci/ocitest"
	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestQuotaChargesOCIContent sets a user quota and pushes ordinary OCI
// content with go-containerregistry (chunked), oras (POST + one PUT) and
// a cross-repository mount: what fits is charged to the owner (each blob
// once), what does not is refused with the quota's words before any of
// its bytes are kept, and a SIF pushed through OCI is charged once.
func TestQuotaChargesOCIContent(t *testing.T) {
	bin := ocitest.Binary(t, "oras", orasInstall)
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	bobTok := in.User(t, "bob", false)
	alice := remote.WithAuth(&authn.Basic{Username: "alice", Password: tok})
	quota := int64(600 << 10)
	if _, err := in.Server.Registry.ChangeSettings(t.Context(), adminActor(t, in), registry.SettingsChange{UserQuota: &quota}); err != nil {
		t.Fatal(err)
	}
	used := func() int64 {
		u, err := in.Server.Registry.Usage(t.Context(), actorOf(t, in, "alice"))
		if err != nil {
			t.Fatal(err)
		}
		return u.User.Used
	}

	// 2 × 100 KiB layers and a config: fits, and is charged.
	small, err := random.Image(100<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, in, "alice/lab/web:1"), small, alice); err != nil {
		t.Fatalf("push within the quota: %v", err)
	}
	want := imageBytes(t, small)
	if got := used(); got != want {
		t.Errorf("alice uses %d bytes after a %d-byte image, want them charged", got, want)
	}
	// The same image under another tag costs nothing more.
	if err := remote.Write(ref(t, in, "alice/lab/web:again"), small, alice); err != nil || used() != want {
		t.Errorf("pushing the same image again: %v, %d bytes used, want %d", err, used(), want)
	}

	// A SIF through OCI is charged once (the layer is also the image).
	sif, _ := writeSIF(t, 41, 100<<10)
	if err := remote.Write(ref(t, in, "alice/lab/sif:1"), sifImage(t, sif), alice); err != nil {
		t.Fatalf("SIF push within the quota: %v", err)
	}
	if got := used(); got != want+imageBytes(t, sifImage(t, sif)) {
		t.Errorf("alice uses %d bytes after a %d-byte SIF, want %d", got, len(sif), want+imageBytes(t, sifImage(t, sif)))
	}
	want += imageBytes(t, sifImage(t, sif))

	big, err := random.Image(300<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	// One blob at a time: blobs uploaded at once are each checked against
	// the usage before the others land (the quota is a budget, as for SIF
	// pushes), so parallel layers could overshoot it by what is in flight.
	err = remote.Write(ref(t, in, "alice/lab/web:2"), big, alice, remote.WithJobs(1))
	if err == nil || !strings.Contains(err.Error(), "quota") {
		t.Errorf("push over the quota: %v, want a refusal naming the quota", err)
	}
	// Blobs that fitted stay (charged, as registries keep the blobs of an
	// unfinished push); the one that did not left nothing, nor did its
	// upload, and alice is within her quota.
	if u := used(); u > quota {
		t.Errorf("alice uses %d bytes, over her quota of %d", u, quota)
	}
	state := storeState(t, in)
	if strings.Contains(state, "upload:") {
		t.Errorf("a refused upload was left behind: %s", state)
	}
	bigLayers, _ := big.Layers()
	kept := 0
	for _, l := range bigLayers {
		d, _ := l.Digest()
		if strings.Contains(state, d.Hex) {
			kept++
		}
	}
	if kept == len(bigLayers) {
		t.Errorf("every layer of the refused image was stored")
	}
	before := state
	dir := t.TempDir()
	f := filepath.Join(dir, "chart.tgz")
	if err := os.WriteFile(f, bytes.Repeat([]byte("helm"), 200<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "push", "--plain-http", "-u", "alice", "-p", tok, strings.TrimPrefix(in.URL, "http://")+"/alice/lab/chart:1",
		"--artifact-type", "application/vnd.cncf.helm.config.v1+json", "chart.tgz:application/vnd.cncf.helm.chart.content.v1.tar+gzip")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "quota") {
		t.Errorf("oras push over the quota: %v\n%s\nwant a refusal naming the quota", err, out)
	}
	// oras pushes the 2-byte empty config beside the chart and exits at
	// the chart's refusal, perhaps before the server has finished the
	// config's upload: wait for the store to settle before counting.
	settle(t, in)
	// The config fits; the chart was refused before any of it was kept.
	const emptyConfig = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	if after := strings.Join(slices.DeleteFunc(strings.Fields(storeState(t, in)), func(k string) bool { return k == emptyConfig }), " "); after != before {
		t.Errorf("the refused oras push left bytes behind: store %q before, %q after", before, after)
	}
	want = used()
	// A mount of bob's blob that would not fit is declined (the client
	// then uploads, and is refused).
	bobImg, _ := random.Image(400<<10, 1)
	if err := remote.Write(ref(t, in, "bob/pub/big:1"), bobImg, remote.WithAuth(&authn.Basic{Username: "bob", Password: bobTok})); err != nil {
		t.Fatal(err)
	}
	layers, _ := bobImg.Layers()
	ld, _ := layers[0].Digest()
	mid := storeState(t, in)
	req, _ := http.NewRequest(http.MethodPost, in.URL+"/v2/alice/lab/web/blobs/uploads/?mount="+ld.String()+"&from=bob/pub/big", nil)
	req.SetBasicAuth("alice", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		t.Errorf("a mount over the quota was made")
	}
	if up := resp.Header.Get("Location"); up != "" { // the upload the client would use instead
		req, _ := http.NewRequest(http.MethodDelete, in.URL+up, nil)
		req.SetBasicAuth("alice", tok)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	if got := used(); got != want {
		t.Errorf("alice uses %d bytes after refused pushes, want %d", got, want)
	}
	if after := storeState(t, in); after != mid {
		t.Errorf("a refused mount left bytes behind: store %q before, %q after", mid, after)
	}

}

// imageBytes is the size of an image's config and layers.
func imageBytes(t *testing.T, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// storeState lists the stored blobs and unfinished uploads, sorted.
func storeState(t *testing.T, in *servertest.Instance) string {
	t.Helper()
	var keys []string
	if err := in.Server.Blobs.Walk(t.Context(), func(b blob.Info) error {
		keys = append(keys, b.Digest)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := in.Server.Blobs.Uploads(t.Context(), func(u blob.UploadInfo) error {
		keys = append(keys, "upload:"+u.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return strings.Join(keys, " ")
}

// settle waits until the store holds no unfinished upload and reads the
// same twice in a row, so requests a client left in flight have ended.
func settle(t *testing.T, in *servertest.Instance) {
	t.Helper()
	prev := ""
	for i := 0; i < 100; i++ {
		s := storeState(t, in)
		if s == prev && !strings.Contains(s, "upload:") {
			return
		}
		prev = s
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the store did not settle: %s", prev)
}

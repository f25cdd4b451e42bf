package oci_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	aclient "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/api/oci/ocitest"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

const orasInstall = "oras.land/oras/cmd/oras@v1.3.6"

// logRecorder keeps what the library client logs, to tell which path
// (OCI or legacy) it took.
type logRecorder struct{ lines []string }

func (l *logRecorder) Log(v ...any) { l.lines = append(l.lines, strings.TrimSpace(sprint(v...))) }
func (l *logRecorder) Logf(f string, v ...any) {
	l.lines = append(l.lines, strings.TrimSpace(sprintf(f, v...)))
}

func (l *logRecorder) said(s string) bool {
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func libClient(t *testing.T, in *servertest.Instance, token string) (*aclient.Client, *logRecorder) {
	t.Helper()
	lr := &logRecorder{}
	c, err := aclient.NewClient(&aclient.Config{BaseURL: in.URL, AuthToken: token, Logger: lr})
	if err != nil {
		t.Fatal(err)
	}
	return c, lr
}

// libraryPull pulls through the library client's ConcurrentDownloadImage
// (what `apptainer pull library://` calls).
func libraryPull(t *testing.T, c *aclient.Client, path, tag, arch string) []byte {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "pulled.sif"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := c.ConcurrentDownloadImage(t.Context(), f, arch, path, tag, &aclient.Downloader{Concurrency: 3, PartSize: 64 << 10}, nil); err != nil {
		t.Fatalf("library pull %s:%s (%s): %v", path, tag, arch, err)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// legacyPull downloads through the library API's own download URL.
func legacyPull(t *testing.T, in *servertest.Instance, path, tag, arch string) []byte {
	t.Helper()
	resp, err := http.Get(in.URL + "/v1/imagefile/" + path + ":" + tag + "?arch=" + arch)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("legacy pull %s:%s: %s %s", path, tag, resp.Status, b)
	}
	return b
}

func oras(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir) // no stored credentials of the user running the tests
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oras %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestLibraryPushOrasPull(t *testing.T) {
	bin := ocitest.Binary(t, "oras", orasInstall)
	in := servertest.Start(t, server.Config{NoOCIRedirect: true}) // --oci-redirect=false: the client pushes through the library API
	tok := in.User(t, "alice", false)
	sif, _ := writeSIF(t, 3, 300<<10)
	c, lr := libClient(t, in, tok)
	if _, err := c.UploadImage(t.Context(), bytes.NewReader(sif), "alice/tools/bwa", "amd64", []string{"1.0"}, "aligner", nil); err != nil {
		t.Fatalf("library push: %v", err)
	}
	if !lr.said("Fallback to (legacy) library upload") {
		t.Fatalf("the push did not take the library path: %q", lr.lines)
	}
	dir := t.TempDir()
	host := strings.TrimPrefix(in.URL, "http://")
	oras(t, bin, dir, "pull", "--plain-http", host+"/alice/tools/bwa:1.0", "-o", "out")
	got, err := os.ReadFile(filepath.Join(dir, "out", "bwa.sif"))
	if err != nil {
		t.Fatalf("oras pulled no bwa.sif: %v", err)
	}
	if !bytes.Equal(got, sif) {
		t.Errorf("oras pulled %d bytes, pushed %d: not identical", len(got), len(sif))
	}
	// The synthesized manifest is the same every time (pull by digest works).
	m1 := manifestDigest(t, in, "alice/tools/bwa", "1.0")
	if m2 := manifestDigest(t, in, "alice/tools/bwa", "1.0"); m1 == "" || m1 != m2 {
		t.Errorf("manifest digests %q, %q: want one, stable", m1, m2)
	}
	oras(t, bin, dir, "pull", "--plain-http", host+"/alice/tools/bwa@"+m1, "-o", "bydigest")
	if got, _ := os.ReadFile(filepath.Join(dir, "bydigest", "bwa.sif")); !bytes.Equal(got, sif) {
		t.Error("pull by manifest digest: bytes differ")
	}
}

func manifestDigest(t *testing.T, in *servertest.Instance, name, ref string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, in.URL+"/v2/"+name+"/manifests/"+ref, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Docker-Content-Digest")
}

func TestOrasPushLibraryPull(t *testing.T) {
	bin := ocitest.Binary(t, "oras", orasInstall)
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	sif, digest := writeSIF(t, 4, 300<<10)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.sif"), sif, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(in.URL, "http://")
	oras(t, bin, dir, "push", "--plain-http", "-u", "alice", "-p", tok, host+"/alice/tools/app:2.0",
		"--config", "config.json:"+sifConfigType, "app.sif:"+sifLayerType)

	// One image, in listings, with its tag.
	recs, err := in.Server.Registry.Find(t.Context(), adminActor(t, in), meta.Query{Container: "app"})
	if err != nil || len(recs) != 1 || recs[0].Digest != digest || len(recs[0].Tags) != 1 || recs[0].Tags[0].Name != "2.0" || recs[0].Arch != "amd64" {
		t.Fatalf("Find = %+v, %v; want the pushed amd64 image tagged 2.0", recs, err)
	}
	// The library client through /v1/oci-redirect, and the legacy path.
	c, lr := libClient(t, in, "")
	if got := libraryPull(t, c, "alice/tools/app", "2.0", "amd64"); !bytes.Equal(got, sif) {
		t.Errorf("library pull through OCI: %d bytes, pushed %d: not identical", len(got), len(sif))
	}
	if !lr.said("Using OCI registry endpoint") || lr.said("Fallback") {
		t.Errorf("the library pull did not go through OCI: %q", lr.lines)
	}
	if got := legacyPull(t, in, "alice/tools/app", "2.0", "amd64"); !bytes.Equal(got, sif) {
		t.Errorf("legacy library pull: %d bytes, pushed %d: not identical", len(got), len(sif))
	}
	// A repository the caller cannot see is sent down the library path,
	// whose "not found" the client understands.
	f, err := os.Create(filepath.Join(t.TempDir(), "nope.sif"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = c.ConcurrentDownloadImage(t.Context(), f, "amd64", "alice/tools/nope", "1", &aclient.Downloader{Concurrency: 1, PartSize: 1 << 20}, nil)
	if err == nil || !strings.Contains(err.Error(), "was not found in the library") {
		t.Errorf("library pull of a missing repository: %v, want the library API's not found", err)
	}
}

// TestLibraryClientThroughRedirect pushes two architectures under one tag
// with Apptainer's library client, which /v1/oci-redirect sends through
// OCI, and pulls each back both ways.
func TestLibraryClientThroughRedirect(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	c, lr := libClient(t, in, tok)
	amd, _ := writeSIF(t, 5, 0)
	arm := writeArch(t, 6, "arm64")
	for _, img := range [][]byte{amd, arm} {
		if _, err := c.UploadImage(t.Context(), bytes.NewReader(img), "alice/multi/app", "", []string{"1.0"}, "a description", nil); err != nil {
			t.Fatalf("push: %v", err)
		}
	}
	if !lr.said("Using OCI registry endpoint") || lr.said("Fallback") {
		t.Fatalf("the push did not go through OCI: %q", lr.lines)
	}
	recs, err := in.Server.Registry.Find(t.Context(), adminActor(t, in), meta.Query{Container: "app"})
	if err != nil || len(recs) != 2 {
		t.Fatalf("Find = %+v, %v; want two images", recs, err)
	}
	for _, r := range recs {
		if len(r.Tags) != 1 || r.Tags[0].Name != "1.0" || r.Description != "a description" {
			t.Errorf("image %s (%s): tags %+v, description %q", r.Digest, r.Arch, r.Tags, r.Description)
		}
	}
	for arch, want := range map[string][]byte{"amd64": amd, "arm64": arm} {
		if got := libraryPull(t, c, "alice/multi/app", "1.0", arch); !bytes.Equal(got, want) {
			t.Errorf("%s through OCI: wrong bytes", arch)
		}
		if got := legacyPull(t, in, "alice/multi/app", "1.0", arch); !bytes.Equal(got, want) {
			t.Errorf("%s through the library API: wrong bytes", arch)
		}
	}
	// Anonymous pushes are sent down the library path, which refuses them.
	anon, _ := libClient(t, in, "")
	if _, err := anon.UploadImage(context.Background(), bytes.NewReader(amd), "alice/multi/app", "", []string{"x"}, "", nil); err == nil {
		t.Error("anonymous push succeeded")
	}
}

package oci_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/siloreg/silo/internal/api/oci/ocitest"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestRegctlCopiesIndex pushes an ordinary two-platform OCI index and has
// regctl copy it to another repository: plain OCI content is stored and
// served byte for byte.
func TestRegctlCopiesIndex(t *testing.T) {
	bin := ocitest.Binary(t, "regctl", "github.com/regclient/regclient/cmd/regctl@v0.11.7")
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	alice := remote.WithAuth(&authn.Basic{Username: "alice", Password: tok})
	idx := v1.ImageIndex(empty.Index)
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(2048, 2)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	src := ref(t, in, "alice/src/multi:1")
	if err := remote.WriteIndex(src, idx, alice); err != nil {
		t.Fatalf("push index: %v", err)
	}
	home := t.TempDir()
	host := strings.TrimPrefix(in.URL, "http://")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("regctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("registry", "set", host, "--tls", "disabled")
	run("registry", "login", host, "-u", "alice", "-p", tok)
	run("image", "copy", host+"/alice/src/multi:1", host+"/alice/dst/multi:1")

	got, err := remote.Index(ref(t, in, "alice/dst/multi:1"), alice)
	if err != nil {
		t.Fatalf("pull the copy: %v", err)
	}
	want, _ := idx.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("copied index %s, pushed %s", d, want)
	}
	m, err := got.IndexManifest()
	if err != nil || len(m.Manifests) != 2 {
		t.Fatalf("copied index manifest: %+v, %v", m, err)
	}
	for _, d := range m.Manifests {
		img, err := got.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := img.Layers()
		if err != nil || len(ls) != 2 {
			t.Fatalf("%s: layers %v, %v", d.Platform.Architecture, ls, err)
		}
		for _, l := range ls {
			rc, err := l.Compressed() // verifies the digest as it reads
			if err != nil {
				t.Fatal(err)
			}
			if _, err := readAll(rc); err != nil {
				t.Errorf("%s layer: %v", d.Platform.Architecture, err)
			}
		}
	}
}

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// TestLsOCI pushes an ordinary OCI image with go-containerregistry next
// to a SIF pushed with silo, and lists the container with silo ls --oci:
// the image is there with its digest, the SIF is not (plain silo ls shows
// it); another user does not see a private container's content.
func TestLsOCI(t *testing.T) {
	c := newCLIWith(t, server.Config{})
	tok := c.login("alice")
	c.sif("a.sif", siftest.Options{Seed: 80})
	c.ok("push", "a.sif", "alice/lab/web:sif")
	tag, err := name.NewTag(strings.TrimPrefix(c.in.URL, "http://")+"/alice/lab/web:1.25", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(2048, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	if err := remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: tok})); err != nil {
		t.Fatalf("pushing an OCI image: %v", err)
	}
	digest, _ := img.Digest()

	out := c.ok("ls", "--oci", "alice/lab/web")
	if !strings.Contains(out, "alice/lab/web:1.25") || !strings.Contains(out, digest.String()) || strings.Contains(out, ":sif") {
		t.Errorf("silo ls --oci:\n%s", out)
	}
	var list silo.OCIList
	if err := json.Unmarshal([]byte(c.ok("ls", "--oci", "alice/lab/web", "--json")), &list); err != nil ||
		list.Name != "alice/lab/web" || len(list.Artifacts) != 1 || list.Artifacts[0].Digest != digest.String() || list.Artifacts[0].Size <= 2048 {
		t.Errorf("silo ls --oci --json: %+v, %v", list, err)
	}
	if out := c.ok("ls", "alice/lab/web"); !strings.Contains(out, "sif") {
		t.Errorf("silo ls lost the SIF:\n%s", out)
	}
	c.fails([]string{"ls", "--oci"}, "--oci needs a container")
	c.fails([]string{"ls", "--oci", "alice/lab/nothing"}, "not found")

	c.ok("collection", "private", "alice/lab")
	c.login("bob")
	c.fails([]string{"ls", "--oci", "alice/lab/web"}, "not found")
}

package web_test

import (
	"context"
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// TestContainerPageShowsOCIContent pushes an ordinary OCI image and a
// signature naming it (a referrer) with go-containerregistry beside a SIF
// pushed with the library client, and reads the container page: the
// image is listed under "Other OCI content" with its digest, type, size,
// referrer count and pull commands, the SIF is not; in a private
// collection only its owner sees any of it.
func TestContainerPageShowsOCIContent(t *testing.T) {
	s := startSite(t, "alice", "bob")
	s.push(t, "alice", "alice/lab/app", "sif1", siftest.Options{Seed: 70})
	alice := remote.WithAuth(&authn.Basic{Username: "alice", Password: s.tokens["alice"]})
	host := strings.TrimPrefix(s.URL, "http://")
	tag, err := name.NewTag(host+"/alice/lab/app:web-1.2", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(3000, 2)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if err := remote.Write(tag, img, alice); err != nil {
		t.Fatalf("pushing an OCI image: %v", err)
	}
	digest, _ := img.Digest()
	mf, _ := img.RawManifest()
	size := int64(len(mf))
	m, _ := img.Manifest()
	size += m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}

	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: digest, Size: int64(len(mf))}
	sig := mutate.Subject(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), "application/vnd.example.signature.v1+json"), desc).(v1.Image)
	sigDigest, _ := sig.Digest()
	if err := remote.Write(tag.Context().Digest(sigDigest.String()), sig, alice); err != nil {
		t.Fatalf("pushing a signature: %v", err)
	}

	page := get(t, loginClient(t, s, "bob"), s.URL+"/c/alice/lab/app")
	i := strings.Index(page, "Other OCI content")
	if i < 0 {
		t.Fatalf("the container page has no OCI section:\n%s", page)
	}
	section := html.UnescapeString(page[i:])
	for _, want := range []string{
		">web-1.2<", digest.String(), "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.config.v1+json",
		">1<", // one referrer
		"oras pull " + host + "/alice/lab/app:web-1.2", "docker pull " + host + "/alice/lab/app:web-1.2",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("the OCI section lacks %q:\n%s", want, section)
		}
	}
	if !strings.Contains(section, registry.HumanSize(size)) {
		t.Errorf("the OCI section lacks the size %d (%s):\n%s", size, registry.HumanSize(size), section)
	}
	if strings.Contains(section, ">sif1<") {
		t.Errorf("the SIF's tag is listed as other OCI content:\n%s", section)
	}

	// Private: bob and anonymous visitors see nothing of it, alice does.
	e, err := s.Server.Meta.EntityByName(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	col, err := s.Server.Meta.CollectionByName(context.Background(), e.ID, "lab")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Server.Meta.SetCollectionPrivate(context.Background(), col.ID, true); err != nil {
		t.Fatal(err)
	}
	for who, c := range map[string]string{"bob": get(t, loginClient(t, s, "bob"), s.URL+"/c/alice/lab/app"), "anonymous": get(t, &http.Client{}, s.URL+"/c/alice/lab/app")} {
		if strings.Contains(c, digest.String()) || strings.Contains(c, "web-1.2") {
			t.Errorf("%s sees the private OCI content", who)
		}
	}
	if c := get(t, loginClient(t, s, "alice"), s.URL+"/c/alice/lab/app"); !strings.Contains(c, digest.String()) {
		t.Error("alice does not see her own private OCI content")
	}
}

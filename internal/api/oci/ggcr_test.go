package oci_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

const (
	sifConfigType = "application/vnd.sylabs.sif.config.v1+json"
	sifLayerType  = "application/vnd.sylabs.sif.layer.v1.sif"
)

// writeSIF makes a real SIF and returns its bytes and sha256.
func writeSIF(t testing.TB, seed int64, size int64) ([]byte, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img.sif")
	d, _, err := siftest.Write(p, siftest.Options{Seed: seed, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b, d
}

// sifImage builds the artifact the way Apptainer's `push oras://` does:
// the empty config with the SIF config media type, one SIF layer titled
// with the file name.
func sifImage(t testing.TB, sif []byte) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, sifConfigType)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(sif, sifLayerType),
		Annotations: map[string]string{"org.opencontainers.image.title": "img.sif"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func ref(t testing.TB, in *servertest.Instance, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(strings.TrimPrefix(in.URL, "http://")+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGGCRPushPullSIF(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	alice := remote.WithAuth(&authn.Basic{Username: "alice", Password: tok})
	sif, digest := writeSIF(t, 1, 200<<10)
	img := sifImage(t, sif)

	r := ref(t, in, "alice/tools/bwa:1.0")
	if err := remote.Write(r, img, alice); err != nil {
		t.Fatalf("push: %v", err)
	}
	// Anonymous writes are refused.
	if err := remote.Write(ref(t, in, "alice/tools/bwa:2.0"), img); err == nil {
		t.Fatal("anonymous push succeeded")
	}

	// Pulled anonymously (the collection is public), the same bytes.
	got, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	// Under its tag a SIF shows Silo's manifest for it (a config the
	// library client can read); the pushed manifest stays at its digest.
	wantDigest, _ := img.Digest()
	if _, err := remote.Image(r.Context().Digest(wantDigest.String())); err != nil {
		t.Errorf("pull by the pushed manifest's digest: %v", err)
	}
	if m, err := got.Manifest(); err != nil || m.Config.MediaType != sifConfigType || len(m.Layers) != 1 ||
		m.Layers[0].MediaType != sifLayerType || m.Layers[0].Annotations["org.opencontainers.image.title"] != "img.sif" {
		t.Errorf("manifest under the tag: %+v, %v", m, err)
	}
	layers, err := got.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v, %v", layers, err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(b, sif) {
		t.Errorf("pulled %d bytes, pushed %d; not identical", len(b), len(sif))
	}

	// It is a Silo image: listed, with its tag and architecture.
	recs, err := in.Server.Registry.Find(t.Context(), adminActor(t, in), meta.Query{Container: "bwa"})
	if err != nil || len(recs) != 1 || recs[0].Digest != digest || len(recs[0].Tags) != 1 || recs[0].Tags[0].Name != "1.0" {
		t.Fatalf("Find = %+v, %v; want the pushed image tagged 1.0", recs, err)
	}

	// Tags and delete.
	tags, err := remote.List(r.Context(), alice)
	if err != nil || len(tags) != 1 || tags[0] != "1.0" {
		t.Errorf("tags = %v, %v", tags, err)
	}
	tagged, _ := got.Digest()
	if err := remote.Delete(r.Context().Digest(tagged.String()), alice); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := remote.Image(r); err == nil {
		t.Error("pull after delete succeeded")
	}
	if recs, _ := in.Server.Registry.Find(t.Context(), adminActor(t, in), meta.Query{Container: "bwa"}); len(recs) != 0 {
		t.Errorf("image still listed after delete: %+v", recs)
	}
}

func TestPrivateLooksMissing(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	bobTok := in.User(t, "bob", false)
	alice := remote.WithAuth(&authn.Basic{Username: "alice", Password: tok})
	sif, _ := writeSIF(t, 2, 0)
	r := ref(t, in, "alice/secret/app:1")
	if err := remote.Write(r, sifImage(t, sif), alice); err != nil {
		t.Fatalf("push: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPost, in.URL+"/api/silo/v1/collections/alice/secret/private", nil)
	_ = req
	if err := in.Server.Registry.Meta().SetCollectionPrivate(t.Context(), collectionID(t, in, "alice", "secret"), true); err != nil {
		t.Fatal(err)
	}
	bob := remote.WithAuth(&authn.Basic{Username: "bob", Password: bobTok})
	_, errPrivate := remote.Image(r, bob)
	_, errMissing := remote.Image(ref(t, in, "alice/secret/nothing:1"), bob)
	if errPrivate == nil {
		t.Fatal("bob pulled alice's private image")
	}
	if p, m := strings.ReplaceAll(errPrivate.Error(), "app", "X"), strings.ReplaceAll(errMissing.Error(), "nothing", "X"); p != m {
		t.Errorf("private and missing answer differently:\n%s\n%s", p, m)
	}
	if _, err := remote.Image(r, alice); err != nil {
		t.Errorf("alice cannot pull her own private image: %v", err)
	}
}

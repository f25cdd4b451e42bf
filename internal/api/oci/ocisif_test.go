package oci_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestSingularityOCISIF follows SingularityCE 4's library:// OCI-SIF
// flow: the registry from discovery (libraryAPI.registryUri), the user
// name and secret from /v1/rbac/users/current, then a Basic-auth docker://
// push of an image whose layer is a squashfs, and a pull back.
func TestSingularityOCISIF(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	tok := in.User(t, "alice", false)
	var disc struct {
		LibraryAPI struct{ URI, RegistryURI string } `json:"libraryAPI"`
	}
	getJSON(t, in.URL+"/assets/config/config.prod.json", "", &disc)
	reg, err := url.Parse(disc.LibraryAPI.RegistryURI)
	if err != nil || reg.Host == "" {
		t.Fatalf("discovery registryUri %q", disc.LibraryAPI.RegistryURI)
	}
	var me struct {
		Username string
		Meta     struct{ Secret string } `json:"oidc_user_meta"`
	}
	getJSON(t, in.URL+"/v1/rbac/users/current", tok, &me)
	if me.Username != "alice" || me.Meta.Secret == "" {
		t.Fatalf("rbac/users/current: %+v", me)
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer: static.NewLayer([]byte("hsqs: a squashfs would be here"), "application/vnd.sylabs.image.layer.v1.squashfs")})
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{Architecture: "amd64", OS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(reg.Host+"/alice/tools/ocisif:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: me.Username, Password: me.Meta.Secret})
	if err := remote.Write(r, img, auth); err != nil {
		t.Fatalf("docker:// push: %v", err)
	}
	got, err := remote.Image(r, auth)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if a, b := digestOf(t, got), digestOf(t, img); a != b {
		t.Errorf("pulled %s, pushed %s", a, b)
	}
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func getJSON(t *testing.T, u, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

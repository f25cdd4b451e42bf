package oci_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// BenchmarkManifestGet measures anonymous GETs of a SIF's manifest by tag
// over HTTP, the request every pull starts with.
func BenchmarkManifestGet(b *testing.B) {
	in := servertest.Start(b, server.Config{})
	tok := in.User(b, "alice", false)
	sif, _ := writeSIF(b, 7, 0)
	r := ref(b, in, "alice/tools/app:1")
	if err := remote.Write(r, sifImage(b, sif), remote.WithAuth(&authn.Basic{Username: "alice", Password: tok})); err != nil {
		b.Fatal(err)
	}
	url := in.URL + "/v2/alice/tools/app/manifests/1"
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := http.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("GET: %s", resp.Status)
				return
			}
		}
	})
}

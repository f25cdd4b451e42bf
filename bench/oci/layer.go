package main

import (
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// sifLayer is a SIF file as one layer, read from disk when sent, as
// Apptainer's oras push does (nothing is held in memory).
type sifLayer struct {
	path string
	size int64
	hash v1.Hash
}

func (l *sifLayer) Digest() (v1.Hash, error)             { return l.hash, nil }
func (l *sifLayer) DiffID() (v1.Hash, error)             { return l.hash, nil }
func (l *sifLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *sifLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l *sifLayer) Size() (int64, error)                 { return l.size, nil }
func (l *sifLayer) MediaType() (types.MediaType, error) {
	return "application/vnd.sylabs.sif.layer.v1.sif", nil
}

// sifImage is the artifact Apptainer pushes: the `{}` config with the SIF
// config media type, the SIF as the one layer, titled.
func sifImage(path string, size int64, hexDigest string) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.sylabs.sif.config.v1+json")
	return mutate.Append(img, mutate.Addendum{
		Layer:       &sifLayer{path: path, size: size, hash: v1.Hash{Algorithm: "sha256", Hex: hexDigest}},
		Annotations: map[string]string{"org.opencontainers.image.title": "image.sif"},
	})
}

package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strings"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/sif"
)

// sifConfig is the config Silo shows for a SIF image it holds: the fields
// the library client's OCI path reads (it checks the architecture), from
// the image row alone, so the same image always gets the same bytes.
func sifConfig(im *meta.Image) []byte {
	b, _ := json.Marshal(struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		RootFS       string `json:"rootfs"`
		Description  string `json:"description,omitempty"`
		Signed       bool   `json:"signed"`
		Encrypted    bool   `json:"encrypted"`
	}{im.Arch, "linux", "sha256:" + im.Digest, im.Description, im.Signed, im.Encrypted})
	return b
}

// sifManifest is the manifest Silo shows for a SIF image under its tags
// and version, whichever protocol pushed it: a config the library client
// can read (it needs the architecture) and the SIF as the one layer,
// titled as it was pushed (title; "<container>.sif" for library pushes).
// It depends only on the image row and title, so it is the same on every
// node and every time.
func sifManifest(v *ContainerView, im *meta.Image, title string) *meta.Manifest {
	if title == "" {
		title = v.Container.Name + ".sif"
	}
	cfg := sifConfig(im)
	b, _ := json.Marshal(manifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		Config:        &Descriptor{MediaType: MediaTypeSIFConfig, Digest: DigestOf(cfg, Digest{}).String(), Size: int64(len(cfg))},
		Layers: []Descriptor{{MediaType: MediaTypeSIFLayer, Digest: "sha256:" + im.Digest, Size: im.Size,
			Annotations: map[string]string{"org.opencontainers.image.title": title}}},
	})
	return &meta.Manifest{ContainerID: v.Container.ID, Digest: DigestOf(b, Digest{}).String(), MediaType: MediaTypeManifest,
		Body: b, ArtifactType: MediaTypeSIFConfig, ImageID: im.ID, Created: im.Created}
}

// imageManifest is the manifest an image's tags and version name. The
// manifests clients pushed for it stay available by their own digests.
func (r *Registry) imageManifest(ctx context.Context, v *ContainerView, im *meta.Image) (*meta.Manifest, error) {
	ms, err := r.meta.ManifestsForImage(ctx, im.ID)
	if err != nil {
		return nil, err
	}
	title := ""
	for i := range ms {
		var m manifest
		if ms[i].MediaType == MediaTypeManifest && json.Unmarshal(ms[i].Body, &m) == nil && len(m.Layers) == 1 {
			title = m.Layers[0].Annotations["org.opencontainers.image.title"]
			break
		}
	}
	return sifManifest(v, im, title), nil
}

// siloTagManifest is what a Silo tag looks like through OCI: the image's
// manifest when the tag names one architecture, else an index of the
// manifests of each, with their platforms (what the library client and
// Docker-style clients pick an architecture from).
func (r *Registry) siloTagManifest(ctx context.Context, v *ContainerView, tag string, unknown error) (*meta.Manifest, error) {
	found, err := r.meta.TaggedImages(ctx, v.Container.ID, tag)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		return nil, unknown
	case 1:
		return r.imageManifest(ctx, v, &found[0].Image)
	}
	// Byte order whatever the database's collation, so every node hashes
	// the same index.
	sort.Slice(found, func(i, j int) bool { return found[i].Arch < found[j].Arch })
	idx := manifest{SchemaVersion: 2, MediaType: MediaTypeIndex}
	for _, e := range found {
		m, err := r.imageManifest(ctx, v, &e.Image)
		if err != nil {
			return nil, err
		}
		p, _ := json.Marshal(map[string]string{"architecture": e.Arch, "os": "linux"})
		idx.Manifests = append(idx.Manifests, Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body)), Platform: p})
	}
	b, _ := json.Marshal(idx)
	return &meta.Manifest{ContainerID: v.Container.ID, Digest: DigestOf(b, Digest{}).String(), MediaType: MediaTypeIndex, Body: b}, nil
}

func isSIFArtifact(m *manifest) bool {
	return m.MediaType == MediaTypeManifest && m.Config != nil && m.Config.MediaType == MediaTypeSIFConfig &&
		len(m.Layers) == 1 && m.Layers[0].MediaType == MediaTypeSIFLayer && strings.HasPrefix(m.Layers[0].Digest, "sha256:")
}

// sifImage makes the SIF layer of an artifact an image of the container,
// with the same checks as a library push: it must be a SIF and within
// quota.
func (r *Registry) sifImage(ctx context.Context, a access.Actor, v *ContainerView, layer *BlobRef, config *Descriptor) (*meta.Image, error) {
	im, err := r.meta.ImageByDigest(ctx, v.Container.ID, layer.Key)
	if err == nil && im.Uploaded {
		return im, nil
	}
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	if r.cfg.MaxImageSize > 0 && layer.Size > r.cfg.MaxImageSize {
		return nil, ociErr(CodeSizeInvalid, TooLarge, "image is %d bytes; this registry takes at most %d", layer.Size, r.cfg.MaxImageSize)
	}
	if im == nil {
		im = &meta.Image{ContainerID: v.Container.ID, Digest: layer.Key, PushedBy: a.ID(), Description: r.configDescription(ctx, v, config)}
		// A layer uploaded or mounted here was charged to the owner's
		// quota then (ociRoom, ociMountFits); any other pays now.
		if _, err := r.meta.BlobLink(ctx, v.Container.ID, "sha256:"+layer.Key); err != nil {
			if err := r.checkQuota(ctx, v, im, layer.Size); err != nil {
				return nil, err
			}
		}
		err = r.meta.CreateImage(ctx, im)
		if errors.Is(err, meta.ErrConflict) {
			im, err = r.meta.ImageByDigest(ctx, v.Container.ID, layer.Key)
		}
		if err != nil {
			return nil, err
		}
	}
	rd, err := r.blobs.Open(ctx, layer.Key)
	if err != nil {
		return nil, err
	}
	info, err := sif.Inspect(rd, layer.Size)
	rd.Close()
	if err != nil {
		_ = r.meta.DeleteImage(context.WithoutCancel(ctx), im.ID)
		if errors.Is(err, sif.ErrNotSIF) {
			return nil, ociErr(CodeManifestInvalid, Invalid, "the layer is marked as a SIF but is not one: %v", err)
		}
		return nil, err
	}
	describeSIF(im, layer.Size, info)
	if a.ID() != 0 {
		im.PushedBy = a.ID()
	}
	if err := r.meta.CompleteImage(ctx, im); err != nil {
		return nil, err
	}
	r.log.Info("image uploaded", "container", v.Ref().Path(), "version", "sha256."+im.Digest, "size", im.Size, "arch", im.Arch, "via", "oci")
	return im, nil
}

// configDescription is the description in a SIF config, which the
// library client's OCI push carries there ("" for Apptainer's `{}`).
func (r *Registry) configDescription(ctx context.Context, v *ContainerView, config *Descriptor) string {
	if config == nil || config.Size > 64<<10 {
		return ""
	}
	b, err := r.OCIBlob(ctx, v, config.Digest)
	if err != nil || b.Inline != nil {
		return ""
	}
	rd, err := r.blobs.Open(ctx, b.Key)
	if err != nil {
		return ""
	}
	defer rd.Close()
	var c struct {
		Description string `json:"description"`
	}
	if json.NewDecoder(io.LimitReader(rd, 64<<10)).Decode(&c) != nil {
		return ""
	}
	return strings.ToValidUTF8(strings.ReplaceAll(c.Description, "\x00", ""), "")
}

// sifIndex reports whether every child of an index is a SIF manifest of
// this container.
func (r *Registry) sifIndex(ctx context.Context, v *ContainerView, m *manifest) (bool, error) {
	for _, c := range m.Manifests {
		cm, err := r.meta.Manifest(ctx, v.Container.ID, c.Digest)
		if errors.Is(err, meta.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if cm.ImageID == 0 || cm.MediaType != MediaTypeManifest {
			return false, nil
		}
	}
	return len(m.Manifests) > 0, nil
}

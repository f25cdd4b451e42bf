package registry

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/ref"
)

// emptyConfigType is the config of artifacts that have none (OCI 1.1).
const emptyConfigType = "application/vnd.oci.empty.v1+json"

// OCIArtifact is a tag of a container naming OCI content that is not a
// SIF image (a Docker or OCI image, an index, a Helm chart, any
// artifact), for listings: the web UI's container page and `silo ls --oci`.
type OCIArtifact struct {
	Tag          string    `json:"tag"`
	Digest       string    `json:"digest"`
	MediaType    string    `json:"mediaType"`
	ArtifactType string    `json:"artifactType,omitempty"` // the manifest's, else its config's media type
	Size         int64     `json:"size"`                   // the manifest and what it names (blobs, or child manifests)
	Referrers    int       `json:"referrers"`              // signatures, SBOMs and the like naming it as subject
	Updated      time.Time `json:"updated"`
}

// OCIContent lists the non-SIF OCI tags of the container rf names, if
// the actor may see it (the same rule, and the same "not found" for
// hidden containers, as every other read).
func (r *Registry) OCIContent(ctx context.Context, a access.Actor, rf ref.Ref) ([]OCIArtifact, error) {
	v, err := r.Container(ctx, a, rf)
	if err != nil {
		return nil, err
	}
	tags, err := r.meta.OCITags(ctx, v.Container.ID)
	if err != nil {
		return nil, err
	}
	out := []OCIArtifact{}
	for _, t := range tags {
		m, err := r.meta.Manifest(ctx, v.Container.ID, t.Digest)
		if err != nil {
			continue // deleted since the tag was read
		}
		var parsed struct {
			ArtifactType string       `json:"artifactType"`
			Config       *Descriptor  `json:"config"`
			Layers       []Descriptor `json:"layers"`
			Manifests    []Descriptor `json:"manifests"`
		}
		_ = json.Unmarshal(m.Body, &parsed) // stored manifests were checked when pushed
		art := OCIArtifact{Tag: t.Name, Digest: m.Digest, MediaType: m.MediaType, ArtifactType: m.ArtifactType,
			Size: int64(len(m.Body)), Updated: t.Updated}
		if art.ArtifactType == "" && parsed.Config != nil && parsed.Config.MediaType != emptyConfigType {
			art.ArtifactType = parsed.Config.MediaType
		}
		if parsed.Config != nil {
			art.Size += parsed.Config.Size
		}
		for _, d := range append(parsed.Layers, parsed.Manifests...) {
			art.Size += d.Size
		}
		refs, err := r.meta.Referrers(ctx, v.Container.ID, m.Digest)
		if err != nil {
			return nil, err
		}
		art.Referrers = len(refs)
		out = append(out, art)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out, nil
}

package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strings"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// Media types of OCI content Silo understands.
const (
	MediaTypeManifest       = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeIndex          = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	// SIF as an OCI artifact, as Apptainer's oras:// and its library
	// client's OCI path push it.
	MediaTypeSIFConfig = "application/vnd.sylabs.sif.config.v1+json"
	MediaTypeSIFLayer  = "application/vnd.sylabs.sif.layer.v1.sif"
)

// MaxManifestSize bounds a manifest's bytes, which are held in memory and
// in the metadata store.
const MaxManifestSize = 4 << 20

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     json.RawMessage   `json:"platform,omitempty"`
	URLs         []string          `json:"urls,omitempty"`
}

// manifest is what Silo reads from a pushed manifest or index.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        *Descriptor       `json:"config,omitempty"`
	Layers        []Descriptor      `json:"layers,omitempty"`
	Manifests     []Descriptor      `json:"manifests,omitempty"`
	Subject       *Descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

var (
	tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	// versionRE is the library API's name for an image by its content,
	// which Apptainer's library client also pushes manifests under.
	versionRE = regexp.MustCompile(`^sha256\.[a-f0-9]{64}$`)
)

// OCIManifest returns the manifest reference (a tag or a digest) names.
func (r *Registry) OCIManifest(ctx context.Context, v *ContainerView, reference string) (*meta.Manifest, error) {
	unknown := ociErr(CodeManifestUnknown, NotFound, "manifest %s not found in %s", reference, v.Ref().Path())
	if strings.Contains(reference, ":") {
		d, err := ParseDigest(reference)
		if err != nil {
			return nil, err
		}
		m, err := r.meta.Manifest(ctx, v.Container.ID, d.String())
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, meta.ErrNotFound) {
			return nil, err
		}
		ims, err := r.containerImages(ctx, v)
		if err != nil {
			return nil, err
		}
		for i := range ims {
			m, err := r.imageManifest(ctx, v, &ims[i])
			if err != nil {
				return nil, err
			}
			if m.Digest == d.String() {
				return m, nil
			}
		}
		return nil, unknown
	}
	if !tagRE.MatchString(reference) {
		return nil, ociErr(CodeTagInvalid, Invalid, "invalid tag %q", reference)
	}
	if versionRE.MatchString(reference) {
		im, err := r.meta.ImageByDigest(ctx, v.Container.ID, strings.TrimPrefix(reference, "sha256."))
		if errors.Is(err, meta.ErrNotFound) || (err == nil && !im.Uploaded) {
			return nil, unknown
		}
		if err != nil {
			return nil, err
		}
		return r.imageManifest(ctx, v, im)
	}
	t, err := r.meta.OCITag(ctx, v.Container.ID, reference)
	if err == nil {
		return r.meta.Manifest(ctx, v.Container.ID, t.Digest)
	}
	if !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	return r.siloTagManifest(ctx, v, reference, unknown)
}

// OCIPutManifest stores a manifest under reference (a tag or its digest).
// A manifest of a SIF artifact (sif config, one sif layer) also makes the
// SIF an image of the container, so it is the same image for every
// protocol; its tag is then a Silo tag.
// Pushed by digest, it may still be tagged: tags are the ?tag= parameters.
func (r *Registry) OCIPutManifest(ctx context.Context, a access.Actor, v *ContainerView, reference, contentType string, body []byte, tags ...string) (*meta.Manifest, error) {
	if err := r.canWrite(ctx, a, v, "push to "+v.Ref().Path()); err != nil {
		return nil, err
	}
	if len(body) > MaxManifestSize {
		return nil, ociErr(CodeSizeInvalid, TooLarge, "manifest is %d bytes; at most %d are taken", len(body), MaxManifestSize)
	}
	var d Digest
	if strings.Contains(reference, ":") {
		want, err := ParseDigest(reference)
		if err != nil {
			return nil, err
		}
		if d = DigestOf(body, want); d != want {
			return nil, ociErr(CodeDigestInvalid, DigestMismatch, "digest mismatch: the manifest was pushed as %s but hashes to %s", want, d)
		}
	} else {
		if !tagRE.MatchString(reference) {
			return nil, ociErr(CodeTagInvalid, Invalid, "invalid tag %q: want [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", reference)
		}
		tags, d = append([]string{reference}, tags...), DigestOf(body, Digest{})
	}
	for _, t := range tags {
		if !tagRE.MatchString(t) {
			return nil, ociErr(CodeTagInvalid, Invalid, "invalid tag %q: want [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", t)
		}
	}
	m, err := parseManifest(contentType, body)
	if err != nil {
		return nil, err
	}
	if v.Container.Frozen {
		return nil, errf(Conflict, "%s is frozen: nothing new is pushed until it is unfrozen", v.Ref().Path())
	}
	row := &meta.Manifest{ContainerID: v.Container.ID, Digest: d.String(), MediaType: m.MediaType, Body: body, ArtifactType: m.ArtifactType}
	if m.Subject != nil {
		row.Subject = m.Subject.Digest
	}
	if row.ArtifactType == "" && m.Config != nil && (m.MediaType == MediaTypeManifest) {
		row.ArtifactType = m.Config.MediaType
	}
	var blobs []Descriptor
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	for _, l := range m.Layers {
		if len(l.URLs) == 0 && !strings.Contains(l.MediaType, "nondistributable") && !strings.Contains(l.MediaType, "foreign") {
			blobs = append(blobs, l)
		}
	}
	var layer *BlobRef
	for _, b := range blobs {
		got, err := r.OCIBlob(ctx, v, b.Digest)
		if err != nil {
			if KindOf(err) == NotFound || KindOf(err) == Invalid {
				return nil, ociErr(CodeManifestBlobUnknown, Invalid, "the manifest names blob %s, which %s does not hold: push it first", b.Digest, v.Ref().Path())
			}
			return nil, err
		}
		if got.Size != b.Size {
			return nil, ociErr(CodeManifestInvalid, Invalid, "the manifest gives blob %s as %d bytes; it is %d", b.Digest, b.Size, got.Size)
		}
		layer = got
	}
	if isSIFArtifact(m) {
		im, err := r.sifImage(ctx, a, v, layer, m.Config)
		if err != nil {
			return nil, err
		}
		row.ImageID = im.ID
	}
	if err := r.checkChildren(ctx, v, m); err != nil {
		return nil, err
	}
	sifIndex := false
	if m.MediaType == MediaTypeIndex {
		// An index of SIF manifests (what the library client tags) tags
		// the images of its children.
		if sifIndex, err = r.sifIndex(ctx, v, m); err != nil {
			return nil, err
		}
	}
	if err := r.meta.PutManifest(ctx, row); err != nil {
		return nil, err
	}
	for _, tag := range tags {
		if versionRE.MatchString(tag) && row.ImageID != 0 {
			continue // names the image by content already: no tag to set
		}
		if err := r.ociTag(ctx, a, v, tag, row, m, sifIndex); err != nil {
			return nil, err
		}
	}
	r.audit(ctx, a, "push", v.Ref().Path()+"@"+row.Digest, m.MediaType)
	return row, nil
}

// checkChildren lets an index name manifests the repository lacks: the
// spec allows it, and `regctl image copy --platform` leaves exactly such a
// sparse index. Children it does hold must be what the index says (their
// size), so a client following the index to a present child gets that
// child whole. Image manifests get no such leeway: their blobs must be
// here (OCIPutManifest), so every image Silo serves can be pulled
// completely. A size of 0 is let through: container-library-client's
// OCI push writes its index that way, and a client following the index
// checks the child by its digest anyway.
func (r *Registry) checkChildren(ctx context.Context, v *ContainerView, m *manifest) error {
	for _, c := range m.Manifests {
		cm, err := r.meta.Manifest(ctx, v.Container.ID, c.Digest)
		if errors.Is(err, meta.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if c.Size != 0 && int64(len(cm.Body)) != c.Size {
			return ociErr(CodeManifestInvalid, Invalid, "the index gives manifest %s as %d bytes; it is %d", c.Digest, c.Size, len(cm.Body))
		}
	}
	return nil
}

func parseManifest(contentType string, body []byte) (*manifest, error) {
	var m manifest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || dec.More() {
		return nil, ociErr(CodeManifestInvalid, Invalid, "the manifest is not one JSON object: %v", err)
	}
	if m.SchemaVersion != 2 {
		return nil, ociErr(CodeManifestInvalid, Invalid, "schemaVersion is %d; only 2 is supported", m.SchemaVersion)
	}
	ct, _, _ := strings.Cut(contentType, ";")
	ct = strings.TrimSpace(ct)
	if m.MediaType == "" {
		m.MediaType = ct
	}
	if ct != "" && ct != m.MediaType {
		return nil, ociErr(CodeManifestInvalid, Invalid, "Content-Type %q does not match the manifest's mediaType %q", ct, m.MediaType)
	}
	switch m.MediaType {
	case MediaTypeManifest, MediaTypeDockerManifest:
		if m.Config == nil {
			return nil, ociErr(CodeManifestInvalid, Invalid, "an image manifest needs a config descriptor")
		}
	case MediaTypeIndex, MediaTypeDockerList:
		if m.Config != nil || m.Layers != nil {
			return nil, ociErr(CodeManifestInvalid, Invalid, "an index has manifests, not a config or layers")
		}
	default:
		return nil, ociErr(CodeManifestInvalid, Invalid, "unsupported manifest media type %q", m.MediaType)
	}
	for _, d := range append(append(append([]Descriptor{}, m.Layers...), m.Manifests...), configOf(m)...) {
		if _, err := ParseDigest(d.Digest); err != nil || d.Size < 0 {
			return nil, ociErr(CodeManifestInvalid, Invalid, "invalid descriptor %q (%d bytes)", d.Digest, d.Size)
		}
	}
	if m.Subject != nil {
		if _, err := ParseDigest(m.Subject.Digest); err != nil {
			return nil, ociErr(CodeManifestInvalid, Invalid, "invalid subject digest %q", m.Subject.Digest)
		}
	}
	return &m, nil
}

func configOf(m manifest) []Descriptor {
	if m.Config == nil {
		return nil
	}
	return []Descriptor{*m.Config}
}

// ociTag points tag at a stored manifest. A tag names one thing: SIF
// content gets Silo tags (one per architecture), other content an OCI tag,
// and setting one removes the other.
func (r *Registry) ociTag(ctx context.Context, a access.Actor, v *ContainerView, tag string, row *meta.Manifest, m *manifest, sifIndex bool) error {
	var images []int64
	if (row.ImageID != 0 || sifIndex) && ref.ValidTag(tag) == nil {
		if sifIndex {
			for _, c := range m.Manifests {
				if cm, err := r.meta.Manifest(ctx, v.Container.ID, c.Digest); err == nil {
					images = append(images, cm.ImageID)
				}
			}
		} else {
			images = []int64{row.ImageID}
		}
	}
	if len(images) > 0 {
		if err := r.meta.DeleteOCITag(ctx, v.Container.ID, tag); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		for _, id := range images {
			if err := r.SetTag(ctx, a, v.Container.ID, "", tag, id); err != nil {
				return err
			}
		}
		return nil
	}
	if err := r.dropSiloTag(ctx, v, tag); err != nil {
		return err
	}
	return r.meta.SetOCITag(ctx, meta.OCITag{ContainerID: v.Container.ID, Name: tag, Digest: row.Digest})
}

// dropSiloTag removes every architecture's Silo tag called name.
func (r *Registry) dropSiloTag(ctx context.Context, v *ContainerView, name string) error {
	tags, err := r.meta.Tags(ctx, v.Container.ID)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if t.Name == name {
			if v.Container.Frozen {
				return errf(Conflict, "%s is frozen: tag %s cannot be moved", v.Ref().Path(), name)
			}
			if err := r.meta.DeleteTag(ctx, v.Container.ID, t.Arch, t.Name); err != nil && !errors.Is(err, meta.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// OCIDeleteManifest deletes a tag, or (by digest) a manifest; deleting a
// SIF image's manifest deletes the image, as `silo delete` would.
func (r *Registry) OCIDeleteManifest(ctx context.Context, a access.Actor, v *ContainerView, reference string) error {
	if err := r.canWrite(ctx, a, v, "delete from "+v.Ref().Path()); err != nil {
		return err
	}
	if v.Container.Frozen {
		return errf(Conflict, "%s is frozen: nothing can be deleted", v.Ref().Path())
	}
	m, err := r.OCIManifest(ctx, v, reference)
	if err != nil {
		return err
	}
	if !strings.Contains(reference, ":") {
		err := r.meta.DeleteOCITag(ctx, v.Container.ID, reference)
		if errors.Is(err, meta.ErrNotFound) {
			err = r.dropSiloTag(ctx, v, reference)
		}
		if err == nil {
			r.audit(ctx, a, "delete", v.Ref().Path()+":"+reference, "tag")
		}
		return err
	}
	if err := r.meta.DeleteManifest(ctx, v.Container.ID, m.Digest); err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if m.ImageID != 0 && m.MediaType == MediaTypeManifest {
		if err := r.meta.DeleteImage(ctx, m.ImageID); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
	}
	r.audit(ctx, a, "delete", v.Ref().Path()+"@"+m.Digest, m.MediaType)
	return nil
}

// OCITags lists a repository's tags, sorted, both kinds.
func (r *Registry) OCITags(ctx context.Context, v *ContainerView) ([]string, error) {
	oci, err := r.meta.OCITags(ctx, v.Container.ID)
	if err != nil {
		return nil, err
	}
	silo, err := r.meta.Tags(ctx, v.Container.ID)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, t := range oci {
		seen[t.Name] = true
		out = append(out, t.Name)
	}
	for _, t := range silo {
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// OCIReferrers lists the manifests whose subject is digest, as
// descriptors, filtered by artifactType when it is given.
func (r *Registry) OCIReferrers(ctx context.Context, v *ContainerView, digest, artifactType string) ([]Descriptor, error) {
	d, err := ParseDigest(digest)
	if err != nil {
		return nil, err
	}
	ms, err := r.meta.Referrers(ctx, v.Container.ID, d.String())
	if err != nil {
		return nil, err
	}
	out := []Descriptor{}
	for _, m := range ms {
		if artifactType != "" && m.ArtifactType != artifactType {
			continue
		}
		var parsed manifest
		_ = json.Unmarshal(m.Body, &parsed)
		out = append(out, Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body)),
			ArtifactType: m.ArtifactType, Annotations: parsed.Annotations})
	}
	return out, nil
}

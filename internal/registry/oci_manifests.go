package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/sif"
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

// siloTagManifest is what a Silo tag looks like through OCI: the image's
// manifest when the tag names one architecture, else an index of the
// manifests of each, with their platforms (what the library client and
// Docker-style clients pick an architecture from).
func (r *Registry) siloTagManifest(ctx context.Context, v *ContainerView, tag string, unknown error) (*meta.Manifest, error) {
	tags, err := r.meta.Tags(ctx, v.Container.ID)
	if err != nil {
		return nil, err
	}
	type entry struct {
		arch string
		im   *meta.Image
	}
	var found []entry
	for _, t := range tags {
		if t.Name != tag {
			continue
		}
		im, err := r.meta.Image(ctx, t.ImageID)
		if errors.Is(err, meta.ErrNotFound) || (err == nil && !im.Uploaded) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = append(found, entry{t.Arch, im})
	}
	switch len(found) {
	case 0:
		return nil, unknown
	case 1:
		return r.imageManifest(ctx, v, found[0].im)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].arch < found[j].arch })
	idx := manifest{SchemaVersion: 2, MediaType: MediaTypeIndex}
	for _, e := range found {
		m, err := r.imageManifest(ctx, v, e.im)
		if err != nil {
			return nil, err
		}
		p, _ := json.Marshal(map[string]string{"architecture": e.arch, "os": "linux"})
		idx.Manifests = append(idx.Manifests, Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body)), Platform: p})
	}
	b, _ := json.Marshal(idx)
	return &meta.Manifest{ContainerID: v.Container.ID, Digest: DigestOf(b, Digest{}).String(), MediaType: MediaTypeIndex, Body: b}, nil
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
		if err := r.checkQuota(ctx, v, im, layer.Size); err != nil {
			return nil, err
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
	im.Size, im.Arch, im.Signed, im.Encrypted = layer.Size, info.Arch, info.Signed, info.Encrypted
	im.Labels, im.Definition, im.SIFCreated = info.Labels, info.Definition, info.Created
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

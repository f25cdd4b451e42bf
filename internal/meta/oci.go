package meta

import (
	"context"
	"time"
)

// Manifest is an OCI manifest or index pushed to (or synthesized for) a
// container. Manifests are small, so their exact bytes live here: a pull
// must return the bytes whose digest the client asked for.
type Manifest struct {
	ContainerID  int64
	Digest       string // "<algorithm>:<hex>", as the client named it
	MediaType    string
	Body         []byte
	Subject      string // digest of the manifest it refers to, for the referrers API
	ArtifactType string
	ImageID      int64 // the SIF image it describes, 0 for other content
	Created      time.Time
}

// OCITag names a manifest of a container. Tags of SIF images are Silo tags
// (Tag, per architecture); OCITags name every other kind of content.
type OCITag struct {
	ContainerID int64
	Name        string
	Digest      string
	Updated     time.Time
}

// BlobLink records that a container holds a blob, so that a blob is served
// only through repositories it was pushed or mounted to.
type BlobLink struct {
	ContainerID int64
	Digest      string // "<algorithm>:<hex>"
	Key         string // the blob store's name for the bytes (their sha256 hex)
	Size        int64
	Created     time.Time
}

// OCIUpload is an OCI blob upload session. Chunks arrive in order, so the
// bytes received so far are also the bytes hashed; the sha256 state is
// stored so any node can take the next chunk.
type OCIUpload struct {
	ID          string // the blob store's upload id
	ContainerID int64
	Size        int64  // bytes received so far
	HashState   []byte // marshalled sha256 state of those bytes
	CreatedBy   int64
	Created     time.Time
	Expires     time.Time
}

// OCIStore keeps what the OCI distribution API adds to the name tree.
type OCIStore interface {
	// PutManifest stores a manifest; storing the same digest again in a
	// container replaces its row.
	PutManifest(ctx context.Context, m *Manifest) error
	Manifest(ctx context.Context, containerID int64, digest string) (*Manifest, error)
	// ManifestsForImage lists the manifests describing an image, newest first.
	ManifestsForImage(ctx context.Context, imageID int64) ([]Manifest, error)
	// DeleteManifest removes a manifest and the OCI tags naming it.
	DeleteManifest(ctx context.Context, containerID int64, digest string) error
	// Referrers lists a container's manifests whose subject is digest, oldest first.
	Referrers(ctx context.Context, containerID int64, subject string) ([]Manifest, error)

	// SetOCITag points a tag at a manifest digest, replacing any previous target.
	SetOCITag(ctx context.Context, t OCITag) error
	OCITag(ctx context.Context, containerID int64, name string) (*OCITag, error)
	OCITags(ctx context.Context, containerID int64) ([]OCITag, error)
	DeleteOCITag(ctx context.Context, containerID int64, name string) error

	// LinkBlob records a blob in a container; linking again is not an error.
	LinkBlob(ctx context.Context, l BlobLink) error
	BlobLink(ctx context.Context, containerID int64, digest string) (*BlobLink, error)
	UnlinkBlob(ctx context.Context, containerID int64, digest string) error
	// KeyLinked reports whether any container links the stored bytes key.
	KeyLinked(ctx context.Context, key string) (bool, error)

	CreateOCIUpload(ctx context.Context, u *OCIUpload) error
	OCIUpload(ctx context.Context, id string) (*OCIUpload, error)
	// AdvanceOCIUpload records a chunk if the stored size still equals from,
	// so two writers cannot both append at the same offset.
	AdvanceOCIUpload(ctx context.Context, id string, from, size int64, state []byte) error
	DeleteOCIUpload(ctx context.Context, id string) error
	ExpiredOCIUploads(ctx context.Context, now time.Time) ([]OCIUpload, error)
}

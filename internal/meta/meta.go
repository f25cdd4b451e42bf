// Package meta defines Silo's metadata store: users, tokens, the name tree
// (entity → collection → container → image), tags and upload sessions. It
// stores and finds; it never decides policy (that is internal/registry's job).
// Backends live in sub-packages (sqlite/ now, postgres/ later) and all pass
// the shared suite in metatest/.
package meta

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when the asked-for row does not exist.
var ErrNotFound = errors.New("meta: not found")

// ErrConflict is returned when a create would break a uniqueness rule
// (a name taken by a concurrent writer, say).
var ErrConflict = errors.New("meta: already exists")

// Entity is an owner namespace: a user's name, or a shared one.
type Entity struct {
	ID             int64
	Name           string
	Description    string
	OwnerID        int64 // user who owns it; 0 for a shared or team namespace
	TeamID         int64 // team that owns it; 0 for none
	DefaultPrivate bool
	Created        time.Time
}

// Collection groups containers under an entity.
type Collection struct {
	ID          int64
	EntityID    int64
	Name        string
	Description string
	Private     bool
	CreatedBy   int64 // the user who owns it
	TeamID      int64 // the team that owns it, 0 for none; members may push
	Created     time.Time
	Updated     time.Time
}

// Container is a named repository of images.
type Container struct {
	ID           int64
	CollectionID int64
	Name         string
	Description  string
	Frozen       bool
	Created      time.Time
	Updated      time.Time
}

// Image is one SIF file in a container, identified by its sha256 digest.
// An image exists before its bytes arrive (Uploaded false) because the
// library protocol creates it first and uploads second.
type Image struct {
	ID          int64
	ContainerID int64
	Digest      string // 64 lower-case hex
	Size        int64
	Arch        string
	Uploaded    bool
	Description string
	Signed      bool
	Encrypted   bool
	Labels      map[string]string
	Definition  string
	SIFCreated  time.Time
	PushedBy    int64
	Downloads   int64
	Created     time.Time
	Updated     time.Time
}

// Tag points a name at one image of a container, per architecture.
type Tag struct {
	ContainerID int64
	Arch        string
	Name        string
	ImageID     int64
	Updated     time.Time
}

// Upload is an upload session. It lives in the store, not in a process, so
// that any server sharing the store can continue it.
type Upload struct {
	ID         string // the blob store's upload id
	ImageID    int64
	Size       int64 // declared total size
	PartSize   int64 // 0 for a single-part upload
	TotalParts int
	Hashed     int64  // bytes of the prefix already folded into HashState
	HashState  []byte // marshalled sha256 state of the first Hashed bytes
	CreatedBy  int64
	Created    time.Time
	Expires    time.Time
}

// ImageRecord is an uploaded image with the names above it and its tags,
// as listings and search return it.
type ImageRecord struct {
	Image
	Entity     string
	Collection string
	Container  string
	Private    bool
	Frozen     bool
	OwnerID    int64 // the entity's owner
	CreatedBy  int64 // who created (owns) the collection
	TeamID     int64 // the team owning the collection, 0 for none
	EntityTeam int64 // the team owning the entity, 0 for none
	Tags       []Tag // tags pointing at this image
}

// Query selects uploaded images for listings and search.
type Query struct {
	// Text matches, case-insensitively, as a substring of the entity,
	// collection or container name, a tag, the description, or a label value.
	Text       string
	Entity     string // exact entity name
	Collection string // exact collection name
	Container  string // exact container name
	Arch       string // exact architecture
	SignedOnly bool
	Limit      int // 0: no limit
}

// Store is the metadata store.
type Store interface {
	Close() error
	Ping(ctx context.Context) error

	AccountStore
	ShareStore
	StarStore
	SregistryStore
	OCIStore
	TableStore
	LookupStore

	CreateEntity(ctx context.Context, e *Entity) error
	Entity(ctx context.Context, id int64) (*Entity, error)
	EntityByName(ctx context.Context, name string) (*Entity, error)
	CreateCollection(ctx context.Context, c *Collection) error
	Collection(ctx context.Context, id int64) (*Collection, error)
	CollectionByName(ctx context.Context, entityID int64, name string) (*Collection, error)
	CreateContainer(ctx context.Context, c *Container) error
	Container(ctx context.Context, id int64) (*Container, error)
	ContainerByName(ctx context.Context, collectionID int64, name string) (*Container, error)
	SetFrozen(ctx context.Context, containerID int64, frozen bool) error
	SetCollectionPrivate(ctx context.Context, collectionID int64, private bool) error
	// SetCollectionTeam hands a collection to a team (0: back to its creator alone).
	SetCollectionTeam(ctx context.Context, collectionID, teamID int64) error
	// CountCollections counts the collections a user created.
	CountCollections(ctx context.Context, createdBy int64) (int, error)
	// UsageBytes sums the sizes of the distinct stored bytes (uploaded
	// images and OCI blobs linked to containers, each key once) in
	// collections owned by the user (not handed to a team) or, with teamID
	// set, by the team.
	UsageBytes(ctx context.Context, userID, teamID int64) (int64, error)

	CreateImage(ctx context.Context, im *Image) error
	Image(ctx context.Context, id int64) (*Image, error)
	ImageByDigest(ctx context.Context, containerID int64, digest string) (*Image, error)
	// CompleteImage records what an upload learnt (size, arch, SIF facts)
	// and marks the image uploaded.
	CompleteImage(ctx context.Context, im *Image) error
	// DeleteImage removes the image and every tag pointing at it.
	DeleteImage(ctx context.Context, id int64) error
	// StaleImages lists images never uploaded and created before cutoff.
	StaleImages(ctx context.Context, cutoff time.Time) ([]Image, error)
	AddDownload(ctx context.Context, imageID int64) error
	// DigestInUse reports whether any image row names digest.
	DigestInUse(ctx context.Context, digest string) (bool, error)

	// SetTag points (container, arch, name) at an image, replacing any previous target.
	SetTag(ctx context.Context, t Tag) error
	DeleteTag(ctx context.Context, containerID int64, arch, name string) error
	Tags(ctx context.Context, containerID int64) ([]Tag, error)

	// Find returns uploaded images matching q, newest first.
	Find(ctx context.Context, q Query) ([]ImageRecord, error)

	// Setting returns a registry-wide value, ErrNotFound if unset.
	Setting(ctx context.Context, key string) (string, error)
	// InitSetting stores value under key unless a value is there already,
	// and returns whichever value is stored: the way several nodes agree on
	// one generated secret.
	InitSetting(ctx context.Context, key, value string) (string, error)
	// SetSetting stores value under key, replacing any value.
	SetSetting(ctx context.Context, key, value string) error

	CreateUpload(ctx context.Context, u *Upload) error
	Upload(ctx context.Context, id string) (*Upload, error)
	// UploadsForImage lists an image's upload sessions, newest first.
	UploadsForImage(ctx context.Context, imageID int64) ([]Upload, error)
	// AdvanceUpload stores a new hash state if the stored Hashed still equals
	// from, so two writers cannot both advance the same prefix.
	AdvanceUpload(ctx context.Context, id string, from, hashed int64, state []byte) error
	DeleteUpload(ctx context.Context, id string) error
	ExpiredUploads(ctx context.Context, now time.Time) ([]Upload, error)
}

package meta

import "context"

// LookupStore answers, in one round trip each, questions the hot paths
// (every pull and push) would otherwise ask in several.
type LookupStore interface {
	// ContainerByPath finds the container entity/collection/container with
	// the entity and collection above it (their privacy and owners decide
	// who may see it); ErrNotFound when any of the three is missing.
	ContainerByPath(ctx context.Context, entity, collection, container string) (*Entity, *Collection, *Container, error)
	// TaggedImages lists the uploaded images a container's Silo tag names,
	// one per architecture, ordered by architecture.
	TaggedImages(ctx context.Context, containerID int64, tag string) ([]TaggedImage, error)
}

// TaggedImage is an image a tag names for one architecture.
type TaggedImage struct {
	Arch  string
	Image Image
}

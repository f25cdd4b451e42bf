package meta

import "context"

// PathStore resolves a container's full name in one round trip: the
// lookup every pull and push starts with, which was three queries.
type PathStore interface {
	// ContainerByPath finds the container entity/collection/container with
	// the entity and collection above it (their privacy and owners decide
	// who may see it); ErrNotFound when any of the three is missing.
	ContainerByPath(ctx context.Context, entity, collection, container string) (*Entity, *Collection, *Container, error)
}

package postgres

import (
	"context"

	"github.com/siloreg/silo/internal/meta"
)

// ContainerByPath finds a container and the names above it with one join.
func (s *Store) ContainerByPath(ctx context.Context, entity, collection, container string) (*meta.Entity, *meta.Collection, *meta.Container, error) {
	var e meta.Entity
	var c meta.Collection
	var ct meta.Container
	var eCreated, cCreated, cUpdated, ctCreated, ctUpdated int64
	err := s.pool.QueryRow(ctx, `SELECT e.id, e.name, e.description, e.owner_id, e.team_id, e.default_private, e.created,
		c.id, c.entity_id, c.name, c.description, c.private, c.created_by, c.team_id, c.created, c.updated,
		ct.id, ct.collection_id, ct.name, ct.description, ct.frozen, ct.created, ct.updated
		FROM entities e JOIN collections c ON c.entity_id = e.id JOIN containers ct ON ct.collection_id = c.id
		WHERE e.name = $1 AND c.name = $2 AND ct.name = $3`, entity, collection, container).
		Scan(&e.ID, &e.Name, &e.Description, &e.OwnerID, &e.TeamID, &e.DefaultPrivate, &eCreated,
			&c.ID, &c.EntityID, &c.Name, &c.Description, &c.Private, &c.CreatedBy, &c.TeamID, &cCreated, &cUpdated,
			&ct.ID, &ct.CollectionID, &ct.Name, &ct.Description, &ct.Frozen, &ctCreated, &ctUpdated)
	if err != nil {
		return nil, nil, nil, mapErr(err)
	}
	e.Created = fromTS(eCreated)
	c.Created, c.Updated = fromTS(cCreated), fromTS(cUpdated)
	ct.Created, ct.Updated = fromTS(ctCreated), fromTS(ctUpdated)
	return &e, &c, &ct, nil
}

// TaggedImages joins a tag's rows to their uploaded images.
func (s *Store) TaggedImages(ctx context.Context, containerID int64, tag string) ([]meta.TaggedImage, error) {
	return query(ctx, s, func(row scanner) (*meta.TaggedImage, error) {
		var arch string
		im, err := scanImage(row, &arch)
		if err != nil {
			return nil, err
		}
		return &meta.TaggedImage{Arch: arch, Image: *im}, nil
	}, `SELECT `+imageCols+`, t.arch FROM tags t JOIN images i ON i.id = t.image_id
		WHERE t.container_id = $1 AND t.name = $2 AND i.uploaded ORDER BY t.arch`, containerID, tag)
}

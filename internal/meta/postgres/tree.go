package postgres

import (
	"context"

	"github.com/siloreg/silo/internal/meta"
)

// The name tree: entities, collections and containers.

// CreateEntity inserts e and sets its ID and creation time.
func (s *Store) CreateEntity(ctx context.Context, e *meta.Entity) error {
	e.Created = now()
	id, err := s.insert(ctx, `INSERT INTO entities (name, description, owner_id, team_id, default_private, created)
		VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`,
		e.Name, e.Description, e.OwnerID, e.TeamID, e.DefaultPrivate, ts(e.Created))
	e.ID = id
	return err
}

func (s *Store) entityWhere(ctx context.Context, where string, arg any) (*meta.Entity, error) {
	var e meta.Entity
	var created int64
	err := s.pool.QueryRow(ctx, `SELECT id, name, description, owner_id, team_id, default_private, created FROM entities WHERE `+where, arg).
		Scan(&e.ID, &e.Name, &e.Description, &e.OwnerID, &e.TeamID, &e.DefaultPrivate, &created)
	if err != nil {
		return nil, mapErr(err)
	}
	e.Created = fromTS(created)
	return &e, nil
}

// Entity finds an entity by id.
func (s *Store) Entity(ctx context.Context, id int64) (*meta.Entity, error) {
	return s.entityWhere(ctx, `id = $1`, id)
}

// EntityByName finds an entity by name.
func (s *Store) EntityByName(ctx context.Context, name string) (*meta.Entity, error) {
	return s.entityWhere(ctx, `name = $1`, name)
}

// CreateCollection inserts c and sets its ID and times.
func (s *Store) CreateCollection(ctx context.Context, c *meta.Collection) error {
	c.Created = now()
	c.Updated = c.Created
	id, err := s.insert(ctx, `INSERT INTO collections (entity_id, name, description, private, created_by, team_id, created, updated)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id`,
		c.EntityID, c.Name, c.Description, c.Private, c.CreatedBy, c.TeamID, ts(c.Created), ts(c.Updated))
	c.ID = id
	return err
}

func (s *Store) collectionWhere(ctx context.Context, where string, args ...any) (*meta.Collection, error) {
	var c meta.Collection
	var created, updated int64
	err := s.pool.QueryRow(ctx, `SELECT id, entity_id, name, description, private, created_by, team_id, created, updated FROM collections WHERE `+where, args...).
		Scan(&c.ID, &c.EntityID, &c.Name, &c.Description, &c.Private, &c.CreatedBy, &c.TeamID, &created, &updated)
	if err != nil {
		return nil, mapErr(err)
	}
	c.Created, c.Updated = fromTS(created), fromTS(updated)
	return &c, nil
}

// Collection finds a collection by id.
func (s *Store) Collection(ctx context.Context, id int64) (*meta.Collection, error) {
	return s.collectionWhere(ctx, `id = $1`, id)
}

// CollectionByName finds a collection by entity and name.
func (s *Store) CollectionByName(ctx context.Context, entityID int64, name string) (*meta.Collection, error) {
	return s.collectionWhere(ctx, `entity_id = $1 AND name = $2`, entityID, name)
}

// CreateContainer inserts c and sets its ID and times.
func (s *Store) CreateContainer(ctx context.Context, c *meta.Container) error {
	c.Created = now()
	c.Updated = c.Created
	id, err := s.insert(ctx, `INSERT INTO containers (collection_id, name, description, frozen, created, updated)
		VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`,
		c.CollectionID, c.Name, c.Description, c.Frozen, ts(c.Created), ts(c.Updated))
	c.ID = id
	return err
}

func (s *Store) containerWhere(ctx context.Context, where string, args ...any) (*meta.Container, error) {
	var c meta.Container
	var created, updated int64
	err := s.pool.QueryRow(ctx, `SELECT id, collection_id, name, description, frozen, created, updated FROM containers WHERE `+where, args...).
		Scan(&c.ID, &c.CollectionID, &c.Name, &c.Description, &c.Frozen, &created, &updated)
	if err != nil {
		return nil, mapErr(err)
	}
	c.Created, c.Updated = fromTS(created), fromTS(updated)
	return &c, nil
}

// Container finds a container by id.
func (s *Store) Container(ctx context.Context, id int64) (*meta.Container, error) {
	return s.containerWhere(ctx, `id = $1`, id)
}

// ContainerByName finds a container by collection and name.
func (s *Store) ContainerByName(ctx context.Context, collectionID int64, name string) (*meta.Container, error) {
	return s.containerWhere(ctx, `collection_id = $1 AND name = $2`, collectionID, name)
}

// SetFrozen freezes or unfreezes a container.
func (s *Store) SetFrozen(ctx context.Context, containerID int64, frozen bool) error {
	return s.exec(ctx, `UPDATE containers SET frozen = $1, updated = $2 WHERE id = $3`, frozen, ts(now()), containerID)
}

// SetCollectionPrivate makes a collection private or public.
func (s *Store) SetCollectionPrivate(ctx context.Context, collectionID int64, private bool) error {
	return s.exec(ctx, `UPDATE collections SET private = $1, updated = $2 WHERE id = $3`, private, ts(now()), collectionID)
}

// SetCollectionTeam hands a collection to a team, or back to its creator with 0.
func (s *Store) SetCollectionTeam(ctx context.Context, collectionID, teamID int64) error {
	return s.exec(ctx, `UPDATE collections SET team_id = $1, updated = $2 WHERE id = $3`, teamID, ts(now()), collectionID)
}

// CountCollections counts the collections a user created.
func (s *Store) CountCollections(ctx context.Context, createdBy int64) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM collections WHERE created_by = $1`, createdBy).Scan(&n)
	return n, err
}

// UsageBytes sums distinct uploaded images owned by a user or a team. The
// sum is cast back to BIGINT because PostgreSQL widens sum(BIGINT) to
// NUMERIC, and COALESCEd because the sum of no rows is NULL.
func (s *Store) UsageBytes(ctx context.Context, userID, teamID int64) (int64, error) {
	owner, arg := `co.created_by = $1 AND co.team_id = 0 AND e.team_id = 0`, userID
	if teamID != 0 {
		owner, arg = `(co.team_id = $1 OR (co.team_id = 0 AND e.team_id = $1))`, teamID
	}
	var n int64
	// UNION keeps each stored key once: a SIF pushed through OCI is both
	// an image and a linked blob under the same sha256.
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(sum(size), 0)::BIGINT FROM (SELECT i.digest AS k, i.size AS size FROM images i
		JOIN containers c ON c.id = i.container_id JOIN collections co ON co.id = c.collection_id
		JOIN entities e ON e.id = co.entity_id WHERE i.uploaded AND `+owner+`
		UNION SELECT b.key, b.size FROM oci_blobs b
		JOIN containers c ON c.id = b.container_id JOIN collections co ON co.id = c.collection_id
		JOIN entities e ON e.id = co.entity_id WHERE `+owner+`) AS owned`, arg).Scan(&n)
	return n, err
}

// Package sqlite is the embedded metadata store: one SQLite file in WAL mode,
// through the pure-Go modernc.org/sqlite driver, so `silo serve` needs
// nothing installed.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/meta"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Store is a meta.Store backed by one SQLite database file.
type Store struct {
	db *db
}

var _ meta.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and applies migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		// FULL: a committed push survives a power cut, not only a crash.
		"synchronous(FULL)",
		"busy_timeout(10000)",
		"foreign_keys(1)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	sdb, err := sql.Open("sqlite", fileURI(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open metadata database %s: %w", path, err)
	}
	s := &Store{db: newDB(sdb)}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("metadata database %s: %w", path, err)
	}
	return s, nil
}

// fileURI makes path a SQLite file: URI. The path must be escaped: raw, a
// '#' or '?' in it would cut it short (and drop the pragmas after it) and a
// "%xx" would be decoded, opening some other file.
func fileURI(path string) string {
	p := (&url.URL{Path: path}).EscapedPath()
	if strings.HasPrefix(path, "/") {
		// An empty authority, so a path starting "//" is not read as a host.
		return "file://" + p
	}
	return "file:" + p
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this silo (%d): upgrade silo", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(migrations)); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// ts and fromTS store times as meta.Stamp does, the same in every backend.
func ts(t time.Time) int64 { return meta.Stamp(t) }

func fromTS(n int64) time.Time { return meta.FromStamp(n) }

func now() time.Time { return time.Now().UTC() }

// mapErr turns driver errors into the meta package's sentinels.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return meta.ErrNotFound
	case strings.Contains(err.Error(), "UNIQUE constraint failed"), strings.Contains(err.Error(), "PRIMARY KEY constraint failed"):
		return fmt.Errorf("%w: %v", meta.ErrConflict, err)
	}
	return err
}

func (s *Store) insert(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	return res.LastInsertId()
}

// exec runs a statement that must touch one row; none is ErrNotFound.
func (s *Store) exec(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return meta.ErrNotFound
	}
	return nil
}

// The name tree.

// CreateEntity inserts e and sets its ID and creation time.
func (s *Store) CreateEntity(ctx context.Context, e *meta.Entity) error {
	e.Created = now()
	id, err := s.insert(ctx, `INSERT INTO entities (name, description, owner_id, team_id, default_private, created) VALUES (?,?,?,?,?,?)`,
		e.Name, e.Description, e.OwnerID, e.TeamID, e.DefaultPrivate, ts(e.Created))
	e.ID = id
	return err
}

func (s *Store) entityWhere(ctx context.Context, where string, arg any) (*meta.Entity, error) {
	var e meta.Entity
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, description, owner_id, team_id, default_private, created FROM entities WHERE `+where, arg).
		Scan(&e.ID, &e.Name, &e.Description, &e.OwnerID, &e.TeamID, &e.DefaultPrivate, &created)
	if err != nil {
		return nil, mapErr(err)
	}
	e.Created = fromTS(created)
	return &e, nil
}

// Entity finds an entity by id.
func (s *Store) Entity(ctx context.Context, id int64) (*meta.Entity, error) {
	return s.entityWhere(ctx, `id = ?`, id)
}

// EntityByName finds an entity by name.
func (s *Store) EntityByName(ctx context.Context, name string) (*meta.Entity, error) {
	return s.entityWhere(ctx, `name = ?`, name)
}

// CreateCollection inserts c and sets its ID and times.
func (s *Store) CreateCollection(ctx context.Context, c *meta.Collection) error {
	c.Created = now()
	c.Updated = c.Created
	id, err := s.insert(ctx, `INSERT INTO collections (entity_id, name, description, private, created_by, team_id, created, updated) VALUES (?,?,?,?,?,?,?,?)`,
		c.EntityID, c.Name, c.Description, c.Private, c.CreatedBy, c.TeamID, ts(c.Created), ts(c.Updated))
	c.ID = id
	return err
}

func (s *Store) collectionWhere(ctx context.Context, where string, args ...any) (*meta.Collection, error) {
	var c meta.Collection
	var created, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT id, entity_id, name, description, private, created_by, team_id, created, updated FROM collections WHERE `+where, args...).
		Scan(&c.ID, &c.EntityID, &c.Name, &c.Description, &c.Private, &c.CreatedBy, &c.TeamID, &created, &updated)
	if err != nil {
		return nil, mapErr(err)
	}
	c.Created, c.Updated = fromTS(created), fromTS(updated)
	return &c, nil
}

// Collection finds a collection by id.
func (s *Store) Collection(ctx context.Context, id int64) (*meta.Collection, error) {
	return s.collectionWhere(ctx, `id = ?`, id)
}

// CollectionByName finds a collection by entity and name.
func (s *Store) CollectionByName(ctx context.Context, entityID int64, name string) (*meta.Collection, error) {
	return s.collectionWhere(ctx, `entity_id = ? AND name = ?`, entityID, name)
}

// CreateContainer inserts c and sets its ID and times.
func (s *Store) CreateContainer(ctx context.Context, c *meta.Container) error {
	c.Created = now()
	c.Updated = c.Created
	id, err := s.insert(ctx, `INSERT INTO containers (collection_id, name, description, frozen, created, updated) VALUES (?,?,?,?,?,?)`,
		c.CollectionID, c.Name, c.Description, c.Frozen, ts(c.Created), ts(c.Updated))
	c.ID = id
	return err
}

func (s *Store) containerWhere(ctx context.Context, where string, args ...any) (*meta.Container, error) {
	var c meta.Container
	var created, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT id, collection_id, name, description, frozen, created, updated FROM containers WHERE `+where, args...).
		Scan(&c.ID, &c.CollectionID, &c.Name, &c.Description, &c.Frozen, &created, &updated)
	if err != nil {
		return nil, mapErr(err)
	}
	c.Created, c.Updated = fromTS(created), fromTS(updated)
	return &c, nil
}

// Container finds a container by id.
func (s *Store) Container(ctx context.Context, id int64) (*meta.Container, error) {
	return s.containerWhere(ctx, `id = ?`, id)
}

// ContainerByName finds a container by collection and name.
func (s *Store) ContainerByName(ctx context.Context, collectionID int64, name string) (*meta.Container, error) {
	return s.containerWhere(ctx, `collection_id = ? AND name = ?`, collectionID, name)
}

// SetFrozen freezes or unfreezes a container.
func (s *Store) SetFrozen(ctx context.Context, containerID int64, frozen bool) error {
	return s.exec(ctx, `UPDATE containers SET frozen = ?, updated = ? WHERE id = ?`, frozen, ts(now()), containerID)
}

// SetCollectionPrivate makes a collection private or public.
func (s *Store) SetCollectionPrivate(ctx context.Context, collectionID int64, private bool) error {
	return s.exec(ctx, `UPDATE collections SET private = ?, updated = ? WHERE id = ?`, private, ts(now()), collectionID)
}

// SetCollectionTeam hands a collection to a team, or back to its creator with 0.
func (s *Store) SetCollectionTeam(ctx context.Context, collectionID, teamID int64) error {
	return s.exec(ctx, `UPDATE collections SET team_id = ?, updated = ? WHERE id = ?`, teamID, ts(now()), collectionID)
}

// CountCollections counts the collections a user created.
func (s *Store) CountCollections(ctx context.Context, createdBy int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM collections WHERE created_by = ?`, createdBy).Scan(&n)
	return n, err
}

// UsageBytes sums distinct uploaded images owned by a user or a team.
func (s *Store) UsageBytes(ctx context.Context, userID, teamID int64) (int64, error) {
	owner, args := `co.created_by = ? AND co.team_id = 0 AND e.team_id = 0`, []any{userID}
	if teamID != 0 {
		owner, args = `(co.team_id = ? OR (co.team_id = 0 AND e.team_id = ?))`, []any{teamID, teamID}
	}
	// UNION keeps each stored key once: a SIF pushed through OCI is both
	// an image and a linked blob under the same sha256.
	var n sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT sum(size) FROM (SELECT i.digest AS k, i.size AS size FROM images i
		JOIN containers c ON c.id = i.container_id JOIN collections co ON co.id = c.collection_id
		JOIN entities e ON e.id = co.entity_id WHERE i.uploaded = 1 AND `+owner+`
		UNION SELECT b.key, b.size FROM oci_blobs b
		JOIN containers c ON c.id = b.container_id JOIN collections co ON co.id = c.collection_id
		JOIN entities e ON e.id = co.entity_id WHERE `+owner+`)`, append(args, args...)...).Scan(&n)
	return n.Int64, err
}

// Images.

const imageCols = `i.id, i.container_id, i.digest, i.size, i.arch, i.uploaded, i.description, i.signed, i.encrypted,
	i.labels, i.definition, i.sif_created, i.pushed_by, i.downloads, i.created, i.updated`

func scanImage(row interface{ Scan(...any) error }, extra ...any) (*meta.Image, error) {
	var im meta.Image
	var labels string
	var sifCreated, created, updated int64
	dest := []any{&im.ID, &im.ContainerID, &im.Digest, &im.Size, &im.Arch, &im.Uploaded, &im.Description, &im.Signed, &im.Encrypted,
		&labels, &im.Definition, &sifCreated, &im.PushedBy, &im.Downloads, &created, &updated}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, mapErr(err)
	}
	im.SIFCreated, im.Created, im.Updated = fromTS(sifCreated), fromTS(created), fromTS(updated)
	im.Labels = map[string]string{}
	if labels != "" {
		if err := json.Unmarshal([]byte(labels), &im.Labels); err != nil {
			return nil, fmt.Errorf("image %d labels: %w", im.ID, err)
		}
	}
	return &im, nil
}

func labelsJSON(l map[string]string) string {
	if len(l) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(l) // a map of strings always marshals
	return string(b)
}

// CreateImage inserts im and sets its ID and times.
func (s *Store) CreateImage(ctx context.Context, im *meta.Image) error {
	im.Created = now()
	im.Updated = im.Created
	id, err := s.insert(ctx, `INSERT INTO images (container_id, digest, size, arch, uploaded, description, signed, encrypted, labels, definition, sif_created, pushed_by, created, updated)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		im.ContainerID, im.Digest, im.Size, im.Arch, im.Uploaded, im.Description, im.Signed, im.Encrypted,
		labelsJSON(im.Labels), im.Definition, ts(im.SIFCreated), im.PushedBy, ts(im.Created), ts(im.Updated))
	im.ID = id
	return err
}

// Image finds an image by id.
func (s *Store) Image(ctx context.Context, id int64) (*meta.Image, error) {
	return scanImage(s.db.QueryRowContext(ctx, `SELECT `+imageCols+` FROM images i WHERE i.id = ?`, id))
}

// ImageByDigest finds the image with digest in a container.
func (s *Store) ImageByDigest(ctx context.Context, containerID int64, digest string) (*meta.Image, error) {
	return scanImage(s.db.QueryRowContext(ctx, `SELECT `+imageCols+` FROM images i WHERE i.container_id = ? AND i.digest = ?`, containerID, digest))
}

// CompleteImage records an upload's findings and marks the image uploaded.
func (s *Store) CompleteImage(ctx context.Context, im *meta.Image) error {
	im.Updated = now()
	im.Uploaded = true
	return s.exec(ctx, `UPDATE images SET size = ?, arch = ?, uploaded = 1, signed = ?, encrypted = ?, labels = ?, definition = ?,
		sif_created = ?, pushed_by = ?, updated = ? WHERE id = ?`,
		im.Size, im.Arch, im.Signed, im.Encrypted, labelsJSON(im.Labels), im.Definition, ts(im.SIFCreated), im.PushedBy, ts(im.Updated), im.ID)
}

// DeleteImage removes an image and, by cascade, its tags and uploads.
func (s *Store) DeleteImage(ctx context.Context, id int64) error {
	return s.exec(ctx, `DELETE FROM images WHERE id = ?`, id)
}

// StaleImages lists never-uploaded images created before cutoff.
func (s *Store) StaleImages(ctx context.Context, cutoff time.Time) ([]meta.Image, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+imageCols+` FROM images i WHERE i.uploaded = 0 AND i.created < ?`, ts(cutoff))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.Image
	for rows.Next() {
		im, err := scanImage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *im)
	}
	return out, rows.Err()
}

// AddDownload counts one download of an image.
func (s *Store) AddDownload(ctx context.Context, imageID int64) error {
	return s.exec(ctx, `UPDATE images SET downloads = downloads + 1 WHERE id = ?`, imageID)
}

// DigestInUse reports whether any image names digest.
func (s *Store) DigestInUse(ctx context.Context, digest string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM images WHERE digest = ?`, digest).Scan(&n)
	return n > 0, err
}

// Tags.

// SetTag points a tag at an image, replacing any previous target.
func (s *Store) SetTag(ctx context.Context, t meta.Tag) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO tags (container_id, arch, name, image_id, updated) VALUES (?,?,?,?,?)
		ON CONFLICT (container_id, arch, name) DO UPDATE SET image_id = excluded.image_id, updated = excluded.updated`,
		t.ContainerID, t.Arch, t.Name, t.ImageID, ts(now()))
	return mapErr(err)
}

// DeleteTag removes one tag.
func (s *Store) DeleteTag(ctx context.Context, containerID int64, arch, name string) error {
	return s.exec(ctx, `DELETE FROM tags WHERE container_id = ? AND arch = ? AND name = ?`, containerID, arch, name)
}

// Tags lists a container's tags.
func (s *Store) Tags(ctx context.Context, containerID int64) ([]meta.Tag, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT container_id, arch, name, image_id, updated FROM tags WHERE container_id = ? ORDER BY arch, name`, containerID)
	if err != nil {
		return nil, err
	}
	return scanTags(rows)
}

func scanTags(rows *sql.Rows) ([]meta.Tag, error) {
	defer rows.Close()
	var out []meta.Tag
	for rows.Next() {
		var t meta.Tag
		var updated int64
		if err := rows.Scan(&t.ContainerID, &t.Arch, &t.Name, &t.ImageID, &updated); err != nil {
			return nil, err
		}
		t.Updated = fromTS(updated)
		out = append(out, t)
	}
	return out, rows.Err()
}

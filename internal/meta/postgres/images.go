package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// Images.

const imageCols = `i.id, i.container_id, i.digest, i.size, i.arch, i.uploaded, i.description, i.signed, i.encrypted,
	i.labels::TEXT, i.definition, i.sif_created, i.pushed_by, i.downloads, i.created, i.updated`

// scanImage reads imageCols, then extra. Labels come back as JSON text and
// are decoded here, as the SQLite store does, so both stores read a label
// map the same way.
func scanImage(row scanner, extra ...any) (*meta.Image, error) {
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

func scanImageRow(row scanner) (*meta.Image, error) { return scanImage(row) }

// labelsJSON encodes labels for the JSONB column, which the statements cast
// the text parameter to.
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
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9::TEXT::JSONB,$10,$11,$12,$13,$14) RETURNING id`,
		im.ContainerID, im.Digest, im.Size, im.Arch, im.Uploaded, im.Description, im.Signed, im.Encrypted,
		labelsJSON(im.Labels), im.Definition, ts(im.SIFCreated), im.PushedBy, ts(im.Created), ts(im.Updated))
	im.ID = id
	return err
}

// Image finds an image by id.
func (s *Store) Image(ctx context.Context, id int64) (*meta.Image, error) {
	return scanImage(s.pool.QueryRow(ctx, `SELECT `+imageCols+` FROM images i WHERE i.id = $1`, id))
}

// ImageByDigest finds the image with digest in a container.
func (s *Store) ImageByDigest(ctx context.Context, containerID int64, digest string) (*meta.Image, error) {
	return scanImage(s.pool.QueryRow(ctx, `SELECT `+imageCols+` FROM images i WHERE i.container_id = $1 AND i.digest = $2`, containerID, digest))
}

// CompleteImage records an upload's findings and marks the image uploaded.
func (s *Store) CompleteImage(ctx context.Context, im *meta.Image) error {
	im.Updated = now()
	im.Uploaded = true
	return s.exec(ctx, `UPDATE images SET size = $1, arch = $2, uploaded = true, signed = $3, encrypted = $4, labels = $5::TEXT::JSONB,
		definition = $6, sif_created = $7, pushed_by = $8, updated = $9 WHERE id = $10`,
		im.Size, im.Arch, im.Signed, im.Encrypted, labelsJSON(im.Labels), im.Definition, ts(im.SIFCreated), im.PushedBy, ts(im.Updated), im.ID)
}

// DeleteImage removes an image and, by cascade, its tags, uploads and shares.
func (s *Store) DeleteImage(ctx context.Context, id int64) error {
	return s.exec(ctx, `DELETE FROM images WHERE id = $1`, id)
}

// StaleImages lists never-uploaded images created before cutoff.
func (s *Store) StaleImages(ctx context.Context, cutoff time.Time) ([]meta.Image, error) {
	return query(ctx, s, scanImageRow, `SELECT `+imageCols+` FROM images i WHERE NOT i.uploaded AND i.created < $1`, ts(cutoff))
}

// AddDownload counts one download of an image.
func (s *Store) AddDownload(ctx context.Context, imageID int64) error {
	return s.exec(ctx, `UPDATE images SET downloads = downloads + 1 WHERE id = $1`, imageID)
}

// DigestInUse reports whether any image names digest.
func (s *Store) DigestInUse(ctx context.Context, digest string) (bool, error) {
	var used bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM images WHERE digest = $1)`, digest).Scan(&used)
	return used, err
}

// Tags.

// SetTag points a tag at an image, replacing any previous target.
func (s *Store) SetTag(ctx context.Context, t meta.Tag) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO tags (container_id, arch, name, image_id, updated) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (container_id, arch, name) DO UPDATE SET image_id = excluded.image_id, updated = excluded.updated`,
		t.ContainerID, t.Arch, t.Name, t.ImageID, ts(now()))
	return mapErr(err)
}

// DeleteTag removes one tag.
func (s *Store) DeleteTag(ctx context.Context, containerID int64, arch, name string) error {
	return s.exec(ctx, `DELETE FROM tags WHERE container_id = $1 AND arch = $2 AND name = $3`, containerID, arch, name)
}

// Tags lists a container's tags. Names sort bytewise (COLLATE "C"), as in
// SQLite, whatever collation the database was created with.
func (s *Store) Tags(ctx context.Context, containerID int64) ([]meta.Tag, error) {
	return query(ctx, s, scanTag, `SELECT container_id, arch, name, image_id, updated FROM tags WHERE container_id = $1
		ORDER BY arch COLLATE "C", name COLLATE "C"`, containerID)
}

func scanTag(row scanner) (*meta.Tag, error) {
	var t meta.Tag
	var updated int64
	if err := row.Scan(&t.ContainerID, &t.Arch, &t.Name, &t.ImageID, &updated); err != nil {
		return nil, err
	}
	t.Updated = fromTS(updated)
	return &t, nil
}

// Uploads.

const uploadCols = `id, image_id, size, part_size, total_parts, hashed, hash_state, created_by, created, expires`

func scanUpload(row scanner) (*meta.Upload, error) {
	var u meta.Upload
	var created, expires int64
	if err := row.Scan(&u.ID, &u.ImageID, &u.Size, &u.PartSize, &u.TotalParts, &u.Hashed, &u.HashState, &u.CreatedBy, &created, &expires); err != nil {
		return nil, mapErr(err)
	}
	u.Created, u.Expires = fromTS(created), fromTS(expires)
	return &u, nil
}

// CreateUpload records an upload session.
func (s *Store) CreateUpload(ctx context.Context, u *meta.Upload) error {
	u.Created = now()
	_, err := s.pool.Exec(ctx, `INSERT INTO uploads (`+uploadCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		u.ID, u.ImageID, u.Size, u.PartSize, u.TotalParts, u.Hashed, u.HashState, u.CreatedBy, ts(u.Created), ts(u.Expires))
	return mapErr(err)
}

// Upload finds an upload session by id.
func (s *Store) Upload(ctx context.Context, id string) (*meta.Upload, error) {
	return scanUpload(s.pool.QueryRow(ctx, `SELECT `+uploadCols+` FROM uploads WHERE id = $1`, id))
}

// AdvanceUpload moves the hashed prefix forward if nobody else did first.
// The compare and the set are one UPDATE: under READ COMMITTED a writer
// that waited for a concurrent one re-checks "hashed = from" against the
// row that writer left, finds it moved on and changes nothing.
func (s *Store) AdvanceUpload(ctx context.Context, id string, from, hashed int64, state []byte) error {
	return s.exec(ctx, `UPDATE uploads SET hashed = $1, hash_state = $2 WHERE id = $3 AND hashed = $4`, hashed, state, id, from)
}

// DeleteUpload forgets an upload session.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	return s.exec(ctx, `DELETE FROM uploads WHERE id = $1`, id)
}

// UploadsForImage lists an image's upload sessions, newest first.
func (s *Store) UploadsForImage(ctx context.Context, imageID int64) ([]meta.Upload, error) {
	return query(ctx, s, scanUpload, `SELECT `+uploadCols+` FROM uploads WHERE image_id = $1 ORDER BY created DESC, id COLLATE "C"`, imageID)
}

// ExpiredUploads lists sessions whose expiry has passed.
func (s *Store) ExpiredUploads(ctx context.Context, at time.Time) ([]meta.Upload, error) {
	return query(ctx, s, scanUpload, `SELECT `+uploadCols+` FROM uploads WHERE expires < $1`, ts(at))
}

// Settings.

// Setting returns a registry-wide value.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	return v, mapErr(err)
}

// SetSetting stores value under key, replacing any value.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// InitSetting stores value unless key is set, and returns the stored value.
// A racing INSERT waits for the one ahead of it to commit before deciding
// there is a conflict, so the read after it always sees the winner's value.
func (s *Store) InitSetting(ctx context.Context, key, value string) (string, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", err
	}
	return s.Setting(ctx, key)
}

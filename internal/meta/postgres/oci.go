package postgres

import (
	"context"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

const manifestCols = `container_id, digest, media_type, body, subject, artifact_type, COALESCE(image_id, 0), created`

func scanManifest(row scanner) (*meta.Manifest, error) {
	var m meta.Manifest
	var created int64
	if err := row.Scan(&m.ContainerID, &m.Digest, &m.MediaType, &m.Body, &m.Subject, &m.ArtifactType, &m.ImageID, &created); err != nil {
		return nil, mapErr(err)
	}
	m.Created = fromTS(created)
	return &m, nil
}

// PutManifest stores a manifest, replacing a row of the same digest.
func (s *Store) PutManifest(ctx context.Context, m *meta.Manifest) error {
	if m.Created.IsZero() {
		m.Created = now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO oci_manifests (container_id, digest, media_type, body, subject, artifact_type, image_id, created)
		VALUES ($1,$2,$3,$4,$5,$6,NULLIF($7,0),$8)
		ON CONFLICT (container_id, digest) DO UPDATE SET media_type = excluded.media_type, body = excluded.body,
			subject = excluded.subject, artifact_type = excluded.artifact_type, image_id = excluded.image_id`,
		m.ContainerID, m.Digest, m.MediaType, m.Body, m.Subject, m.ArtifactType, m.ImageID, ts(m.Created))
	return mapErr(err)
}

// Manifest finds a container's manifest by digest.
func (s *Store) Manifest(ctx context.Context, containerID int64, digest string) (*meta.Manifest, error) {
	return scanManifest(s.pool.QueryRow(ctx, `SELECT `+manifestCols+` FROM oci_manifests WHERE container_id = $1 AND digest = $2`, containerID, digest))
}

// ManifestsForImage lists the manifests describing an image, newest first.
func (s *Store) ManifestsForImage(ctx context.Context, imageID int64) ([]meta.Manifest, error) {
	return query(ctx, s, scanManifest, `SELECT `+manifestCols+` FROM oci_manifests WHERE image_id = $1 ORDER BY created DESC, digest`, imageID)
}

// DeleteManifest removes a manifest and the OCI tags naming it.
func (s *Store) DeleteManifest(ctx context.Context, containerID int64, digest string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `DELETE FROM oci_manifests WHERE container_id = $1 AND digest = $2`, containerID, digest)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return meta.ErrNotFound
	}
	if _, err := tx.Exec(ctx, `DELETE FROM oci_tags WHERE container_id = $1 AND digest = $2`, containerID, digest); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Referrers lists a container's manifests whose subject is subject.
func (s *Store) Referrers(ctx context.Context, containerID int64, subject string) ([]meta.Manifest, error) {
	return query(ctx, s, scanManifest, `SELECT `+manifestCols+` FROM oci_manifests WHERE container_id = $1 AND subject = $2 ORDER BY created, digest`, containerID, subject)
}

func scanOCITag(row scanner) (*meta.OCITag, error) {
	var t meta.OCITag
	var updated int64
	if err := row.Scan(&t.ContainerID, &t.Name, &t.Digest, &updated); err != nil {
		return nil, mapErr(err)
	}
	t.Updated = fromTS(updated)
	return &t, nil
}

// SetOCITag points a tag at a digest.
func (s *Store) SetOCITag(ctx context.Context, t meta.OCITag) error {
	if t.Updated.IsZero() {
		t.Updated = now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO oci_tags (container_id, name, digest, updated) VALUES ($1,$2,$3,$4)
		ON CONFLICT (container_id, name) DO UPDATE SET digest = excluded.digest, updated = excluded.updated`,
		t.ContainerID, t.Name, t.Digest, ts(t.Updated))
	return mapErr(err)
}

// OCITag finds a tag.
func (s *Store) OCITag(ctx context.Context, containerID int64, name string) (*meta.OCITag, error) {
	return scanOCITag(s.pool.QueryRow(ctx, `SELECT container_id, name, digest, updated FROM oci_tags WHERE container_id = $1 AND name = $2`, containerID, name))
}

// OCITags lists a container's tags by name.
func (s *Store) OCITags(ctx context.Context, containerID int64) ([]meta.OCITag, error) {
	return query(ctx, s, scanOCITag, `SELECT container_id, name, digest, updated FROM oci_tags WHERE container_id = $1 ORDER BY name`, containerID)
}

// DeleteOCITag removes a tag.
func (s *Store) DeleteOCITag(ctx context.Context, containerID int64, name string) error {
	return s.exec(ctx, `DELETE FROM oci_tags WHERE container_id = $1 AND name = $2`, containerID, name)
}

// LinkBlob records a blob in a container.
func (s *Store) LinkBlob(ctx context.Context, l meta.BlobLink) error {
	if l.Created.IsZero() {
		l.Created = now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO oci_blobs (container_id, digest, key, size, created) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (container_id, digest) DO NOTHING`, l.ContainerID, l.Digest, l.Key, l.Size, ts(l.Created))
	return mapErr(err)
}

// BlobLink finds a blob linked to a container.
func (s *Store) BlobLink(ctx context.Context, containerID int64, digest string) (*meta.BlobLink, error) {
	var l meta.BlobLink
	var created int64
	err := s.pool.QueryRow(ctx, `SELECT container_id, digest, key, size, created FROM oci_blobs WHERE container_id = $1 AND digest = $2`,
		containerID, digest).Scan(&l.ContainerID, &l.Digest, &l.Key, &l.Size, &created)
	if err != nil {
		return nil, mapErr(err)
	}
	l.Created = fromTS(created)
	return &l, nil
}

// UnlinkBlob removes a blob from a container.
func (s *Store) UnlinkBlob(ctx context.Context, containerID int64, digest string) error {
	return s.exec(ctx, `DELETE FROM oci_blobs WHERE container_id = $1 AND digest = $2`, containerID, digest)
}

// KeyLinked reports whether any container links the stored bytes key.
func (s *Store) KeyLinked(ctx context.Context, key string) (bool, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM oci_blobs WHERE key = $1`, key).Scan(&n)
	return n > 0, err
}

const ociUploadCols = `id, container_id, size, hash_state, created_by, created, expires`

func scanOCIUpload(row scanner) (*meta.OCIUpload, error) {
	var u meta.OCIUpload
	var created, expires int64
	if err := row.Scan(&u.ID, &u.ContainerID, &u.Size, &u.HashState, &u.CreatedBy, &created, &expires); err != nil {
		return nil, mapErr(err)
	}
	u.Created, u.Expires = fromTS(created), fromTS(expires)
	return &u, nil
}

// CreateOCIUpload records an upload session.
func (s *Store) CreateOCIUpload(ctx context.Context, u *meta.OCIUpload) error {
	if u.Created.IsZero() {
		u.Created = now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO oci_uploads (`+ociUploadCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		u.ID, u.ContainerID, u.Size, u.HashState, u.CreatedBy, ts(u.Created), ts(u.Expires))
	return mapErr(err)
}

// OCIUpload finds an upload session.
func (s *Store) OCIUpload(ctx context.Context, id string) (*meta.OCIUpload, error) {
	return scanOCIUpload(s.pool.QueryRow(ctx, `SELECT `+ociUploadCols+` FROM oci_uploads WHERE id = $1`, id))
}

// AdvanceOCIUpload records a chunk if nobody appended first.
func (s *Store) AdvanceOCIUpload(ctx context.Context, id string, from, size int64, state []byte) error {
	return s.exec(ctx, `UPDATE oci_uploads SET size = $1, hash_state = $2 WHERE id = $3 AND size = $4`, size, state, id, from)
}

// DeleteOCIUpload forgets an upload session.
func (s *Store) DeleteOCIUpload(ctx context.Context, id string) error {
	return s.exec(ctx, `DELETE FROM oci_uploads WHERE id = $1`, id)
}

// ExpiredOCIUploads lists sessions that expired before now.
func (s *Store) ExpiredOCIUploads(ctx context.Context, at time.Time) ([]meta.OCIUpload, error) {
	return query(ctx, s, scanOCIUpload, `SELECT `+ociUploadCols+` FROM oci_uploads WHERE expires < $1`, ts(at))
}

package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// likeEscape makes s match literally inside a LIKE pattern.
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// Find returns uploaded images matching q, newest first, with their names and tags.
func (s *Store) Find(ctx context.Context, q meta.Query) ([]meta.ImageRecord, error) {
	var where []string
	var args []any
	where = append(where, `i.uploaded = 1`)
	if q.Entity != "" {
		where = append(where, `e.name = ?`)
		args = append(args, q.Entity)
	}
	if q.Collection != "" {
		where = append(where, `co.name = ?`)
		args = append(args, q.Collection)
	}
	if q.Container != "" {
		where = append(where, `c.name = ?`)
		args = append(args, q.Container)
	}
	if q.Arch != "" {
		where = append(where, `i.arch = ?`)
		args = append(args, q.Arch)
	}
	if q.SignedOnly {
		where = append(where, `i.signed = 1`)
	}
	if q.Text != "" {
		p := "%" + likeEscape(strings.ToLower(q.Text)) + "%"
		// Labels are searched value by value through json_each: matching the
		// stored JSON text would also match keys, quotes and braces, and miss
		// values json.Marshal escapes (<, >, &).
		where = append(where, `(lower(e.name) LIKE ? ESCAPE '\' OR lower(co.name) LIKE ? ESCAPE '\' OR lower(c.name) LIKE ? ESCAPE '\'
			OR lower(i.description) LIKE ? ESCAPE '\'
			OR EXISTS (SELECT 1 FROM json_each(i.labels) l WHERE lower(l.value) LIKE ? ESCAPE '\')
			OR EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id AND lower(t.name) LIKE ? ESCAPE '\'))`)
		args = append(args, p, p, p, p, p, p)
	}
	query := `SELECT ` + imageCols + `, e.name, co.name, c.name, co.private, c.frozen, e.owner_id, co.created_by, co.team_id, e.team_id
		FROM images i JOIN containers c ON c.id = i.container_id
		JOIN collections co ON co.id = c.collection_id
		JOIN entities e ON e.id = co.entity_id
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY i.updated DESC, i.id DESC`
	if q.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []meta.ImageRecord
	index := map[int64]int{}
	for rows.Next() {
		var r meta.ImageRecord
		im, err := scanImage(rows, &r.Entity, &r.Collection, &r.Container, &r.Private, &r.Frozen, &r.OwnerID, &r.CreatedBy, &r.TeamID, &r.EntityTeam)
		if err != nil {
			rows.Close()
			return nil, err
		}
		r.Image = *im
		index[im.ID] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	// Tags in a few queries, not one per image. Batched because SQLite
	// refuses a statement with more than 32766 parameters, and an unlimited
	// listing of a big registry has more images than that.
	const batch = 1000
	for start := 0; start < len(out); start += batch {
		part := out[start:min(start+batch, len(out))]
		ids := make([]string, 0, len(part))
		targs := make([]any, 0, len(part))
		for _, r := range part {
			ids = append(ids, "?")
			targs = append(targs, r.ID)
		}
		// Unprepared (s.db.DB, not the statement cache): the IN list makes
		// a text per result count, each used about once, which would fill
		// the cache and leave the store's fixed queries out of it.
		trows, err := s.db.DB.QueryContext(ctx, `SELECT container_id, arch, name, image_id, updated FROM tags WHERE image_id IN (`+strings.Join(ids, ",")+`) ORDER BY name`, targs...)
		if err != nil {
			return nil, err
		}
		tags, err := scanTags(trows)
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			r := &out[index[t.ImageID]]
			r.Tags = append(r.Tags, t)
		}
	}
	return out, nil
}

// Uploads.

const uploadCols = `id, image_id, size, part_size, total_parts, hashed, hash_state, created_by, created, expires`

func scanUpload(row interface{ Scan(...any) error }) (*meta.Upload, error) {
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
	_, err := s.insert(ctx, `INSERT INTO uploads (`+uploadCols+`) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		u.ID, u.ImageID, u.Size, u.PartSize, u.TotalParts, u.Hashed, u.HashState, u.CreatedBy, ts(u.Created), ts(u.Expires))
	return err
}

// Upload finds an upload session by id.
func (s *Store) Upload(ctx context.Context, id string) (*meta.Upload, error) {
	return scanUpload(s.db.QueryRowContext(ctx, `SELECT `+uploadCols+` FROM uploads WHERE id = ?`, id))
}

// AdvanceUpload moves the hashed prefix forward if nobody else did first.
func (s *Store) AdvanceUpload(ctx context.Context, id string, from, hashed int64, state []byte) error {
	return s.exec(ctx, `UPDATE uploads SET hashed = ?, hash_state = ? WHERE id = ? AND hashed = ?`, hashed, state, id, from)
}

// DeleteUpload forgets an upload session.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	return s.exec(ctx, `DELETE FROM uploads WHERE id = ?`, id)
}

// UploadsForImage lists an image's upload sessions, newest first.
func (s *Store) UploadsForImage(ctx context.Context, imageID int64) ([]meta.Upload, error) {
	return s.uploads(ctx, `SELECT `+uploadCols+` FROM uploads WHERE image_id = ? ORDER BY created DESC, id`, imageID)
}

// ExpiredUploads lists sessions whose expiry has passed.
func (s *Store) ExpiredUploads(ctx context.Context, at time.Time) ([]meta.Upload, error) {
	return s.uploads(ctx, `SELECT `+uploadCols+` FROM uploads WHERE expires < ?`, ts(at))
}

func (s *Store) uploads(ctx context.Context, query string, args ...any) ([]meta.Upload, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meta.Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// Setting returns a registry-wide value.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	return v, mapErr(err)
}

// SetSetting stores value under key, replacing any value.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// InitSetting stores value unless key is set, and returns the stored value.
func (s *Store) InitSetting(ctx context.Context, key, value string) (string, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", err
	}
	return s.Setting(ctx, key)
}

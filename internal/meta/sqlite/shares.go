package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

const shareCols = `id, hash, image_id, tag, created_by, created, expires, revoked, downloads, last_used`

func scanShare(row scanner) (*meta.Share, error) {
	var sh meta.Share
	var created, expires, used int64
	if err := row.Scan(&sh.ID, &sh.Hash, &sh.ImageID, &sh.Tag, &sh.CreatedBy, &created, &expires, &sh.Revoked, &sh.Downloads, &used); err != nil {
		return nil, mapErr(err)
	}
	sh.Created, sh.Expires, sh.LastUsed = fromTS(created), fromTS(expires), fromTS(used)
	return &sh, nil
}

// CreateShare inserts a share link and sets its ID and creation time.
func (s *Store) CreateShare(ctx context.Context, sh *meta.Share) error {
	if sh.Created.IsZero() {
		sh.Created = now()
	}
	id, err := s.insert(ctx, `INSERT INTO shares (hash, image_id, tag, created_by, created, expires, revoked) VALUES (?,?,?,?,?,?,?)`,
		sh.Hash, sh.ImageID, sh.Tag, sh.CreatedBy, ts(sh.Created), ts(sh.Expires), sh.Revoked)
	sh.ID = id
	return err
}

// ShareByHash finds a share link by the sha256 of its secret.
func (s *Store) ShareByHash(ctx context.Context, hash string) (*meta.Share, error) {
	return scanShare(s.db.QueryRowContext(ctx, `SELECT `+shareCols+` FROM shares WHERE hash = ?`, hash))
}

// Share finds a share link by id.
func (s *Store) Share(ctx context.Context, id int64) (*meta.Share, error) {
	return scanShare(s.db.QueryRowContext(ctx, `SELECT `+shareCols+` FROM shares WHERE id = ?`, id))
}

// Shares lists the links a user made, or all of them for createdBy 0.
func (s *Store) Shares(ctx context.Context, createdBy int64) ([]meta.Share, error) {
	q := `SELECT ` + shareCols + ` FROM shares`
	var args []any
	if createdBy != 0 {
		q += ` WHERE created_by = ?`
		args = append(args, createdBy)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created DESC, id DESC`, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scanShare)
}

// RevokeShare makes a link stop working; it stays listed.
func (s *Store) RevokeShare(ctx context.Context, id int64) error {
	return s.exec(ctx, `UPDATE shares SET revoked = 1 WHERE id = ?`, id)
}

// CountShareDownload counts one download through a link.
func (s *Store) CountShareDownload(ctx context.Context, id int64, at time.Time) error {
	return s.exec(ctx, `UPDATE shares SET downloads = downloads + 1, last_used = ? WHERE id = ?`, ts(at), id)
}

// AddAudit appends an event; a zero At is now.
func (s *Store) AddAudit(ctx context.Context, e *meta.AuditEvent) error {
	if e.At.IsZero() {
		e.At = now()
	}
	id, err := s.insert(ctx, `INSERT INTO audit (at, actor, action, target, remote, detail) VALUES (?,?,?,?,?,?)`,
		ts(e.At), e.Actor, e.Action, e.Target, e.Remote, e.Detail)
	e.ID = id
	return err
}

// Audit lists events matching q, newest first.
func (s *Store) Audit(ctx context.Context, q meta.AuditQuery) ([]meta.AuditEvent, error) {
	var where []string
	var args []any
	if q.Actor != "" {
		where = append(where, `actor = ?`)
		args = append(args, q.Actor)
	}
	if q.Action != "" {
		where = append(where, `action = ?`)
		args = append(args, q.Action)
	}
	if !q.Since.IsZero() {
		where = append(where, `at >= ?`)
		args = append(args, ts(q.Since))
	}
	query := `SELECT id, at, actor, action, target, remote, detail FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY at DESC, id DESC`
	if q.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, func(row scanner) (*meta.AuditEvent, error) {
		var e meta.AuditEvent
		var at int64
		if err := row.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Remote, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromTS(at)
		return &e, nil
	})
}

// Hit counts a request against key in the window starting at window. A
// newer window restarts the count; a hit for an older window than the one
// stored (a request that computed its window just before the boundary, or a
// node whose clock is behind) counts in the stored window rather than
// restarting it, or alternating old and new windows would keep the count
// near 1.
func (s *Store) Hit(ctx context.Context, key string, window time.Time) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO ratelimits (key, win, count) VALUES (?, ?, 1)
		ON CONFLICT (key) DO UPDATE SET count = CASE WHEN excluded.win > win THEN 1 ELSE count + 1 END, win = max(win, excluded.win)
		RETURNING count`, key, ts(window)).Scan(&n)
	return n, err
}

package postgres

import (
	"context"
	"fmt"
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
	id, err := s.insert(ctx, `INSERT INTO shares (hash, image_id, tag, created_by, created, expires, revoked)
		VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id`,
		sh.Hash, sh.ImageID, sh.Tag, sh.CreatedBy, ts(sh.Created), ts(sh.Expires), sh.Revoked)
	sh.ID = id
	return err
}

// ShareByHash finds a share link by the sha256 of its secret.
func (s *Store) ShareByHash(ctx context.Context, hash string) (*meta.Share, error) {
	return scanShare(s.pool.QueryRow(ctx, `SELECT `+shareCols+` FROM shares WHERE hash = $1`, hash))
}

// Share finds a share link by id.
func (s *Store) Share(ctx context.Context, id int64) (*meta.Share, error) {
	return scanShare(s.pool.QueryRow(ctx, `SELECT `+shareCols+` FROM shares WHERE id = $1`, id))
}

// Shares lists the links a user made, or all of them for createdBy 0.
func (s *Store) Shares(ctx context.Context, createdBy int64) ([]meta.Share, error) {
	q := `SELECT ` + shareCols + ` FROM shares`
	var args []any
	if createdBy != 0 {
		q += ` WHERE created_by = $1`
		args = append(args, createdBy)
	}
	return query(ctx, s, scanShare, q+` ORDER BY created DESC, id DESC`, args...)
}

// RevokeShare makes a link stop working; it stays listed.
func (s *Store) RevokeShare(ctx context.Context, id int64) error {
	return s.exec(ctx, `UPDATE shares SET revoked = true WHERE id = $1`, id)
}

// CountShareDownload counts one download through a link. The increment
// happens in the UPDATE, so concurrent downloads each count.
func (s *Store) CountShareDownload(ctx context.Context, id int64, at time.Time) error {
	return s.exec(ctx, `UPDATE shares SET downloads = downloads + 1, last_used = $1 WHERE id = $2`, ts(at), id)
}

// AddAudit appends an event; a zero At is now.
func (s *Store) AddAudit(ctx context.Context, e *meta.AuditEvent) error {
	if e.At.IsZero() {
		e.At = now()
	}
	id, err := s.insert(ctx, `INSERT INTO audit (at, actor, action, target, remote, detail) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`,
		ts(e.At), e.Actor, e.Action, e.Target, e.Remote, e.Detail)
	e.ID = id
	return err
}

// Audit lists events matching q, newest first.
func (s *Store) Audit(ctx context.Context, q meta.AuditQuery) ([]meta.AuditEvent, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Actor != "" {
		where = append(where, `actor = `+arg(q.Actor))
	}
	if q.Action != "" {
		where = append(where, `action = `+arg(q.Action))
	}
	if !q.Since.IsZero() {
		where = append(where, `at >= `+arg(ts(q.Since)))
	}
	sql := `SELECT id, at, actor, action, target, remote, detail FROM audit`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	sql += ` ORDER BY at DESC, id DESC`
	if q.Limit > 0 {
		sql += ` LIMIT ` + arg(q.Limit)
	}
	return query(ctx, s, func(row scanner) (*meta.AuditEvent, error) {
		var e meta.AuditEvent
		var at int64
		if err := row.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Remote, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromTS(at)
		return &e, nil
	}, sql, args...)
}

// Hit counts a request against key in the window starting at window. A
// newer window restarts the count; a hit for an older window than the one
// stored (a request that computed its window just before the boundary, or a
// node whose clock is behind) counts in the stored window rather than
// restarting it, or alternating old and new windows would keep the count
// near 1. It is one statement: ON CONFLICT DO UPDATE locks the row, so
// concurrent hits queue and each sees the count the one before it left.
func (s *Store) Hit(ctx context.Context, key string, window time.Time) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `INSERT INTO ratelimits AS r (key, win, hits) VALUES ($1, $2, 1)
		ON CONFLICT (key) DO UPDATE SET hits = CASE WHEN excluded.win > r.win THEN 1 ELSE r.hits + 1 END,
			win = GREATEST(r.win, excluded.win)
		RETURNING hits`, key, ts(window)).Scan(&n)
	return n, err
}

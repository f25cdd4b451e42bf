package sqlite

import (
	"context"

	"github.com/siloreg/silo/internal/meta"
)

// SetSregistrySecret stores a user's sealed sregistry secret, replacing any.
func (s *Store) SetSregistrySecret(ctx context.Context, sec *meta.SregistrySecret) error {
	if sec.Created.IsZero() {
		sec.Created = now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sregistry_secrets (user_id, sealed, created) VALUES (?,?,?)
		ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, created = excluded.created`,
		sec.UserID, sec.Sealed, ts(sec.Created))
	return mapErr(err)
}

// SregistrySecret returns a user's sealed sregistry secret.
func (s *Store) SregistrySecret(ctx context.Context, userID int64) (*meta.SregistrySecret, error) {
	sec := meta.SregistrySecret{UserID: userID}
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT sealed, created FROM sregistry_secrets WHERE user_id = ?`, userID).Scan(&sec.Sealed, &created)
	if err != nil {
		return nil, mapErr(err)
	}
	sec.Created = fromTS(created)
	return &sec, nil
}

// DeleteSregistrySecret removes a user's sregistry secret.
func (s *Store) DeleteSregistrySecret(ctx context.Context, userID int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sregistry_secrets WHERE user_id = ?`, userID)
	return mapErr(err)
}

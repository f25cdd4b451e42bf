package sqlite

import "context"

// SetStar stars or unstars a collection for a user.
func (s *Store) SetStar(ctx context.Context, userID, collectionID int64, on bool) error {
	q := `INSERT INTO stars (user_id, collection_id) VALUES (?,?) ON CONFLICT DO NOTHING`
	if !on {
		q = `DELETE FROM stars WHERE user_id = ? AND collection_id = ?`
	}
	// Not s.exec: touching no row is what a repeated star or unstar does.
	_, err := s.db.ExecContext(ctx, q, userID, collectionID)
	return mapErr(err)
}

// Stars counts a collection's stars and whether userID is among them.
func (s *Store) Stars(ctx context.Context, collectionID, userID int64) (int64, bool, error) {
	var n, mine int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(user_id = ?), 0) FROM stars WHERE collection_id = ?`,
		userID, collectionID).Scan(&n, &mine)
	return n, mine > 0, err
}

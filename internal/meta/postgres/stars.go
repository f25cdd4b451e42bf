package postgres

import "context"

// SetStar stars or unstars a collection for a user.
func (s *Store) SetStar(ctx context.Context, userID, collectionID int64, on bool) error {
	q := `INSERT INTO stars (user_id, collection_id) VALUES ($1,$2) ON CONFLICT DO NOTHING`
	if !on {
		q = `DELETE FROM stars WHERE user_id = $1 AND collection_id = $2`
	}
	// Not s.exec: touching no row is what a repeated star or unstar does.
	_, err := s.pool.Exec(ctx, q, userID, collectionID)
	return mapErr(err)
}

// Stars counts a collection's stars and whether userID is among them.
func (s *Store) Stars(ctx context.Context, collectionID, userID int64) (int64, bool, error) {
	var n, mine int64
	err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE user_id = $1) FROM stars WHERE collection_id = $2`,
		userID, collectionID).Scan(&n, &mine)
	return n, mine > 0, err
}

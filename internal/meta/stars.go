package meta

import "context"

// StarStore keeps stars: a user marking a collection they like or follow.
// A star is a (user, collection) pair; starring twice is one star.
type StarStore interface {
	// SetStar stars (on) or unstars a collection for a user. Either is a
	// no-op when already so.
	SetStar(ctx context.Context, userID, collectionID int64, on bool) error
	// Stars counts a collection's stars and says whether userID (0: nobody)
	// is among them.
	Stars(ctx context.Context, collectionID, userID int64) (count int64, starred bool, err error)
}

package meta

import (
	"context"
	"time"
)

// SregistrySecret is the key a user signs sregistry-cli requests with
// (SREGISTRY-HMAC-SHA256). The server must know the secret itself to check
// a signature, so unlike an API token it cannot be kept as a hash: the
// registry seals it (authenticated encryption under a key derived from the
// registry's signing key) and the store keeps only the sealed bytes.
type SregistrySecret struct {
	UserID  int64
	Sealed  []byte
	Created time.Time
}

// SregistryStore keeps the users' sealed sregistry secrets, one per user.
type SregistryStore interface {
	// SetSregistrySecret stores a user's sealed secret, replacing any previous one.
	SetSregistrySecret(ctx context.Context, s *SregistrySecret) error
	// SregistrySecret returns a user's sealed secret, ErrNotFound if none.
	SregistrySecret(ctx context.Context, userID int64) (*SregistrySecret, error)
	// DeleteSregistrySecret removes a user's secret; none is not an error.
	DeleteSregistrySecret(ctx context.Context, userID int64) error
}

package registry

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/meta"
)

// sregistryTokenName names the API token that mirrors a user's sregistry
// secret, so that "Authorization: Bearer <secret>" works as it did with
// sregistry's token authentication.
const sregistryTokenName = "sregistry"

// SregistryTimestampSkew is how far from the hour boundary a signature
// dated the neighbouring hour is still taken. sregistry-cli dates requests
// by the hour (YYYYmmddTHHZ) and sregistry wants exactly the current hour,
// which fails every request signed in the last seconds of an hour or by a
// client whose clock is a little off.
const SregistryTimestampSkew = 5 * time.Minute

// SregistryTimestamp formats t as sregistry-cli's generate_timestamp does.
func SregistryTimestamp(t time.Time) string { return t.UTC().Format("20060102T15Z") }

// SregistryRequest is a request signed as sregistry-cli signs them.
type SregistryRequest struct {
	Kind      string // what the signature says it is for: push, upload, pull, delete
	Want      string // what the endpoint needs
	User      string // from the credential (already base64-decoded)
	Timestamp string // from the credential
	Payload   string // what the server expects was signed
	Signature string // hex HMAC-SHA256 from the header
	Remote    string
}

func errSignature(format string, args ...any) error {
	return errf(Unauthorized, format, args...)
}

// VerifySregistry checks a signed request and returns its user as the
// actor. Every failure is Unauthorized, with a message that names the
// cause but never whether a secret matched for another user.
func (r *Registry) VerifySregistry(ctx context.Context, req SregistryRequest) (access.Actor, error) {
	if req.Kind != req.Want {
		return access.Anonymous, errSignature("signature is for %q, this request needs %q", req.Kind, req.Want)
	}
	if !r.freshTimestamp(req.Timestamp) {
		return access.Anonymous, errSignature("timestamp %q is not the current hour (%s): check the clock", req.Timestamp, SregistryTimestamp(r.now()))
	}
	// Unknown users and users without a secret cost an HMAC too, so that
	// the answer's timing does not tell them from wrong signatures.
	known := true
	// Silo's names are lower-case; sregistry's were not always, and the
	// client sends the name as it was there.
	u, err := r.meta.UserByName(ctx, strings.ToLower(req.User))
	if errors.Is(err, meta.ErrNotFound) {
		known = false
	} else if err != nil {
		return access.Anonymous, err
	}
	secret := "no secret: the signature cannot match"
	if known {
		s, err := r.sregistrySecret(ctx, u.ID)
		if errors.Is(err, meta.ErrNotFound) {
			known = false
		} else if err != nil {
			return access.Anonymous, err
		} else {
			secret = s
		}
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(req.Payload))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(req.Signature)) || !known {
		return access.Anonymous, errSignature("invalid credentials")
	}
	if u.Disabled {
		return access.Anonymous, errf(Forbidden, "account %q is disabled", u.Name)
	}
	teams, err := r.meta.UserTeams(ctx, u.ID)
	if err != nil {
		return access.Anonymous, err
	}
	return access.Actor{User: u, Teams: teams, Remote: req.Remote}, nil
}

// freshTimestamp accepts the current hour, and the neighbouring one within
// SregistryTimestampSkew of the boundary.
func (r *Registry) freshTimestamp(ts string) bool {
	now := r.now()
	for _, t := range []time.Time{now, now.Add(-SregistryTimestampSkew), now.Add(SregistryTimestampSkew)} {
		if ts == SregistryTimestamp(t) {
			return true
		}
	}
	return false
}

// sealer is the AEAD that seals sregistry secrets at rest.
func (r *Registry) sealer() (cipher.AEAD, error) {
	if len(r.cfg.SecretKey) != 32 {
		return nil, errors.New("registry: no key for sregistry secrets configured")
	}
	b, err := aes.NewCipher(r.cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal encrypts secret, binding it to the user so a sealed value copied to
// another user's row does not open.
func (r *Registry) seal(userID int64, secret string) ([]byte, error) {
	g, err := r.sealer()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.Seal(nonce, nonce, []byte(secret), sealAD(userID)), nil
}

func sealAD(userID int64) []byte {
	return fmt.Appendf(nil, "silo sregistry secret for user %d", userID)
}

func (r *Registry) sregistrySecret(ctx context.Context, userID int64) (string, error) {
	s, err := r.meta.SregistrySecret(ctx, userID)
	if err != nil {
		return "", err
	}
	g, err := r.sealer()
	if err != nil {
		return "", err
	}
	if len(s.Sealed) < g.NonceSize() {
		return "", fmt.Errorf("sregistry secret of user %d is damaged", userID)
	}
	n := g.NonceSize()
	plain, err := g.Open(nil, s.Sealed[:n], s.Sealed[n:], sealAD(userID))
	if err != nil {
		return "", fmt.Errorf("sregistry secret of user %d does not open (was the signing key changed?): %w", userID, err)
	}
	return string(plain), nil
}

// NewSregistrySecret makes a fresh secret, shaped like sregistry's tokens
// (40 hex digits), for the SetSregistrySecret of a new user.
func NewSregistrySecret() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// SetSregistrySecret gives a user the secret sregistry-cli signs with (the
// "token" of ~/.sregistry), replacing any previous one, and an API token
// with the same secret, so that Bearer authentication with it works too.
// Users set their own; admins and the operator anyone's.
func (r *Registry) SetSregistrySecret(ctx context.Context, a access.Actor, user, secret string) error {
	if !a.LoggedIn() {
		return mustLogIn(a, "set an sregistry secret")
	}
	if !fullAccess(a) {
		return errScoped(a)
	}
	if len(secret) < 20 {
		return errf(Invalid, "an sregistry secret must be at least 20 characters")
	}
	u := a.User
	if user != "" && user != a.User.Name {
		if !r.pol(ctx).CanManageUsers(a) {
			return errf(Forbidden, "%s may not set secrets for other accounts", a.Name())
		}
		var err error
		if u, err = r.meta.UserByName(ctx, user); errors.Is(err, meta.ErrNotFound) {
			return errf(NotFound, "no user %q", user)
		} else if err != nil {
			return err
		}
	} else if isOperator(a) {
		return errf(Invalid, "name the user the secret is for")
	}
	sealed, err := r.seal(u.ID, secret)
	if err != nil {
		return err
	}
	if err := r.meta.SetSregistrySecret(ctx, &meta.SregistrySecret{UserID: u.ID, Sealed: sealed}); err != nil {
		return err
	}
	// One mirror token: revoke earlier ones, keep this secret's if present.
	hash := auth.HashToken(secret)
	toks, err := r.meta.Tokens(ctx, u.ID)
	if err != nil {
		return err
	}
	have := false
	for _, t := range toks {
		switch {
		case t.Hash == hash && !t.Revoked:
			have = true
		case t.Name == sregistryTokenName && !t.Revoked:
			if err := r.meta.RevokeToken(ctx, t.ID); err != nil {
				return err
			}
		}
	}
	if !have {
		t := &meta.Token{UserID: u.ID, Name: sregistryTokenName, Hash: hash}
		if err := r.meta.CreateToken(ctx, t); err != nil && !errors.Is(err, meta.ErrConflict) {
			return err
		}
	}
	r.audit(ctx, a, "sregistry-secret", u.Name, "")
	return nil
}

// Package auth turns credentials into an access.Actor: API tokens (stored
// only as their sha256) carried as Bearer tokens or as the password of
// Basic auth. Accounts and tokens are created here too, so that the server
// and the offline `silo user` / `silo token` commands share one code path.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// ErrInvalidCredentials is returned for a token that is unknown, expired,
// or belongs to a disabled user. It never says which.
var ErrInvalidCredentials = errors.New("invalid or expired credentials")

// tokenPrefix marks Silo tokens so that secret scanners can spot them.
const tokenPrefix = "silo_"

// tokenRandomBytes is sized so that tokens are over 200 characters: the
// apptainer and singularity CLIs refuse shorter ones in `remote login
// --tokenfile`.
const tokenRandomBytes = 150

// NewToken returns a fresh random token secret.
func NewToken() (string, error) {
	b := make([]byte, tokenRandomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is what the store keeps of a secret.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Authenticator resolves credentials against the metadata store.
type Authenticator struct {
	Meta meta.Store
	Now  func() time.Time
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Token resolves a token secret. An empty secret is anonymous: the
// keyserver client sends "Bearer " with nothing after it when logged out.
func (a *Authenticator) Token(ctx context.Context, secret string) (access.Actor, error) {
	if secret == "" {
		return access.Anonymous, nil
	}
	t, err := a.Meta.TokenByHash(ctx, HashToken(secret))
	if errors.Is(err, meta.ErrNotFound) || (err == nil && !access.TokenValid(t, a.now())) {
		return access.Anonymous, ErrInvalidCredentials
	}
	if err != nil {
		return access.Anonymous, err
	}
	u, err := a.Meta.User(ctx, t.UserID)
	if errors.Is(err, meta.ErrNotFound) {
		return access.Anonymous, ErrInvalidCredentials
	}
	if err != nil {
		return access.Anonymous, err
	}
	if u.Disabled {
		return access.Anonymous, ErrInvalidCredentials
	}
	teams, err := a.Meta.UserTeams(ctx, u.ID)
	if err != nil {
		return access.Anonymous, err
	}
	a.touch(ctx, t)
	return access.Actor{User: u, Token: t, Teams: teams}, nil
}

// touchEvery is how stale a token's LastUsed may get. Recording every use
// would add a write to every request (and a push is many); once a minute
// is enough to tell a token in use from a forgotten one.
const touchEvery = time.Minute

// touch records that t was used. The stored LastUsed was just read with
// the token, so the check needs no memory of its own and holds across
// every server sharing the store; concurrent requests may both write,
// which is harmless.
func (a *Authenticator) touch(ctx context.Context, t *meta.Token) {
	now := a.now()
	if now.Sub(t.LastUsed) < touchEvery {
		return
	}
	// A failed write only leaves LastUsed older than it should be, which
	// is no reason to refuse the request; the store's next read would
	// report a real fault anyway.
	if err := a.Meta.TouchToken(context.WithoutCancel(ctx), t.ID, now); err == nil {
		t.LastUsed = now
	}
}

// Request resolves the Authorization header of r: "Bearer <token>" (any
// case of the scheme) or Basic with the token as the password. No header
// is anonymous.
func (a *Authenticator) Request(r *http.Request) (access.Actor, error) {
	act, err := a.request(r)
	act.Remote = Remote(r)
	return act, err
}

func (a *Authenticator) request(r *http.Request) (access.Actor, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return access.Anonymous, nil
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		return a.Token(r.Context(), strings.TrimSpace(rest))
	case "basic":
		_, pass, ok := r.BasicAuth()
		if !ok {
			return access.Anonymous, ErrInvalidCredentials
		}
		return a.Token(r.Context(), pass)
	}
	return access.Anonymous, ErrInvalidCredentials
}

// Remote is the client's address as this server sees it.
func Remote(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// CreateUser adds an account. Names follow the image-name rules because a
// user's name is also their entity.
func CreateUser(ctx context.Context, m meta.Store, name, email, role string) (*meta.User, error) {
	if err := ref.ValidName(name); err != nil {
		return nil, fmt.Errorf("user name: %w", err)
	}
	switch role {
	case "":
		role = meta.RoleUser
	case meta.RoleAdmin, meta.RoleManager, meta.RoleUser:
	default:
		return nil, fmt.Errorf("unknown role %q: use admin, manager or user", role)
	}
	u := &meta.User{Name: name, Email: email, Role: role}
	if err := m.CreateUser(ctx, u); err != nil {
		if errors.Is(err, meta.ErrConflict) {
			return nil, fmt.Errorf("user %q already exists", name)
		}
		return nil, err
	}
	return u, nil
}

// IssueToken creates a token for a user and returns its secret, which is
// not stored and cannot be shown again.
func IssueToken(ctx context.Context, m meta.Store, userName, tokenName string, expires time.Time) (string, error) {
	u, err := m.UserByName(ctx, userName)
	if errors.Is(err, meta.ErrNotFound) {
		return "", fmt.Errorf("no user %q (create it with `silo user add %s`)", userName, userName)
	}
	if err != nil {
		return "", err
	}
	secret, err := NewToken()
	if err != nil {
		return "", err
	}
	t := &meta.Token{UserID: u.ID, Name: tokenName, Hash: HashToken(secret), Expires: expires}
	if err := m.CreateToken(ctx, t); err != nil {
		return "", err
	}
	return secret, nil
}

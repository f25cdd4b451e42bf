package registry

import (
	"context"
	"errors"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/auth/provider"
	"github.com/siloreg/silo/internal/meta"
)

// ActorFor rebuilds the actor a short-lived OCI token was issued to: the
// user (still enabled) and, when an API token was used to get it, that
// token (still valid: revoking it ends its OCI tokens too).
func (r *Registry) ActorFor(ctx context.Context, userID int64, tokenHash, remote string) (access.Actor, error) {
	bad := errf(Unauthorized, "the token is no longer valid: log in again")
	u, err := r.meta.User(ctx, userID)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && u.Disabled) {
		return access.Anonymous, bad
	}
	if err != nil {
		return access.Anonymous, err
	}
	a := access.Actor{User: u, Remote: remote}
	if tokenHash != "" {
		t, err := r.meta.TokenByHash(ctx, tokenHash)
		if errors.Is(err, meta.ErrNotFound) || (err == nil && (t.UserID != u.ID || !access.TokenValid(t, r.now()))) {
			return access.Anonymous, bad
		}
		if err != nil {
			return access.Anonymous, err
		}
		a.Token = t
	}
	if a.Teams, err = r.meta.UserTeams(ctx, u.ID); err != nil {
		return access.Anonymous, err
	}
	return a, nil
}

// PasswordActor checks a user name and password, as OCI clients send them
// to the token endpoint, without issuing a stored token. People of an
// LDAP or PAM directory must have logged in once (`silo login --user`)
// so that their account and teams exist.
func (r *Registry) PasswordActor(ctx context.Context, username, password, remote string) (access.Actor, error) {
	l, err := r.passwords().Check(ctx, username, password)
	if err != nil {
		if ctx.Err() != nil {
			return access.Anonymous, ctx.Err()
		}
		switch {
		case errors.Is(err, provider.ErrBadCredentials):
			r.auditAs(ctx, auditName(username), remote, "login-failed", "", "wrong user name or password (OCI token)")
			return access.Anonymous, errf(Unauthorized, "invalid user name or password")
		case errors.Is(err, auth.ErrDisabled), errors.Is(err, provider.ErrAccountDenied):
			return access.Anonymous, errf(Unauthorized, "%s may not log in now", username)
		case errors.Is(err, auth.ErrProviderDown):
			return access.Anonymous, errf(Unavailable, "the password could not be checked: the authentication service is unreachable; try again later")
		}
		return access.Anonymous, err
	}
	if l.User == nil || l.User.ID == 0 {
		return access.Anonymous, errf(Unauthorized, "log in once with `silo login --user %s` first, or use an API token as the password", username)
	}
	return r.ActorFor(ctx, l.User.ID, "", remote)
}

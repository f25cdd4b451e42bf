package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/auth/provider"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// TokenInfo is an API token as listings show it: never its secret or hash.
type TokenInfo struct {
	ID       int64
	User     string
	Name     string
	Scopes   []string // empty: everything the user may do
	Created  time.Time
	Expires  time.Time // zero: never
	LastUsed time.Time // zero: never used (recorded to the minute)
	Revoked  bool
	Expired  bool
	Current  bool // the token the caller is using
}

// NewToken is a token just made, with its secret: the only time anyone
// sees it.
type NewToken struct {
	TokenInfo
	Secret string
}

// TokenSpec asks for a token.
type TokenSpec struct {
	// User is whose token it is: "" for the caller; another user's needs an admin.
	User   string
	Name   string
	Scopes []string      // read, push, admin; none: everything the user may do
	TTL    time.Duration // 0: never expires
}

func (r *Registry) tokenInfo(a access.Actor, user string, t *meta.Token) TokenInfo {
	return TokenInfo{
		ID: t.ID, User: user, Name: t.Name, Scopes: slices.Clone(t.Scopes), Created: t.Created,
		Expires: t.Expires, LastUsed: t.LastUsed, Revoked: t.Revoked,
		Expired: !t.Expires.IsZero() && !r.now().Before(t.Expires),
		Current: a.Token != nil && a.Token.ID == t.ID,
	}
}

// scopeOrder is the canonical order scopes are stored and shown in.
var scopeOrder = []string{access.ScopeRead, access.ScopePush, access.ScopeAdmin}

// checkScopes validates and orders requested scopes for a token of u.
func checkScopes(a access.Actor, u *meta.User, scopes []string) ([]string, error) {
	var out []string
	for _, s := range scopes {
		if !slices.Contains(scopeOrder, s) {
			return nil, errf(Invalid, "unknown scope %q: use read, push or admin", s)
		}
		if s == access.ScopeAdmin && !u.IsAdmin() {
			return nil, errf(Forbidden, "only admins' tokens may have the admin scope")
		}
		if !a.Has(s) {
			return nil, errf(Forbidden, "the token in use may not grant the %s scope", s)
		}
	}
	for _, s := range scopeOrder {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// checkTokenName keeps names short and printable: they show in listings
// and the audit log.
func checkTokenName(name string) error {
	if len(name) > maxTokenName || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return errf(Invalid, "a token name is up to %d printable characters", maxTokenName)
	}
	return nil
}

// CreateToken makes an API token and returns its secret, which is stored
// only as a hash and cannot be shown again.
func (r *Registry) CreateToken(ctx context.Context, a access.Actor, spec TokenSpec) (*NewToken, error) {
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "create tokens")
	}
	if !fullAccess(a) {
		return nil, errScoped(a)
	}
	u := a.User
	if spec.User != "" && spec.User != a.User.Name {
		if !r.pol(ctx).CanManageUsers(a) {
			return nil, errf(Forbidden, "%s may not create tokens for other accounts", a.Name())
		}
		var err error
		if u, err = r.meta.UserByName(ctx, spec.User); errors.Is(err, meta.ErrNotFound) {
			return nil, errf(NotFound, "no user %q (create it with `silo user add %s`)", spec.User, spec.User)
		} else if err != nil {
			return nil, err
		}
	} else if isOperator(a) {
		return nil, errf(Invalid, "name the user the token is for")
	}
	if u.Disabled {
		return nil, errf(Conflict, "account %q is disabled", u.Name)
	}
	name := strings.TrimSpace(spec.Name)
	if name == "" {
		name = "api"
	}
	if err := checkTokenName(name); err != nil {
		return nil, err
	}
	scopes, err := checkScopes(a, u, spec.Scopes)
	if err != nil {
		return nil, err
	}
	if spec.TTL < 0 {
		return nil, errf(Invalid, "a token's lifetime cannot be negative")
	}
	var expires time.Time
	if spec.TTL > 0 {
		expires = r.now().Add(spec.TTL)
	}
	nt, err := r.issue(ctx, u, name, scopes, expires)
	if err != nil {
		return nil, err
	}
	r.audit(ctx, a, "token-create", u.Name, describeToken(&nt.TokenInfo))
	return nt, nil
}

// issue stores a new token for u.
func (r *Registry) issue(ctx context.Context, u *meta.User, name string, scopes []string, expires time.Time) (*NewToken, error) {
	secret, err := auth.NewToken()
	if err != nil {
		return nil, err
	}
	t := &meta.Token{UserID: u.ID, Name: name, Hash: auth.HashToken(secret), Scopes: scopes, Expires: expires}
	if err := r.meta.CreateToken(ctx, t); err != nil {
		return nil, err
	}
	return &NewToken{TokenInfo: r.tokenInfo(access.Anonymous, u.Name, t), Secret: secret}, nil
}

// describeToken says which token an audit line is about, by id and name:
// never the secret.
func describeToken(t *TokenInfo) string {
	s := fmt.Sprintf("token %d %q", t.ID, t.Name)
	if len(t.Scopes) > 0 {
		s += ", scopes " + strings.Join(t.Scopes, ",")
	}
	if !t.Expires.IsZero() {
		s += ", expires " + t.Expires.UTC().Format(time.RFC3339)
	}
	return s
}

// ListTokens lists a user's tokens, newest first: the caller's own ("" or
// their name), or, for admins, anyone's.
func (r *Registry) ListTokens(ctx context.Context, a access.Actor, user string) ([]TokenInfo, error) {
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "list tokens")
	}
	u := a.User
	if user != "" && user != a.User.Name {
		if !r.pol(ctx).CanManageUsers(a) {
			return nil, errf(Forbidden, "%s may not list other accounts' tokens", a.Name())
		}
		var err error
		if u, err = r.meta.UserByName(ctx, user); err != nil {
			return nil, storeErr(err, fmt.Sprintf("user %q", user))
		}
	} else if isOperator(a) {
		return nil, errf(Invalid, "name the user whose tokens to list")
	}
	ts, err := r.meta.Tokens(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]TokenInfo, 0, len(ts))
	for i := range ts {
		out = append(out, r.tokenInfo(a, u.Name, &ts[i]))
	}
	return out, nil
}

// RevokeToken makes a token unusable at once: the caller's own, or, for
// admins, anyone's. Any token may revoke itself, whatever its scopes (a CI
// job cleaning up); revoking another needs full rights.
func (r *Registry) RevokeToken(ctx context.Context, a access.Actor, id int64) error {
	if !a.LoggedIn() {
		return mustLogIn(a, "revoke tokens")
	}
	self := a.Token != nil && a.Token.ID == id
	if !self && !fullAccess(a) {
		return errScoped(a)
	}
	owner, t, err := r.findToken(ctx, a, id)
	if err != nil {
		return err
	}
	if t.Revoked {
		return nil
	}
	if err := r.meta.RevokeToken(ctx, id); err != nil {
		return err
	}
	info := r.tokenInfo(a, owner, t)
	r.audit(ctx, a, "token-revoke", owner, describeToken(&info))
	return nil
}

// findToken finds token id among the caller's, or for admins anyone's.
// Others' tokens are "not found" to non-admins, so ids reveal nothing.
func (r *Registry) findToken(ctx context.Context, a access.Actor, id int64) (string, *meta.Token, error) {
	find := func(u *meta.User) (*meta.Token, error) {
		ts, err := r.meta.Tokens(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		for i := range ts {
			if ts[i].ID == id {
				return &ts[i], nil
			}
		}
		return nil, nil
	}
	if !isOperator(a) {
		if t, err := find(a.User); err != nil || t != nil {
			return a.User.Name, t, err
		}
	}
	if r.pol(ctx).CanManageUsers(a) {
		// The store finds tokens by hash or by user, not by id; revoking
		// someone else's is rare enough to look through every user.
		us, err := r.meta.Users(ctx)
		if err != nil {
			return "", nil, err
		}
		for i := range us {
			if t, err := find(&us[i]); err != nil || t != nil {
				return us[i].Name, t, err
			}
		}
	}
	return "", nil, errf(NotFound, "token %d not found", id)
}

// LoginResult is a successful password login: a new token for the account.
type LoginResult struct {
	Token   NewToken
	Account Account
	// Groups are the provider's groups for the person (none for a local
	// account), as it named them; the login has mapped them to teams
	// already.
	Groups []string
}

// passwords is the password checker: local accounts, then the configured
// providers in order.
func (r *Registry) passwords() *auth.Passwords {
	return &auth.Passwords{Meta: r.meta, Providers: r.providers(), NameFree: r.nameFree, Log: r.log}
}

// Login checks a user name and password and returns a new token, named
// after the login and valid for LoginTokenTTL. For a provider's account it
// first brings the team memberships the provider's groups grant up to date
// (see providers.go). Both outcomes are audited, with remote as the
// address; the password never is.
func (r *Registry) Login(ctx context.Context, username, password, remote string) (*LoginResult, error) {
	return r.login(ctx, username, password, remote, apiLogin)
}

// login is Login issuing the token lt describes.
func (r *Registry) login(ctx context.Context, username, password, remote string, lt loginToken) (*LoginResult, error) {
	l, err := r.passwords().Check(ctx, username, password)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		who := auditName(username)
		switch {
		case errors.Is(err, provider.ErrBadCredentials):
			r.auditAs(ctx, who, remote, "login-failed", "", "wrong user name or password")
			return nil, errf(Unauthorized, "invalid user name or password")
		case errors.Is(err, auth.ErrDisabled):
			r.auditAs(ctx, who, remote, "login-failed", "", "account disabled")
			return nil, errf(Forbidden, "account %q is disabled", username)
		case errors.Is(err, provider.ErrAccountDenied):
			r.auditAs(ctx, who, remote, "login-failed", "", "refused by the provider: "+err.Error())
			return nil, errf(Forbidden, "%s may not log in now: %v", username, err)
		}
		r.auditAs(ctx, who, remote, "login-failed", "", "the password could not be checked")
		if errors.Is(err, auth.ErrProviderDown) {
			r.log.Error("login", "user", who, "err", err)
			return nil, errf(Unavailable, "the password could not be checked: the authentication service is unreachable; try again later")
		}
		return nil, fmt.Errorf("checking the password of %q: %w", who, err)
	}
	u := l.User
	how := "local password"
	if l.Identity != nil {
		how = l.Identity.Provider + " password"
	} else if auth.NeedsRehash(u.PasswordHash) {
		// The password is at hand only now: bring an old hash up to
		// today's parameters. Failing to is no reason to refuse the login.
		if h, err := auth.HashPassword(ctx, password); err == nil {
			u.PasswordHash = h
			if err := r.meta.UpdateUser(ctx, u); err != nil {
				r.log.Warn("re-hashing a password", "user", u.Name, "err", err)
			}
		}
	}
	return r.finishLogin(ctx, u, l.Identity, remote, how, lt)
}

// auditName is how a typed user name appears in the audit log: as typed
// when it is a valid name, otherwise made valid, so that whatever was
// typed cannot forge or break log lines.
func auditName(typed string) string {
	if ref.ValidName(typed) == nil {
		return typed
	}
	if s := provider.Username(typed); s != "" {
		return s
	}
	return "(none)"
}

// auditAs records an event by a name rather than an actor: the person
// logging in is nobody until the password is checked.
func (r *Registry) auditAs(ctx context.Context, name, remote, action, target, detail string) {
	e := &meta.AuditEvent{At: r.now(), Actor: name, Action: action, Target: target, Remote: remote, Detail: detail}
	if err := r.meta.AddAudit(context.WithoutCancel(ctx), e); err != nil {
		r.log.Error("writing the audit log", "action", action, "err", err)
	}
}

// RecordLogin audits a credential check made by a protocol rather than
// Login: `apptainer remote login` checks its token with /v1/token-status.
func (r *Registry) RecordLogin(ctx context.Context, a access.Actor, how string) {
	if a.Token != nil {
		how += fmt.Sprintf(", token %d %q", a.Token.ID, a.Token.Name)
	}
	r.audit(ctx, a, "login", "", how)
}

// RecordLoginFailure audits a request refused for bad credentials (an
// unknown, expired or revoked token, a disabled account); what names the
// request, e.g. "GET /v1/images/...". Who is unknown: the credentials
// named nobody that may log in.
func (r *Registry) RecordLoginFailure(ctx context.Context, remote, what string) {
	if len(what) > 300 {
		what = what[:300] + "…"
	}
	r.auditAs(ctx, "anonymous", remote, "login-failed", what, "invalid, expired or revoked credentials")
}

// AuditLog returns audit events matching q, newest first; admins only.
// Limit 0 is DefaultAuditLimit; more than MaxAuditLimit is refused.
func (r *Registry) AuditLog(ctx context.Context, a access.Actor, q meta.AuditQuery) ([]meta.AuditEvent, error) {
	if !r.pol(ctx).CanManageUsers(a) {
		return nil, r.denied(a, "read the audit log")
	}
	switch {
	case q.Limit < 0 || q.Limit > MaxAuditLimit:
		return nil, errf(Invalid, "limit must be between 1 and %d", MaxAuditLimit)
	case q.Limit == 0:
		q.Limit = DefaultAuditLimit
	}
	return r.meta.Audit(ctx, q)
}

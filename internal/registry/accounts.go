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
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// Accounts: users, passwords, API tokens, password logins and the audit
// log. The rules:
//   - admins create, list and change accounts; a user may change their own
//     e-mail address and password (the latter only with the current one);
//   - account changes, token creation and revoking other tokens need a
//     token with full rights (no scopes, or admin): a read or push token
//     lost from a CI job must not be able to mint a replacement that
//     outlives its revocation;
//   - a token's scopes are at most what its user may do: only admins get
//     the admin scope;
//   - every change, login and failed login is written to the audit log,
//     which never holds a password or a token.

// LoginTokenTTL is how long the token a password login returns works.
const LoginTokenTTL = 30 * 24 * time.Hour

// Audit log query bounds: a page people read, and a cap that keeps one
// request from reading the whole table into memory.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 10000
)

const maxTokenName = 100

// Account is a user as the registry shows it: everything but the
// password hash.
type Account struct {
	Name        string
	Email       string
	Role        string
	Disabled    bool
	Source      string // "local" or the provider that made it
	Subject     string // the provider's id for the person
	QuotaBytes  int64
	HasPassword bool
	Created     time.Time
	Teams       []string // the teams' names; filled by Me only
}

func account(u *meta.User) Account {
	return Account{
		Name: u.Name, Email: u.Email, Role: u.Role, Disabled: u.Disabled, Source: u.Source,
		Subject: u.Subject, QuotaBytes: u.QuotaBytes, HasPassword: u.PasswordHash != "", Created: u.Created,
	}
}

// Operator is the person running an offline command (`silo user add`,
// `silo token create USER`) on the data directory: an admin, since they
// can read the database anyway. who (their login on the machine) names
// them in the audit log as "local:<who>", which no account can be called.
func Operator(who string) access.Actor {
	return access.Actor{User: &meta.User{Name: "local:" + who, Role: meta.RoleAdmin}, Remote: "local"}
}

// isOperator reports whether a is Operator: no account behind it.
func isOperator(a access.Actor) bool { return a.User != nil && a.User.ID == 0 }

// fullAccess reports whether a's token (if any) carries all its user's
// rights, as account changes require.
func fullAccess(a access.Actor) bool { return a.Has(access.ScopeAdmin) }

func errScoped(a access.Actor) error {
	return errf(Forbidden, "the token in use has scopes %s, which do not allow account changes: use a token without scopes (silo login)",
		strings.Join(a.Token.Scopes, ","))
}

// NewUser is what an admin gives to create an account.
type NewUser struct {
	Name     string
	Email    string
	Role     string // default user
	Password string // optional: without one, the account logs in with tokens only
}

// CreateUser creates an account; admins only.
func (r *Registry) CreateUser(ctx context.Context, a access.Actor, nu NewUser) (*Account, error) {
	if !r.pol(ctx).CanManageUsers(a) {
		return nil, r.denied(a, "create accounts")
	}
	if err := ref.ValidName(nu.Name); err != nil {
		return nil, errf(Invalid, "user name: %v", err)
	}
	role, err := checkRole(nu.Role)
	if err != nil {
		return nil, err
	}
	if err := checkEmail(nu.Email); err != nil {
		return nil, err
	}
	if free, err := r.nameFree(ctx, nu.Name); err != nil {
		return nil, err
	} else if !free {
		return nil, errf(Conflict, "the name %q is taken by a team or an entity: choose another", nu.Name)
	}
	u := &meta.User{Name: nu.Name, Email: nu.Email, Role: role, Source: "local"}
	if nu.Password != "" {
		if u.PasswordHash, err = r.hashPassword(ctx, nu.Password); err != nil {
			return nil, err
		}
	}
	if err := r.meta.CreateUser(ctx, u); err != nil {
		if errors.Is(err, meta.ErrConflict) {
			return nil, errf(Conflict, "user %q already exists", nu.Name)
		}
		return nil, err
	}
	detail := "role " + role
	if u.PasswordHash != "" {
		detail += ", with a password"
	}
	r.audit(ctx, a, "user-create", u.Name, detail)
	acc := account(u)
	return &acc, nil
}

func checkRole(role string) (string, error) {
	switch role {
	case "":
		return meta.RoleUser, nil
	case meta.RoleAdmin, meta.RoleManager, meta.RoleUser:
		return role, nil
	}
	return "", errf(Invalid, "unknown role %q: use admin, manager or user", role)
}

// checkEmail accepts "" (none) or something shaped like an address; the
// address is not verified, only kept from holding what would break a
// listing or a log line.
func checkEmail(s string) error {
	local, domain, ok := strings.Cut(s, "@")
	switch {
	case s == "":
		return nil
	case len(s) > 254 || !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
		strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return errf(Invalid, "%q is not an e-mail address", s)
	}
	return nil
}

// nameFree reports whether a new account may be called name. A user's
// name is also their entity, so it must not be the shared entity, a
// team's, or an entity that exists already (which the new user would not
// own, and could not push to).
func (r *Registry) nameFree(ctx context.Context, name string) (bool, error) {
	if name == r.cfg.Defaults.Entity {
		return false, nil
	}
	for _, lookup := range []func() error{
		func() error { _, err := r.meta.TeamByName(ctx, name); return err },
		func() error { _, err := r.meta.EntityByName(ctx, name); return err },
	} {
		switch err := lookup(); {
		case err == nil:
			return false, nil
		case !errors.Is(err, meta.ErrNotFound):
			return false, err
		}
	}
	return true, nil
}

func (r *Registry) hashPassword(ctx context.Context, password string) (string, error) {
	if err := auth.CheckPasswordPolicy(password); err != nil {
		return "", errf(Invalid, "%v", err)
	}
	return auth.HashPassword(ctx, password)
}

// ListUsers lists every account by name; admins only.
func (r *Registry) ListUsers(ctx context.Context, a access.Actor) ([]Account, error) {
	if !r.pol(ctx).CanManageUsers(a) {
		return nil, r.denied(a, "list accounts")
	}
	us, err := r.meta.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(us))
	for i := range us {
		out = append(out, account(&us[i]))
	}
	return out, nil
}

// Me returns the caller's own account, with their teams.
func (r *Registry) Me(ctx context.Context, a access.Actor) (*Account, error) {
	if !a.LoggedIn() || isOperator(a) {
		return nil, mustLogIn(a, "see your account")
	}
	acc := account(a.User)
	acc.Teams = []string{}
	for _, m := range a.Teams {
		t, err := r.meta.Team(ctx, m.TeamID)
		if errors.Is(err, meta.ErrNotFound) {
			continue // removed since the request began
		}
		if err != nil {
			return nil, err
		}
		acc.Teams = append(acc.Teams, t.Name)
	}
	slices.Sort(acc.Teams)
	return &acc, nil
}

// UserChange says what to change in an account; nil fields stay.
type UserChange struct {
	Role       *string // admins only
	Disabled   *bool   // admins only
	QuotaBytes *int64  // admins only; 0: the registry default
	Email      *string
	Password   *string
	// OldPassword is required when users change their own password (if
	// they have one): a stolen token alone must not be enough to take
	// over the account's password.
	OldPassword *string
}

// UpdateUser changes an account: admins anything, users their own e-mail
// address and password. A registry always keeps one enabled admin.
func (r *Registry) UpdateUser(ctx context.Context, a access.Actor, name string, ch UserChange) (*Account, error) {
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "change accounts")
	}
	admin := r.pol(ctx).CanManageUsers(a)
	self := !isOperator(a) && a.User.Name == name
	if !admin && !self {
		// The same answer whether the account exists or not.
		return nil, errf(Forbidden, "%s may not change other accounts", a.Name())
	}
	if !fullAccess(a) {
		return nil, errScoped(a)
	}
	if !admin && (ch.Role != nil || ch.Disabled != nil || ch.QuotaBytes != nil) {
		return nil, errf(Forbidden, "only admins may change roles, quotas or whether an account is disabled")
	}
	u, err := r.meta.UserByName(ctx, name)
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("user %q", name))
	}
	var changes []string
	if ch.Email != nil && *ch.Email != u.Email {
		if err := checkEmail(*ch.Email); err != nil {
			return nil, err
		}
		u.Email = *ch.Email
		changes = append(changes, "email")
	}
	if ch.QuotaBytes != nil && *ch.QuotaBytes != u.QuotaBytes {
		if *ch.QuotaBytes < 0 {
			return nil, errf(Invalid, "a quota cannot be negative")
		}
		u.QuotaBytes = *ch.QuotaBytes
		changes = append(changes, fmt.Sprintf("quota %d bytes", u.QuotaBytes))
	}
	wasAdmin := u.Role == meta.RoleAdmin && !u.Disabled
	if ch.Role != nil && *ch.Role != u.Role {
		role, err := checkRole(*ch.Role)
		if err != nil {
			return nil, err
		}
		changes = append(changes, "role "+u.Role+" → "+role)
		u.Role = role
	}
	toggled := ch.Disabled != nil && *ch.Disabled != u.Disabled
	if toggled {
		u.Disabled = *ch.Disabled
	}
	if wasAdmin && (u.Role != meta.RoleAdmin || u.Disabled) {
		if err := r.keepAnAdmin(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	newPassword := ch.Password != nil
	if newPassword {
		if err := r.checkPasswordChange(ctx, a, u, self, ch.OldPassword); err != nil {
			return nil, err
		}
		if u.PasswordHash, err = r.hashPassword(ctx, *ch.Password); err != nil {
			return nil, err
		}
	}
	if len(changes) == 0 && !toggled && !newPassword {
		acc := account(u)
		return &acc, nil
	}
	if err := r.meta.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	if len(changes) > 0 {
		r.audit(ctx, a, "user-update", u.Name, strings.Join(changes, ", "))
	}
	if toggled {
		action := "user-enable"
		if u.Disabled {
			// Its tokens stop working at once: every request reads the
			// account afresh, and disabled accounts are refused there.
			action = "user-disable"
		}
		r.audit(ctx, a, action, u.Name, "")
	}
	if newPassword {
		r.audit(ctx, a, "password", u.Name, "password changed")
	}
	acc := account(u)
	return &acc, nil
}

// checkPasswordChange checks a may set u's password.
func (r *Registry) checkPasswordChange(ctx context.Context, a access.Actor, u *meta.User, self bool, old *string) error {
	if u.Source != "local" {
		return errf(Invalid, "%s logs in through %s: change the password there", u.Name, u.Source)
	}
	if !self || u.PasswordHash == "" {
		return nil
	}
	if old == nil || *old == "" {
		return errf(Invalid, "give your current password to change it")
	}
	ok, err := auth.CheckPassword(ctx, u.PasswordHash, *old)
	if err != nil {
		return err
	}
	if !ok {
		// Someone holding a token may be guessing: this is an audited
		// failure like a failed login.
		r.audit(ctx, a, "login-failed", u.Name, "wrong current password when changing it")
		return errf(Forbidden, "the current password is wrong")
	}
	return nil
}

// keepAnAdmin refuses to demote or disable the last enabled admin but
// the one with id, which would leave nobody able to manage the registry
// from the API.
func (r *Registry) keepAnAdmin(ctx context.Context, id int64) error {
	us, err := r.meta.Users(ctx)
	if err != nil {
		return err
	}
	for _, u := range us {
		if u.ID != id && u.Role == meta.RoleAdmin && !u.Disabled {
			return nil
		}
	}
	return errf(Conflict, "this is the last enabled admin: make another account admin first")
}

// SetPassword sets name's password: users their own (with the current
// one, if they have one), admins anyone's.
func (r *Registry) SetPassword(ctx context.Context, a access.Actor, name, old, password string) error {
	ch := UserChange{Password: &password}
	if old != "" {
		ch.OldPassword = &old
	}
	_, err := r.UpdateUser(ctx, a, name, ch)
	return err
}

// Disable stops an account from logging in or using its tokens; admins only.
func (r *Registry) Disable(ctx context.Context, a access.Actor, name string) error {
	t := true
	_, err := r.UpdateUser(ctx, a, name, UserChange{Disabled: &t})
	return err
}

// Enable lets a disabled account log in again; admins only.
func (r *Registry) Enable(ctx context.Context, a access.Actor, name string) error {
	f := false
	_, err := r.UpdateUser(ctx, a, name, UserChange{Disabled: &f})
	return err
}

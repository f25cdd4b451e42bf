// Package provider holds what every external authentication provider (LDAP,
// PAM, OIDC) shares: the Identity a provider vouches for, the errors callers
// must tell apart, and the mapping from a provider's user name to a Silo
// name. It lives apart from the providers so that the server can depend on
// these types without compiling in LDAP, cgo PAM or OIDC code it does not use.
package provider

import (
	"context"
	"errors"
	"strings"

	"github.com/siloreg/silo/internal/ref"
)

// Identity is who a provider says the person is. Silo decides what to do
// with it (create or link an account, map groups to teams); providers only
// vouch for it.
type Identity struct {
	// Provider names the provider: "ldap", "pam" or "oidc:<name>".
	Provider string
	// Subject is the person's stable id at the provider (LDAP DN, PAM user,
	// OIDC "sub"). Accounts are linked on (Provider, Subject) because user
	// names and e-mail addresses can be changed or reused at the provider.
	Subject string
	// Username is the proposed Silo user name, already made valid with
	// Username; it may be empty when nothing usable was found.
	Username string
	// Email is set only when the provider vouches for it.
	Email string
	// Name is the display name.
	Name string
	// Groups are the provider's group names (LDAP groups, OIDC "groups"
	// claim), unmapped: Silo maps them to teams.
	Groups []string
}

// ErrBadCredentials means a wrong user name or password. It never says
// which, so that a login form cannot be used to find out who has an account.
var ErrBadCredentials = errors.New("invalid user name or password")

// ErrAccountDenied means the credentials were right but the provider will not
// let the account log in now (expired, locked, or a password change is
// required). It is distinct from ErrBadCredentials so that the server can
// answer 403 instead of 401, and distinct from other errors, which mean the
// provider itself failed (down, misconfigured) and should be logged.
var ErrAccountDenied = errors.New("account may not log in")

// PasswordProvider checks a user name and password (LDAP, PAM).
type PasswordProvider interface {
	// Name is the provider's name as in Identity.Provider.
	Name() string
	// Authenticate returns the identity of the user, ErrBadCredentials for
	// a wrong user name or password, ErrAccountDenied for an account that
	// may not log in, or another error when the provider could not answer.
	Authenticate(ctx context.Context, username, password string) (*Identity, error)
}

// Username turns a provider's user name (or e-mail address, or display name)
// into a valid Silo name: lower-case [a-z0-9] runs joined by one of ". _ -".
// Any other character becomes a "-" separator, separators are never doubled
// or at the ends, and the result is cut to ref.MaxNameLen. It returns "" when
// nothing usable remains, for the caller to ask the person for a name.
//
// Characters outside ASCII are dropped rather than transliterated: guessing
// ("é" → "e") would make two distinct provider names collide silently, and
// Silo has to handle collisions anyway when it creates the account.
func Username(s string) string {
	var b strings.Builder
	pendingSep := byte(0)
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if pendingSep != 0 && b.Len() > 0 {
				b.WriteByte(pendingSep)
			}
			pendingSep = 0
			b.WriteRune(r)
		case r == '.' || r == '_' || r == '-':
			if pendingSep == 0 {
				pendingSep = byte(r)
			}
		default:
			if pendingSep == 0 {
				pendingSep = '-'
			}
		}
	}
	out := b.String()
	if len(out) > ref.MaxNameLen {
		out = strings.TrimRight(out[:ref.MaxNameLen], "._-")
	}
	if ref.ValidName(out) != nil {
		// Unreachable by construction; the check keeps this function and
		// the naming rules in internal/ref from drifting apart unnoticed.
		return ""
	}
	return out
}

package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/siloreg/silo/internal/auth/provider"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// Password hashing is argon2id (RFC 9106), chosen over bcrypt because it is
// memory-hard (a GPU or ASIC attacker pays for memory, not only for
// cycles), has no 72-byte password limit, and is the first choice of both
// RFC 9106 and OWASP. The parameters are RFC 9106's second recommended
// option, the one for machines that cannot spare 2 GiB per hash: 64 MiB,
// 3 passes, 4 lanes. On a 2-core server one hash takes about 85 ms, slow
// enough to make guessing expensive and fast enough for a login. They are
// recorded in every hash, so raising them later leaves old hashes valid
// (NeedsRehash tells when to re-hash on the next successful login).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 4
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password length limits. The minimum is NIST SP 800-63B's; the maximum
// only bounds the work a request can ask for, and is far above any
// passphrase a person types.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// hashSlots bounds how many hashes run at once. Each holds 64 MiB, so a
// burst of logins queues here instead of exhausting the server's memory;
// one hash already keeps a core busy per lane, so more at once would not
// finish sooner.
var hashSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// ErrMalformedHash is returned for a stored hash that is not an argon2id
// string this package can check. It is a fault of the store, not of the
// person logging in.
var ErrMalformedHash = errors.New("stored password hash is not argon2id")

// CheckPasswordPolicy says what is wrong with a new password, if anything.
func CheckPasswordPolicy(password string) error {
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordLen:
		return fmt.Errorf("the password is too short: use at least %d characters", MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("the password is too long: at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// argonParams are the cost parameters of one hash.
type argonParams struct {
	time, memory uint32
	threads      uint8
}

// derive runs argon2id, waiting for a free slot first; ctx ends the wait
// (a client that gave up), not a hash already running.
func derive(ctx context.Context, password string, salt []byte, p argonParams, keyLen uint32) ([]byte, error) {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-hashSlots }()
	return argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, keyLen), nil
}

// HashPassword returns the argon2id hash of password in the PHC string
// format ($argon2id$v=19$m=...,t=...,p=...$salt$key, unpadded base64) that
// the reference implementation, libsodium and most languages' libraries
// read, so that accounts can be moved in and out of Silo.
func HashPassword(ctx context.Context, password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := argonParams{time: argonTime, memory: argonMemory, threads: argonThreads}
	key, err := derive(ctx, password, salt, p, argonKeyLen)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// parseHash splits a PHC argon2id string.
func parseHash(hash string) (p argonParams, salt, key []byte, err error) {
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: version %q", ErrMalformedHash, parts[2])
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil ||
		p.time == 0 || threads == 0 || threads > 255 || p.memory < 8*threads || p.memory > 1<<20 {
		// The bounds refuse a damaged row that would make every login
		// allocate gigabytes or divide by nothing.
		return p, nil, nil, fmt.Errorf("%w: parameters %q", ErrMalformedHash, parts[3])
	}
	p.threads = uint8(threads)
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: salt", ErrMalformedHash)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("%w: key", ErrMalformedHash)
	}
	return p, salt, key, nil
}

// CheckPassword reports whether password matches hash. The derived keys
// are compared in constant time, so the time taken says nothing about how
// much of a guess was right. A hash it cannot read is ErrMalformedHash.
func CheckPassword(ctx context.Context, hash, password string) (bool, error) {
	p, salt, want, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got, err := derive(ctx, password, salt, p, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether hash was made with weaker parameters than
// HashPassword uses now.
func NeedsRehash(hash string) bool {
	p, _, key, err := parseHash(hash)
	return err != nil || p.time < argonTime || p.memory < argonMemory || len(key) < argonKeyLen
}

// dummyHash is checked against when there is no account to check, so that
// a login for a name that does not exist takes as long as a wrong password
// and the time taken does not tell who has an account.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword(context.Background(), "no account has this password")
	if err != nil {
		panic("auth: hashing the dummy password: " + err.Error())
	}
	return h
})

// ErrProviderDown is wrapped in the error of a login that failed because
// a provider could not be asked (an unreachable directory), not because
// the password was wrong.
var ErrProviderDown = errors.New("authentication provider unavailable")

// Passwords checks user names and passwords: Silo's own (local) accounts
// first, then each provider in order. A local account with a password is
// the only judge of its name: a wrong password for it is refused without
// asking the providers, or a directory user who shares the name could log
// in as the local account.
type Passwords struct {
	Meta      meta.Store
	Providers []provider.PasswordProvider
	// NameFree, if set, tells whether a name may be given to a new account
	// made for a provider's user (it is not a team's or the shared entity's,
	// say). Taken names get a numbered suffix.
	NameFree func(ctx context.Context, name string) (bool, error)
	Log      *slog.Logger
}

// Login is a successful password check.
type Login struct {
	User *meta.User
	// Identity is what the provider said, nil for a local account. Its
	// Groups are for the caller to map to teams.
	Identity *provider.Identity
}

// ErrDisabled is returned for the right password of a disabled account.
var ErrDisabled = errors.New("account is disabled")

// Check returns the account username and password log in to. It returns
// provider.ErrBadCredentials for a wrong name or password (never saying
// which), provider.ErrAccountDenied when a provider refuses a known
// account, ErrDisabled for a disabled account, and any other error when
// no provider could answer.
func (p *Passwords) Check(ctx context.Context, username, password string) (*Login, error) {
	if username == "" || password == "" || len(password) > MaxPasswordLen {
		// An empty password is refused here, before any provider sees it:
		// many LDAP servers treat a bind with no password as an anonymous
		// bind, and answer "success".
		return nil, provider.ErrBadCredentials
	}
	u, err := p.Meta.UserByName(ctx, username)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	if u != nil && u.Source == "local" && u.PasswordHash != "" {
		ok, err := CheckPassword(ctx, u.PasswordHash, password)
		if err != nil {
			return nil, fmt.Errorf("checking %s's password: %w", u.Name, err)
		}
		if !ok {
			return nil, provider.ErrBadCredentials
		}
		if u.Disabled {
			return nil, ErrDisabled
		}
		return &Login{User: u}, nil
	}
	if len(p.Providers) == 0 {
		// Nothing will check this guess: spend the time a check would.
		if _, err := CheckPassword(ctx, dummyHash(), password); err != nil {
			return nil, err
		}
		return nil, provider.ErrBadCredentials
	}
	var failed error
	for _, pp := range p.Providers {
		id, err := pp.Authenticate(ctx, username, password)
		switch {
		case err == nil:
			u, err := UserFromIdentity(ctx, p.Meta, id, p.NameFree)
			if err != nil {
				return nil, err
			}
			if u.Disabled {
				return nil, ErrDisabled
			}
			return &Login{User: u, Identity: id}, nil
		case errors.Is(err, provider.ErrBadCredentials):
			continue
		case errors.Is(err, provider.ErrAccountDenied):
			return nil, err
		default:
			// One provider being down must not lock out the users of the
			// next; its failure is reported only if nobody else says yes.
			p.log().Warn("password provider failed", "provider", pp.Name(), "err", err)
			if failed == nil {
				failed = fmt.Errorf("%w: %s could not check the password: %w", ErrProviderDown, pp.Name(), err)
			}
		}
	}
	if failed != nil {
		return nil, failed
	}
	return nil, provider.ErrBadCredentials
}

func (p *Passwords) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// maxNameTries bounds the numbered names tried for a provider's user whose
// name is taken (alice, alice-2, ... alice-20).
const maxNameTries = 20

// UserFromIdentity returns the Silo account for a person a provider
// vouched for, creating it on their first login. Accounts are found by
// (provider, subject), never by name: a provider user whose name happens
// to be a local account's gets an account of their own (alice-2), not
// alice's. The e-mail address follows the provider's when it vouches for
// one. nameFree, if not nil, may refuse names for new accounts.
func UserFromIdentity(ctx context.Context, m meta.Store, id *provider.Identity, nameFree func(context.Context, string) (bool, error)) (*meta.User, error) {
	if id == nil || id.Provider == "" || id.Subject == "" {
		return nil, errors.New("the provider vouched for nobody: identity without provider or subject")
	}
	u, err := m.UserBySubject(ctx, id.Provider, id.Subject)
	if err == nil {
		if id.Email != "" && id.Email != u.Email {
			u.Email = id.Email
			if err := m.UpdateUser(ctx, u); err != nil {
				return nil, err
			}
		}
		return u, nil
	}
	if !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	base := identityName(id)
	if base == "" {
		return nil, fmt.Errorf("%s gave no usable user name for %q", id.Provider, id.Subject)
	}
	for i := 1; i <= maxNameTries; i++ {
		name := numbered(base, i)
		if nameFree != nil {
			free, err := nameFree(ctx, name)
			if err != nil {
				return nil, err
			}
			if !free {
				continue
			}
		}
		u := &meta.User{Name: name, Email: id.Email, Role: meta.RoleUser, Source: id.Provider, Subject: id.Subject}
		err := m.CreateUser(ctx, u)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, meta.ErrConflict) {
			return nil, err
		}
		// The same person's first login may be running on another
		// request or node and have just made the account.
		if u, err := m.UserBySubject(ctx, id.Provider, id.Subject); err == nil {
			return u, nil
		}
	}
	return nil, fmt.Errorf("no free user name for %s's %q: %s and %d numbered variants are taken", id.Provider, id.Subject, base, maxNameTries-1)
}

// identityName is the name to propose for a new account: the provider's
// user name, else the local part of the e-mail address, else the display
// name, each made valid.
func identityName(id *provider.Identity) string {
	local, _, _ := strings.Cut(id.Email, "@")
	for _, s := range []string{id.Username, local, id.Name} {
		if n := provider.Username(s); n != "" {
			return n
		}
	}
	return ""
}

// numbered is name for i == 1, else name-i, cut so it stays a valid name.
func numbered(name string, i int) string {
	if i == 1 {
		return name
	}
	suffix := fmt.Sprintf("-%d", i)
	return provider.Username(name[:min(len(name), ref.MaxNameLen-len(suffix))] + suffix)
}

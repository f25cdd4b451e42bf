package meta

import (
	"context"
	"time"
)

// Roles, from most to least powerful. Anonymous callers have no user at all.
const (
	RoleAdmin   = "admin"   // everything
	RoleManager = "manager" // may create collections and manage teams
	RoleUser    = "user"
)

// User is an account.
type User struct {
	ID           int64
	Name         string
	Email        string
	Role         string // RoleAdmin, RoleManager or RoleUser
	Disabled     bool
	PasswordHash string // "" when the account logs in only through a provider or tokens
	Source       string // "local", or the provider that made it ("ldap", "pam", "oidc:<name>")
	Subject      string // the provider's stable id for the person
	QuotaBytes   int64  // 0: the registry default
	Created      time.Time
}

// IsAdmin reports whether the user is an administrator.
func (u *User) IsAdmin() bool { return u != nil && u.Role == RoleAdmin }

// Token is an API token. Only its sha256 is stored; the secret is shown once.
type Token struct {
	ID       int64
	UserID   int64
	Name     string
	Hash     string   // hex sha256 of the secret
	Scopes   []string // "read", "push", "admin"; empty means all the user may do
	Revoked  bool
	Created  time.Time
	Expires  time.Time // zero: never
	LastUsed time.Time // zero: never used
}

// Team is a group of users that can own collections.
type Team struct {
	ID          int64
	Name        string
	Description string
	QuotaBytes  int64 // 0: the registry default
	Created     time.Time
}

// Member is a user's place in a team.
type Member struct {
	TeamID int64
	UserID int64
	Owner  bool // owners manage the team; members may push to its collections
	// Source is "" for a membership granted in Silo (by a team owner, a
	// manager or an admin), or the provider whose group granted it
	// ("ldap", "oidc:<name>"). Silo takes a provider's memberships away
	// again when the person leaves the group, and never touches the
	// others. SetMember writes it, so granting by hand a membership a
	// provider made turns it into one granted by hand.
	Source string
}

// AccountStore keeps users, tokens and teams.
type AccountStore interface {
	CreateUser(ctx context.Context, u *User) error
	User(ctx context.Context, id int64) (*User, error)
	UserByName(ctx context.Context, name string) (*User, error)
	UserBySubject(ctx context.Context, source, subject string) (*User, error)
	Users(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)
	// UpdateUser writes Email, Role, Disabled, PasswordHash and QuotaBytes.
	UpdateUser(ctx context.Context, u *User) error

	CreateToken(ctx context.Context, t *Token) error
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	Tokens(ctx context.Context, userID int64) ([]Token, error)
	RevokeToken(ctx context.Context, id int64) error
	TouchToken(ctx context.Context, id int64, at time.Time) error

	CreateTeam(ctx context.Context, t *Team) error
	Team(ctx context.Context, id int64) (*Team, error)
	TeamByName(ctx context.Context, name string) (*Team, error)
	Teams(ctx context.Context) ([]Team, error)
	// UpdateTeam writes Description and QuotaBytes.
	UpdateTeam(ctx context.Context, t *Team) error
	// SetMember adds a user to a team or changes their ownership and
	// source.
	SetMember(ctx context.Context, m Member) error
	RemoveMember(ctx context.Context, teamID, userID int64) error
	Members(ctx context.Context, teamID int64) ([]Member, error)
	// UserTeams lists the teams a user belongs to.
	UserTeams(ctx context.Context, userID int64) ([]Member, error)
}

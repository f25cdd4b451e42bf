// Package access decides who may do what. Every protocol and the web pages
// ask it; none re-implements a rule. A caller that may not see something is
// told it does not exist, so that private names never leak.
//
// The rules, in short:
//   - admins may do everything (unless their token's scopes say otherwise);
//   - a public collection is readable by anyone, unless the registry is in
//     private mode, when only logged-in users see anything at all;
//   - a private collection is readable, and any collection writable, by its
//     owner (the user who created it), the owner of its entity, and the
//     members of the team that owns it or its entity;
//   - users may create collections in their own entity, their teams'
//     entities and the shared entity, if managers only may not;
//   - token scopes narrow what a token may do: read, push (implies read),
//     admin (everything the user may).
package access

import (
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// Token scopes.
const (
	ScopeRead  = "read"
	ScopePush  = "push"
	ScopeAdmin = "admin"
)

// Actor is the caller of an operation: a user (through a token or a
// session) or nobody.
type Actor struct {
	User   *meta.User    // nil: anonymous
	Token  *meta.Token   // the token used, if any
	Teams  []meta.Member // the user's team memberships
	Remote string        // client address, for the audit log
}

// Anonymous is the actor with no credentials.
var Anonymous = Actor{}

// LoggedIn reports whether the actor is an enabled user.
func (a Actor) LoggedIn() bool { return a.User != nil && !a.User.Disabled }

// Has reports whether the actor's token allows scope. Without a token (a
// web session, the server itself) or with no scopes, everything is allowed.
func (a Actor) Has(scope string) bool {
	if a.Token == nil || len(a.Token.Scopes) == 0 {
		return true
	}
	for _, s := range a.Token.Scopes {
		if s == scope || s == ScopeAdmin || (s == ScopePush && scope == ScopeRead) {
			return true
		}
	}
	return false
}

// Admin reports whether the actor may do everything.
func (a Actor) Admin() bool { return a.LoggedIn() && a.User.IsAdmin() && a.Has(ScopeAdmin) }

// Manager reports whether the actor may create collections and teams
// whatever the registry's settings.
func (a Actor) Manager() bool {
	return a.Admin() || (a.LoggedIn() && a.User.Role == meta.RoleManager && a.Has(ScopePush))
}

// Name is the actor's user name, or "anonymous".
func (a Actor) Name() string {
	if a.User == nil {
		return "anonymous"
	}
	return a.User.Name
}

// ID is the actor's user id, or 0.
func (a Actor) ID() int64 {
	if a.User == nil {
		return 0
	}
	return a.User.ID
}

// Member reports whether the actor is in team teamID.
func (a Actor) Member(teamID int64) bool {
	if teamID == 0 || !a.LoggedIn() {
		return false
	}
	for _, m := range a.Teams {
		if m.TeamID == teamID {
			return true
		}
	}
	return false
}

// TeamOwner reports whether the actor owns team teamID.
func (a Actor) TeamOwner(teamID int64) bool {
	if teamID == 0 || !a.LoggedIn() {
		return false
	}
	for _, m := range a.Teams {
		if m.TeamID == teamID && m.Owner {
			return true
		}
	}
	return false
}

// Policy holds the registry-wide settings the rules depend on.
type Policy struct {
	// SharedEntity is the namespace every logged-in user may create
	// collections in (the default entity that short names resolve to).
	SharedEntity string
	// PrivateMode hides everything, names included, from anonymous callers.
	PrivateMode bool
	// ManagersOnly stops plain users from creating collections.
	ManagersOnly bool
}

// TokenValid reports whether t may still be used at time now.
func TokenValid(t *meta.Token, now time.Time) bool {
	return t != nil && !t.Revoked && (t.Expires.IsZero() || now.Before(t.Expires))
}

// CanSeeAnything is false for anonymous callers of a private-mode registry.
func (p Policy) CanSeeAnything(a Actor) bool {
	return !p.PrivateMode || a.LoggedIn()
}

// CanCreateEntity: users may create the entity named after themselves, the
// shared one and their teams' (team is the team named name, if any);
// admins any.
func (p Policy) CanCreateEntity(a Actor, name string, team *meta.Team) bool {
	if !a.LoggedIn() || !a.Has(ScopePush) {
		return false
	}
	return a.Admin() || name == a.User.Name || name == p.SharedEntity || (team != nil && a.Member(team.ID))
}

// ownsEntity reports whether the actor owns entity e or is in its team.
func ownsEntity(a Actor, e *meta.Entity) bool {
	return e != nil && a.LoggedIn() && ((e.OwnerID != 0 && e.OwnerID == a.User.ID) || a.Member(e.TeamID))
}

// CanCreateCollection reports whether a may create a collection in entity e.
func (p Policy) CanCreateCollection(a Actor, e *meta.Entity) bool {
	if !a.LoggedIn() || !a.Has(ScopePush) || e == nil {
		return false
	}
	if a.Admin() {
		return true
	}
	if p.ManagersOnly && !a.Manager() {
		return false
	}
	shared := e.OwnerID == 0 && e.TeamID == 0 && e.Name == p.SharedEntity
	return shared || ownsEntity(a, e)
}

// owns reports whether the actor owns collection c of entity e: created
// it, owns the entity, or is in the team owning either.
func owns(a Actor, e *meta.Entity, c *meta.Collection) bool {
	if !a.LoggedIn() || c == nil {
		return false
	}
	return c.CreatedBy == a.User.ID || a.Member(c.TeamID) || ownsEntity(a, e)
}

// CanRead reports whether a may see collection c of entity e and what is in it.
func (p Policy) CanRead(a Actor, e *meta.Entity, c *meta.Collection) bool {
	if !p.CanSeeAnything(a) || !a.Has(ScopeRead) {
		return false
	}
	if c == nil || !c.Private {
		return true
	}
	return a.readsAll() || owns(a, e, c)
}

// readsAll is true for admins, whatever their token's scope: a read-only
// token reads what its user may, and an admin may read everything.
func (a Actor) readsAll() bool { return a.LoggedIn() && a.User.IsAdmin() }

// CanWrite reports whether a may push to, tag, delete from, freeze and
// share from collection c of entity e.
func (p Policy) CanWrite(a Actor, e *meta.Entity, c *meta.Collection) bool {
	if !a.LoggedIn() || !a.Has(ScopePush) {
		return false
	}
	return a.Admin() || owns(a, e, c)
}

// CanReadRecord is CanRead for a listing row.
func (p Policy) CanReadRecord(a Actor, r *meta.ImageRecord) bool {
	if !p.CanSeeAnything(a) || !a.Has(ScopeRead) {
		return false
	}
	if !r.Private {
		return true
	}
	if !a.LoggedIn() {
		return false
	}
	return a.readsAll() || r.OwnerID == a.User.ID || r.CreatedBy == a.User.ID || a.Member(r.TeamID) || a.Member(r.EntityTeam)
}

// CanManageCollection reports whether a may change who owns collection c
// of entity e and who sees it: admins, and its owners, who are the user
// who created it, the owner of its entity and the owners of the team
// owning it or its entity. Plain team members may push but not publish or
// give away.
func (p Policy) CanManageCollection(a Actor, e *meta.Entity, c *meta.Collection) bool {
	if a.Admin() {
		return true
	}
	if !a.LoggedIn() || !a.Has(ScopePush) {
		return false
	}
	return c.CreatedBy == a.ID() || (e.OwnerID != 0 && e.OwnerID == a.ID()) ||
		a.TeamOwner(c.TeamID) || a.TeamOwner(e.TeamID)
}

// CanManageUsers: admins only.
func (p Policy) CanManageUsers(a Actor) bool { return a.Admin() }

// CanCreateTeam: managers and admins.
func (p Policy) CanCreateTeam(a Actor) bool { return a.Manager() }

// CanManageTeam: the team's owners, managers and admins.
func (p Policy) CanManageTeam(a Actor, teamID int64) bool {
	return a.Manager() || (a.Has(ScopePush) && a.TeamOwner(teamID))
}

// Package access decides who may do what. Every protocol and the web pages
// ask it; none re-implements a rule. A caller that may not see something is
// told it does not exist, so that private names never leak.
package access

import (
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// Actor is the caller of an operation: a user (through a token or a
// session) or nobody.
type Actor struct {
	User  *meta.User  // nil: anonymous
	Token *meta.Token // the token used, if any
}

// Anonymous is the actor with no credentials.
var Anonymous = Actor{}

// LoggedIn reports whether the actor is an enabled user.
func (a Actor) LoggedIn() bool { return a.User != nil && !a.User.Disabled }

// Admin reports whether the actor may do everything.
func (a Actor) Admin() bool { return a.LoggedIn() && a.User.Admin }

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

// Policy holds the registry-wide settings the rules depend on.
type Policy struct {
	// SharedEntity is the namespace every logged-in user may push to (the
	// default entity that short names resolve to).
	SharedEntity string
}

// TokenValid reports whether t may still be used at time now.
func TokenValid(t *meta.Token, now time.Time) bool {
	return t != nil && (t.Expires.IsZero() || now.Before(t.Expires))
}

// CanCreateEntity: users may create the entity named after themselves and
// the shared one; admins any.
func (p Policy) CanCreateEntity(a Actor, name string) bool {
	if !a.LoggedIn() {
		return false
	}
	return a.Admin() || name == a.User.Name || name == p.SharedEntity
}

// CanWrite reports whether a may push into (create collections and
// containers, upload, tag, delete in) entity e.
func (p Policy) CanWrite(a Actor, e *meta.Entity) bool {
	if !a.LoggedIn() || e == nil {
		return false
	}
	if a.Admin() {
		return true
	}
	if e.OwnerID != 0 {
		return e.OwnerID == a.User.ID
	}
	return e.Name == p.SharedEntity
}

// CanRead reports whether a may see collection c of entity e and what is in it.
func (p Policy) CanRead(a Actor, e *meta.Entity, c *meta.Collection) bool {
	if c == nil || !c.Private {
		return true
	}
	if !a.LoggedIn() {
		return false
	}
	return a.Admin() || (e != nil && e.OwnerID == a.User.ID) || c.CreatedBy == a.User.ID
}

// CanReadRecord is CanRead for a listing row.
func (p Policy) CanReadRecord(a Actor, r *meta.ImageRecord) bool {
	if !r.Private {
		return true
	}
	if !a.LoggedIn() {
		return false
	}
	return a.Admin() || r.OwnerID == a.User.ID || r.CreatedBy == a.User.ID
}

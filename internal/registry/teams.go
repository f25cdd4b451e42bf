package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// TeamView is a team with its members, by name.
type TeamView struct {
	Team    *meta.Team
	Members []MemberView // sorted by name
}

// MemberView is one member of a team.
type MemberView struct {
	Name  string
	Owner bool
}

// Owners lists the names of the team's owners.
func (v *TeamView) Owners() []string {
	var out []string
	for _, m := range v.Members {
		if m.Owner {
			out = append(out, m.Name)
		}
	}
	return out
}

// CreateTeam creates a team; managers and admins only. The creator
// becomes its first owner, so that the team has someone to run it from
// the start. A team's name is also its entity (the namespace its members
// push to), so it may not be a user's name, an existing entity or the
// shared entity: either would give two owners one namespace.
func (r *Registry) CreateTeam(ctx context.Context, a access.Actor, name, description string) (*TeamView, error) {
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "create team "+name)
	}
	pol := r.pol(ctx)
	if !pol.CanCreateTeam(a) {
		return nil, errf(Forbidden, "%s may not create teams: ask a manager or an admin", a.Name())
	}
	if err := ref.ValidName(name); err != nil {
		return nil, fmt.Errorf("team name: %w", err)
	}
	if name == pol.SharedEntity {
		return nil, errf(Conflict, "%q is the shared entity; pick another team name", name)
	}
	if _, err := r.meta.UserByName(ctx, name); err == nil {
		return nil, errf(Conflict, "%q is a user's name, and so that user's entity; pick another team name", name)
	} else if !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	if _, err := r.meta.EntityByName(ctx, name); err == nil {
		return nil, errf(Conflict, "entity %q already exists, so a team of that name could not own it; pick another team name", name)
	} else if !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	t := &meta.Team{Name: name, Description: description}
	if err := r.meta.CreateTeam(ctx, t); err != nil {
		if errors.Is(err, meta.ErrConflict) {
			return nil, errf(Conflict, "team %q already exists", name)
		}
		return nil, err
	}
	if err := r.meta.SetMember(ctx, meta.Member{TeamID: t.ID, UserID: a.ID(), Owner: true}); err != nil {
		return nil, err
	}
	r.audit(ctx, a, "team-create", name, "")
	return r.teamView(ctx, t)
}

// Teams lists every team with its members. Teams are names, like
// entities: visible to whoever may see anything.
func (r *Registry) Teams(ctx context.Context, a access.Actor) ([]TeamView, error) {
	if !r.pol(ctx).CanSeeAnything(a) {
		return []TeamView{}, nil
	}
	ts, err := r.meta.Teams(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TeamView, 0, len(ts))
	for i := range ts {
		v, err := r.teamView(ctx, &ts[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// Team returns the team called name with its members.
func (r *Registry) Team(ctx context.Context, a access.Actor, name string) (*TeamView, error) {
	t, err := r.team(ctx, a, name)
	if err != nil {
		return nil, err
	}
	return r.teamView(ctx, t)
}

// team finds a team the actor may see.
func (r *Registry) team(ctx context.Context, a access.Actor, name string) (*meta.Team, error) {
	if err := ref.ValidName(name); err != nil {
		return nil, fmt.Errorf("team name: %w", err)
	}
	t, err := r.meta.TeamByName(ctx, name)
	if err != nil || !r.pol(ctx).CanSeeAnything(a) {
		return nil, storeErr(orNotFound(err), fmt.Sprintf("team %q", name))
	}
	return t, nil
}

func (r *Registry) teamView(ctx context.Context, t *meta.Team) (*TeamView, error) {
	ms, err := r.meta.Members(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	v := &TeamView{Team: t, Members: make([]MemberView, 0, len(ms))}
	for _, m := range ms {
		u, err := r.meta.User(ctx, m.UserID)
		if err != nil {
			return nil, storeErr(err, fmt.Sprintf("member %d of team %s", m.UserID, t.Name))
		}
		v.Members = append(v.Members, MemberView{Name: u.Name, Owner: m.Owner})
	}
	sort.Slice(v.Members, func(i, j int) bool { return v.Members[i].Name < v.Members[j].Name })
	return v, nil
}

// manageTeam finds a team and checks the actor may change it: its owners,
// managers and admins.
func (r *Registry) manageTeam(ctx context.Context, a access.Actor, name, what string) (*meta.Team, error) {
	t, err := r.team(ctx, a, name)
	if err != nil {
		return nil, err
	}
	if !r.pol(ctx).CanManageTeam(a, t.ID) {
		if !a.LoggedIn() {
			return nil, mustLogIn(a, what)
		}
		return nil, errf(Forbidden, "%s may not %s: only its owners, managers and admins may", a.Name(), what)
	}
	return t, nil
}

// AddMember adds user to team, or changes whether they own it.
func (r *Registry) AddMember(ctx context.Context, a access.Actor, team, user string, owner bool) (*TeamView, error) {
	t, err := r.manageTeam(ctx, a, team, "change the members of team "+team)
	if err != nil {
		return nil, err
	}
	u, err := r.meta.UserByName(ctx, user)
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("user %q", user))
	}
	if !owner {
		if err := r.keepAnOwner(ctx, a, t, u.ID); err != nil {
			return nil, err
		}
	}
	if err := r.meta.SetMember(ctx, meta.Member{TeamID: t.ID, UserID: u.ID, Owner: owner}); err != nil {
		return nil, storeErr(err, fmt.Sprintf("user %q", user))
	}
	detail := "member"
	if owner {
		detail = "owner"
	}
	r.audit(ctx, a, "team-member", team+"/"+user, detail)
	return r.teamView(ctx, t)
}

// SetOwner makes a member of team an owner, or a plain member again.
func (r *Registry) SetOwner(ctx context.Context, a access.Actor, team, user string, owner bool) (*TeamView, error) {
	t, err := r.manageTeam(ctx, a, team, "change the owners of team "+team)
	if err != nil {
		return nil, err
	}
	if _, err := r.member(ctx, t, user); err != nil {
		return nil, err
	}
	return r.AddMember(ctx, a, team, user, owner)
}

// RemoveMember takes user out of team.
func (r *Registry) RemoveMember(ctx context.Context, a access.Actor, team, user string) (*TeamView, error) {
	t, err := r.manageTeam(ctx, a, team, "change the members of team "+team)
	if err != nil {
		return nil, err
	}
	u, err := r.member(ctx, t, user)
	if err != nil {
		return nil, err
	}
	if err := r.keepAnOwner(ctx, a, t, u.ID); err != nil {
		return nil, err
	}
	if err := r.meta.RemoveMember(ctx, t.ID, u.ID); err != nil {
		return nil, storeErr(err, fmt.Sprintf("member %q of team %s", user, team))
	}
	r.audit(ctx, a, "team-remove", team+"/"+user, "")
	return r.teamView(ctx, t)
}

// member finds user among the members of t.
func (r *Registry) member(ctx context.Context, t *meta.Team, user string) (*meta.User, error) {
	u, err := r.meta.UserByName(ctx, user)
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("user %q", user))
	}
	ms, err := r.meta.Members(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.UserID == u.ID {
			return u, nil
		}
	}
	return nil, errf(NotFound, "%s is not a member of team %s", user, t.Name)
}

// keepAnOwner refuses to take away the last owner of a team (userID
// leaving or stepping down), unless a manager does it: managers and
// admins run every team, so a team without owners still has someone who
// can give it new ones, but an owner who removed themselves would strand it.
func (r *Registry) keepAnOwner(ctx context.Context, a access.Actor, t *meta.Team, userID int64) error {
	if a.Manager() {
		return nil
	}
	ms, err := r.meta.Members(ctx, t.ID)
	if err != nil {
		return err
	}
	others, leaving := 0, false
	for _, m := range ms {
		switch {
		case m.UserID == userID:
			leaving = m.Owner
		case m.Owner:
			others++
		}
	}
	if leaving && others == 0 {
		return errf(Conflict, "that would leave team %s without an owner: make someone else an owner first", t.Name)
	}
	return nil
}

// UpdateTeam changes a team's description (its owners, managers and
// admins) and its quota (admins only: quotas are the registry's to give).
// Nil fields stay as they are.
func (r *Registry) UpdateTeam(ctx context.Context, a access.Actor, name string, description *string, quota *int64) (*TeamView, error) {
	t, err := r.manageTeam(ctx, a, name, "change team "+name)
	if err != nil {
		return nil, err
	}
	if quota != nil {
		if !a.Admin() {
			return nil, errf(Forbidden, "%s may not change team quotas: admins only", a.Name())
		}
		if *quota < 0 {
			return nil, errf(Invalid, "a quota cannot be negative (0 means the registry's default)")
		}
		t.QuotaBytes = *quota
	}
	if description != nil {
		t.Description = *description
	}
	if err := r.meta.UpdateTeam(ctx, t); err != nil {
		return nil, storeErr(err, fmt.Sprintf("team %q", name))
	}
	r.audit(ctx, a, "team-update", name, fmt.Sprintf("quota %d bytes", t.QuotaBytes))
	return r.teamView(ctx, t)
}

// manageCollection finds a collection the actor may see and checks they
// may manage it. One they may not see is "not found", like a missing one.
func (r *Registry) manageCollection(ctx context.Context, a access.Actor, entity, name, what string) (*meta.Entity, *meta.Collection, error) {
	if !a.LoggedIn() {
		return nil, nil, mustLogIn(a, what)
	}
	e, c, err := r.Collection(ctx, a, entity, name)
	if err != nil {
		return nil, nil, err
	}
	if !r.pol(ctx).CanManageCollection(a, e, c) {
		return nil, nil, errf(Forbidden, "%s may not %s: only its owners and admins may", a.Name(), what)
	}
	return e, c, nil
}

// SetCollectionPrivate makes a collection private (seen only by its
// owners, its team and admins) or public.
func (r *Registry) SetCollectionPrivate(ctx context.Context, a access.Actor, entity, name string, private bool) (*meta.Entity, *meta.Collection, error) {
	what := "make " + entity + "/" + name + " public"
	if private {
		what = "make " + entity + "/" + name + " private"
	}
	e, c, err := r.manageCollection(ctx, a, entity, name, what)
	if err != nil {
		return nil, nil, err
	}
	if c.Private != private {
		if err := r.meta.SetCollectionPrivate(ctx, c.ID, private); err != nil {
			return nil, nil, storeErr(err, "collection "+entity+"/"+name)
		}
		c.Private = private
	}
	detail := "public"
	if private {
		detail = "private"
	}
	r.audit(ctx, a, "collection-visibility", entity+"/"+name, detail)
	return e, c, nil
}

// GiveCollection hands a collection to a team, whose members may then
// push to it and whose quota it then counts against; team "" gives it
// back to the user who created it. The actor must manage the collection
// and, unless an admin, be in the team: nobody pushes their images onto a
// team they do not belong to.
func (r *Registry) GiveCollection(ctx context.Context, a access.Actor, entity, name, team string) (*meta.Entity, *meta.Collection, *meta.Team, error) {
	e, c, err := r.manageCollection(ctx, a, entity, name, "give "+entity+"/"+name+" away")
	if err != nil {
		return nil, nil, nil, err
	}
	var t *meta.Team
	if team != "" {
		if t, err = r.team(ctx, a, team); err != nil {
			return nil, nil, nil, err
		}
		if !a.Admin() && !a.Member(t.ID) {
			return nil, nil, nil, errf(Forbidden, "%s may not give %s/%s to team %s: only its members may", a.Name(), entity, name, team)
		}
	}
	var teamID int64
	if t != nil {
		teamID = t.ID
	}
	if err := r.meta.SetCollectionTeam(ctx, c.ID, teamID); err != nil {
		return nil, nil, nil, storeErr(err, "collection "+entity+"/"+name)
	}
	c.TeamID = teamID
	detail := "to its creator"
	if t != nil {
		detail = "to team " + t.Name
	}
	r.audit(ctx, a, "collection-give", entity+"/"+name, detail)
	return e, c, t, nil
}

// Owner is who a collection's bytes count against: a team or a user
// (or, for a collection with no creator on record, neither).
type Owner struct {
	User string
	Team string
}

// String is "alice" or "team lab".
func (o Owner) String() string {
	if o.Team != "" {
		return "team " + o.Team
	}
	return o.User
}

// CollectionOwner says who owns collection c of entity e: the team it was
// given to, else its entity's team, else the user who created it.
func (r *Registry) CollectionOwner(ctx context.Context, e *meta.Entity, c *meta.Collection) (Owner, error) {
	o, err := r.ownerOf(ctx, e, c)
	if err != nil {
		return Owner{}, err
	}
	return o.Owner, nil
}

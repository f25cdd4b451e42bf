package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// Entity returns the entity called name.
func (r *Registry) Entity(ctx context.Context, a access.Actor, name string) (*meta.Entity, error) {
	if err := ref.ValidName(name); err != nil {
		return nil, err
	}
	e, err := r.meta.EntityByName(ctx, name)
	if err != nil || !r.pol(ctx).CanSeeAnything(a) {
		return nil, storeErr(orNotFound(err), fmt.Sprintf("entity %q", name))
	}
	return e, nil
}

// orNotFound is err, or ErrNotFound when there is none: for answers that
// must look like a missing object whatever the real reason.
func orNotFound(err error) error {
	if err == nil {
		return meta.ErrNotFound
	}
	return err
}

// CreateEntity creates an entity, or returns the existing one of that name
// when a concurrent push created it first.
func (r *Registry) CreateEntity(ctx context.Context, a access.Actor, name, description string) (*meta.Entity, error) {
	if err := ref.ValidName(name); err != nil {
		return nil, err
	}
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "create entity "+name)
	}
	pol := r.pol(ctx)
	team, err := r.meta.TeamByName(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		team = nil
	} else if err != nil {
		return nil, err
	}
	if !pol.CanCreateEntity(a, name, team) {
		return nil, errf(Forbidden, "%s may not create entity %q: push to your own (%s), a team's you are in, or the shared one (%s)",
			a.Name(), name, a.Name(), pol.SharedEntity)
	}
	e := &meta.Entity{Name: name, Description: description}
	if team != nil {
		e.TeamID = team.ID
	}
	// The entity named after a user belongs to that user, whoever creates it.
	if u, err := r.meta.UserByName(ctx, name); err == nil {
		e.OwnerID = u.ID
	} else if !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	if name == pol.SharedEntity {
		e.OwnerID, e.TeamID = 0, 0
	}
	err = r.meta.CreateEntity(ctx, e)
	if errors.Is(err, meta.ErrConflict) {
		return r.meta.EntityByName(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	r.log.Info("entity created", "entity", name, "by", a.Name())
	return e, nil
}

// ensureEntity finds the entity called name, creating it when the actor may.
func (r *Registry) ensureEntity(ctx context.Context, a access.Actor, name string) (*meta.Entity, error) {
	e, err := r.meta.EntityByName(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		return r.CreateEntity(ctx, a, name, "")
	}
	return e, err
}

// Collection returns a collection the actor may see.
func (r *Registry) Collection(ctx context.Context, a access.Actor, entity, name string) (*meta.Entity, *meta.Collection, error) {
	what := fmt.Sprintf("collection %s/%s", entity, name)
	if err := ref.ValidName(name); err != nil {
		return nil, nil, err
	}
	e, err := r.Entity(ctx, a, entity)
	if err != nil {
		return nil, nil, notFound(what)
	}
	c, err := r.meta.CollectionByName(ctx, e.ID, name)
	if err != nil {
		return nil, nil, storeErr(err, what)
	}
	if !r.pol(ctx).CanRead(a, e, c) {
		return nil, nil, notFound(what)
	}
	return e, c, nil
}

// CollectionByID returns a collection the actor may see.
func (r *Registry) CollectionByID(ctx context.Context, a access.Actor, id int64) (*meta.Entity, *meta.Collection, error) {
	what := fmt.Sprintf("collection %d", id)
	c, err := r.meta.Collection(ctx, id)
	if err != nil {
		return nil, nil, storeErr(err, what)
	}
	e, err := r.meta.Entity(ctx, c.EntityID)
	if err != nil {
		return nil, nil, storeErr(err, what)
	}
	if !r.pol(ctx).CanRead(a, e, c) {
		return nil, nil, notFound(what)
	}
	return e, c, nil
}

// CreateCollection creates a collection in an entity the actor may write to.
// It is private when asked, or when the entity makes new collections private.
func (r *Registry) CreateCollection(ctx context.Context, a access.Actor, entityID int64, name, description string, private bool) (*meta.Collection, error) {
	if err := ref.ValidName(name); err != nil {
		return nil, err
	}
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "create collection "+name)
	}
	e, err := r.meta.Entity(ctx, entityID)
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("entity %d", entityID))
	}
	if !r.pol(ctx).CanCreateCollection(a, e) {
		return nil, errf(Forbidden, "%s may not create collections in %q", a.Name(), e.Name)
	}
	if existing, err := r.meta.CollectionByName(ctx, e.ID, name); err == nil {
		// A concurrent push made it, or it is someone else's. One the
		// caller may not see gets a fixed answer: no id, and the same
		// whether it is private or merely not theirs to push to.
		if !r.pol(ctx).CanWrite(a, e, existing) {
			return nil, errf(Conflict, "the name %s/%s is not available", e.Name, name)
		}
		return existing, nil
	}
	set, err := r.Settings(ctx)
	if err != nil {
		return nil, err
	}
	if set.CollectionLimit > 0 && !a.Manager() {
		n, err := r.meta.CountCollections(ctx, a.ID())
		if err != nil {
			return nil, err
		}
		if n >= set.CollectionLimit {
			return nil, errf(Forbidden, "%s has reached the limit of %d collections; push to an existing one or ask an admin", a.Name(), set.CollectionLimit)
		}
	}
	c := &meta.Collection{EntityID: e.ID, Name: name, Description: description,
		Private: private || e.DefaultPrivate || set.DefaultPrivate, CreatedBy: a.ID()}
	err = r.meta.CreateCollection(ctx, c)
	if errors.Is(err, meta.ErrConflict) {
		return r.meta.CollectionByName(ctx, e.ID, name)
	}
	if err != nil {
		return nil, err
	}
	r.log.Info("collection created", "collection", e.Name+"/"+name, "private", c.Private, "by", a.Name())
	return c, nil
}

// Container returns a container the actor may see.
func (r *Registry) Container(ctx context.Context, a access.Actor, rf ref.Ref) (*ContainerView, error) {
	what := "container " + rf.Path()
	if ref.ValidName(rf.Entity) != nil || ref.ValidName(rf.Collection) != nil {
		return nil, notFound(what)
	}
	if err := ref.ValidName(rf.Container); err != nil {
		return nil, err
	}
	// One query for the three names: every pull and push starts here.
	e, c, ct, err := r.meta.ContainerByPath(ctx, rf.Entity, rf.Collection, rf.Container)
	if err != nil {
		return nil, storeErr(err, what)
	}
	if pol := r.pol(ctx); !pol.CanSeeAnything(a) || !pol.CanRead(a, e, c) {
		return nil, notFound(what)
	}
	return &ContainerView{Entity: e, Collection: c, Container: ct}, nil
}

// ContainerByID returns a container the actor may see.
func (r *Registry) ContainerByID(ctx context.Context, a access.Actor, id int64) (*ContainerView, error) {
	v, err := r.containerView(ctx, id)
	if err != nil || !r.pol(ctx).CanRead(a, v.Entity, v.Collection) {
		return nil, notFound(fmt.Sprintf("container %d", id))
	}
	return v, nil
}

// containerView loads a container and the names above it, with no access check.
func (r *Registry) containerView(ctx context.Context, id int64) (*ContainerView, error) {
	what := fmt.Sprintf("container %d", id)
	ct, err := r.meta.Container(ctx, id)
	if err != nil {
		return nil, storeErr(err, what)
	}
	c, err := r.meta.Collection(ctx, ct.CollectionID)
	if err != nil {
		return nil, storeErr(err, what)
	}
	e, err := r.meta.Entity(ctx, c.EntityID)
	if err != nil {
		return nil, storeErr(err, what)
	}
	return &ContainerView{Entity: e, Collection: c, Container: ct}, nil
}

// CreateContainer creates a container in a collection the actor may write to.
func (r *Registry) CreateContainer(ctx context.Context, a access.Actor, collectionID int64, name, description string) (*ContainerView, error) {
	if err := ref.ValidName(name); err != nil {
		return nil, err
	}
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "create container "+name)
	}
	e, c, err := r.CollectionByID(ctx, a, collectionID)
	if err != nil {
		return nil, err
	}
	if !r.pol(ctx).CanWrite(a, e, c) {
		return nil, errf(Forbidden, "%s may not create containers in %s/%s", a.Name(), e.Name, c.Name)
	}
	ct := &meta.Container{CollectionID: c.ID, Name: name, Description: description}
	err = r.meta.CreateContainer(ctx, ct)
	if errors.Is(err, meta.ErrConflict) {
		ct, err = r.meta.ContainerByName(ctx, c.ID, name)
	}
	if err != nil {
		return nil, err
	}
	return &ContainerView{Entity: e, Collection: c, Container: ct}, nil
}

// canWrite checks the actor may change what is in a container.
func (r *Registry) canWrite(ctx context.Context, a access.Actor, v *ContainerView, what string) error {
	if !a.LoggedIn() {
		return mustLogIn(a, what)
	}
	if !r.pol(ctx).CanWrite(a, v.Entity, v.Collection) {
		return errf(Forbidden, "%s may not %s", a.Name(), what)
	}
	return nil
}

// SetFrozen freezes or unfreezes a container: frozen tags cannot move and
// frozen images cannot be deleted.
func (r *Registry) SetFrozen(ctx context.Context, a access.Actor, rf ref.Ref, frozen bool) error {
	if !a.LoggedIn() {
		return mustLogIn(a, "freeze "+rf.Path())
	}
	v, err := r.Container(ctx, a, rf)
	if err != nil {
		return err
	}
	if err := r.canWrite(ctx, a, v, "freeze "+rf.Path()); err != nil {
		return err
	}
	if err := r.meta.SetFrozen(ctx, v.Container.ID, frozen); err != nil {
		return err
	}
	action := "freeze"
	if !frozen {
		action = "unfreeze"
	}
	r.audit(ctx, a, action, rf.Path(), "")
	return nil
}

package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// The Import* calls recreate another registry's accounts and names (silo
// import). They set what ordinary calls take from the caller, such as a
// collection's creator, so only admins and the operator may make them.
// Each is idempotent: called again with the same arguments it changes
// nothing, and it reports whether it created anything.

// ImportedDescription marks the teams and collections an import made, so
// that a later run continues them but never takes over ones people made
// in Silo under the same names.
const ImportedDescription = "imported from sregistry"

func (r *Registry) mayImport(a access.Actor) error {
	if !a.Admin() {
		return errf(Forbidden, "%s may not import: admins only", a.Name())
	}
	return nil
}

// ImportUser makes an account unless one of that name exists; an existing
// one is returned as it is. A new account gets secret (when not empty) as
// its sregistry secret; an existing one never does, since it may belong to
// someone else than the sregistry user of that name.
func (r *Registry) ImportUser(ctx context.Context, a access.Actor, name, email string, admin, disabled bool, secret string) (*meta.User, bool, error) {
	if err := r.mayImport(a); err != nil {
		return nil, false, err
	}
	if err := ref.ValidName(name); err != nil {
		return nil, false, fmt.Errorf("user name: %w", err)
	}
	if u, err := r.meta.UserByName(ctx, name); err == nil {
		return u, false, nil
	} else if !errors.Is(err, meta.ErrNotFound) {
		return nil, false, err
	}
	if name == r.pol(ctx).SharedEntity {
		return nil, false, errf(Conflict, "%q is the shared entity's name", name)
	}
	if _, err := r.meta.TeamByName(ctx, name); err == nil {
		return nil, false, errf(Conflict, "%q is a team's name", name)
	}
	role := meta.RoleUser
	if admin {
		role = meta.RoleAdmin
	}
	if err := checkEmail(email); err != nil {
		email = "" // sregistry did not check; an odd address is no reason to lose the account
	}
	u := &meta.User{Name: name, Email: email, Role: role}
	if err := r.meta.CreateUser(ctx, u); err != nil {
		return nil, false, err
	}
	if secret != "" {
		if err := r.SetSregistrySecret(ctx, a, name, secret); err != nil {
			return nil, false, err
		}
	}
	if disabled {
		u.Disabled = true
		if err := r.meta.UpdateUser(ctx, u); err != nil {
			return nil, false, err
		}
	}
	r.audit(ctx, a, "import-user", name, role)
	return u, true, nil
}

// ImportTeam makes a team unless it exists, and adds the members (owners
// as owners). Members are only ever added.
func (r *Registry) ImportTeam(ctx context.Context, a access.Actor, name string, owners, members []int64) (*meta.Team, bool, error) {
	if err := r.mayImport(a); err != nil {
		return nil, false, err
	}
	if err := ref.ValidName(name); err != nil {
		return nil, false, fmt.Errorf("team name: %w", err)
	}
	created := false
	t, err := r.meta.TeamByName(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		if name == r.pol(ctx).SharedEntity {
			return nil, false, errf(Conflict, "%q is the shared entity's name", name)
		}
		if _, err := r.meta.UserByName(ctx, name); err == nil {
			return nil, false, errf(Conflict, "%q is a user's name", name)
		}
		t = &meta.Team{Name: name, Description: ImportedDescription}
		if err := r.meta.CreateTeam(ctx, t); err != nil {
			return nil, false, err
		}
		created = true
	} else if err != nil {
		return nil, false, err
	} else if t.Description != ImportedDescription {
		return nil, false, errf(Conflict, "a Silo team called %q exists already and was not made by an import; rename one of them", name)
	}
	have, err := r.meta.Members(ctx, t.ID)
	if err != nil {
		return nil, false, err
	}
	isOwner := map[int64]bool{}
	for _, id := range owners {
		isOwner[id] = true
	}
	in := map[int64]bool{}
	for _, m := range have {
		in[m.UserID] = true
	}
	for _, id := range append(append([]int64{}, owners...), members...) {
		if in[id] {
			continue
		}
		in[id] = true
		if err := r.meta.SetMember(ctx, meta.Member{TeamID: t.ID, UserID: id, Owner: isOwner[id]}); err != nil {
			return nil, false, err
		}
	}
	if created {
		r.audit(ctx, a, "import-team", name, "")
	}
	return t, created, nil
}

// ImportCollection makes collection entity/name with the given creator,
// owning team (0: none) and privacy, or brings an existing one to them.
func (r *Registry) ImportCollection(ctx context.Context, a access.Actor, entity, name string, private bool, createdBy, teamID int64) (*meta.Collection, bool, error) {
	if err := r.mayImport(a); err != nil {
		return nil, false, err
	}
	if err := ref.ValidName(name); err != nil {
		return nil, false, err
	}
	e, err := r.ensureEntity(ctx, a, entity)
	if err != nil {
		return nil, false, err
	}
	c, err := r.meta.CollectionByName(ctx, e.ID, name)
	if errors.Is(err, meta.ErrNotFound) {
		c = &meta.Collection{EntityID: e.ID, Name: name, Description: ImportedDescription, Private: private, CreatedBy: createdBy, TeamID: teamID}
		if err := r.meta.CreateCollection(ctx, c); err != nil {
			return nil, false, err
		}
		r.audit(ctx, a, "import-collection", entity+"/"+name, fmt.Sprintf("private %v", private))
		return c, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if c.Description != ImportedDescription {
		return nil, false, errf(Conflict, "a Silo collection %s/%s exists already and was not made by an import; its images are left alone", entity, name)
	}
	if c.Private != private {
		if err := r.meta.SetCollectionPrivate(ctx, c.ID, private); err != nil {
			return nil, false, err
		}
		c.Private = private
	}
	if c.TeamID != teamID {
		if err := r.meta.SetCollectionTeam(ctx, c.ID, teamID); err != nil {
			return nil, false, err
		}
		c.TeamID = teamID
	}
	return c, false, nil
}

// HasSregistrySecret reports whether the user's sregistry secret is secret.
func (r *Registry) HasSregistrySecret(ctx context.Context, userID int64, secret string) (bool, error) {
	s, err := r.sregistrySecret(ctx, userID)
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	return err == nil && s == secret, err
}

// importedShareSecret reports whether s has the shape of the share secrets
// sregistry made (a UUID, 122 random bits), which silo import keeps so
// that links already handed out go on working.
func importedShareSecret(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		dash := i == 8 || i == 13 || i == 18 || i == 23
		if dash != (c == '-') || (!dash && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
			return false
		}
	}
	return true
}

// ImportShare recreates a share link to the image rf names, with the
// secret and expiry another registry gave it, made by createdBy (whose
// rights the link keeps depending on). It reports whether it created it.
func (r *Registry) ImportShare(ctx context.Context, a access.Actor, rf ref.Ref, secret string, expires time.Time, createdBy int64) (bool, error) {
	if err := r.mayImport(a); err != nil {
		return false, err
	}
	if !importedShareSecret(secret) {
		return false, errf(Invalid, "share secret is not a UUID")
	}
	hash := hashShareSecret(secret)
	if _, err := r.meta.ShareByHash(ctx, hash); err == nil {
		return false, nil
	} else if !errors.Is(err, meta.ErrNotFound) {
		return false, err
	}
	iv, err := r.ResolveImage(ctx, a, rf, "")
	if err != nil {
		return false, err
	}
	if !iv.Image.Uploaded {
		return false, notFound("image " + rf.String())
	}
	sh := &meta.Share{Hash: hash, ImageID: iv.Image.ID, Tag: rf.Tag, CreatedBy: createdBy, Created: r.now(), Expires: expires.UTC()}
	if err := r.meta.CreateShare(ctx, sh); err != nil {
		return false, err
	}
	r.audit(ctx, a, "import-share", rf.String(), fmt.Sprintf("link %d, expires %s", sh.ID, sh.Expires.Format(time.RFC3339)))
	return true, nil
}

package registry

import (
	"context"

	"github.com/siloreg/silo/internal/access"
)

// ImportStar stars entity/collection in the name of userID, as another
// registry recorded, and reports whether the star is new. Silo lets
// people star only what they can read, so a star on a collection the user
// may not read is refused (it would tell nobody anything, but nor would it
// be one Silo could have made).
func (r *Registry) ImportStar(ctx context.Context, a access.Actor, entity, collection string, userID int64) (bool, error) {
	if err := r.mayImport(a); err != nil {
		return false, err
	}
	e, c, err := r.Collection(ctx, a, entity, collection)
	if err != nil {
		return false, err
	}
	u, err := r.meta.User(ctx, userID)
	if err != nil {
		return false, err
	}
	teams, err := r.meta.UserTeams(ctx, u.ID)
	if err != nil {
		return false, err
	}
	if !r.pol(ctx).CanRead(access.Actor{User: u, Teams: teams}, e, c) {
		return false, errf(Forbidden, "%s may not read %s/%s in Silo", u.Name, e.Name, c.Name)
	}
	_, starred, err := r.meta.Stars(ctx, c.ID, u.ID)
	if err != nil || starred {
		return false, err
	}
	if err := r.meta.SetStar(ctx, u.ID, c.ID, true); err != nil {
		return false, err
	}
	r.audit(ctx, a, "import-star", e.Name+"/"+c.Name, u.Name)
	return true, nil
}

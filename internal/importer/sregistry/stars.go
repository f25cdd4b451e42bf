package sregistry

import (
	"context"
	"fmt"
)

// importStars gives each imported user their stars back, on the imported
// collections they may read in Silo.
func (im *Importer) importStars(ctx context.Context) error {
	names := map[int64]string{}
	for _, u := range im.site.Users {
		names[u.ID] = u.Name
	}
	for _, s := range im.site.Stars {
		user := names[s.UserID]
		if user == "" {
			user = fmt.Sprintf("#%d", s.UserID)
		}
		col := im.cols[s.CollectionID]
		what := fmt.Sprintf("%s → collection #%d", user, s.CollectionID)
		if col != nil {
			what = user + " → " + col.name
		}
		uid, imported := im.users[s.UserID]
		switch {
		case col == nil:
			im.rep.skip("star", what, "its collection does not exist")
			continue
		case col.failed:
			im.rep.skip("star", what, "its collection was not imported")
			continue
		case !imported:
			im.rep.skip("star", what, "its user was not imported")
			continue
		case im.opts.DryRun:
			im.rep.plan("star", what, "")
			continue
		}
		created, err := im.reg.ImportStar(ctx, im.op, im.opts.Entity, col.name, uid)
		if err != nil {
			if fatal(err) {
				return err
			}
			im.rep.skip("star", what, err.Error())
			continue
		}
		im.rep.done("star", what, created, "")
	}
	return nil
}

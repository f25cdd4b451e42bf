package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
)

// owner is whoever a collection's bytes count against: a team or a user.
type owner struct {
	Owner        // names, for messages
	userID int64 // set for a user
	teamID int64 // set for a team
	quota  int64 // the owner's own quota; 0: the registry default
}

// ownerOf finds who owns collection c of entity e for quotas: the team it
// was given to, else its entity's team, else the user who created it.
// This is the rule meta.UsageBytes sums by.
func (r *Registry) ownerOf(ctx context.Context, e *meta.Entity, c *meta.Collection) (owner, error) {
	teamID := c.TeamID
	if teamID == 0 {
		teamID = e.TeamID
	}
	if teamID != 0 {
		t, err := r.meta.Team(ctx, teamID)
		if err != nil {
			return owner{}, fmt.Errorf("team %d owning %s/%s: %w", teamID, e.Name, c.Name, err)
		}
		return owner{Owner: Owner{Team: t.Name}, teamID: t.ID, quota: t.QuotaBytes}, nil
	}
	u, err := r.meta.User(ctx, c.CreatedBy)
	if errors.Is(err, meta.ErrNotFound) {
		// No creator on record (made before accounts, or by the server
		// itself): nobody to charge, so no quota applies.
		return owner{}, nil
	}
	if err != nil {
		return owner{}, err
	}
	return owner{Owner: Owner{User: u.Name}, userID: u.ID, quota: u.QuotaBytes}, nil
}

// limit is the quota in force for o; 0 means none.
func (o owner) limit(s Settings) int64 {
	switch {
	case o.quota > 0:
		return o.quota
	case o.teamID != 0:
		return s.TeamQuota
	case o.userID != 0:
		return s.UserQuota
	}
	return 0
}

// usage is what o's collections hold: images and OCI blobs, each key once.
func (r *Registry) usage(ctx context.Context, o owner) (int64, error) {
	if o.userID == 0 && o.teamID == 0 {
		return 0, nil
	}
	if o.teamID != 0 {
		return r.meta.UsageBytes(ctx, 0, o.teamID)
	}
	return r.meta.UsageBytes(ctx, o.userID, 0)
}

// quotaOf is the owner of collection c of entity e, the quota in force
// for them (0: none) and, when there is one, what they use.
func (r *Registry) quotaOf(ctx context.Context, e *meta.Entity, c *meta.Collection) (o owner, limit, used int64, err error) {
	set, err := r.Settings(ctx)
	if err != nil {
		return owner{}, 0, 0, err
	}
	if o, err = r.ownerOf(ctx, e, c); err != nil {
		return owner{}, 0, 0, err
	}
	if limit = o.limit(set); limit <= 0 {
		return o, 0, 0, nil
	}
	used, err = r.usage(ctx, o)
	return o, limit, used, err
}

// checkQuota refuses an upload of size bytes for image im into the
// collection of v when it would take the collection's owner over their
// quota. It runs before an upload session exists, so a refused push
// stores nothing. Bytes the owner already holds under another name cost
// nothing more: usage counts each digest once.
//
// Concurrent pushes are each checked against the usage before either
// lands, so together they may overshoot a quota by one image each; the
// quota is a budget, not a hard disk limit.
func (r *Registry) checkQuota(ctx context.Context, v *ContainerView, im *meta.Image, size int64) error {
	o, limit, used, err := r.quotaOf(ctx, v.Entity, v.Collection)
	if err != nil || limit <= 0 || used+size <= limit {
		return err
	}
	// Only a push that would not fit pays for finding out whether the
	// owner already holds these bytes.
	held, err := r.holds(ctx, o, im.Digest)
	if err != nil || held {
		return err
	}
	return errf(TooLarge, "push refused: %s's quota is %s and %s is used; this image is %s. Delete images you no longer need, or ask an admin for more",
		o, HumanSize(limit), HumanSize(used), HumanSize(size))
}

// holds reports whether an uploaded image of o's has digest.
//
// meta.Query cannot select by digest, so this reads every uploaded image;
// it runs only for pushes that would otherwise be refused. A digest (and
// owner) filter in meta.Query would make it one indexed lookup.
func (r *Registry) holds(ctx context.Context, o owner, digest string) (bool, error) {
	recs, err := r.meta.Find(ctx, meta.Query{})
	if err != nil {
		return false, err
	}
	for i := range recs {
		rec := &recs[i]
		if rec.Digest != digest {
			continue
		}
		if o.teamID != 0 && (rec.TeamID == o.teamID || (rec.TeamID == 0 && rec.EntityTeam == o.teamID)) {
			return true, nil
		}
		if o.userID != 0 && rec.CreatedBy == o.userID && rec.TeamID == 0 && rec.EntityTeam == 0 {
			return true, nil
		}
	}
	return false, nil
}

// Quota is what an owner holds against what they may.
type Quota struct {
	Name  string // the user's or the team's name
	Used  int64  // bytes: images and OCI blobs, each stored key once
	Limit int64  // bytes; 0: no limit
}

// Usage is the caller's own quota and those of the teams they are in.
type Usage struct {
	User  Quota
	Teams []Quota // by team name
}

// Usage reports what the actor's collections and their teams' hold, and
// the quotas in force.
func (r *Registry) Usage(ctx context.Context, a access.Actor) (*Usage, error) {
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "see your usage")
	}
	set, err := r.Settings(ctx)
	if err != nil {
		return nil, err
	}
	me := owner{Owner: Owner{User: a.User.Name}, userID: a.User.ID, quota: a.User.QuotaBytes}
	used, err := r.usage(ctx, me)
	if err != nil {
		return nil, err
	}
	out := &Usage{User: Quota{Name: a.User.Name, Used: used, Limit: me.limit(set)}, Teams: []Quota{}}
	for _, m := range a.Teams {
		t, err := r.meta.Team(ctx, m.TeamID)
		if errors.Is(err, meta.ErrNotFound) {
			continue // deleted since the caller's token was read
		}
		if err != nil {
			return nil, err
		}
		o := owner{Owner: Owner{Team: t.Name}, teamID: t.ID, quota: t.QuotaBytes}
		used, err := r.usage(ctx, o)
		if err != nil {
			return nil, err
		}
		out.Teams = append(out.Teams, Quota{Name: t.Name, Used: used, Limit: o.limit(set)})
	}
	sort.Slice(out.Teams, func(i, j int) bool { return out.Teams[i].Name < out.Teams[j].Name })
	return out, nil
}

// AdminSettings returns the settings in force; admins only, since they
// say what is hidden and how much each user may store.
func (r *Registry) AdminSettings(ctx context.Context, a access.Actor) (Settings, error) {
	if !r.pol(ctx).CanManageUsers(a) {
		return Settings{}, r.denied(a, "read the registry's settings")
	}
	return r.freshSettings(ctx)
}

// freshSettings reads the settings from the store, not from this node's
// cache, which may be a second behind another node's change.
func (r *Registry) freshSettings(ctx context.Context) (Settings, error) {
	r.settings.mu.Lock()
	r.settings.at = time.Time{}
	r.settings.mu.Unlock()
	return r.Settings(ctx)
}

// SettingsChange names the settings to change; nil fields stay as they are.
type SettingsChange struct {
	PrivateMode     *bool
	ManagersOnly    *bool
	DefaultPrivate  *bool
	CollectionLimit *int
	UserQuota       *int64
	TeamQuota       *int64
}

// ChangeSettings changes the given settings and returns them all; admins
// only.
func (r *Registry) ChangeSettings(ctx context.Context, a access.Actor, ch SettingsChange) (Settings, error) {
	s, err := r.AdminSettings(ctx, a)
	if err != nil {
		return Settings{}, err
	}
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&s.PrivateMode, ch.PrivateMode)
	set(&s.ManagersOnly, ch.ManagersOnly)
	set(&s.DefaultPrivate, ch.DefaultPrivate)
	if ch.CollectionLimit != nil {
		s.CollectionLimit = *ch.CollectionLimit
	}
	if ch.UserQuota != nil {
		s.UserQuota = *ch.UserQuota
	}
	if ch.TeamQuota != nil {
		s.TeamQuota = *ch.TeamQuota
	}
	if err := r.SetSettings(ctx, a, s); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// HumanSize writes a byte count in binary units with one decimal
// ("1.2 GiB"), as quota messages and the CLI show sizes.
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

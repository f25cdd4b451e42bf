package registry

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
)

// Settings are the registry-wide rules an admin may change while Silo runs.
// They live in the metadata store so that every server sees the same.
type Settings struct {
	PrivateMode     bool  // nothing, not even names, is visible without logging in
	ManagersOnly    bool  // only managers and admins create collections
	DefaultPrivate  bool  // new collections are private
	CollectionLimit int   // collections a plain user may create; 0: no limit
	UserQuota       int64 // bytes a user's collections may hold; 0: no limit
	TeamQuota       int64 // bytes a team's collections may hold; 0: no limit
}

// The keys of Settings in the store.
const (
	keyPrivateMode     = "private-mode"
	keyManagersOnly    = "managers-only"
	keyDefaultPrivate  = "default-private"
	keyCollectionLimit = "collection-limit"
	keyUserQuota       = "user-quota"
	keyTeamQuota       = "team-quota"
)

// settingsTTL bounds how stale a node's view of the settings may be.
const settingsTTL = time.Second

type settingsCache struct {
	mu   sync.Mutex
	at   time.Time
	last Settings
}

// Settings returns the settings in force.
func (r *Registry) Settings(ctx context.Context) (Settings, error) {
	r.settings.mu.Lock()
	defer r.settings.mu.Unlock()
	if time.Since(r.settings.at) < settingsTTL {
		return r.settings.last, nil
	}
	var s Settings
	var err error
	get := func(key string) string {
		if err != nil {
			return ""
		}
		v, e := r.meta.Setting(ctx, key)
		if e != nil && !errors.Is(e, meta.ErrNotFound) {
			err = e
		}
		return v
	}
	s.PrivateMode = get(keyPrivateMode) == "true"
	s.ManagersOnly = get(keyManagersOnly) == "true"
	s.DefaultPrivate = get(keyDefaultPrivate) == "true"
	s.CollectionLimit, _ = strconv.Atoi(get(keyCollectionLimit))
	s.UserQuota, _ = strconv.ParseInt(get(keyUserQuota), 10, 64)
	s.TeamQuota, _ = strconv.ParseInt(get(keyTeamQuota), 10, 64)
	if err != nil {
		return Settings{}, err
	}
	r.settings.at, r.settings.last = time.Now(), s
	return s, nil
}

// SetSettings replaces the settings; admins only.
func (r *Registry) SetSettings(ctx context.Context, a access.Actor, s Settings) error {
	if !r.pol(ctx).CanManageUsers(a) {
		return r.denied(a, "change the registry's settings")
	}
	if s.CollectionLimit < 0 || s.UserQuota < 0 || s.TeamQuota < 0 {
		return errf(Invalid, "limits and quotas cannot be negative")
	}
	kv := map[string]string{
		keyPrivateMode:     strconv.FormatBool(s.PrivateMode),
		keyManagersOnly:    strconv.FormatBool(s.ManagersOnly),
		keyDefaultPrivate:  strconv.FormatBool(s.DefaultPrivate),
		keyCollectionLimit: strconv.Itoa(s.CollectionLimit),
		keyUserQuota:       strconv.FormatInt(s.UserQuota, 10),
		keyTeamQuota:       strconv.FormatInt(s.TeamQuota, 10),
	}
	for k, v := range kv {
		if err := r.meta.SetSetting(ctx, k, v); err != nil {
			return err
		}
	}
	r.settings.mu.Lock()
	r.settings.at = time.Time{}
	r.settings.mu.Unlock()
	r.audit(ctx, a, "settings", "", "")
	return nil
}

// pol is the access policy in force. If the settings cannot be read it
// fails closed: private mode, managers only.
func (r *Registry) pol(ctx context.Context) access.Policy {
	s, err := r.Settings(ctx)
	if err != nil {
		r.log.Error("reading settings; denying what they might allow", "err", err)
		return access.Policy{SharedEntity: r.cfg.Defaults.Entity, PrivateMode: true, ManagersOnly: true}
	}
	return access.Policy{SharedEntity: r.cfg.Defaults.Entity, PrivateMode: s.PrivateMode, ManagersOnly: s.ManagersOnly}
}

// denied is the error for a caller who may not do what: 401 when logging
// in might help, 403 when it would not.
func (r *Registry) denied(a access.Actor, what string) error {
	if !a.LoggedIn() {
		return mustLogIn(a, what)
	}
	return errf(Forbidden, "%s may not %s", a.Name(), what)
}

// audit records an event; a failure to record is logged, not fatal, since
// the operation itself has happened.
func (r *Registry) audit(ctx context.Context, a access.Actor, action, target, detail string) {
	e := &meta.AuditEvent{At: r.now(), Actor: a.Name(), Action: action, Target: target, Remote: a.Remote, Detail: detail}
	if err := r.meta.AddAudit(context.WithoutCancel(ctx), e); err != nil {
		r.log.Error("writing the audit log", "action", action, "target", target, "err", err)
	}
}

package silo

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// The wire types of this file's endpoints. Like those in types.go they are
// exported so that internal/client decodes exactly what is encoded here.

// Team is a team and its members: GET teams/{name}, and the answer to
// every change of a team.
type Team struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	QuotaBytes  int64        `json:"quotaBytes"` // the team's own quota; 0: the registry's default
	Members     []TeamMember `json:"members"`    // sorted by name; never null
}

// TeamMember is one member of a team.
type TeamMember struct {
	Name  string `json:"name"`
	Owner bool   `json:"owner"`
}

// TeamList is GET teams.
type TeamList struct {
	Teams []Team `json:"teams"`
}

// NewTeam is the body of POST teams.
type NewTeam struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// TeamChange is the body of PATCH teams/{name}; absent fields stay.
type TeamChange struct {
	Description *string `json:"description,omitempty"`
	QuotaBytes  *int64  `json:"quotaBytes,omitempty"` // admins only
}

// Membership is the body of PUT teams/{name}/members/{user}.
type Membership struct {
	Owner bool `json:"owner"`
}

// CollectionChange is the body of PATCH collections/{entity}/{collection};
// absent fields stay. Team "" gives the collection back to its creator.
type CollectionChange struct {
	Private *bool   `json:"private,omitempty"`
	Team    *string `json:"team,omitempty"`
}

// Collection is the answer to PATCH collections/{entity}/{collection}.
type Collection struct {
	Name    string `json:"name"` // entity/collection
	Private bool   `json:"private"`
	Team    string `json:"team"`  // the team it was given to, "" for none
	Owner   string `json:"owner"` // whose quota it counts against: "alice", or "team lab" (its own or its entity's)
}

// Frozen is the answer to PUT and DELETE containers/{entity}/{collection}/{container}/frozen.
type Frozen struct {
	Name   string `json:"name"` // entity/collection/container
	Frozen bool   `json:"frozen"`
}

// Settings are the registry-wide settings: GET settings, and the answer
// to PUT settings.
type Settings struct {
	PrivateMode     bool  `json:"privateMode"`
	ManagersOnly    bool  `json:"managersOnly"`
	DefaultPrivate  bool  `json:"defaultPrivate"`
	CollectionLimit int   `json:"collectionLimit"` // 0: no limit
	UserQuota       int64 `json:"userQuota"`       // bytes; 0: no limit
	TeamQuota       int64 `json:"teamQuota"`       // bytes; 0: no limit
}

// SettingsChange is the body of PUT settings: only the fields present
// change, so that two admins changing different settings do not undo
// each other.
type SettingsChange struct {
	PrivateMode     *bool  `json:"privateMode,omitempty"`
	ManagersOnly    *bool  `json:"managersOnly,omitempty"`
	DefaultPrivate  *bool  `json:"defaultPrivate,omitempty"`
	CollectionLimit *int   `json:"collectionLimit,omitempty"`
	UserQuota       *int64 `json:"userQuota,omitempty"`
	TeamQuota       *int64 `json:"teamQuota,omitempty"`
}

// Quota is one owner's usage against their quota.
type Quota struct {
	Name       string `json:"name"`
	UsedBytes  int64  `json:"usedBytes"`  // each distinct image once
	QuotaBytes int64  `json:"quotaBytes"` // the quota in force; 0: no limit
}

// Usage is GET usage: the caller's own, and their teams'; with
// ?storage=true also the storage summary (see storage.go).
type Usage struct {
	User    Quota    `json:"user"`
	Teams   []Quota  `json:"teams"` // never null
	Storage *Storage `json:"storage,omitempty"`
}

// teamRoutes lists the endpoints for teams, collections' privacy and ownership, freezing and settings.
func (a *API) teamRoutes() []route {
	return []route{
		{"GET", "teams", a.listTeams},
		{"POST", "teams", a.createTeam},
		{"GET", "teams/{name}", a.getTeam},
		{"PATCH", "teams/{name}", a.updateTeam},
		{"PUT", "teams/{name}/members/{user}", a.putMember},
		{"DELETE", "teams/{name}/members/{user}", a.deleteMember},
		{"PATCH", "collections/{entity}/{collection}", a.patchCollection},
		{"PUT", "containers/{entity}/{collection}/{container}/frozen", a.setFrozen(true)},
		{"DELETE", "containers/{entity}/{collection}/{container}/frozen", a.setFrozen(false)},
		{"GET", "settings", a.getSettings},
		{"PUT", "settings", a.putSettings},
		{"GET", "usage", a.usage},
	}
}

// maxBody bounds the JSON bodies of this API, which are a few fields
// (a password, a token request, a team change).
const maxBody = 64 << 10

// readBody decodes a JSON body into v, answering 400 itself when it
// cannot. Unknown fields are refused so that a misspelt setting is an
// error rather than a silent no-op.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// answer writes v, or the error; the handlers below all end this way.
func (a *API) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func toTeam(v *registry.TeamView) Team {
	t := Team{Name: v.Team.Name, Description: v.Team.Description, QuotaBytes: v.Team.QuotaBytes, Members: []TeamMember{}}
	for _, m := range v.Members {
		t.Members = append(t.Members, TeamMember{Name: m.Name, Owner: m.Owner})
	}
	return t
}

// teamAnswer is answer for a registry call returning a team.
func (a *API) teamAnswer(w http.ResponseWriter, r *http.Request, status int, v *registry.TeamView, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, status, toTeam(v))
}

func (a *API) listTeams(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	vs, err := a.reg.Teams(r.Context(), act)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := TeamList{Teams: make([]Team, 0, len(vs))}
	for i := range vs {
		out.Teams = append(out.Teams, toTeam(&vs[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) createTeam(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	var body NewTeam
	if !readBody(w, r, &body) {
		return
	}
	v, err := a.reg.CreateTeam(r.Context(), act, body.Name, body.Description)
	a.teamAnswer(w, r, http.StatusCreated, v, err)
}

func (a *API) getTeam(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	v, err := a.reg.Team(r.Context(), act, r.PathValue("name"))
	a.teamAnswer(w, r, http.StatusOK, v, err)
}

func (a *API) updateTeam(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	var body TeamChange
	if !readBody(w, r, &body) {
		return
	}
	v, err := a.reg.UpdateTeam(r.Context(), act, r.PathValue("name"), body.Description, body.QuotaBytes)
	a.teamAnswer(w, r, http.StatusOK, v, err)
}

func (a *API) putMember(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	var body Membership
	if !readBody(w, r, &body) {
		return
	}
	v, err := a.reg.AddMember(r.Context(), act, r.PathValue("name"), r.PathValue("user"), body.Owner)
	a.teamAnswer(w, r, http.StatusOK, v, err)
}

func (a *API) deleteMember(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	v, err := a.reg.RemoveMember(r.Context(), act, r.PathValue("name"), r.PathValue("user"))
	a.teamAnswer(w, r, http.StatusOK, v, err)
}

// patchCollection changes a collection's privacy, its team, or both. The
// collection is looked up before the body is judged, so a caller who may
// not see it learns nothing from a 400 either.
func (a *API) patchCollection(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	entity, name := r.PathValue("entity"), r.PathValue("collection")
	if !act.LoggedIn() {
		writeError(w, http.StatusUnauthorized, "log in to change a collection")
		return
	}
	if _, _, err := a.reg.Collection(r.Context(), act, entity, name); err != nil {
		a.fail(w, r, err)
		return
	}
	var body CollectionChange
	if !readBody(w, r, &body) {
		return
	}
	if body.Private == nil && body.Team == nil {
		writeError(w, http.StatusBadRequest, `nothing to change: give "private" and/or "team"`)
		return
	}
	if body.Team != nil && *body.Team != "" {
		if err := ref.ValidName(*body.Team); err != nil {
			writeError(w, http.StatusBadRequest, "team: "+err.Error())
			return
		}
	}
	ctx := r.Context()
	var (
		e   *meta.Entity
		c   *meta.Collection
		err error
	)
	// The team first: giving a private collection away and publishing it
	// in one call should not publish it if the giving is refused.
	if body.Team != nil {
		if e, c, _, err = a.reg.GiveCollection(ctx, act, entity, name, *body.Team); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if body.Private != nil {
		if e, c, err = a.reg.SetCollectionPrivate(ctx, act, entity, name, *body.Private); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	a.answerCollection(w, r, e, c)
}

// answerCollection writes a collection as PATCH returns it.
func (a *API) answerCollection(w http.ResponseWriter, r *http.Request, e *meta.Entity, c *meta.Collection) {
	ctx := r.Context()
	owner, err := a.reg.CollectionOwner(ctx, e, c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := Collection{Name: e.Name + "/" + c.Name, Private: c.Private, Owner: owner.String()}
	if c.TeamID != 0 {
		out.Team = owner.Team // the collection's own team comes before its entity's
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) setFrozen(frozen bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		act, ok := a.actor(w, r)
		if !ok {
			return
		}
		rf := ref.Ref{Entity: r.PathValue("entity"), Collection: r.PathValue("collection"), Container: r.PathValue("container")}
		for _, s := range []string{rf.Entity, rf.Collection, rf.Container} {
			if err := ref.ValidName(s); err != nil {
				a.fail(w, r, err)
				return
			}
		}
		err := a.reg.SetFrozen(r.Context(), act, rf, frozen)
		a.answer(w, r, http.StatusOK, Frozen{Name: rf.Path(), Frozen: frozen}, err)
	}
}

func toSettings(s registry.Settings) Settings {
	return Settings{
		PrivateMode: s.PrivateMode, ManagersOnly: s.ManagersOnly, DefaultPrivate: s.DefaultPrivate,
		CollectionLimit: s.CollectionLimit, UserQuota: s.UserQuota, TeamQuota: s.TeamQuota,
	}
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	s, err := a.reg.AdminSettings(r.Context(), act)
	a.answer(w, r, http.StatusOK, toSettings(s), err)
}

func (a *API) putSettings(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	var body SettingsChange
	if !readBody(w, r, &body) {
		return
	}
	s, err := a.reg.ChangeSettings(r.Context(), act, registry.SettingsChange{
		PrivateMode: body.PrivateMode, ManagersOnly: body.ManagersOnly, DefaultPrivate: body.DefaultPrivate,
		CollectionLimit: body.CollectionLimit, UserQuota: body.UserQuota, TeamQuota: body.TeamQuota,
	})
	a.answer(w, r, http.StatusOK, toSettings(s), err)
}

func (a *API) usage(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	u, err := a.reg.Usage(r.Context(), act)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := Usage{User: toQuota(u.User), Teams: make([]Quota, 0, len(u.Teams))}
	for _, q := range u.Teams {
		out.Teams = append(out.Teams, toQuota(q))
	}
	if !a.addStorage(w, r, act, &out) {
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func toQuota(q registry.Quota) Quota {
	return Quota{Name: q.Name, UsedBytes: q.Used, QuotaBytes: q.Limit}
}

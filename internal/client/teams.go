package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/ref"
)

// pathSeg escapes one path segment.
func pathSeg(s string) string { return url.PathEscape(s) }

// Teams lists the server's teams and their members.
func (c *Client) Teams(ctx context.Context) ([]silo.Team, error) {
	var out silo.TeamList
	err := c.call(ctx, http.MethodGet, "teams", nil, nil, &out)
	return out.Teams, err
}

// Team returns one team and its members.
func (c *Client) Team(ctx context.Context, name string) (*silo.Team, error) {
	var out silo.Team
	if err := c.call(ctx, http.MethodGet, "teams/"+pathSeg(name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateTeam creates a team; the caller becomes its first owner.
func (c *Client) CreateTeam(ctx context.Context, name, description string) (*silo.Team, error) {
	if err := ref.ValidName(name); err != nil {
		return nil, fmt.Errorf("team name: %w", err)
	}
	if err := c.RequireToken("creating a team"); err != nil {
		return nil, err
	}
	var out silo.Team
	if err := c.call(ctx, http.MethodPost, "teams", nil, silo.NewTeam{Name: name, Description: description}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddMember adds user to team, as an owner or a plain member; for a
// member already there it changes only that.
func (c *Client) AddMember(ctx context.Context, team, user string, owner bool) (*silo.Team, error) {
	if err := c.RequireToken("changing a team"); err != nil {
		return nil, err
	}
	var out silo.Team
	path := "teams/" + pathSeg(team) + "/members/" + pathSeg(user)
	if err := c.call(ctx, http.MethodPut, path, nil, silo.Membership{Owner: owner}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveMember takes user out of team.
func (c *Client) RemoveMember(ctx context.Context, team, user string) (*silo.Team, error) {
	if err := c.RequireToken("changing a team"); err != nil {
		return nil, err
	}
	var out silo.Team
	path := "teams/" + pathSeg(team) + "/members/" + pathSeg(user)
	if err := c.call(ctx, http.MethodDelete, path, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// collectionPath turns "collection" or "entity/collection" into the API
// path of the collection, a one-part name taking the server's default
// entity as push does.
func (c *Client) collectionPath(ctx context.Context, name string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(name, "library://"), "/")
	if len(parts) == 1 {
		in, err := c.Info(ctx)
		if err != nil {
			return "", err
		}
		parts = []string{in.DefaultEntity, parts[0]}
	}
	if len(parts) != 2 {
		return "", fmt.Errorf("%q is not a collection: give collection or entity/collection", name)
	}
	for _, p := range parts {
		if err := ref.ValidName(p); err != nil {
			return "", fmt.Errorf("collection %q: %w", name, err)
		}
	}
	return pathSeg(parts[0]) + "/" + pathSeg(parts[1]), nil
}

// ChangeCollection makes a collection private or public, or gives it to
// a team (ch.Team "": back to its creator).
func (c *Client) ChangeCollection(ctx context.Context, name string, ch silo.CollectionChange) (*silo.Collection, error) {
	p, err := c.collectionPath(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := c.RequireToken("changing a collection"); err != nil {
		return nil, err
	}
	var out silo.Collection
	if err := c.call(ctx, http.MethodPatch, "collections/"+p, nil, ch, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetFrozen freezes a container (its tags cannot move, its images cannot
// be deleted) or unfreezes it. name is a container name in any of the
// push forms; a tag or version in it is refused, since freezing is for
// the whole container.
func (c *Client) SetFrozen(ctx context.Context, name string, frozen bool) (*silo.Frozen, error) {
	n, err := ParseName(name, false)
	if err != nil {
		return nil, err
	}
	if len(n.Tags) > 0 || n.Digest != "" {
		return nil, fmt.Errorf("%s: freezing is for a whole container; give its name without a tag or version", name)
	}
	if err := c.RequireToken("freezing"); err != nil {
		return nil, err
	}
	full, err := c.fullName(ctx, n)
	if err != nil {
		return nil, err
	}
	var escaped []string
	for _, s := range strings.Split(full, "/") {
		escaped = append(escaped, pathSeg(s))
	}
	method := http.MethodPut
	if !frozen {
		method = http.MethodDelete
	}
	var out silo.Frozen
	if err := c.call(ctx, method, "containers/"+strings.Join(escaped, "/")+"/frozen", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Settings returns the registry-wide settings (admins only).
func (c *Client) Settings(ctx context.Context) (*silo.Settings, error) {
	var out silo.Settings
	if err := c.call(ctx, http.MethodGet, "settings", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ChangeSettings changes the settings ch names and returns them all
// (admins only).
func (c *Client) ChangeSettings(ctx context.Context, ch silo.SettingsChange) (*silo.Settings, error) {
	if err := c.RequireToken("changing settings"); err != nil {
		return nil, err
	}
	var out silo.Settings
	if err := c.call(ctx, http.MethodPut, "settings", nil, ch, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Usage returns what the caller's images and their teams' take, against
// their quotas.
func (c *Client) Usage(ctx context.Context) (*silo.Usage, error) {
	if err := c.RequireToken("usage"); err != nil {
		return nil, err
	}
	var out silo.Usage
	if err := c.call(ctx, http.MethodGet, "usage", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

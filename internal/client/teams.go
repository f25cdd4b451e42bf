package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/ref"
)

// jsonRequest sends in (nil: no body) as JSON with the client's token and
// decodes a 2xx answer into out (nil: ignore it); any other answer is the
// server's error.
func (c *Client) jsonRequest(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", c.server, err)
	}
	defer res.Body.Close()
	// Bounded: these are small JSON answers.
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		var eb silo.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
			msg := eb.Error.Message
			if res.StatusCode == http.StatusUnauthorized && c.token == "" {
				msg += ": run `silo login " + c.server + "`"
			}
			return &Error{Status: res.StatusCode, Message: msg}
		}
		return &Error{Status: res.StatusCode, Message: fmt.Sprintf(
			"%s %s%s: %s (is %s a Silo server?)", method, c.server, path, res.Status, c.server)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s answered %s %s with something other than Silo's JSON: %w", c.server, method, path, err)
	}
	return nil
}

// pathSeg escapes one path segment.
func pathSeg(s string) string { return url.PathEscape(s) }

// Teams lists the server's teams and their members.
func (c *Client) Teams(ctx context.Context) ([]silo.Team, error) {
	var out silo.TeamList
	err := c.jsonRequest(ctx, http.MethodGet, silo.Prefix+"teams", nil, &out)
	return out.Teams, err
}

// Team returns one team and its members.
func (c *Client) Team(ctx context.Context, name string) (*silo.Team, error) {
	var out silo.Team
	if err := c.jsonRequest(ctx, http.MethodGet, silo.Prefix+"teams/"+pathSeg(name), nil, &out); err != nil {
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
	if err := c.jsonRequest(ctx, http.MethodPost, silo.Prefix+"teams", silo.NewTeam{Name: name, Description: description}, &out); err != nil {
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
	path := silo.Prefix + "teams/" + pathSeg(team) + "/members/" + pathSeg(user)
	if err := c.jsonRequest(ctx, http.MethodPut, path, silo.Membership{Owner: owner}, &out); err != nil {
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
	path := silo.Prefix + "teams/" + pathSeg(team) + "/members/" + pathSeg(user)
	if err := c.jsonRequest(ctx, http.MethodDelete, path, nil, &out); err != nil {
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
	if err := c.jsonRequest(ctx, http.MethodPatch, silo.Prefix+"collections/"+p, ch, &out); err != nil {
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
	full := n.Path
	if n.Parts < 3 {
		in, err := c.Info(ctx)
		if err != nil {
			return nil, err
		}
		if full, err = n.Full(in.DefaultEntity, in.DefaultCollection); err != nil {
			return nil, err
		}
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
	if err := c.jsonRequest(ctx, method, silo.Prefix+"containers/"+strings.Join(escaped, "/")+"/frozen", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Settings returns the registry-wide settings (admins only).
func (c *Client) Settings(ctx context.Context) (*silo.Settings, error) {
	var out silo.Settings
	if err := c.jsonRequest(ctx, http.MethodGet, silo.Prefix+"settings", nil, &out); err != nil {
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
	if err := c.jsonRequest(ctx, http.MethodPut, silo.Prefix+"settings", ch, &out); err != nil {
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
	if err := c.jsonRequest(ctx, http.MethodGet, silo.Prefix+"usage", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

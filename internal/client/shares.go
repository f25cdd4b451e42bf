package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/siloreg/silo/internal/api/silo"
)

// CreateShare makes a link to the image name names (for arch, when a tag
// names images of several) that lives for expires ("72h", "7d"; empty is
// the server's default). The answer holds the link's URL, which the
// server cannot show again.
func (c *Client) CreateShare(ctx context.Context, name, arch, expires string) (*silo.ShareCreated, error) {
	// Checked here so a bad name fails with the same words before anything
	// is sent; the name goes as typed, for the server to fill its defaults.
	if _, err := ParseName(name, false); err != nil {
		return nil, err
	}
	if err := c.RequireToken("share"); err != nil {
		return nil, err
	}
	var out silo.ShareCreated
	req := silo.ShareRequest{Name: name, Arch: arch, Expires: expires}
	if err := c.call(ctx, http.MethodPost, "shares", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Shares lists the caller's links, or with all everybody's (admins only).
func (c *Client) Shares(ctx context.Context, all bool) ([]silo.Share, error) {
	if err := c.RequireToken("listing share links"); err != nil {
		return nil, err
	}
	var q url.Values
	if all {
		q = url.Values{"all": {"true"}}
	}
	body, err := c.get(ctx, silo.Prefix+"shares", q)
	if err != nil {
		return nil, err
	}
	var list silo.ShareList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decoding the share links from %s: %w", c.server, err)
	}
	return list.Shares, nil
}

// RevokeShare stops link id working and returns it as it now is.
func (c *Client) RevokeShare(ctx context.Context, id int64) (*silo.Share, error) {
	if err := c.RequireToken("revoke"); err != nil {
		return nil, err
	}
	var out silo.Share
	if err := c.call(ctx, http.MethodDelete, "shares/"+strconv.FormatInt(id, 10), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

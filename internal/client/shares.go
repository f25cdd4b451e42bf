package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	if err := c.send(ctx, http.MethodPost, silo.Prefix+"shares", req, &out); err != nil {
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
	if err := c.send(ctx, http.MethodDelete, silo.Prefix+"shares/"+strconv.FormatInt(id, 10), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// send makes a request to Silo's API with the client's token, in as JSON
// (none when nil), and decodes a 2xx answer into out; other answers
// become the server's error.
func (c *Client) send(ctx context.Context, method, path string, in, out any) error {
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
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		var eb silo.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
			return &Error{Status: res.StatusCode, Message: eb.Error.Message}
		}
		return &Error{Status: res.StatusCode, Message: fmt.Sprintf(
			"%s %s%s: %s (is %s a Silo server?)", method, c.server, path, res.Status, c.server)}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s answered %s %s with something other than Silo's JSON: %w", c.server, method, path, err)
	}
	return nil
}

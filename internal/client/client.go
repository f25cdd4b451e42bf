// Package client is the Go client behind the silo CLI verbs: login, push,
// pull, search, ls and delete against one Silo server.
//
// Image transfer, search and delete go through the real library client
// (github.com/apptainer/container-library-client), the code apptainer
// itself runs, so that every CLI push and pull exercises the protocol the
// way apptainer does; only what that protocol cannot express (the
// server's default names, listings with sizes) uses Silo's own API,
// /api/silo/v1/.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	lc "github.com/apptainer/container-library-client/client"
	jsonresp "github.com/apptainer/json-resp"

	"github.com/siloreg/silo/internal/api/silo"
)

// Config says which server to talk to, as whom, and where progress goes.
type Config struct {
	// Server is the base URL, e.g. http://127.0.0.1:8080.
	Server string
	// Token is the API token; empty is anonymous.
	Token string
	// Progress receives progress bars; nil means none at all, which is
	// what scripts and CI logs want.
	Progress io.Writer
	// HTTPClient makes the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// UserAgent is sent with every request when set.
	UserAgent string
}

// Client talks to one Silo server.
type Client struct {
	server   string
	token    string
	progress io.Writer
	http     *http.Client
	ua       string
	lib      *lc.Client
	info     *silo.Info // cached: the defaults do not change under a running client
}

// New returns a client for cfg.Server, which must be an http(s) URL.
func New(cfg Config) (*Client, error) {
	server, err := NormalizeServer(cfg.Server)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	lib, err := lc.NewClient(&lc.Config{BaseURL: server, AuthToken: cfg.Token, UserAgent: cfg.UserAgent, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	return &Client{server: server, token: cfg.Token, progress: cfg.Progress, http: hc, ua: cfg.UserAgent, lib: lib}, nil
}

// NormalizeServer checks that s is an http or https URL with a host and
// drops a trailing slash, so that the same server is always spelt the
// same way (the saved token is only sent to the server it was saved for).
func NormalizeServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("no server URL given")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("server %q is not an http:// or https:// URL (e.g. http://127.0.0.1:8080)", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("server %q: give just the base URL, without user, query or fragment", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Error is a failure the server reported, with its HTTP status and the
// server's own words.
type Error struct {
	Status  int
	Message string
}

// Error returns the server's message, which is written for people.
func (e *Error) Error() string { return e.Message }

// RequireToken returns the error for a write (what: "push", "delete")
// attempted without a token, or nil when the client has one. Callers that
// ask the user something first check it early, so nobody confirms a
// delete only to be told to log in.
func (c *Client) RequireToken(what string) error {
	if c.token != "" {
		return nil
	}
	return &Error{Status: http.StatusUnauthorized, Message: fmt.Sprintf(
		"%s needs a token for %s: run `silo login %s` (or set SILO_TOKEN)", what, c.server, c.server)}
}

// libErr turns an error of the library client into one a person can act
// on: the server's message without the client's wrapping, and the
// library client's bare sentinels spelt out.
func (c *Client) libErr(err error, notFound string) error {
	var je *jsonresp.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, lc.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Message: notFound}
	case errors.As(err, &je):
		if je.Code == http.StatusUnauthorized && c.token == "" {
			return &Error{Status: je.Code, Message: je.Message + ": run `silo login " + c.server + "`"}
		}
		return &Error{Status: je.Code, Message: je.Message}
	case errors.Is(err, lc.ErrUnauthorized):
		return &Error{Status: http.StatusUnauthorized, Message: "not authorized by " + c.server + ": run `silo login " + c.server + "`"}
	}
	return err
}

// get fetches path from the server with the client's token. It returns
// the body of a 2xx answer, or the server's error.
func (c *Client) get(ctx context.Context, path string, query url.Values) ([]byte, error) {
	u := c.server + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", c.server, err)
	}
	defer res.Body.Close()
	// Bounded: these are small JSON answers, and a wrong URL could point
	// at something that streams forever.
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer to GET %s: %w", path, err)
	}
	if res.StatusCode/100 == 2 {
		return body, nil
	}
	var eb silo.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Message != "" {
		return nil, &Error{Status: res.StatusCode, Message: eb.Error.Message}
	}
	return nil, &Error{Status: res.StatusCode, Message: fmt.Sprintf(
		"GET %s%s: %s (is %s a Silo server?)", c.server, path, res.Status, c.server)}
}

// Info returns the server's version and default names.
func (c *Client) Info(ctx context.Context) (*silo.Info, error) {
	if c.info != nil {
		return c.info, nil
	}
	body, err := c.get(ctx, silo.Prefix+"info", nil)
	if err != nil {
		return nil, err
	}
	var info silo.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("%s answered /info with something other than Silo's JSON: %w", c.server, err)
	}
	c.info = &info
	return c.info, nil
}

// TokenStatus asks the server whose token the client holds, the same
// check `apptainer remote login` makes, and returns the user name.
func (c *Client) TokenStatus(ctx context.Context) (string, error) {
	if c.token == "" {
		return "", errors.New("no token given")
	}
	body, err := c.get(ctx, "/v1/token-status", nil)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
			return "", fmt.Errorf("%s refused the token: %s", c.server, e.Message)
		}
		return "", err
	}
	var res struct {
		Data struct {
			Status   string `json:"status"`
			Username string `json:"username"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.Data.Status != "valid" {
		return "", fmt.Errorf("%s gave an unexpected answer to the token check (is it a Silo server?)", c.server)
	}
	return res.Data.Username, nil
}

// ListFilter selects images by exact names and a search text; empty
// fields select everything.
type ListFilter struct {
	Entity, Collection, Container string
	Text                          string
}

// List returns the images the caller may see, with totals.
func (c *Client) List(ctx context.Context, f ListFilter) (*silo.ImageList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"entity": f.Entity, "collection": f.Collection, "container": f.Container, "q": f.Text} {
		if v != "" {
			q.Set(k, v)
		}
	}
	body, err := c.get(ctx, silo.Prefix+"images", q)
	if err != nil {
		return nil, err
	}
	var list silo.ImageList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decoding the image list from %s: %w", c.server, err)
	}
	return &list, nil
}

// call sends a request to Silo's API: in (nil: no body) as JSON,
// query appended, the client's token as Bearer. A 2xx answer is decoded
// into out (nil, or a 204: nothing to decode); anything else is the
// server's error.
// Every request to /api/silo/v1 goes through here.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.server + silo.Prefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
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
	// Bounded: these are small JSON answers (an audit page of 10000 lines
	// is a few MiB).
	b, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		var eb silo.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
			msg := eb.Error.Message
			if res.StatusCode == http.StatusUnauthorized && c.token == "" && path != "login" {
				msg += ": run `silo login " + c.server + "`"
			}
			return &Error{Status: res.StatusCode, Message: msg}
		}
		return &Error{Status: res.StatusCode, Message: fmt.Sprintf(
			"%s %s%s%s: %s (is %s a Silo server?)", method, c.server, silo.Prefix, path, res.Status, c.server)}
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s answered %s %s with something other than Silo's JSON: %w", c.server, method, path, err)
	}
	return nil
}

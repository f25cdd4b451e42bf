package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/siloreg/silo/internal/api/silo"
)

// Login exchanges a user name and password for a new token. It needs no
// token itself; the caller saves the one returned.
func (c *Client) Login(ctx context.Context, username, password string) (*silo.LoginResponse, error) {
	var res silo.LoginResponse
	if err := c.call(ctx, http.MethodPost, "login", nil, silo.LoginRequest{Username: username, Password: password}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Me returns the account the client's token belongs to.
func (c *Client) Me(ctx context.Context) (*silo.User, error) {
	var u silo.User
	if err := c.call(ctx, http.MethodGet, "me", nil, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Tokens lists the caller's tokens, or (admins) user's.
func (c *Client) Tokens(ctx context.Context, user string) ([]silo.Token, error) {
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	var l silo.TokenList
	if err := c.call(ctx, http.MethodGet, "tokens", q, nil, &l); err != nil {
		return nil, err
	}
	return l.Tokens, nil
}

// CreateToken makes a token for the caller and returns it with its
// secret, which the server will not show again.
func (c *Client) CreateToken(ctx context.Context, name string, scopes []string, expires time.Duration) (*silo.NewToken, error) {
	req := silo.TokenRequest{Name: name, Scopes: scopes}
	if expires > 0 {
		req.Expires = expires.String()
	}
	var t silo.NewToken
	if err := c.call(ctx, http.MethodPost, "tokens", nil, req, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// RevokeToken makes token id unusable.
func (c *Client) RevokeToken(ctx context.Context, id int64) error {
	return c.call(ctx, http.MethodDelete, "tokens/"+strconv.FormatInt(id, 10), nil, nil, nil)
}

// Users lists every account (admins only).
func (c *Client) Users(ctx context.Context) ([]silo.User, error) {
	var l silo.UserList
	if err := c.call(ctx, http.MethodGet, "users", nil, nil, &l); err != nil {
		return nil, err
	}
	return l.Users, nil
}

// CreateUser creates an account (admins only).
func (c *Client) CreateUser(ctx context.Context, req silo.NewUserRequest) (*silo.User, error) {
	var u silo.User
	if err := c.call(ctx, http.MethodPost, "users", nil, req, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UpdateUser changes an account: admins anything, users their own email
// and password.
func (c *Client) UpdateUser(ctx context.Context, name string, p silo.UserPatch) (*silo.User, error) {
	var u silo.User
	if err := c.call(ctx, http.MethodPatch, "users/"+url.PathEscape(name), nil, p, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// AuditQuery selects audit events; zero fields select everything.
type AuditQuery struct {
	Actor, Action string
	Since         time.Duration // look back this far
	Limit         int
}

// Audit returns audit events, newest first (admins only).
func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]silo.AuditEvent, error) {
	v := url.Values{}
	if q.Actor != "" {
		v.Set("actor", q.Actor)
	}
	if q.Action != "" {
		v.Set("action", q.Action)
	}
	if q.Since > 0 {
		v.Set("since", q.Since.String())
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var l silo.AuditList
	if err := c.call(ctx, http.MethodGet, "audit", v, nil, &l); err != nil {
		return nil, err
	}
	return l.Events, nil
}

package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/siloreg/silo/internal/api/silo"
)

// Storage returns the caller's usage with the storage summary of
// everything they may see (GET usage?storage=true).
func (c *Client) Storage(ctx context.Context) (*silo.Usage, error) {
	if err := c.RequireToken("du"); err != nil {
		return nil, err
	}
	var out silo.Usage
	if err := c.call(ctx, http.MethodGet, "usage", url.Values{"storage": {"true"}}, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

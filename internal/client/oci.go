package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/siloreg/silo/internal/api/silo"
)

// OCIContent lists the tags of OCI content other than SIF images
// (Docker/OCI images, charts, artifacts) in the container name names.
func (c *Client) OCIContent(ctx context.Context, name string) (*silo.OCIList, error) {
	body, err := c.get(ctx, silo.Prefix+"oci", url.Values{"name": {name}})
	if err != nil {
		return nil, err
	}
	var list silo.OCIList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("decoding the OCI listing from %s: %w", c.server, err)
	}
	return &list, nil
}

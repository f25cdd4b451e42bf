package client

import (
	"context"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// Search asks the library search, as `apptainer search` does, for images
// whose names, tags, description or labels contain text. Rows come back in
// the listing's shape so the CLI prints both alike.
func (c *Client) Search(ctx context.Context, text string) ([]silo.Image, error) {
	text = strings.TrimSpace(text)
	res, err := c.lib.Search(ctx, map[string]string{"value": text})
	if err != nil {
		return nil, c.libErr(err, "search is not available on "+c.server)
	}
	out := make([]silo.Image, 0, len(res.Images))
	for _, im := range res.Images {
		row := silo.Image{
			Name:    im.EntityName + "/" + im.CollectionName + "/" + im.ContainerName,
			Tags:    im.Tags,
			Version: im.Hash,
			Size:    im.Size,
			Created: im.CreatedAt.UTC().Format(time.RFC3339),
		}
		if row.Tags == nil {
			row.Tags = []string{}
		}
		if im.Architecture != nil {
			row.Arch = *im.Architecture
		}
		if im.Signed != nil {
			row.Signed = *im.Signed
		}
		out = append(out, row)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete deletes the image name names (for arch, default runtime.GOARCH)
// and with it every tag pointing at it. The server keeps the bytes while
// another name still uses them.
func (c *Client) Delete(ctx context.Context, name, arch string) error {
	n, err := ParseName(name, false)
	if err != nil {
		return err
	}
	if err := c.RequireToken("delete"); err != nil {
		return err
	}
	if arch == "" {
		arch = runtime.GOARCH
	}
	target := n.Path + ":"
	switch {
	case len(n.Tags) > 0 && n.Digest != "":
		// name:tag@version: the server checks the two agree.
		target = n.Path + ":" + n.Tags[0] + "@sha256." + n.Digest
	case n.Digest != "":
		target += "sha256." + n.Digest
	case len(n.Tags) > 0:
		target += n.Tags[0]
	default:
		target += registry.DefaultTag
	}
	err = c.lib.DeleteImage(ctx, target, arch)
	return c.libErr(err, "image "+target+" for "+arch+" not found")
}

// ListFilterFor reads the `silo ls` filter: a collection, entity/collection,
// or a full entity/collection/container name.
func ListFilterFor(s string) (ListFilter, error) {
	s = strings.Trim(strings.TrimPrefix(s, "library://"), "/")
	if s == "" {
		return ListFilter{}, nil
	}
	segs := strings.Split(s, "/")
	if len(segs) > 3 {
		return ListFilter{}, &ref.Error{Input: s, Reason: "a filter is collection, entity/collection or entity/collection/container"}
	}
	for _, seg := range segs {
		if err := ref.ValidName(seg); err != nil {
			return ListFilter{}, &ref.Error{Input: s, Reason: reason(err)}
		}
	}
	switch len(segs) {
	case 1:
		return ListFilter{Collection: segs[0]}, nil
	case 2:
		return ListFilter{Entity: segs[0], Collection: segs[1]}, nil
	}
	return ListFilter{Entity: segs[0], Collection: segs[1], Container: segs[2]}, nil
}

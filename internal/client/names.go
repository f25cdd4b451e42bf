package client

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/siloreg/silo/internal/ref"
)

// Name is an image name as the user typed it, checked by internal/ref
// before anything is sent, so a bad name fails early with the same words
// the server would use.
type Name struct {
	// Path is the container path as typed: container, collection/container
	// or entity/collection/container. It is sent as it is, so the server
	// fills in its own defaults.
	Path string
	// Parts is how many segments Path has (1–3).
	Parts int
	// Container is the last segment.
	Container string
	// Tags are the tags given (several only for push), none when absent.
	Tags []string
	// Digest is the 64-hex version given after '@' or as a sha256. tag.
	Digest string
}

// placeholder stands in for the server's defaults while validating: the
// client does not know them, and does not need to, to check the syntax.
var placeholder = ref.Defaults{Entity: "default", Collection: "default"}

// ParseName checks an image name. With multiTag, the tag part may list
// several tags separated by commas, as `apptainer push` accepts.
func ParseName(s string, multiTag bool) (Name, error) {
	var extra []string
	if multiTag {
		before, version, hasVersion := strings.Cut(s, "@")
		if path, tags, ok := strings.Cut(before, ":"); ok && strings.Contains(tags, ",") {
			all := strings.Split(tags, ",")
			for _, t := range all[1:] {
				if err := ref.ValidTag(t); err != nil {
					return Name{}, &ref.Error{Input: s, Reason: reason(err)}
				}
			}
			extra = all[1:]
			s = path + ":" + all[0]
			if hasVersion {
				s += "@" + version
			}
		}
	}
	rf, err := ref.Parse(s, placeholder)
	if err != nil {
		return Name{}, err
	}
	trimmed := strings.TrimPrefix(strings.TrimPrefix(s, "library://"), "/")
	path, _, _ := strings.Cut(trimmed, "@")
	path, _, _ = strings.Cut(path, ":")
	n := Name{Path: path, Parts: strings.Count(path, "/") + 1, Container: rf.Container, Digest: rf.Digest}
	if rf.Tag != "" {
		n.Tags = append(n.Tags, rf.Tag)
	}
	for _, t := range extra {
		if !slices.Contains(n.Tags, t) {
			n.Tags = append(n.Tags, t)
		}
	}
	return n, nil
}

// Full returns the three-part path, filling what the name leaves out from
// the server's defaults.
func (n Name) Full(entity, collection string) (string, error) {
	segs := strings.Split(n.Path, "/")
	switch len(segs) {
	case 1:
		segs = []string{entity, collection, segs[0]}
	case 2:
		segs = []string{entity, segs[0], segs[1]}
	}
	for _, s := range segs[:2] {
		if err := ref.ValidName(s); err != nil {
			return "", errors.New("the server's default names are not usable (" + reason(err) + "): give the full entity/collection/container name")
		}
	}
	return strings.Join(segs, "/"), nil
}

// reason is the part of a ref error that says what is wrong.
func reason(err error) string {
	var e *ref.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return err.Error()
}

// fullName is n as entity/collection/container, a short name taking the
// server's defaults, the same ones the server would apply to it anywhere
// else.
func (c *Client) fullName(ctx context.Context, n Name) (string, error) {
	if n.Parts >= 3 {
		return n.Path, nil
	}
	in, err := c.Info(ctx)
	if err != nil {
		return "", err
	}
	return n.Full(in.DefaultEntity, in.DefaultCollection)
}

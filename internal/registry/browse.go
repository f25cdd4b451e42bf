package registry

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

// Browsing: the questions the web pages ask. Each answers from Find, so
// what an actor sees here is exactly what the APIs list for them.

// ContainerHit is a container in a listing: its newest image, its tags
// and architectures across every image, and sums over its images.
type ContainerHit struct {
	Latest    meta.ImageRecord // newest uploaded image
	Tags      []string         // sorted, distinct
	Archs     []string         // sorted, distinct
	Images    int
	Bytes     int64 // every image's size
	Downloads int64
	Signed    bool // the newest image is signed
}

// Path is entity/collection/container.
func (h *ContainerHit) Path() string {
	return h.Latest.Entity + "/" + h.Latest.Collection + "/" + h.Latest.Container
}

// group folds image records (newest first, as Find returns them) into
// containers, in the order each container first appears.
func group(recs []meta.ImageRecord) []ContainerHit {
	idx := map[int64]int{}
	var out []ContainerHit
	tags := map[int64]map[string]bool{}
	archs := map[int64]map[string]bool{}
	for i := range recs {
		rec := &recs[i]
		j, ok := idx[rec.ContainerID]
		if !ok {
			j = len(out)
			idx[rec.ContainerID] = j
			out = append(out, ContainerHit{Latest: *rec, Signed: rec.Signed})
			tags[rec.ContainerID], archs[rec.ContainerID] = map[string]bool{}, map[string]bool{}
		}
		h := &out[j]
		h.Images++
		h.Bytes += rec.Size
		h.Downloads += rec.Downloads
		for _, t := range rec.Tags {
			tags[rec.ContainerID][t.Name] = true
		}
		if rec.Arch != "" {
			archs[rec.ContainerID][rec.Arch] = true
		}
	}
	for i := range out {
		id := out[i].Latest.ContainerID
		out[i].Tags, out[i].Archs = sortedKeys(tags[id]), sortedKeys(archs[id])
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Overview is what a registry's front page shows.
type Overview struct {
	Recent      []ContainerHit // most recently pushed first
	MostPulled  []ContainerHit // most downloads first; only pulled ones
	Collections int
	Containers  int
	Images      int
	Bytes       int64 // every image's size
	StoredBytes int64 // each distinct digest once
}

// Overview summarises what the actor may see; n bounds each list.
func (r *Registry) Overview(ctx context.Context, a access.Actor, n int) (*Overview, error) {
	recs, err := r.Find(ctx, a, meta.Query{})
	if err != nil {
		return nil, err
	}
	hits := group(recs)
	o := &Overview{Containers: len(hits), Images: len(recs)}
	colls := map[string]bool{}
	for i := range recs {
		colls[recs[i].Entity+"/"+recs[i].Collection] = true
	}
	t := tally("", recs)
	o.Bytes, o.StoredBytes = t.Bytes, t.Stored
	o.Collections = len(colls)
	o.Recent = hits[:min(n, len(hits))]
	var pulled []ContainerHit
	for _, h := range hits {
		if h.Downloads > 0 {
			pulled = append(pulled, h)
		}
	}
	sort.SliceStable(pulled, func(i, j int) bool { return pulled[i].Downloads > pulled[j].Downloads })
	o.MostPulled = pulled[:min(n, len(pulled))]
	return o, nil
}

// SearchQuery is a search with the web page's filters.
type SearchQuery struct {
	Text       string
	Arch       string    // exact architecture
	Owner      string    // exact entity name
	SignedOnly bool      // only containers whose newest matching image is signed
	Since      time.Time // only images pushed at or after it; zero: any time
	Offset     int       // containers to skip
	Limit      int       // containers per page; 0: all
}

// SearchPage is one page of containers matching a search.
type SearchPage struct {
	Hits  []ContainerHit
	Total int // containers matching, on every page
}

// Search finds the containers with images matching q that the actor may
// see, newest first, a page at a time.
func (r *Registry) Search(ctx context.Context, a access.Actor, q SearchQuery) (*SearchPage, error) {
	if q.Owner != "" {
		if err := ref.ValidName(q.Owner); err != nil {
			return nil, errf(Invalid, "owner: %v", err)
		}
	}
	if q.Offset < 0 || q.Limit < 0 {
		return nil, errf(Invalid, "a page cannot start or end before the first result")
	}
	recs, err := r.Find(ctx, a, meta.Query{Text: q.Text, Entity: q.Owner, Arch: q.Arch, SignedOnly: q.SignedOnly})
	if err != nil {
		return nil, err
	}
	if !q.Since.IsZero() {
		kept := recs[:0]
		for _, rec := range recs {
			if !rec.Created.Before(q.Since) {
				kept = append(kept, rec)
			}
		}
		recs = kept
	}
	hits := group(recs)
	p := &SearchPage{Total: len(hits)}
	from := min(q.Offset, len(hits))
	to := len(hits)
	if q.Limit > 0 {
		to = min(from+q.Limit, len(hits))
	}
	p.Hits = hits[from:to]
	return p, nil
}

// CollectionPage is a collection with what the page about it shows.
type CollectionPage struct {
	Entity     *meta.Entity
	Collection *meta.Collection
	Owner      Owner
	Containers []ContainerHit
	Stars      int64
	Starred    bool // by the actor
	CanWrite   bool // the actor may push to it
	CanManage  bool // the actor may make it private or public
	Stored     int64
}

// CollectionPage returns a collection the actor may see, with its
// containers and stars.
func (r *Registry) CollectionPage(ctx context.Context, a access.Actor, entity, name string) (*CollectionPage, error) {
	e, c, err := r.Collection(ctx, a, entity, name)
	if err != nil {
		return nil, err
	}
	recs, err := r.Find(ctx, a, meta.Query{Entity: e.Name, Collection: c.Name})
	if err != nil {
		return nil, err
	}
	o, err := r.CollectionOwner(ctx, e, c)
	if err != nil {
		return nil, err
	}
	pol := r.pol(ctx)
	p := &CollectionPage{Entity: e, Collection: c, Owner: o, Containers: group(recs),
		CanWrite: pol.CanWrite(a, e, c), CanManage: pol.CanManageCollection(a, e, c)}
	p.Stored = tally("", recs).Stored
	if p.Stars, p.Starred, err = r.meta.Stars(ctx, c.ID, a.ID()); err != nil {
		return nil, err
	}
	return p, nil
}

// Star stars (on) or unstars a collection the actor may see. Any logged-in
// user may star what they can read; a star changes nothing but the count.
func (r *Registry) Star(ctx context.Context, a access.Actor, entity, name string, on bool) error {
	if !a.LoggedIn() {
		return mustLogIn(a, "star collections")
	}
	_, c, err := r.Collection(ctx, a, entity, name)
	if err != nil {
		return err
	}
	return r.meta.SetStar(ctx, a.ID(), c.ID, on)
}

// Version is an uploaded image of a container with who pushed it.
type Version struct {
	meta.ImageRecord
	Pusher string // user name; "" when unknown
}

// ContainerPage is a container with its versions, newest first.
type ContainerPage struct {
	ContainerView
	Versions []Version
	Tags     []meta.Tag // sorted by name, then arch
	CanWrite bool
}

// ContainerPage returns a container the actor may see with its uploaded
// images and tags.
func (r *Registry) ContainerPage(ctx context.Context, a access.Actor, rf ref.Ref) (*ContainerPage, error) {
	v, err := r.Container(ctx, a, rf)
	if err != nil {
		return nil, err
	}
	recs, err := r.Find(ctx, a, meta.Query{Entity: v.Entity.Name, Collection: v.Collection.Name, Container: v.Container.Name})
	if err != nil {
		return nil, err
	}
	tags, err := r.meta.Tags(ctx, v.Container.ID)
	if err != nil {
		return nil, err
	}
	sort.Slice(tags, func(i, j int) bool {
		if tags[i].Name != tags[j].Name {
			return tags[i].Name < tags[j].Name
		}
		return tags[i].Arch < tags[j].Arch
	})
	p := &ContainerPage{ContainerView: *v, Tags: tags, CanWrite: r.pol(ctx).CanWrite(a, v.Entity, v.Collection)}
	names := map[int64]string{}
	for _, rec := range recs {
		name, ok := names[rec.PushedBy]
		if !ok && rec.PushedBy != 0 {
			u, err := r.meta.User(ctx, rec.PushedBy)
			if err != nil && !errors.Is(err, meta.ErrNotFound) {
				return nil, err
			}
			if u != nil {
				name = u.Name
			}
			names[rec.PushedBy] = name
		}
		p.Versions = append(p.Versions, Version{ImageRecord: rec, Pusher: name})
	}
	return p, nil
}

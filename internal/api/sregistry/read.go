package sregistry

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// containerJSON is sregistry's container serializer. A "container" there
// is one collection/name:tag; here it is a tag of an image, and its id is
// the image's.
type containerJSON struct {
	ID         int64          `json:"id"`
	Name       string         `json:"name"`
	Image      string         `json:"image,omitempty"` // detail views only: the download URL
	Tag        string         `json:"tag"`
	AddDate    string         `json:"add_date"`
	Metrics    map[string]any `json:"metrics"`
	Version    string         `json:"version"`
	Frozen     bool           `json:"frozen"`
	Metadata   map[string]any `json:"metadata"`
	Collection string         `json:"collection"`
}

// collectionJSON is sregistry's collection serializer.
type collectionJSON struct {
	ID         int64             `json:"id"`
	Name       string            `json:"name"`
	AddDate    string            `json:"add_date"`
	ModifyDate string            `json:"modify_date"`
	Metadata   map[string]any    `json:"metadata"`
	Containers []collectionEntry `json:"containers"`
}

type collectionEntry struct {
	Name   string `json:"name"`
	Tag    string `json:"tag"`
	URI    string `json:"uri"`
	Detail string `json:"detail"`
}

func date(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// uri is sregistry's Container.get_uri: the version is part of it only for
// frozen containers.
func uri(collection, name, tag, digest string, frozen bool) string {
	u := collection + "/" + name + ":" + tag
	if frozen {
		u += "@sha256." + digest
	}
	return u
}

func metadata(im *meta.Image) map[string]any {
	m := map[string]any{"size_mb": im.Size >> 20, "size": im.Size, "arch": im.Arch}
	if len(im.Labels) > 0 {
		m["labels"] = im.Labels
	}
	return m
}

func containerOf(collection, name string, frozen bool, im *meta.Image, tag meta.Tag) containerJSON {
	return containerJSON{
		ID: im.ID, Name: name, Tag: tag.Name, AddDate: date(tag.Updated),
		Metrics: map[string]any{"downloads": im.Downloads}, Version: "sha256." + im.Digest,
		Frozen: frozen, Metadata: metadata(im), Collection: collection,
	}
}

// rows lists the sregistry containers (one per tag) the actor may see, in
// collection and container when they are not empty.
func (a *API) rows(r *http.Request, act access.Actor, q meta.Query) ([]containerJSON, []meta.ImageRecord, error) {
	q.Entity = a.entity()
	recs, err := a.reg.Find(r.Context(), act, q)
	if err != nil {
		return nil, nil, err
	}
	var out []containerJSON
	for i := range recs {
		rec := &recs[i]
		seen := map[string]bool{}
		for _, t := range rec.Tags {
			if seen[t.Name] {
				continue // one row per tag, whatever the architectures
			}
			seen[t.Name] = true
			out = append(out, containerOf(rec.Collection, rec.Container, rec.Frozen, &rec.Image, t))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Collection != out[j].Collection {
			return out[i].Collection < out[j].Collection
		}
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Tag < out[j].Tag
	})
	return out, recs, nil
}

// pageSize is how many results one page of a list holds (DRF's pagination).
const pageSize = 100

// paginate answers DRF's page-number pagination, which sregistry-cli's
// _paginate_get follows through "next".
func (a *API) paginate(w http.ResponseWriter, r *http.Request, items []any) {
	page := 1
	if p := r.URL.Query().Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || (n-1)*pageSize >= max(len(items), 1) {
			detail(w, http.StatusNotFound, "Invalid page.")
			return
		}
		page = n
	}
	lo, hi := (page-1)*pageSize, min(page*pageSize, len(items))
	link := func(n int) any {
		if n < 1 || (n-1)*pageSize >= len(items) {
			return nil
		}
		return a.baseURL(r) + r.URL.Path + "?page=" + strconv.Itoa(n)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"count": len(items), "next": link(page + 1), "previous": link(page - 1), "results": items[lo:hi],
	})
}

// collections groups rows by collection, in the order given.
func (a *API) collections(r *http.Request, act access.Actor, rows []containerJSON) ([]collectionJSON, error) {
	var out []collectionJSON
	index := map[string]int{}
	for _, c := range rows {
		i, ok := index[c.Collection]
		if !ok {
			_, col, err := a.reg.Collection(r.Context(), act, a.entity(), c.Collection)
			if err != nil {
				return nil, err
			}
			i = len(out)
			index[c.Collection] = i
			out = append(out, collectionJSON{ID: col.ID, Name: col.Name, AddDate: date(col.Created), ModifyDate: date(col.Updated),
				Metadata: map[string]any{}, Containers: []collectionEntry{}})
		}
		out[i].Containers = append(out[i].Containers, collectionEntry{Name: c.Name, Tag: c.Tag,
			URI:    uri(c.Collection, c.Name, c.Tag, strings.TrimPrefix(c.Version, "sha256."), c.Frozen),
			Detail: a.baseURL(r) + "/api/containers/" + strconv.FormatInt(c.ID, 10)})
	}
	return out, nil
}

func (a *API) listCollections(w http.ResponseWriter, r *http.Request) {
	act, err := a.actor(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rows, _, err := a.rows(r, act, meta.Query{})
	if err == nil {
		var cols []collectionJSON
		if cols, err = a.collections(r, act, rows); err == nil {
			items := make([]any, len(cols))
			for i := range cols {
				items[i] = cols[i]
			}
			a.paginate(w, r, items)
			return
		}
	}
	a.fail(w, r, err)
}

func (a *API) collectionByID(w http.ResponseWriter, r *http.Request) {
	act, err := a.actor(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		detail(w, http.StatusNotFound, "Not found.")
		return
	}
	e, c, err := a.reg.CollectionByID(r.Context(), act, id)
	if err != nil || e.Name != a.entity() {
		detail(w, http.StatusNotFound, "Not found.")
		return
	}
	a.writeCollection(w, r, act, c)
}

// writeCollection answers one collection with its containers.
func (a *API) writeCollection(w http.ResponseWriter, r *http.Request, act access.Actor, c *meta.Collection) {
	rows, _, err := a.rows(r, act, meta.Query{Collection: c.Name})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cols, err := a.collections(r, act, rows)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(cols) == 0 {
		cols = []collectionJSON{{ID: c.ID, Name: c.Name, AddDate: date(c.Created), ModifyDate: date(c.Updated),
			Metadata: map[string]any{}, Containers: []collectionEntry{}}}
	}
	writeJSON(w, http.StatusOK, cols[0])
}

// collection serves collection/<name> and collection/search/<query>. A
// collection that is missing or hidden from the caller answers {}, as
// sregistry answers for a missing one.
func (a *API) collection(w http.ResponseWriter, r *http.Request) {
	act, err := a.actor(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rest := strings.TrimSuffix(r.PathValue("rest"), "/")
	if q, ok := strings.CutPrefix(rest, "search/"); ok {
		rows, _, err := a.rows(r, act, meta.Query{Text: strings.ToLower(q)})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		cols, err := a.collections(r, act, rows)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if cols == nil {
			cols = []collectionJSON{}
		}
		writeJSON(w, http.StatusOK, cols)
		return
	}
	_, c, err := a.reg.Collection(r.Context(), act, a.entity(), strings.ToLower(rest))
	if err != nil {
		if registry.KindOf(err) == registry.NotFound || registry.KindOf(err) == registry.Invalid {
			writeJSON(w, http.StatusOK, map[string]any{})
			return
		}
		a.fail(w, r, err)
		return
	}
	a.writeCollection(w, r, act, c)
}

func (a *API) listContainers(w http.ResponseWriter, r *http.Request) {
	act, err := a.actor(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rows, _, err := a.rows(r, act, meta.Query{})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	items := make([]any, len(rows))
	for i := range rows {
		items[i] = rows[i]
	}
	a.paginate(w, r, items)
}

func (a *API) containerByID(w http.ResponseWriter, r *http.Request) {
	act, err := a.actor(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		detail(w, http.StatusNotFound, "Not found.")
		return
	}
	iv, err := a.reg.ImageByID(r.Context(), act, id)
	if err != nil || iv.Entity.Name != a.entity() || !iv.Image.Uploaded || len(iv.Tags) == 0 {
		detail(w, http.StatusNotFound, "Not found.")
		return
	}
	writeJSON(w, http.StatusOK, a.single(r, iv, iv.Tags[0]))
}

// single is the detail view of one container, with its download URL.
func (a *API) single(r *http.Request, iv *registry.ImageView, tag meta.Tag) containerJSON {
	c := containerOf(iv.Collection.Name, iv.Container.Name, iv.Container.Frozen, iv.Image, tag)
	c.Image = a.downloadURL(r, iv.Image.Digest)
	return c
}

// parseName reads sregistry's <collection>/<name>[:<tag>][@<version>].
func (a *API) parseName(s string) (ref.Ref, error) {
	s = strings.TrimSuffix(s, "/")
	rf := ref.Ref{Entity: a.entity()}
	col, rest, ok := strings.Cut(s, "/")
	if !ok || col == "" || rest == "" {
		return rf, &registry.Error{Kind: registry.Invalid, Msg: "want <collection>/<container>[:<tag>][@<version>], got " + strconv.Quote(s)}
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		v := rest[i+1:]
		rest = rest[:i]
		hexd, ok := strings.CutPrefix(v, "sha256.")
		if !ok {
			return rf, &registry.Error{Kind: registry.NotFound, Msg: "version " + v + " not found: versions are sha256.<hex>"}
		}
		rf.Digest = hexd
	}
	name, tag, _ := strings.Cut(rest, ":")
	rf.Collection, rf.Container, rf.Tag = strings.ToLower(col), name, tag
	return rf, nil
}

// container serves container/<collection>/<name>[:<tag>][@<version>] and
// the container searches. A public container answers anyone. For any
// other, an anonymous caller is told "Authentication Required" (403),
// whether it is private or missing, so sregistry-cli retries signed (pull)
// and a stranger learns nothing; a caller who is known but may not see it
// is told it was not found.
func (a *API) container(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	if q, ok := strings.CutPrefix(rest, "search/"); ok {
		a.containerSearch(w, r, q)
		return
	}
	rf, err := a.parseName(rest)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	tag := rf.Tag
	if tag == "" {
		tag = registry.DefaultTag
	}
	var act access.Actor
	if isSigned(r) {
		act, err = a.signed(r, "pull", rf.Collection, rf.Container, tag)
	} else {
		act, err = a.actor(r)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	iv, err := a.reg.ResolveImage(r.Context(), act, rf, "")
	if err == nil && !iv.Image.Uploaded {
		err = &registry.Error{Kind: registry.NotFound, Msg: "Container Not Found"}
	}
	if err != nil {
		if registry.KindOf(err) == registry.NotFound {
			if !act.LoggedIn() {
				detail(w, http.StatusForbidden, "Authentication Required")
				return
			}
			detail(w, http.StatusNotFound, "Container Not Found")
			return
		}
		a.fail(w, r, err)
		return
	}
	t := meta.Tag{Name: tag, Updated: iv.Image.Created}
	for _, x := range iv.Tags {
		if rf.Tag == "" && rf.Digest != "" || x.Name == tag {
			t = x
			break
		}
	}
	writeJSON(w, http.StatusOK, a.single(r, iv, t))
}

// containerSearch serves container/search/[collection/<c>/]name/<n>[/tag/<t>].
func (a *API) containerSearch(w http.ResponseWriter, r *http.Request, q string) {
	act, err := a.actor(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	parts := strings.Split(strings.Trim(q, "/"), "/")
	var collection, name, tag string
	for len(parts) >= 2 {
		switch parts[0] {
		case "collection":
			collection = parts[1]
		case "name":
			name = parts[1]
		case "tag":
			tag = parts[1]
		default:
			detail(w, http.StatusNotFound, "Not found.")
			return
		}
		parts = parts[2:]
	}
	if len(parts) != 0 || name == "" {
		detail(w, http.StatusNotFound, "Not found.")
		return
	}
	rows, _, err := a.rows(r, act, meta.Query{Collection: strings.ToLower(collection)})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []containerJSON{}
	for _, c := range rows {
		if strings.Contains(c.Name, strings.ToLower(name)) && (tag == "" || c.Tag == tag) {
			out = append(out, c)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type labelJSON struct {
	Key        string   `json:"key"`
	Value      string   `json:"value"`
	Containers []string `json:"containers"`
}

// labels serves labels/search[/<key>/key][/<value>/value].
func (a *API) labels(w http.ResponseWriter, r *http.Request) {
	act, err := a.actor(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var key, value string
	parts := strings.Split(strings.Trim(r.PathValue("rest"), "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "":
	case len(parts) == 2 && parts[1] == "key":
		key = parts[0]
	case len(parts) == 2 && parts[1] == "value":
		value = parts[0]
	case len(parts) == 4 && parts[1] == "key" && parts[3] == "value":
		key, value = parts[0], parts[2]
	default:
		detail(w, http.StatusNotFound, "Not found.")
		return
	}
	_, recs, err := a.rows(r, act, meta.Query{})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	byKV := map[[2]string]*labelJSON{}
	var order [][2]string
	for _, rec := range recs {
		for k, v := range rec.Labels {
			if (key != "" && !strings.EqualFold(k, key)) || (value != "" && !strings.EqualFold(v, value)) {
				continue
			}
			kv := [2]string{k, v}
			l := byKV[kv]
			if l == nil {
				l = &labelJSON{Key: k, Value: v, Containers: []string{}}
				byKV[kv] = l
				order = append(order, kv)
			}
			seen := map[string]bool{}
			for _, t := range rec.Tags {
				if !seen[t.Name] {
					seen[t.Name] = true
					l.Containers = append(l.Containers, uri(rec.Collection, rec.Container, t.Name, rec.Digest, rec.Frozen))
				}
			}
		}
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i][0] != order[j][0] {
			return order[i][0] < order[j][0]
		}
		return order[i][1] < order[j][1]
	})
	out := make([]labelJSON, 0, len(order))
	for _, kv := range order {
		sort.Strings(byKV[kv].Containers)
		out = append(out, *byKV[kv])
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) identity(w http.ResponseWriter, r *http.Request) {
	base := a.baseURL(r)
	id := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	writeJSON(w, http.StatusOK, map[string]string{"name": a.cfg.Name, "id": id, "url": base})
}

package library

import (
	"net/http"
	"strings"

	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
)

func (a *API) getEntity(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	e, err := a.reg.Entity(r.Context(), act, r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toEntity(e))
}

func (a *API) createEntity(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	var body struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if !decode(w, r, &body) {
		return
	}
	e, err := a.reg.CreateEntity(r.Context(), act, body.Name, body.Description)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toEntity(e))
}

func (a *API) getCollection(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	e, c, err := a.reg.Collection(r.Context(), act, r.PathValue("entity"), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toCollection(e, c))
}

func (a *API) createCollection(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	var body struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Entity      string `json:"entity"`
		Private     bool   `json:"private"`
	}
	if !decode(w, r, &body) {
		return
	}
	entityID, ok := parseID(body.Entity)
	if !ok {
		writeError(w, http.StatusBadRequest, "collection needs the id of its entity")
		return
	}
	c, err := a.reg.CreateCollection(r.Context(), act, entityID, body.Name, noDesc(body.Description), body.Private)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e, c, err := a.reg.CollectionByID(r.Context(), act, c.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toCollection(e, c))
}

// noDesc drops the placeholder the clients send for "no description".
func noDesc(s string) string {
	if strings.EqualFold(s, "No description") {
		return ""
	}
	return s
}

func (a *API) getContainer(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	rf := ref.Ref{Entity: r.PathValue("entity"), Collection: r.PathValue("collection"), Container: r.PathValue("name")}
	v, err := a.reg.Container(r.Context(), act, rf)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	tags, err := a.reg.Tags(r.Context(), act, v.Container.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toContainer(v, tags))
}

func (a *API) createContainer(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	var body struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Collection  string `json:"collection"`
	}
	if !decode(w, r, &body) {
		return
	}
	collectionID, ok := parseID(body.Collection)
	if !ok {
		writeError(w, http.StatusBadRequest, "container needs the id of its collection")
		return
	}
	v, err := a.reg.CreateContainer(r.Context(), act, collectionID, body.Name, noDesc(body.Description))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toContainer(v, nil))
}

func (a *API) getImage(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	rf, err := a.parseRef(r.PathValue("ref"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	iv, err := a.reg.ResolveImage(r.Context(), act, rf, r.URL.Query().Get("arch"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toImage(iv))
}

func (a *API) createImage(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	var body struct {
		Hash        string `json:"hash"`
		Description string `json:"description"`
		Container   string `json:"container"`
	}
	if !decode(w, r, &body) {
		return
	}
	containerID, ok := parseID(body.Container)
	if !ok {
		writeError(w, http.StatusBadRequest, "image needs the id of its container")
		return
	}
	digest, err := ref.ParseDigest(body.Hash)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	iv, err := a.reg.CreateImage(r.Context(), act, containerID, digest, body.Description)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toImage(iv))
}

func (a *API) deleteImage(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	rf, err := a.parseRef(r.PathValue("ref"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	iv, err := a.reg.DeleteImage(r.Context(), act, rf, r.URL.Query().Get("arch"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toImage(iv))
}

func (a *API) getTags(v2 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		act, ok := a.actor(w, r)
		if !ok {
			return
		}
		containerID, ok := parseID(r.PathValue("container"))
		if !ok {
			writeError(w, http.StatusNotFound, "container not found")
			return
		}
		v, err := a.reg.ContainerByID(r.Context(), act, containerID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		tags, err := a.reg.Tags(r.Context(), act, containerID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		cj := toContainer(v, tags)
		if v2 {
			writeJSON(w, http.StatusOK, cj.ArchTags)
		} else {
			writeJSON(w, http.StatusOK, cj.ImageTags)
		}
	}
}

func (a *API) setTags(v2 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		act, ok := a.actor(w, r)
		if !ok {
			return
		}
		containerID, ok := parseID(r.PathValue("container"))
		if !ok {
			writeError(w, http.StatusNotFound, "container not found")
			return
		}
		// The clients send Go's default field names (Tag, ImageID, Arch);
		// the OpenAPI file spells them tag and imageID. JSON keys match
		// case-insensitively, so one struct takes both.
		var body struct {
			Tag     string
			ImageID string
			Arch    string
		}
		if !decode(w, r, &body) {
			return
		}
		imageID, ok := parseID(body.ImageID)
		if !ok || body.Tag == "" {
			writeError(w, http.StatusBadRequest, "a tag needs Tag and ImageID")
			return
		}
		arch := body.Arch
		if !v2 {
			arch = ""
		}
		if err := a.reg.SetTag(r.Context(), act, containerID, arch, body.Tag, imageID); err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"tag": body.Tag, "imageID": body.ImageID})
	}
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	value := strings.TrimSpace(q.Get("value"))
	if len(value) < 3 {
		writeError(w, http.StatusBadRequest, "search needs at least 3 characters")
		return
	}
	query := meta.Query{Text: value, SignedOnly: q.Get("signed") == "true", Limit: 200}
	// The CLI always sends its own arch; a comma list means any of them.
	arches := strings.Split(q.Get("arch"), ",")
	var out searchJSON
	out.Entity, out.Collection, out.Container, out.Image = []entityJSON{}, []collectionJSON{}, []containerJSON{}, []imageJSON{}
	for _, arch := range arches {
		query.Arch = strings.TrimSpace(arch)
		recs, err := a.reg.Find(r.Context(), act, query)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for i := range recs {
			out.Image = append(out.Image, recordToImage(&recs[i]))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

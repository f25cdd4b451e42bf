package oci

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/siloreg/silo/internal/registry"
)

func (a *API) getManifest(w http.ResponseWriter, r *http.Request, rt route) {
	_, v, ok := a.repo(w, r, rt, "pull")
	if !ok {
		return
	}
	m, err := a.reg.OCIManifest(r.Context(), v, rt.target)
	if err != nil {
		a.fail(w, r, err, registry.CodeManifestUnknown, registry.CodeManifestInvalid)
		return
	}
	w.Header().Set("Content-Type", m.MediaType)
	w.Header().Set("Docker-Content-Digest", m.Digest)
	w.Header().Set("ETag", `"`+m.Digest+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.Body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(m.Body)
}

func (a *API) putManifest(w http.ResponseWriter, r *http.Request, rt route) {
	c, v, ok := a.repo(w, r, rt, "push")
	if !ok {
		return
	}
	if r.ContentLength > registry.MaxManifestSize {
		writeErr(w, http.StatusRequestEntityTooLarge, registry.CodeSizeInvalid, "manifest too large")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, registry.MaxManifestSize+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, registry.CodeManifestInvalid, "reading the manifest: "+err.Error())
		return
	}
	tags := r.URL.Query()["tag"]
	m, err := a.reg.OCIPutManifest(r.Context(), c.Actor, v, rt.target, r.Header.Get("Content-Type"), body, tags...)
	if err != nil {
		a.fail(w, r, err, registry.CodeManifestUnknown, registry.CodeManifestInvalid)
		return
	}
	if m.Subject != "" {
		w.Header().Set("OCI-Subject", m.Subject)
	}
	for _, t := range tags {
		w.Header().Add("OCI-Tag", t)
	}
	w.Header().Set("Location", "/v2/"+rt.name+"/manifests/"+m.Digest)
	w.Header().Set("Docker-Content-Digest", m.Digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func (a *API) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) {
	c, v, ok := a.repo(w, r, rt, "delete")
	if !ok {
		return
	}
	if err := a.reg.OCIDeleteManifest(r.Context(), c.Actor, v, rt.target); err != nil {
		a.fail(w, r, err, registry.CodeManifestUnknown, registry.CodeManifestInvalid)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// tags lists tags, paged by n and last as the spec says.
func (a *API) tags(w http.ResponseWriter, r *http.Request, rt route) {
	_, v, ok := a.repo(w, r, rt, "pull")
	if !ok {
		return
	}
	all, err := a.reg.OCITags(r.Context(), v)
	if err != nil {
		a.fail(w, r, err, registry.CodeNameUnknown, registry.CodeNameInvalid)
		return
	}
	q := r.URL.Query()
	if last := q.Get("last"); last != "" {
		all = all[sort.SearchStrings(all, last):]
		if len(all) > 0 && all[0] == last {
			all = all[1:]
		}
	}
	if ns := q.Get("n"); ns != "" {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 0 {
			writeErr(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "n must be a number ≥ 0")
			return
		}
		if n < len(all) {
			all = all[:n]
			if n > 0 {
				w.Header().Set("Link", `</v2/`+rt.name+`/tags/list?n=`+ns+`&last=`+url.QueryEscape(all[n-1])+`>; rel="next"`)
			}
		}
	}
	if all == nil {
		all = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, all})
}

func (a *API) referrers(w http.ResponseWriter, r *http.Request, rt route) {
	// A repository that does not exist has no referrers, and one the
	// caller may not see answers the same.
	_, v, ok := a.repoOrNone(w, r, rt, "pull", true)
	if !ok {
		return
	}
	at := r.URL.Query().Get("artifactType")
	ds := []registry.Descriptor{}
	var err error
	if v != nil {
		ds, err = a.reg.OCIReferrers(r.Context(), v, rt.target, at)
	} else {
		_, err = registry.ParseDigest(rt.target)
	}
	if err != nil {
		a.fail(w, r, err, registry.CodeManifestUnknown, registry.CodeDigestInvalid)
		return
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", registry.MediaTypeIndex)
	json.NewEncoder(w).Encode(struct {
		SchemaVersion int                   `json:"schemaVersion"`
		MediaType     string                `json:"mediaType"`
		Manifests     []registry.Descriptor `json:"manifests"`
	}{2, registry.MediaTypeIndex, ds})
}

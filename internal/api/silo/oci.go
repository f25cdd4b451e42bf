package silo

import (
	"net/http"

	"github.com/siloreg/silo/internal/registry"
)

// OCIList is GET oci?name=<container>: the container's tags of OCI
// content that is not a SIF image (Docker/OCI images, charts, artifacts),
// which the images listing does not include.
type OCIList struct {
	Name      string                 `json:"name"` // entity/collection/container
	Artifacts []registry.OCIArtifact `json:"artifacts"`
}

func (a *API) ociRoutes() []route {
	return []route{{"GET", "oci", a.ociContent}}
}

func (a *API) ociContent(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		writeError(w, http.StatusBadRequest, "name is required: a container, [entity/][collection/]container")
		return
	}
	rf, err := a.reg.OCIName(name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	arts, err := a.reg.OCIContent(r.Context(), act, rf)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, OCIList{Name: rf.Path(), Artifacts: arts})
}

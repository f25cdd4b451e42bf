package oci

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// redirect answers the library API's GET /v1/oci-redirect, with which
// Apptainer's library client asks whether it may push and pull through an
// OCI registry: Silo's own /v2/, a short-lived token for the repository,
// and the repository's full name (short library names are mapped onto
// the default entity and collection). The body is what
// container-library-client decodes: {"token","url","name"}.
//
// Pushes the caller may not make and bad names answer 404, which sends the
// client down the library path, where the library API explains the
// refusal in words the client shows (on its OCI path it shows only a
// status code). So do pulls from repositories the caller cannot see.
func (a *API) redirect(w http.ResponseWriter, r *http.Request) {
	act, err := a.cfg.Auth.Request(r)
	if err != nil {
		writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid credentials")
		return
	}
	q := r.URL.Query()
	rf, err := a.reg.OCIName(strings.TrimPrefix(q.Get("namespace"), "library://"))
	if err != nil {
		writeErr(w, http.StatusNotFound, "NAME_INVALID", err.Error())
		return
	}
	var actions []string
	for _, x := range strings.Split(q.Get("accessTypes"), ",") {
		switch x = strings.TrimSpace(x); x {
		case "pull", "push":
			actions = append(actions, x)
		}
	}
	if len(actions) == 0 {
		actions = []string{"pull"}
	}
	name := rf.Path()
	for _, x := range actions {
		if x == "push" && !a.reg.OCIMayPush(r.Context(), act, name) {
			writeErr(w, http.StatusNotFound, "DENIED", "push through the library API")
			return
		}
		// Likewise a pull from a repository the caller cannot see: the
		// library API says "not found" (with its login hint) in words.
		if x == "pull" && !slices.Contains(actions, "push") {
			if _, err := a.reg.OCIRepo(r.Context(), act, name); err != nil {
				writeErr(w, http.StatusNotFound, "NAME_UNKNOWN", "pull through the library API")
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(struct {
		Token string `json:"token"`
		URL   string `json:"url"`
		Name  string `json:"name"`
	}{a.Token(act, name, actions), a.baseURL(r) + "/", name})
}

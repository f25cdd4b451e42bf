package sregistry

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// maxField bounds the text fields of a push; names and tags are short.
const maxField = 64 << 10

func invalid(msg string) error { return &registry.Error{Kind: registry.Invalid, Msg: msg} }

// pushCheck is sregistry's collection_auth_check (POST
// /api/upload/chunked_upload): a push-signed JSON body naming the target;
// it creates the collection when the user may and answers its id.
func (a *API) pushCheck(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Collection string `json:"collection"`
		Name       string `json:"name"`
		Tag        string `json:"tag"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxField)).Decode(&body); err != nil {
		a.fail(w, r, invalid("want a JSON body {\"collection\", \"name\", \"tag\"}: "+err.Error()))
		return
	}
	if body.Tag == "" {
		body.Tag = registry.DefaultTag
	}
	collection := strings.ToLower(body.Collection)
	act, err := a.signed(r, "push", collection, body.Name, body.Tag)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	_, c, err := a.reg.PushTarget(r.Context(), act, a.entity(), collection)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"cid": c.ID})
}

// upload is sregistry's terminal upload (POST /upload, which sregistry's
// nginx hands to /api/uploads/complete): a multipart body with the fields
// SREGISTRY_EVENT, name, collection (the id pushCheck answered) and tag,
// then the image as file1, signed as "upload". The image streams straight
// into the registry.
func (a *API) upload(w http.ResponseWriter, r *http.Request) {
	a.receive(w, r, "file1", func(f map[string]string) (string, error) {
		cid, err := strconv.ParseInt(f["collection"], 10, 64)
		if err != nil {
			return "", invalid("collection must be the id /api/upload/chunked_upload answered")
		}
		// Only the name is taken, to check the signature against; nothing
		// about the collection is answered before the signature holds.
		e, c, err := a.reg.CollectionByID(r.Context(), registry.Operator("sregistry upload"), cid)
		if err != nil || e.Name != a.entity() {
			return "", &registry.Error{Kind: registry.Unauthorized, Msg: "Authentication Required"}
		}
		return c.Name, nil
	}, "upload")
}

// legacyPush is the push of sregistry-cli releases before the two-step
// upload (POST /api/push/): one push-signed multipart body with
// collection (a name), name, tag, metadata and the image as datafile.
func (a *API) legacyPush(w http.ResponseWriter, r *http.Request) {
	a.receive(w, r, "datafile", func(f map[string]string) (string, error) {
		return strings.ToLower(f["collection"]), nil
	}, "push")
}

// receive reads a push's multipart body: text fields first, then the file
// part, whose bytes go to the registry as they arrive, after the signature
// over the fields has been checked.
func (a *API) receive(w http.ResponseWriter, r *http.Request, filePart string, collection func(map[string]string) (string, error), kind string) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		a.fail(w, r, invalid("want a multipart/form-data body"))
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		a.fail(w, r, invalid("reading the multipart body: "+err.Error()))
		return
	}
	fields := map[string]string{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			a.fail(w, r, invalid("the body has no "+filePart+" part (the image)"))
			return
		}
		if err != nil {
			a.fail(w, r, invalid("reading the multipart body: "+err.Error()))
			return
		}
		if p.FormName() != filePart {
			b, err := io.ReadAll(io.LimitReader(p, maxField+1))
			if err != nil || len(b) > maxField {
				a.fail(w, r, invalid("field "+p.FormName()+" is unreadable or too long"))
				return
			}
			fields[p.FormName()] = string(b)
			continue
		}
		tag := fields["tag"]
		if tag == "" {
			tag = registry.DefaultTag
		}
		col, err := collection(fields)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		act, err := a.signed(r, kind, col, fields["name"], tag)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		iv, err := a.reg.PushStream(r.Context(), act, ref.Ref{Entity: a.entity(), Collection: col, Container: fields["name"], Tag: tag}, p)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.log.Info("sregistry push", "image", col+"/"+fields["name"]+":"+tag, "version", "sha256."+iv.Image.Digest, "by", act.Name())
		writeJSON(w, http.StatusOK, map[string]string{"message": "Upload Complete", "detail": "Upload Complete"})
		return
	}
}

// deleteContainer is DELETE container/<collection>/<name>:<tag>, signed as
// "delete". It removes that tag; the image goes with it when no other tag
// names it, as deleting sregistry's container row removed its file.
func (a *API) deleteContainer(w http.ResponseWriter, r *http.Request) {
	rf, err := a.parseName(r.PathValue("rest"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if rf.Tag == "" {
		rf.Tag = registry.DefaultTag
	}
	act, err := a.signed(r, "delete", rf.Collection, rf.Container, rf.Tag)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.reg.DeleteTagged(r.Context(), act, rf); err != nil {
		if registry.KindOf(err) == registry.NotFound {
			detail(w, http.StatusNotFound, "Container Not Found")
			return
		}
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

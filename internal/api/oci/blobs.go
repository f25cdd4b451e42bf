package oci

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/api/library"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/registry"
)

// repo resolves the caller and the repository for action ("pull", "push"
// or "delete"), answering the request itself when it cannot go on.
// Anonymous callers that meet a missing (or hidden) repository are asked
// to log in, as registries do; logged-in ones are told it is not there.
func (a *API) repo(w http.ResponseWriter, r *http.Request, rt route, action string) (caller, *registry.ContainerView, bool) {
	c, v, ok := a.repoOrNone(w, r, rt, action, false)
	return c, v, ok
}

// repoOrNone is repo, but with none true a repository that is missing (or
// hidden) gives a nil view rather than an error, for answers that are
// empty lists then.
func (a *API) repoOrNone(w http.ResponseWriter, r *http.Request, rt route, action string, none bool) (caller, *registry.ContainerView, bool) {
	scope := "repository:" + rt.name + ":" + action
	if action == "push" {
		scope = "repository:" + rt.name + ":pull,push"
	}
	c, err := a.caller(r)
	if err != nil {
		a.challenge(w, r, scope, authMessage(err))
		return c, nil, false
	}
	if !c.allows(rt.name, action) {
		a.challenge(w, r, scope, "the token does not grant "+action+" on "+rt.name)
		return c, nil, false
	}
	var v *registry.ContainerView
	if action == "pull" {
		v, err = a.reg.OCIRepo(r.Context(), c.Actor, rt.name)
	} else {
		v, err = a.reg.OCIPushRepo(r.Context(), c.Actor, rt.name)
	}
	if err != nil {
		k := registry.KindOf(err)
		if k == registry.Unauthorized || (k == registry.NotFound && !c.LoggedIn() && c.scopes == nil) {
			a.challenge(w, r, scope, "authentication required")
		} else if k == registry.NotFound && none {
			return c, nil, true
		} else {
			a.fail(w, r, err, registry.CodeNameUnknown, registry.CodeNameInvalid)
		}
		return c, nil, false
	}
	return c, v, true
}

// getBlob serves a blob with Range support, or, with a presigning store,
// redirects a GET to the store (307, which keeps the method and clients
// resend Range to the new place), as registries on object stores do.
// HEAD is answered here: it carries no bytes and clients read its
// headers. Synthesized configs have no object and are always served.
func (a *API) getBlob(w http.ResponseWriter, r *http.Request, rt route) {
	_, v, ok := a.repo(w, r, rt, "pull")
	if !ok {
		return
	}
	b, err := a.reg.OCIBlob(r.Context(), v, rt.target)
	if err != nil {
		a.fail(w, r, err, registry.CodeBlobUnknown, registry.CodeDigestInvalid)
		return
	}
	if a.cfg.Presign != nil && r.Method == http.MethodGet && b.Inline == nil {
		u, err := a.cfg.Presign.PresignGet(r.Context(), b.Key, a.cfg.PresignTTL)
		if err != nil {
			a.fail(w, r, err, registry.CodeBlobUnknown, "")
			return
		}
		w.Header().Set("Docker-Content-Digest", b.Digest)
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, u, http.StatusTemporaryRedirect)
		return
	}
	a.serveBlob(w, r, b)
}

func (a *API) serveBlob(w http.ResponseWriter, r *http.Request, b *registry.BlobRef) {
	w.Header().Set("Docker-Content-Digest", b.Digest)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+b.Digest+`"`)
	if b.Inline != nil {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b.Inline))
		return
	}
	rd, err := a.reg.OpenBlob(r.Context(), b.Key)
	if err != nil {
		a.fail(w, r, fmt.Errorf("blob %s is missing from the store (run `silo fsck`): %w", b.Digest, err), registry.CodeBlobUnknown, "")
		return
	}
	defer rd.Close()
	library.ServeRange(w, r, rd, time.Time{})
}

func (a *API) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) {
	c, v, ok := a.repo(w, r, rt, "delete")
	if !ok {
		return
	}
	if err := a.reg.OCIDeleteBlob(r.Context(), c.Actor, v, rt.target); err != nil {
		a.fail(w, r, err, registry.CodeBlobUnknown, registry.CodeDigestInvalid)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// uploadLocation is relative, so it stays on the host the client used.
func uploadLocation(rt route, id string) string {
	return "/v2/" + rt.name + "/blobs/uploads/" + url.PathEscape(id)
}

func (a *API) uploadStatus(w http.ResponseWriter, rt route, up *meta.OCIUpload, code int) {
	w.Header().Set("Location", uploadLocation(rt, up.ID))
	w.Header().Set("Docker-Upload-UUID", up.ID)
	end := up.Size - 1
	if end < 0 {
		end = 0
	}
	w.Header().Set("Range", fmt.Sprintf("0-%d", end))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(code)
}

func (a *API) blobCreated(w http.ResponseWriter, rt route, b *registry.BlobRef) {
	w.Header().Set("Location", "/v2/"+rt.name+"/blobs/"+b.Digest)
	w.Header().Set("Docker-Content-Digest", b.Digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// upload handles /v2/<name>/blobs/uploads/[<id>].
func (a *API) upload(w http.ResponseWriter, r *http.Request, rt route) {
	if rt.target == "" {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		a.startUpload(w, r, rt)
		return
	}
	c, v, ok := a.repo(w, r, rt, "push")
	if !ok {
		return
	}
	ctx := r.Context()
	up, err := a.reg.OCIUpload(ctx, c.Actor, v, rt.target)
	if err != nil {
		a.fail(w, r, err, registry.CodeBlobUploadUnknown, registry.CodeBlobUploadInvalid)
		return
	}
	switch r.Method {
	case http.MethodGet:
		a.uploadStatus(w, rt, up, http.StatusNoContent)
	case http.MethodDelete:
		a.reg.OCICancelUpload(ctx, up)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch:
		offset, length, err := chunkRange(r, up.Size)
		if err == nil {
			err = a.reg.OCIWriteChunk(ctx, up, offset, length, r.Body)
		}
		if err != nil {
			if registry.KindOf(err) == registry.Invalid {
				w.Header().Set("Location", uploadLocation(rt, up.ID))
				w.Header().Set("Range", fmt.Sprintf("0-%d", max(up.Size-1, 0)))
			}
			a.fail(w, r, err, registry.CodeBlobUploadUnknown, registry.CodeBlobUploadInvalid)
			return
		}
		a.uploadStatus(w, rt, up, http.StatusAccepted)
	case http.MethodPut:
		digest := r.URL.Query().Get("digest")
		if digest == "" {
			a.fail(w, r, errDigestMissing, "", registry.CodeDigestInvalid)
			return
		}
		offset, length, err := chunkRange(r, up.Size)
		if err == nil && length != 0 {
			err = a.reg.OCIWriteChunk(ctx, up, offset, length, r.Body)
		}
		var b *registry.BlobRef
		if err == nil {
			b, err = a.reg.OCICompleteUpload(ctx, up, digest)
		} else if registry.KindOf(err) != registry.Invalid || !isRange(err) {
			a.reg.OCICancelUpload(ctx, up)
		}
		if err != nil {
			a.fail(w, r, err, registry.CodeBlobUploadUnknown, registry.CodeBlobUploadInvalid)
			return
		}
		a.blobCreated(w, rt, b)
	default:
		methodNotAllowed(w, "GET, PATCH, PUT, DELETE")
	}
}

var errDigestMissing = &registry.OCIError{Err: &registry.Error{Kind: registry.Invalid, Msg: "the digest query parameter is required"}, Code: registry.CodeDigestInvalid}

func isRange(err error) bool {
	oe, ok := err.(*registry.OCIError)
	return ok && oe.Code == registry.CodeRangeInvalid
}

// chunkRange reads where a chunk goes: Content-Range "<start>-<end>" when
// given (with or without "bytes="), else at the end of the upload; its
// length from the range or Content-Length, -1 when neither says.
func chunkRange(r *http.Request, size int64) (offset, length int64, err error) {
	cr := strings.TrimPrefix(strings.TrimSpace(r.Header.Get("Content-Range")), "bytes=")
	if cr == "" {
		return size, r.ContentLength, nil
	}
	s, e, ok := strings.Cut(cr, "-")
	start, err1 := strconv.ParseInt(s, 10, 64)
	end, err2 := strconv.ParseInt(e, 10, 64)
	if !ok || err1 != nil || err2 != nil || start < 0 || end < start-1 {
		return 0, 0, &registry.OCIError{Err: &registry.Error{Kind: registry.Invalid, Msg: "invalid Content-Range " + strconv.Quote(cr)}, Code: registry.CodeRangeInvalid}
	}
	length = end - start + 1
	if r.ContentLength >= 0 && r.ContentLength != length {
		return 0, 0, &registry.OCIError{Err: &registry.Error{Kind: registry.Invalid, Msg: fmt.Sprintf("Content-Range %s is %d bytes but Content-Length is %d", cr, length, r.ContentLength)}, Code: registry.CodeRangeInvalid}
	}
	return start, length, nil
}

// startUpload is POST /v2/<name>/blobs/uploads/: a mount, a monolithic
// upload (?digest=), or the start of a session.
func (a *API) startUpload(w http.ResponseWriter, r *http.Request, rt route) {
	c, v, ok := a.repo(w, r, rt, "push")
	if !ok {
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		b, mounted, err := a.reg.OCIMount(ctx, c.Actor, v, mount, q.Get("from"))
		if err != nil {
			a.fail(w, r, err, registry.CodeBlobUnknown, registry.CodeDigestInvalid)
			return
		}
		if mounted {
			a.blobCreated(w, rt, b)
			return
		}
	}
	up, err := a.reg.OCIStartUpload(ctx, c.Actor, v)
	if err != nil {
		a.fail(w, r, err, registry.CodeNameUnknown, registry.CodeBlobUploadInvalid)
		return
	}
	digest := q.Get("digest")
	if digest == "" {
		a.uploadStatus(w, rt, up, http.StatusAccepted)
		return
	}
	err = a.reg.OCIWriteChunk(ctx, up, 0, r.ContentLength, r.Body)
	var b *registry.BlobRef
	if err == nil {
		b, err = a.reg.OCICompleteUpload(ctx, up, digest)
	} else {
		a.reg.OCICancelUpload(ctx, up)
	}
	if err != nil {
		a.fail(w, r, err, registry.CodeBlobUploadUnknown, registry.CodeBlobUploadInvalid)
		return
	}
	a.blobCreated(w, rt, b)
}

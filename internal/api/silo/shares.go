package silo

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/api/library"

	"github.com/siloreg/silo/internal/api/share"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// Share links: POST shares makes one and is the only answer that carries
// its URL (the server keeps only a hash of the secret in it); GET shares
// lists the caller's links (?all=true: everybody's, for admins); DELETE
// shares/{id} revokes one. The links themselves are served by
// internal/api/share.

// shareRoutes lists the endpoints for share links.
func (a *API) shareRoutes() []route {
	return []route{
		{"POST", "shares", a.createShare},
		{"GET", "shares", a.listShares},
		{"DELETE", "shares/{id}", a.revokeShare},
	}
}

// ShareRequest is the body of POST /api/silo/v1/shares.
type ShareRequest struct {
	// Name is the image: entity/collection/container:tag, or with
	// @sha256.<hex> for a version; short names take the server's defaults.
	Name string `json:"name"`
	// Arch picks the image a tag names for several architectures.
	Arch string `json:"arch,omitempty"`
	// Expires is the link's lifetime, such as "72h", "90m" or "7d";
	// default 72h, at most 30 days.
	Expires string `json:"expires,omitempty"`
}

// Share is a share link as the API shows it: never its secret.
type Share struct {
	ID        int64  `json:"id"`
	Image     string `json:"image"` // entity/collection/container
	Tag       string `json:"tag"`   // the tag it was made for, "" for a version
	Arch      string `json:"arch"`
	Version   string `json:"version"` // sha256.<hex>: what the link grants
	Size      int64  `json:"size"`
	CreatedBy string `json:"createdBy"`
	Created   string `json:"created"` // RFC 3339, UTC
	Expires   string `json:"expires"` // RFC 3339, UTC
	Revoked   bool   `json:"revoked"`
	// Active is false once the link is revoked or past its expiry by the
	// server's clock.
	Active    bool   `json:"active"`
	Downloads int64  `json:"downloads"`
	LastUsed  string `json:"lastUsed"` // RFC 3339, UTC; "" when never used
}

// ShareCreated is the answer to POST shares.
type ShareCreated struct {
	Share
	// URL is the link: the one time it is shown.
	URL string `json:"url"`
}

// ShareList is GET /api/silo/v1/shares, newest first.
type ShareList struct {
	Shares []Share `json:"shares"`
}

func (a *API) createShare(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	// readBody refuses unknown fields, so that "expiry": "1h" is an error
	// rather than a link that silently lives 72h.
	var req ShareRequest
	if !readBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Name) == "" {
		writeError(w, http.StatusBadRequest, `name is missing: give the image to share, e.g. "collection/container:tag"`)
		return
	}
	rf, err := ref.Parse(req.Name, a.reg.Defaults())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ttl, err := parseShareTTL(req.Expires)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	v, secret, err := a.reg.CreateShare(r.Context(), act, rf, req.Arch, ttl)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The API is not told the configured public URL (silo.Config has no
	// such field yet), so the link takes the scheme and host this request
	// came to, which is right whenever the CLI talks to the public URL.
	u := share.URL(library.BaseURL(a.url, r), secret, v)
	writeJSON(w, http.StatusCreated, ShareCreated{Share: toShare(v), URL: u})
}

func (a *API) listShares(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	all := false
	if s := r.URL.Query().Get("all"); s != "" {
		var err error
		if all, err = strconv.ParseBool(s); err != nil {
			writeError(w, http.StatusBadRequest, "all must be true or false, not "+strconv.Quote(s))
			return
		}
	}
	views, err := a.reg.ListShares(r.Context(), act, all)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := ShareList{Shares: make([]Share, 0, len(views))}
	for i := range views {
		out.Shares = append(out.Shares, toShare(&views[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) revokeShare(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusNotFound, "share link "+strconv.Quote(r.PathValue("id"))+" not found: ids are the numbers `silo share list` shows")
		return
	}
	v, err := a.reg.RevokeShare(r.Context(), act, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toShare(v))
}

func toShare(v *registry.ShareView) Share {
	return Share{
		ID:        v.Share.ID,
		Image:     v.Ref().Path(),
		Tag:       v.Share.Tag,
		Arch:      v.Image.Arch,
		Version:   "sha256." + v.Image.Digest,
		Size:      v.Image.Size,
		CreatedBy: v.CreatedBy,
		Created:   shareTime(v.Share.Created),
		Expires:   shareTime(v.Share.Expires),
		Revoked:   v.Share.Revoked,
		Active:    v.Active(),
		Downloads: v.Share.Downloads,
		LastUsed:  shareTime(v.Share.LastUsed),
	}
}

// shareTime is RFC 3339 in UTC, or "" for never.
func shareTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// parseShareTTL reads a link's lifetime: a Go duration ("72h", "90m") or
// whole days ("7d"), which is how people think of expiry; empty is the
// default. The registry checks the bounds.
func parseShareTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return registry.DefaultShareTTL, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		// The bound only keeps the multiplication from overflowing; the
		// registry says what the real limit is.
		if err == nil && n >= 0 && n <= 100000 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	return 0, fmt.Errorf("expires %q is not a duration: give one such as 72h, 90m or 7d", s)
}

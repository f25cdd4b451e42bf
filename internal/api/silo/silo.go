// Package silo serves Silo's own JSON API under /api/silo/v1/: the
// questions the silo CLI (and later the web pages) ask that the library
// API has no words for, such as "what is your default entity" and "list
// everything I may see, with sizes". Like every protocol package it only
// translates; internal/registry decides what the caller may see.
package silo

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/api/status"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// Prefix is where the API is mounted.
const Prefix = "/api/silo/v1/"

// maxQueryLen bounds the search text: it becomes a LIKE pattern, and no
// person types more than this into a search box.
const maxQueryLen = 256

// Config is what the API is built from.
type Config struct {
	Registry *registry.Registry
	Auth     *auth.Authenticator
	// Version is Silo's version, reported by /info.
	Version string
	// PublicURL is the base URL clients reach this server at, for the
	// links the API hands out; empty means "from each request".
	PublicURL string
	Log       *slog.Logger
}

// API is the /api/silo/v1 handler set.
type API struct {
	reg  *registry.Registry
	auth *auth.Authenticator
	ver  string
	url  string
	log  *slog.Logger
}

// New returns the API.
func New(cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &API{reg: cfg.Registry, auth: cfg.Auth, ver: cfg.Version, url: cfg.PublicURL, log: cfg.Log}
}

// route is one endpoint: a method and a ServeMux path pattern under Prefix.
type route struct {
	method, path string
	h            http.HandlerFunc
}

// routes lists every endpoint. Each area of the API contributes its own
// list from its own file.
func (a *API) routes() []route {
	rs := []route{
		{"GET", "info", a.info},
		{"GET", "images", a.images},
	}
	rs = append(rs, a.shareRoutes()...)
	rs = append(rs, a.accountRoutes()...)
	rs = append(rs, a.teamRoutes()...)
	rs = append(rs, a.ociRoutes()...)
	return rs
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	methods := map[string][]string{}
	var paths []string
	for _, rt := range a.routes() {
		p := Prefix + rt.path
		mux.HandleFunc(rt.method+" "+p, rt.h)
		if methods[p] == nil {
			paths = append(paths, p)
		}
		methods[p] = append(methods[p], rt.method)
	}
	// A known path with another method answers 405 in this API's format.
	for _, p := range paths {
		allow := strings.Join(methods[p], ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+": use "+allow)
		})
	}
	// Everything else under the prefix still answers in this API's error
	// format, so a client never has to parse an HTML or plain-text error.
	mux.HandleFunc(strings.TrimSuffix(Prefix, "v1/"), func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
}

func (a *API) info(w http.ResponseWriter, r *http.Request) {
	d := a.reg.Defaults()
	writeJSON(w, http.StatusOK, Info{Version: a.ver, DefaultEntity: d.Entity, DefaultCollection: d.Collection})
}

// images lists what the caller may see, filtered by exact names and a
// search text, with totals.
func (a *API) images(w http.ResponseWriter, r *http.Request) {
	act, ok := a.actor(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	query := meta.Query{Text: strings.TrimSpace(q.Get("q"))}
	if len(query.Text) > maxQueryLen {
		writeError(w, http.StatusBadRequest, "q is too long: at most 256 characters")
		return
	}
	for _, f := range []struct {
		param string
		dst   *string
	}{{"entity", &query.Entity}, {"collection", &query.Collection}, {"container", &query.Container}} {
		v := q.Get(f.param)
		if v == "" {
			continue
		}
		if err := ref.ValidName(v); err != nil {
			writeError(w, http.StatusBadRequest, f.param+": "+err.Error())
			return
		}
		*f.dst = v
	}
	recs, err := a.reg.Find(r.Context(), act, query)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, List(recs))
}

// List turns registry rows into a listing: sorted by name, newest first
// within a name, with totals that count shared bytes once.
func List(recs []meta.ImageRecord) ImageList {
	out := ImageList{Images: make([]Image, 0, len(recs))}
	stored := map[string]bool{}
	for i := range recs {
		rec := &recs[i]
		out.Images = append(out.Images, toImage(rec))
		out.Totals.Bytes += rec.Size
		if !stored[rec.Digest] {
			stored[rec.Digest] = true
			out.Totals.StoredBytes += rec.Size
		}
	}
	out.Totals.Images = len(out.Images)
	sort.SliceStable(out.Images, func(i, j int) bool {
		x, y := &out.Images[i], &out.Images[j]
		if x.Name != y.Name {
			return x.Name < y.Name
		}
		return x.Created > y.Created // RFC 3339 in UTC sorts as time does
	})
	return out
}

func toImage(rec *meta.ImageRecord) Image {
	tags := []string{}
	seen := map[string]bool{}
	for _, t := range rec.Tags {
		if !seen[t.Name] {
			seen[t.Name] = true
			tags = append(tags, t.Name)
		}
	}
	sort.Strings(tags)
	return Image{
		Name:      rec.Entity + "/" + rec.Collection + "/" + rec.Container,
		Tags:      tags,
		Arch:      rec.Arch,
		Version:   "sha256." + rec.Digest,
		Size:      rec.Size,
		Created:   rec.Created.UTC().Format(time.RFC3339),
		Downloads: rec.Downloads,
		Signed:    rec.Signed,
		Private:   rec.Private,
	}
}

// actor resolves the caller, answering 401 itself for wrong credentials:
// a bad token is refused rather than treated as anonymous, so that a user
// whose token expired is told so instead of seeing a shorter listing.
func (a *API) actor(w http.ResponseWriter, r *http.Request) (access.Actor, bool) {
	act, err := a.auth.Request(r)
	if err == nil {
		return act, true
	}
	if errors.Is(err, auth.ErrInvalidCredentials) {
		writeError(w, http.StatusUnauthorized, "invalid or expired token: log in again (silo login)")
	} else {
		a.fail(w, r, err)
	}
	return access.Anonymous, false
}

// fail answers err with the status its kind calls for.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := status.Of(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		if r.Context().Err() != nil {
			return // the client went away; nobody is listening
		}
		a.log.Error("silo API", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal server error; the server log has details"
	}
	writeError(w, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: status, Message: msg}})
}

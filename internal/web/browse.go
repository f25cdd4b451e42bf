package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/api/library"
	"github.com/siloreg/silo/internal/api/share"
	siloapi "github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/api/status"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// pageSize is how many containers a search page lists.
const pageSize = 20

// maxQueryLen bounds the search text, as the silo API does.
const maxQueryLen = 256

func (h *Handler) home(w http.ResponseWriter, r *http.Request, q *req) {
	o, err := h.reg.Overview(r.Context(), q.act, 8)
	if err != nil {
		h.fail(w, r, q, err)
		return
	}
	h.render(w, r, q, http.StatusOK, "home", page{Title: "Silo", Nav: "home", Data: o})
}

type searchData struct {
	Q, Arch, Owner, Since string
	Signed                bool
	Page                  *registry.SearchPage
	From, To              int
	Prev, Next            string // links to the neighbouring pages, "" for none
}

// sinceChoices are the "updated since" filter's values.
var sinceChoices = map[string]time.Duration{"1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour, "365d": 365 * 24 * time.Hour}

func (h *Handler) search(w http.ResponseWriter, r *http.Request, q *req) {
	v := r.URL.Query()
	d := searchData{Q: strings.TrimSpace(v.Get("q")), Arch: strings.TrimSpace(v.Get("arch")), Owner: strings.TrimSpace(v.Get("owner")),
		Since: v.Get("since"), Signed: v.Get("signed") != ""}
	sq := registry.SearchQuery{Text: d.Q, Arch: d.Arch, Owner: d.Owner, SignedOnly: d.Signed, Limit: pageSize}
	bad := func(msg string) {
		h.render(w, r, q, http.StatusBadRequest, "search", page{Title: "Search", Nav: "search", Error: msg, Data: d})
	}
	if len(d.Q) > maxQueryLen {
		bad("The search text is too long: at most 256 characters.")
		return
	}
	if d.Since != "" {
		ago, ok := sinceChoices[d.Since]
		if !ok {
			bad("Updated since: pick one of the choices.")
			return
		}
		sq.Since = time.Now().Add(-ago)
	}
	pg := 1
	if s := v.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1_000_000 {
			bad("The page number must be a positive number.")
			return
		}
		pg = n
	}
	sq.Offset = (pg - 1) * pageSize
	res, err := h.reg.Search(r.Context(), q.act, sq)
	if err != nil {
		if registry.KindOf(err) == registry.Invalid {
			bad(err.Error())
			return
		}
		h.fail(w, r, q, err)
		return
	}
	d.Page = res
	d.From, d.To = sq.Offset+1, sq.Offset+len(res.Hits)
	link := func(n int) string {
		v := url.Values{}
		for k, val := range map[string]string{"q": d.Q, "arch": d.Arch, "owner": d.Owner, "since": d.Since} {
			if val != "" {
				v.Set(k, val)
			}
		}
		if d.Signed {
			v.Set("signed", "1")
		}
		v.Set("page", strconv.Itoa(n))
		return "/search?" + v.Encode()
	}
	if pg > 1 {
		d.Prev = link(pg - 1)
	}
	if d.To < res.Total {
		d.Next = link(pg + 1)
	}
	h.render(w, r, q, http.StatusOK, "search", page{Title: "Search", Nav: "search", Data: d})
}

func (h *Handler) collection(w http.ResponseWriter, r *http.Request, q *req) {
	p, err := h.reg.CollectionPage(r.Context(), q.act, r.PathValue("entity"), r.PathValue("collection"))
	if err != nil {
		h.fail(w, r, q, err)
		return
	}
	h.render(w, r, q, http.StatusOK, "collection", page{Title: p.Entity.Name + "/" + p.Collection.Name, Data: p})
}

func (h *Handler) star(w http.ResponseWriter, r *http.Request, q *req) {
	e, c := r.PathValue("entity"), r.PathValue("collection")
	if err := h.reg.Star(r.Context(), q.act, e, c, r.PostFormValue("on") == "1"); err != nil {
		h.fail(w, r, q, err)
		return
	}
	http.Redirect(w, r, "/c/"+e+"/"+c, http.StatusSeeOther)
}

func (h *Handler) privacy(w http.ResponseWriter, r *http.Request, q *req) {
	e, c := r.PathValue("entity"), r.PathValue("collection")
	if _, _, err := h.reg.SetCollectionPrivate(r.Context(), q.act, e, c, r.PostFormValue("private") == "1"); err != nil {
		h.fail(w, r, q, err)
		return
	}
	http.Redirect(w, r, "/c/"+e+"/"+c, http.StatusSeeOther)
}

// give hands a collection to a team, or back to its creator ("").
func (h *Handler) give(w http.ResponseWriter, r *http.Request, q *req) {
	e, c := r.PathValue("entity"), r.PathValue("collection")
	if _, _, _, err := h.reg.GiveCollection(r.Context(), q.act, e, c, strings.TrimSpace(r.PostFormValue("team"))); err != nil {
		h.fail(w, r, q, err)
		return
	}
	http.Redirect(w, r, "/c/"+e+"/"+c, http.StatusSeeOther)
}

// containerData is the container page: the container, the host the
// copy-paste commands name, and a share link just made (shown once).
type containerData struct {
	*registry.ContainerPage
	Host      string // host[:port] of this server, for library:// and oras
	Base      string // scheme://host[:port]
	ShareURL  string
	ShareName string
	ShareErr  string
	// OCI lists the container's tags of other OCI content (Docker/OCI
	// images, Helm charts, artifacts), which are not Silo images.
	OCI []registry.OCIArtifact
}

// Digest is the digest of the container's image id, for the tag table.
func (d *containerData) Digest(id int64) string {
	for _, v := range d.Versions {
		if v.ID == id {
			return v.Digest
		}
	}
	return ""
}

func (h *Handler) containerPage(w http.ResponseWriter, r *http.Request, q *req) (*containerData, bool) {
	rf := ref.Ref{Entity: r.PathValue("entity"), Collection: r.PathValue("collection"), Container: r.PathValue("container")}
	p, err := h.reg.ContainerPage(r.Context(), q.act, rf)
	if err != nil {
		h.fail(w, r, q, err)
		return nil, false
	}
	base := library.BaseURL(h.cfg.PublicURL, r)
	host := base
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		host = u.Host
	}
	oci, err := h.reg.OCIContent(r.Context(), q.act, rf)
	if err != nil {
		h.fail(w, r, q, err)
		return nil, false
	}
	return &containerData{ContainerPage: p, Host: host, Base: base, OCI: oci}, true
}

func (h *Handler) container(w http.ResponseWriter, r *http.Request, q *req) {
	d, ok := h.containerPage(w, r, q)
	if !ok {
		return
	}
	h.render(w, r, q, http.StatusOK, "container", page{Title: d.Ref().Path(), Data: d})
}

// createShare makes a share link for a tag or version of the container
// and shows the container page with the link, the one time it is shown.
func (h *Handler) createShare(w http.ResponseWriter, r *http.Request, q *req) {
	d, ok := h.containerPage(w, r, q)
	if !ok {
		return
	}
	rf := d.Ref()
	which := r.PostFormValue("image") // "tag:<name>:<arch>" or "version:<hex>"
	arch := ""
	switch kind, rest, _ := strings.Cut(which, ":"); kind {
	case "tag":
		rf.Tag, arch, _ = strings.Cut(rest, ":")
	case "version":
		rf.Digest = rest
	default:
		d.ShareErr = "Pick a tag or a version to share."
	}
	ttl, err := siloapi.ParseDuration(r.PostFormValue("expires"))
	if err != nil || ttl == 0 {
		ttl = registry.DefaultShareTTL
	}
	code := http.StatusOK
	if d.ShareErr == "" {
		v, secret, err := h.reg.CreateShare(r.Context(), q.act, rf, arch, ttl)
		if err != nil {
			code = status.Of(err)
			d.ShareErr = err.Error()
			if code == http.StatusInternalServerError {
				h.fail(w, r, q, err)
				return
			}
		} else {
			d.ShareURL = share.URL(d.Base, secret, v)
			d.ShareName = v.Name()
		}
	} else {
		code = http.StatusBadRequest
	}
	h.render(w, r, q, code, "container", page{Title: d.Ref().Path(), Data: d})
}

func (h *Handler) freeze(w http.ResponseWriter, r *http.Request, q *req) {
	rf := ref.Ref{Entity: r.PathValue("entity"), Collection: r.PathValue("collection"), Container: r.PathValue("container")}
	if err := h.reg.SetFrozen(r.Context(), q.act, rf, r.PostFormValue("frozen") == "1"); err != nil {
		h.fail(w, r, q, err)
		return
	}
	http.Redirect(w, r, "/c/"+rf.Path(), http.StatusSeeOther)
}

// Package share serves share links: GET /s/{secret}/{file} answers with
// the one image the link grants, to anyone, with no account, no cookie and
// no Authorization header, so that `curl -O`, `wget` and
// `apptainer pull https://...` all work. The trailing file name is there
// for those clients, which name the file after the URL's last segment;
// it is not checked, and /s/{secret} alone works too. Every rule (expiry,
// revocation, what a link grants) is internal/registry's.
package share

import (
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/siloreg/silo/internal/api/library"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/registry"
)

// Prefix is where links live.
const Prefix = "/s/"

// Config is what the handler is built from.
type Config struct {
	Registry *registry.Registry
	Log      *slog.Logger
}

// Handler serves share links.
type Handler struct {
	reg *registry.Registry
	log *slog.Logger
}

// New returns the handler.
func New(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Handler{reg: cfg.Registry, log: cfg.Log}
}

// Register adds the link routes to mux. A GET pattern answers HEAD too.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"{secret}", h.serve)
	mux.HandleFunc("GET "+Prefix+"{secret}/{file}", h.serve)
}

// gone is the one answer for every link that does not work, in plain text
// because whoever reads it holds curl or a browser, not an API client.
const gone = "link unknown, expired or revoked"

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	// Whatever the request carries in Authorization is ignored: the link
	// is the whole credential, and a stale token of the holder's must not
	// break it.
	v, rd, err := h.reg.OpenShare(r.Context(), r.PathValue("secret"), auth.Remote(r), countsAsDownload(r))
	if err != nil {
		if registry.KindOf(err) == registry.NotFound {
			http.Error(w, gone, http.StatusNotFound)
			return
		}
		if r.Context().Err() == nil {
			// The log names the link by its route, never by its secret.
			h.log.Error("share link", "pattern", r.Pattern, "err", err)
		}
		http.Error(w, "internal server error; the server log has details", http.StatusInternalServerError)
		return
	}
	defer rd.Close()
	hd := w.Header()
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": Filename(v)}))
	// A link is for the people it was handed to, not for search engines
	// that find it in a page it was pasted into.
	hd.Set("X-Robots-Tag", "noindex, nofollow")
	library.ServeBlob(w, r, v.Image.Digest, rd)
}

// countsAsDownload says whether a request is a new download, to count.
// The rule: a GET that asks for the file from its first byte, that is
// with no Range or a Range whose first part starts at byte 0. A ranged
// request from further on is a part of a download already counted (the
// other parts of a parallel fetch, or a resumed transfer); HEAD fetches
// nothing; and a conditional request revalidates a copy the client has.
func countsAsDownload(r *http.Request) bool {
	if r.Method != http.MethodGet || r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
		return false
	}
	rng := r.Header.Get("Range")
	if rng == "" {
		return true
	}
	specs, ok := strings.CutPrefix(rng, "bytes=")
	if !ok {
		return false
	}
	first, _, _ := strings.Cut(specs, ",")
	start, _, ok := strings.Cut(strings.TrimSpace(first), "-")
	if !ok || start == "" {
		return false // a suffix range ("bytes=-500") is the end of the file
	}
	n, err := strconv.ParseInt(start, 10, 64)
	return err == nil && n == 0
}

// Filename is what a downloaded image is called: <container>_<tag>.sif for
// a link made for a tag, <container>_sha256.<12 hex>.sif for a version,
// the way `silo pull` names files (with the version shortened).
func Filename(v *registry.ShareView) string {
	sel := v.Share.Tag
	if sel == "" {
		sel = "sha256." + v.Image.Digest[:12]
	}
	return v.Container.Name + "_" + sel + ".sif"
}

// URL is the link for secret, under base (the server's public URL,
// without a trailing slash).
func URL(base, secret string, v *registry.ShareView) string {
	return base + Prefix + secret + "/" + url.PathEscape(Filename(v))
}

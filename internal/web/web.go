// Package web serves Silo's HTML interface: browsing and search, the
// collection and container pages, the storage summary, the account pages
// (tokens, share links, teams) and the admin pages. Templates and the
// stylesheet are embedded; no page needs JavaScript. Like the API packages
// it only translates: every answer comes from internal/registry with the
// caller's access.Actor, so the pages show and allow exactly what the APIs
// do.
//
// A session is an ordinary API token (registry.SessionLogin) kept in an
// HttpOnly cookie, so any node sharing the metadata store serves any
// session and logging out is revoking the token. Every form carries a
// CSRF token derived with HMAC from a per-browser cookie and the session.
package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/api/status"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/registry"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the pages are built from.
type Config struct {
	Registry *registry.Registry
	Auth     *auth.Authenticator
	// Key signs CSRF tokens; every node must have the same (derive it from
	// the registry-wide signing key).
	Key []byte
	// PublicURL is the base URL clients reach this server at, for the
	// commands the pages show; empty means the scheme and Host of each
	// request.
	PublicURL string
	// OIDC names the OpenID Connect providers, for a login button each.
	OIDC []string
	// PasswordProviders name the password providers in force ("LDAP",
	// "PAM"), for the login form to say which passwords it takes.
	PasswordProviders []string
	Version           string
	Log               *slog.Logger
}

// Handler serves the pages.
type Handler struct {
	cfg   Config
	reg   *registry.Registry
	log   *slog.Logger
	pages map[string]*template.Template
}

// New returns the web interface. It panics if the embedded templates do
// not parse, which the tests catch.
func New(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	h := &Handler{cfg: cfg, reg: cfg.Registry, log: cfg.Log, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		h.pages[base] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
	}
	return h
}

// Register adds the pages to mux. They keep off the paths of the APIs
// (/v1/, /v2/, /api/, /s/, /auth/) so that every protocol keeps its own.
func (h *Handler) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", http.StripPrefix("/static/", securityHeaders(cacheStatic(files))))
	h.handle(mux, "GET /{$}", h.home)
	h.handle(mux, "GET /search", h.search)
	h.handle(mux, "GET /login", h.loginPage)
	h.handle(mux, "POST /login", h.login)
	h.handle(mux, "POST /logout", h.logout)
	h.handle(mux, "GET /c/{entity}/{collection}", h.collection)
	h.handle(mux, "POST /c/{entity}/{collection}/star", h.star)
	h.handle(mux, "POST /c/{entity}/{collection}/privacy", h.privacy)
	h.handle(mux, "POST /c/{entity}/{collection}/team", h.give)
	h.handle(mux, "GET /c/{entity}/{collection}/{container}", h.container)
	h.handle(mux, "POST /c/{entity}/{collection}/{container}/share", h.createShare)
	h.handle(mux, "POST /c/{entity}/{collection}/{container}/freeze", h.freeze)
	h.handle(mux, "GET /storage", h.storage)
	h.handle(mux, "GET /account", h.account)
	h.handle(mux, "POST /account/tokens", h.createToken)
	h.handle(mux, "POST /account/tokens/{id}/revoke", h.revokeToken)
	h.handle(mux, "POST /account/shares/{id}/revoke", h.revokeShare)
	h.handle(mux, "POST /account/teams", h.createTeam)
	h.handle(mux, "POST /account/teams/{team}/members", h.addMember)
	h.handle(mux, "POST /account/teams/{team}/members/{user}/remove", h.removeMember)
	h.handle(mux, "GET /admin", h.admin)
	h.handle(mux, "POST /admin/users", h.createUser)
	h.handle(mux, "POST /admin/users/{name}", h.updateUser)
	h.handle(mux, "POST /admin/teams/{name}", h.updateTeam)
	h.handle(mux, "POST /admin/settings", h.updateSettings)
	h.handle(mux, "GET /admin/audit", h.audit)
}

// req is what every page handler gets besides the request.
type req struct {
	act  access.Actor
	csrf string // the token this browser's forms carry
}

// page is what the layout renders around a page's own data.
type page struct {
	Title   string
	Me      *access.Actor // nil when anonymous
	Admin   bool
	CSRF    string
	Error   string
	Notice  string
	Nav     string // which top-level section is current
	Version string
	OIDC    []string
	Data    any
}

// handle registers fn behind the session and CSRF checks.
func (h *Handler) handle(mux *http.ServeMux, pattern string, fn func(http.ResponseWriter, *http.Request, *req)) {
	post := strings.HasPrefix(pattern, "POST ")
	mux.Handle(pattern, securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := &req{}
		q.act, q.csrf = h.session(w, r)
		if post {
			if msg := h.checkForm(w, r, q); msg != "" {
				h.render(w, r, q, http.StatusForbidden, "error", page{Title: "Request refused", Error: msg})
				return
			}
		}
		fn(w, r, q)
	})))
}

// render writes a page; data's Title, Error and Notice are kept and the
// rest of the frame is filled from q.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, q *req, code int, name string, p page) {
	t := h.pages[name]
	if t == nil {
		h.log.Error("web: no template", "name", name)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	if q.act.LoggedIn() {
		act := q.act
		p.Me = &act
		p.Admin = q.act.User.IsAdmin()
	}
	p.CSRF, p.Version, p.OIDC = q.csrf, h.cfg.Version, h.cfg.OIDC
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		if r.Context().Err() == nil {
			h.log.Error("web: rendering", "page", name, "err", err)
		}
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// fail shows err on an error page, with the status its kind calls for. A
// caller who is not logged in and needs to be is sent to the login form.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, q *req, err error) {
	code := status.Of(err)
	msg := err.Error()
	if code == http.StatusUnauthorized && r.Method == http.MethodGet {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	if code == http.StatusInternalServerError {
		if r.Context().Err() != nil {
			return
		}
		h.log.Error("web", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "Something went wrong on the server; its log has the details."
	}
	title := http.StatusText(code)
	h.render(w, r, q, code, "error", page{Title: title, Error: msg})
}

// back answers a form with a redirect to where it came from (a local
// path given in the form's "back" field) or to def.
func back(w http.ResponseWriter, r *http.Request, def string) {
	to := localPath(r.PostFormValue("back"))
	if to == "" {
		to = def
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// localPath returns p if it is a path on this server, else "": a redirect
// target taken from a request must not lead elsewhere.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return ""
	}
	return p
}

// securityHeaders sets the headers every page and asset carries: a strict
// Content-Security-Policy (no script at all, styles only from our own
// stylesheet, forms only to us, never framed), and their older cousins.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			// Pages carry CSRF tokens and private listings, and share
			// links and tokens are shown once: no cache may keep them.
			hd.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/api/status"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/registry"
)

const (
	// sessionCookie holds the session's API token.
	sessionCookie = "silo_session"
	// csrfCookie holds a random per-browser value that CSRF tokens are
	// derived from: a page on another site can neither read it nor
	// compute a token from it.
	csrfCookie = "silo_csrf"
	// csrfField is the hidden form field carrying the token.
	csrfField = "csrf"
	// maxForm bounds a form's body: the biggest is a few fields.
	maxForm = 64 << 10
)

// secure reports whether cookies must be Secure: the request came over
// TLS, or the public URL is https (TLS ends at a proxy in front).
func (h *Handler) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(h.cfg.PublicURL, "https://")
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

// session resolves the caller from the session cookie and returns the CSRF
// token for their forms. A cookie whose token no longer works (expired,
// revoked, account disabled) is cleared and the caller is anonymous.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (access.Actor, string) {
	act := access.Anonymous
	sess := ""
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		a, err := h.cfg.Auth.Token(r.Context(), c.Value)
		switch {
		case err == nil && a.LoggedIn():
			act, sess = a, c.Value
		case err == nil || errors.Is(err, auth.ErrInvalidCredentials):
			h.setCookie(w, r, sessionCookie, "", -1)
		default:
			// The store failed: treat the caller as anonymous for this
			// request but keep their cookie for the next.
			h.log.Warn("web: reading the session", "err", err)
		}
	}
	act.Remote = auth.Remote(r)
	browser := ""
	if c, err := r.Cookie(csrfCookie); err == nil && validRandom(c.Value) {
		browser = c.Value
	} else if r.Method == http.MethodGet || r.Method == http.MethodHead {
		browser = randomValue()
		h.setCookie(w, r, csrfCookie, browser, 0)
	}
	if browser == "" {
		return act, ""
	}
	return act, h.csrfToken(browser, sess)
}

// csrfToken binds a form to this browser and this session.
func (h *Handler) csrfToken(browser, sess string) string {
	m := hmac.New(sha256.New, h.cfg.Key)
	m.Write([]byte("silo web csrf\x00" + browser + "\x00" + sess))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkForm parses a POSTed form and checks its CSRF token; it returns
// why the form is refused, or "".
func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request, q *req) string {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return "This form was sent from another site. Open the page on this server and try again."
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return "The form could not be read: " + err.Error()
	}
	got := r.PostForm.Get(csrfField)
	if q.csrf == "" || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(q.csrf)) != 1 {
		return "This form has expired or did not come from this site (its security token is missing or wrong). Go back, reload the page and try again."
	}
	return ""
}

func randomValue() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// validRandom reports whether s looks like randomValue's output, so that a
// forged cookie cannot be arbitrarily long or strange.
func validRandom(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// loginPage shows the login form.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request, q *req) {
	next := localPath(r.URL.Query().Get("next"))
	if q.act.LoggedIn() {
		http.Redirect(w, r, orRoot(next), http.StatusSeeOther)
		return
	}
	h.render(w, r, q, http.StatusOK, "login", page{Title: "Log in", Nav: "login", Data: loginData{Next: next, Providers: strings.Join(h.cfg.PasswordProviders, " or ")}})
}

type loginData struct {
	Next      string
	User      string
	Providers string
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// login checks a user name and password with the same registry call the
// silo API's login uses (local accounts, then LDAP and PAM) and starts a
// session.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, q *req) {
	user, pass := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
	next := localPath(r.PostFormValue("next"))
	d := loginData{Next: next, User: user, Providers: strings.Join(h.cfg.PasswordProviders, " or ")}
	if user == "" || pass == "" {
		h.render(w, r, q, http.StatusBadRequest, "login", page{Title: "Log in", Nav: "login", Error: "Give your user name and password.", Data: d})
		return
	}
	res, err := h.reg.SessionLogin(r.Context(), user, pass, auth.Remote(r))
	if err != nil {
		code := status.Of(err)
		msg := err.Error()
		if code == http.StatusInternalServerError {
			h.log.Error("web login", "err", err)
			msg = "The login could not be completed; the server log has the details."
		}
		h.render(w, r, q, code, "login", page{Title: "Log in", Nav: "login", Error: msg, Data: d})
		return
	}
	h.setCookie(w, r, sessionCookie, res.Token.Secret, int(registry.SessionTTL.Seconds()))
	http.Redirect(w, r, orRoot(next), http.StatusSeeOther)
}

// SetSession starts a session with token, a web session's token made by
// a login elsewhere (the OpenID Connect callback in internal/api/authflow).
func (h *Handler) SetSession(w http.ResponseWriter, r *http.Request, token string) {
	h.setCookie(w, r, sessionCookie, token, int(registry.SessionTTL.Seconds()))
}

// logout revokes the session's token, so a copy of the cookie is worth
// nothing either, and clears the cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, q *req) {
	if q.act.LoggedIn() && q.act.Token != nil {
		if err := h.reg.RevokeToken(r.Context(), q.act, q.act.Token.ID); err != nil {
			h.fail(w, r, q, err)
			return
		}
	}
	h.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

package authflow

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
)

// The pages are self-contained: one inline style sheet, no scripts, no
// images, nothing fetched from elsewhere. That lets the Content-Security-
// Policy forbid everything but that one style sheet, named by its hash, so
// that even a value that slipped past escaping could not run or load
// anything on the page that shows a token.

// css is the pages' style sheet. Its bytes are hashed into the policy, so
// any change here changes the policy with it.
const css = `body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}` +
	`h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:1.5rem}` +
	`pre,textarea{display:block;width:100%;box-sizing:border-box;background:#f4f4f4;border:1px solid #ccc;padding:.6rem;font-family:ui-monospace,monospace;font-size:.85rem;white-space:pre-wrap;word-break:break-all}` +
	`textarea{height:7rem;resize:vertical}.error{color:#a00000}`

// csp allows the style sheet above and nothing else: no scripts, frames,
// forms or other origins. frame-ancestors, base-uri and form-action are
// not covered by default-src, so they are refused by name.
var csp = func() string {
	sum := sha256.Sum256([]byte(css))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}()

// layout is every page's frame; each page defines "content". html/template
// escapes every value for where it lands (text, attribute, URL).
const layout = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · Silo</title>
<style>` + css + `</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{template "content" .}}
</body>
</html>
`

// page makes a template from layout and a page's content.
func page(content string) *template.Template {
	return template.Must(template.Must(template.New("layout").Parse(layout)).New("content").Parse(content))
}

// tokenPage shows a new token once, with the commands that use it.
var tokenPage = page(`<p>You are logged in as <strong>{{.User}}</strong>{{if .DisplayName}} ({{.DisplayName}}){{end}} through {{.Provider}}.</p>
<p>This is your new API token. It is shown only this once, and works until {{.Expires}}.
Save it in a file only you can read, for example <code>silo.token</code>:</p>
<textarea readonly spellcheck="false" aria-label="API token">{{.Token}}</textarea>
<h2>Apptainer or SingularityCE</h2>
<pre>apptainer remote add --no-login silo {{.URL}}
apptainer remote login --tokenfile silo.token silo</pre>
<h2>The silo command</h2>
<pre>silo login {{.URL}} --token-file silo.token</pre>
<p>Lost it? Log in again for a new one. <code>silo token list</code> lists your tokens and
<code>silo token revoke ID</code> ends one at once.</p>
`)

// optionsPage is /auth/tokens, where `apptainer remote login`
// sends people for a token.
var optionsPage = page(`{{if .Providers}}<p>Log in in this browser to get an API token:</p>
<ul>{{range .Providers}}<li><a href="{{.LoginURL}}">Log in with {{.Name}}</a></li>{{end}}</ul>
<h2>Without a browser</h2>
{{else}}<p>This server offers no browser login. Get an API token one of these ways.</p>
{{end}}<p>With a Silo password{{if .PasswordProviders}} (or your {{.PasswordProviders}} password){{end}}, log in
with the <code>silo</code> command, then make a token for Apptainer:</p>
<pre>silo login {{.URL}} --user NAME
silo token create --name apptainer &gt; silo.token
apptainer remote login --tokenfile silo.token silo</pre>
<p>Without a password, ask an administrator: they can make a token for your account with
<code>silo token create NAME</code>.</p>
`)

// errorPage explains a failed login and how to try again.
var errorPage = page(`<p class="error">{{.Message}}</p>
<p><a href="{{.Retry}}">Try again</a>{{if .Hint}}; {{.Hint}}{{end}}.</p>
`)

// writePage renders t with data and sends it with status. The page is
// rendered first, so that a template fault is a clean 500 and not half a
// page under a success status.
func writePage(w http.ResponseWriter, log *slog.Logger, status int, t *template.Template, data any) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		log.Error("rendering a login page", "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	// A token page must not be kept by a browser or a proxy, nor shown
	// again by the back button after the person has left it.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// The callback URL carries the provider's code and state; no link on
	// the page may pass it on.
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

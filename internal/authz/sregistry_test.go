package authz_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/api/sregistry/sregistrytest"
)

// The sregistry API names a collection c as Silo's <default entity>/c, so
// the world keeps a mirror of the image under test there: the same bytes,
// tag, creator (carol), owning team (lab) and privacy. The sregistry
// probes are held to the same matrix on it.
const (
	mirrorEntity = "default"
	mirror       = mirrorEntity + "/" + collection + "/" + container
)

// sregCred is a user's ~/.sregistry: the name it signs as and its secret.
type sregCred struct {
	user, secret string
}

// sregistrySecrets gets every user actor's sregistry-cli secret the way a
// user does, POST /api/sregistry/secret with their token, before any
// credential is spoiled (dis keeps hers after being disabled).
func (w *world) sregistrySecrets(t *testing.T, tok map[string]string) map[string]sregCred {
	t.Helper()
	out := map[string]sregCred{}
	for actor, user := range map[string]string{"user": "carol", "other-user": "bob", "team-member": "tm",
		"team-owner": "alice", "manager": "mgr", "admin": "admin", "disabled-user": "dis"} {
		var cfg struct {
			Registry struct{ Username, Token string }
		}
		w.api(t, "POST", "/api/sregistry/secret", tok[user], nil, &cfg, http.StatusOK)
		if cfg.Registry.Username != user || cfg.Registry.Token == "" {
			t.Fatalf("setup: %s's sregistry secret: %+v", user, cfg)
		}
		out[actor] = sregCred{user: user, secret: cfg.Registry.Token}
	}
	return out
}

// probes returns every protocol's probes of act for an actor: the library
// and silo APIs' and share links' (coreProbes), and the sregistry API's.
func (w *world) probes(act string, cr cred) []probe {
	return append(w.coreProbes(act, cr.link != ""), w.sregistryProbes(act, cr)...)
}

// sregistryProbes carry act over the sregistry API as sregistry-cli does
// (docs/protocols/sregistry.md), on the mirror. Reads go with the actor's
// token as a plain credential, and for pull the way sregistry-cli pulls:
// unsigned first, signed with the user's secret on a 403. Writes are
// signed with the user's secret; actors with no sregistry secret (tokens,
// links) have no way to write there and get no write probes, and link
// actors, whose reads are the share protocol's, none at all.
//
// The API's answers in the matrix's words: 2xx is ok; 404 "Container Not
// Found" is hide; 403 "Authentication Required" is the API's answer to an
// anonymous read of anything it may not see, private or missing alike
// (sregistry-cli signs and retries only on 403), so hide for a read, and
// "log in" (401) for a write; other 403s refuse credentials (401) or a
// known caller (403), told apart by their detail, since sregistry answers
// every refusal 403.
func (w *world) sregistryProbes(act string, cr cred) []probe {
	if cr.link != "" {
		return nil
	}
	name := func(c *call) string { return c.n.collection + "/" + container + ":" + tag }
	switch act {
	case "get":
		return []probe{{"sregistry GET /api/container", true, func(c *call) string {
			st, b := c.sregDo(http.MethodGet, "/api/container/"+name(c), c.bearer(), nil)
			return c.sregRead(st, b)
		}}}
	case "pull":
		return []probe{{"sregistry-cli pull", true, func(c *call) string {
			// sregistry-cli asks unsigned first, signs after a 403 and then
			// keeps signing: a user's pull is the signed one (an unsigned
			// request is the anonymous cell's), a token's the plain one.
			auth := c.bearer()
			if c.sreg.secret != "" {
				auth = c.signature("pull", c.n.collection, container)
			}
			st, b := c.sregDo(http.MethodGet, "/api/container/"+name(c), auth, nil)
			if st != http.StatusOK {
				return c.sregRead(st, b)
			}
			var m struct{ Image string }
			if err := json.Unmarshal(b, &m); err != nil || !strings.HasPrefix(m.Image, c.w.in.URL+"/") {
				return fmt.Sprintf("container answer without a download URL: %s", abbrev(b))
			}
			st, img := c.sregDo(http.MethodGet, strings.TrimPrefix(m.Image, c.w.in.URL), "", nil)
			if st == http.StatusOK && sha256Hex(img) != c.w.imgA.digest {
				return "ok, but not the image's bytes"
			}
			return c.sregRead(st, img)
		}}}
	}
	if cr.token != "" && cr.sreg.secret == "" {
		return nil
	}
	switch act {
	case "delete":
		return []probe{{"sregistry-cli delete", true, func(c *call) string {
			st, b := c.sregDo(http.MethodDelete, "/api/container/"+name(c), c.signature("delete", c.n.collection, container), nil)
			return sregWrite(st, b)
		}}}
	case "push-tag", "push-new":
		// A missing collection in the default entity (Silo's shared one)
		// is one anyone may create, so a push's answer about a hidden
		// collection cannot equal a missing one's: no twin run (named is
		// false), but the leak scan still applies.
		return []probe{{"sregistry-cli push (" + act + ")", false, func(c *call) string {
			ctr := container
			if act == "push-new" {
				ctr = c.n.newName
			}
			return c.sregPush(c.n.collection, ctr)
		}}}
	}
	return nil
}

// bearer is the actor's token as a plain credential, "" for none.
func (c *call) bearer() string {
	if c.tok == "" {
		return ""
	}
	return "Bearer " + c.tok
}

// signature is sregistry-cli's SREGISTRY-HMAC-SHA256 header for kind over
// collection/name:latest, signed with the actor's secret; "" (no header)
// for an actor without one, as a client with no credentials sends.
func (c *call) signature(kind, col, name string) string {
	if c.sreg.secret == "" {
		return ""
	}
	cli := sregistrytest.CLI{Username: c.sreg.user, Token: c.sreg.secret, Now: c.w.clock.Now}
	return cli.Authorize(kind, col, name, tag)
}

// sregDo sends one recorded request with the Authorization header auth.
func (c *call) sregDo(method, path, auth string, body io.Reader) (int, []byte) {
	return c.sregTyped(method, path, auth, "", body)
}

func (c *call) sregTyped(method, path, auth, ctype string, body io.Reader) (int, []byte) {
	req, err := http.NewRequest(method, c.w.in.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := (&http.Client{Transport: c.rec, Timeout: time.Minute}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, b
}

// sregPush is sregistry-cli's two-step push of imgB to col/name:latest.
func (c *call) sregPush(col, name string) string {
	check, _ := json.Marshal(map[string]string{"collection": col, "name": name, "tag": tag})
	st, b := c.sregTyped(http.MethodPost, "/api/upload/chunked_upload", c.signature("push", col, name), "application/json", bytes.NewReader(check))
	if st != http.StatusOK {
		return sregWrite(st, b)
	}
	var cid struct {
		CID int64 `json:"cid"`
	}
	if err := json.Unmarshal(b, &cid); err != nil {
		return fmt.Sprintf("push check answered %s", abbrev(b))
	}
	f, err := os.ReadFile(c.w.imgB.path)
	if err != nil {
		c.t.Fatal(err)
	}
	auth := c.signature("upload", col, name)
	// Buffered, so that the request has a length as before.
	var body bytes.Buffer
	stream, ctype := sregistrytest.UploadBody([][2]string{{"SREGISTRY_EVENT", auth}, {"name", name}, {"collection", fmt.Sprint(cid.CID)}, {"tag", tag}},
		"file1", name+":"+tag+".sif", bytes.NewReader(f))
	if _, err := body.ReadFrom(stream); err != nil {
		c.t.Fatal(err)
	}
	st, b = c.sregTyped(http.MethodPost, "/upload", auth, ctype, &body)
	return sregWrite(st, b)
}

// sregRead is a read's answer in the matrix's words.
func (c *call) sregRead(status int, body []byte) string {
	if status == http.StatusForbidden && sregDetail(body) == "Authentication Required" {
		return "hide"
	}
	return sregWord(status, body)
}

// sregWrite is a write's answer in the matrix's words.
func sregWrite(status int, body []byte) string {
	if status == http.StatusForbidden && sregDetail(body) == "Authentication Required" {
		return "401"
	}
	return sregWord(status, body)
}

// sregWord maps the rest: a 403 refusing the credentials themselves is
// the matrix's 401, any other 403 its 403.
func sregWord(status int, body []byte) string {
	switch {
	case status >= 200 && status < 300:
		return "ok"
	case status == http.StatusNotFound:
		return "hide"
	case status == http.StatusForbidden:
		d := strings.ToLower(sregDetail(body))
		for _, w := range []string{"credentials", "disabled", "revoked", "expired", "log in"} {
			if strings.Contains(d, w) {
				return "401"
			}
		}
		return "403"
	}
	return fmt.Sprintf("status %d %s", status, abbrev(body))
}

// sregDetail is the "detail" sregistry-cli prints.
func sregDetail(body []byte) string { return sregistrytest.Response{Body: body}.Detail() }

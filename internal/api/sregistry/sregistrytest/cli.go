// Package sregistrytest is a Go transcription of sregistry-cli's registry client
// (singularityhub/sregistry-cli, sregistry/main/registry/*.py and
// sregistry/main/registry/utils.py): the same URLs, payload strings,
// header format, JSON and multipart bodies, in the same order. PyPI is not
// reachable from this machine, so the Python client itself cannot run here;
// this package follows its source line by line instead.
package sregistrytest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CLI is one configured client: ~/.sregistry's {"registry": {"base",
// "username", "token"}}.
type CLI struct {
	T        testing.TB
	Base     string // with /api appended, as Client._update_base does
	Username string
	Token    string
	Now      func() time.Time
	Headers  http.Header // ApiConnection.headers, which _update_headers mutates
}

// New is a client configured as ~/.sregistry would configure it.
func New(t testing.TB, base, username, token string) *CLI {
	base = strings.TrimRight(base, "/")
	if !strings.HasSuffix(base, "api") {
		base += "/api"
	}
	return &CLI{T: t, Base: base, Username: username, Token: token, Now: time.Now,
		Headers: http.Header{"Content-Type": {"application/json"}}}
}

// GenerateTimestamp is utils.generate_timestamp: strftime('%Y%m%dT%HZ') in UTC.
func (c *CLI) GenerateTimestamp() string { return c.Now().UTC().Format("20060102T15Z") }

// Authorize is auth.authorize: payload "<kind>|<collection>|<ts>|<image>|<tag>|",
// credential "<kind>/<base64(username)>/<ts>", hex HMAC-SHA256 keyed by the token.
func (c *CLI) Authorize(kind, collection, image, tag string) string {
	ts := c.GenerateTimestamp()
	cred := fmt.Sprintf("%s/%s/%s", kind, base64.StdEncoding.EncodeToString([]byte(c.Username)), ts)
	payload := fmt.Sprintf("%s|%s|%s|%s|%s|", kind, collection, ts, image, tag)
	m := hmac.New(sha256.New, []byte(c.Token))
	m.Write([]byte(payload))
	return fmt.Sprintf("SREGISTRY-HMAC-SHA256 Credential=%s,Signature=%s", cred, hex.EncodeToString(m.Sum(nil)))
}

// Names is sregistry.utils.parse_image_name for the forms the tests use:
// collection/image[:tag], lower-cased, tag default "latest".
type Names struct{ Collection, Image, Tag, Storage string }

// ParseImageName parses as sregistry.utils.parse_image_name does.
func ParseImageName(s string) Names {
	s = strings.ToLower(s)
	col, rest, _ := strings.Cut(s, "/")
	img, tag, ok := strings.Cut(rest, ":")
	if !ok || tag == "" {
		tag = "latest"
	}
	return Names{Collection: col, Image: img, Tag: tag, Storage: fmt.Sprintf("%s/%s:%s.sif", col, img, tag)}
}

// Response is a status and body.
type Response struct {
	Status int
	Body   []byte
}

// JSON decodes the body into v.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("answer %d is not JSON (%v): %s", r.Status, err, r.Body)
	}
}

// Detail is Client._read_response: the "detail" field.
func (r Response) Detail() string {
	var v map[string]any
	if json.Unmarshal(r.Body, &v) == nil {
		if s, ok := v["detail"].(string); ok {
			return s
		}
	}
	return ""
}

// Do sends req.
func (c *CLI) Do(req *http.Request) Response {
	c.T.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.T.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Response{resp.StatusCode, b}
}

// Get is ApiConnection._get with the client's current headers.
func (c *CLI) Get(url string) Response {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header = c.Headers.Clone()
	return c.Do(req)
}

// PushCheck is step 1 of push.py: requests.post(auth_url, json=fields,
// headers={'Authorization': <push signature>}).
func (c *CLI) PushCheck(n Names, auth string) Response {
	body, _ := json.Marshal(map[string]string{"collection": n.Collection, "name": n.Image, "tag": n.Tag})
	req, _ := http.NewRequest("POST", c.Base+"/upload/chunked_upload", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	return c.Do(req)
}

// UploadBody is step 2's MultipartEncoder: fields in the order of push.py's
// dict, the file last as (basename(storage), file, 'text/plain'). It
// streams, as MultipartEncoder does.
func UploadBody(fields [][2]string, fileField, fileName string, file io.Reader) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for _, f := range fields {
			if err := mw.WriteField(f[0], f[1]); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, fileField, fileName))
		h.Set("Content-Type", "text/plain")
		w, err := mw.CreatePart(h)
		if err == nil {
			_, err = io.Copy(w, file)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

// Upload is step 2 of push.py: POST <registry without /api>/upload.
func (c *CLI) Upload(n Names, cid int64, auth, path string) Response {
	f, err := os.Open(path)
	if err != nil {
		c.T.Fatal(err)
	}
	defer f.Close()
	body, ctype := UploadBody([][2]string{{"SREGISTRY_EVENT", auth}, {"name", n.Image}, {"collection", fmt.Sprint(cid)}, {"tag", n.Tag}},
		"file1", filepath.Base(n.Storage), f)
	req, _ := http.NewRequest("POST", strings.Replace(c.Base, "/api", "", 1)+"/upload", body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", auth)
	return c.Do(req)
}

// Push is push.py's whole push; it returns both answers.
func (c *CLI) Push(path, name string) (check, upload Response) {
	n := ParseImageName(name)
	check = c.PushCheck(n, c.Authorize("push", n.Collection, n.Image, n.Tag))
	if check.Status != 200 {
		return check, Response{}
	}
	var cid struct {
		CID int64 `json:"cid"`
	}
	check.JSON(c.T, &cid)
	return check, c.Upload(n, cid.CID, c.Authorize("upload", n.Collection, n.Image, n.Tag), path)
}

// Pull is pull.py: GET the container; on 403, retry with a pull signature
// (kept in the headers, as _update_headers does); then download "image".
func (c *CLI) Pull(name string) (manifest map[string]any, data []byte, last Response) {
	q := ParseImageName(name)
	url := fmt.Sprintf("%s/container/%s/%s:%s", c.Base, q.Collection, q.Image, q.Tag)
	r := c.Get(url)
	if r.Status == 403 {
		c.Headers.Set("Authorization", c.Authorize("pull", q.Collection, q.Image, q.Tag))
		r = c.Get(url)
	}
	if r.Status != 200 {
		return nil, nil, r
	}
	r.JSON(c.T, &manifest)
	img, _ := manifest["image"].(string)
	if img == "" {
		return manifest, nil, r
	}
	d := c.Get(img)
	if d.Status != 200 {
		c.T.Fatalf("downloading %s: %d %s", img, d.Status, d.Body)
	}
	return manifest, d.Body, r
}

// Remove is delete.py: DELETE <registry>/container/<c>/<i>:<t> signed "delete".
func (c *CLI) Remove(name string) Response {
	q := ParseImageName(name)
	req, _ := http.NewRequest("DELETE", fmt.Sprintf("%s/container/%s/%s:%s", c.Base, q.Collection, q.Image, q.Tag), nil)
	req.Header = c.Headers.Clone()
	req.Header.Set("Authorization", c.Authorize("delete", q.Collection, q.Image, q.Tag))
	return c.Do(req)
}

package sregistry_test

// cli is a Go transcription of sregistry-cli's registry client
// (singularityhub/sregistry-cli, sregistry/main/registry/*.py and
// sregistry/main/registry/utils.py): the same URLs, payload strings,
// header format, JSON and multipart bodies, in the same order. PyPI is not
// reachable from this machine, so the Python client itself cannot run here;
// this file follows its source line by line instead, and says where.

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

// cli is one configured client: ~/.sregistry's {"registry": {"base",
// "username", "token"}}.
type cli struct {
	t        *testing.T
	base     string // with /api appended, as Client._update_base does
	username string
	token    string
	now      func() time.Time
	headers  http.Header // ApiConnection.headers, which _update_headers mutates
}

func newCLI(t *testing.T, base, username, token string) *cli {
	base = strings.TrimRight(base, "/")
	if !strings.HasSuffix(base, "api") {
		base += "/api"
	}
	return &cli{t: t, base: base, username: username, token: token, now: time.Now,
		headers: http.Header{"Content-Type": {"application/json"}}}
}

// generateTimestamp is utils.generate_timestamp: strftime('%Y%m%dT%HZ') in UTC.
func (c *cli) generateTimestamp() string { return c.now().UTC().Format("20060102T15Z") }

// authorize is auth.authorize: payload "<kind>|<collection>|<ts>|<image>|<tag>|",
// credential "<kind>/<base64(username)>/<ts>", hex HMAC-SHA256 keyed by the token.
func (c *cli) authorize(kind, collection, image, tag string) string {
	ts := c.generateTimestamp()
	cred := fmt.Sprintf("%s/%s/%s", kind, base64.StdEncoding.EncodeToString([]byte(c.username)), ts)
	payload := fmt.Sprintf("%s|%s|%s|%s|%s|", kind, collection, ts, image, tag)
	m := hmac.New(sha256.New, []byte(c.token))
	m.Write([]byte(payload))
	return fmt.Sprintf("SREGISTRY-HMAC-SHA256 Credential=%s,Signature=%s", cred, hex.EncodeToString(m.Sum(nil)))
}

// names is sregistry.utils.parse_image_name for the forms the tests use:
// collection/image[:tag], lower-cased, tag default "latest".
type names struct{ collection, image, tag, storage string }

func parseImageName(s string) names {
	s = strings.ToLower(s)
	col, rest, _ := strings.Cut(s, "/")
	img, tag, ok := strings.Cut(rest, ":")
	if !ok || tag == "" {
		tag = "latest"
	}
	return names{collection: col, image: img, tag: tag, storage: fmt.Sprintf("%s/%s:%s.sif", col, img, tag)}
}

type response struct {
	status int
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not JSON (%v): %s", r.status, err, r.body)
	}
}

// detail is Client._read_response: the "detail" field.
func (r response) detail() string {
	var v map[string]any
	if json.Unmarshal(r.body, &v) == nil {
		if s, ok := v["detail"].(string); ok {
			return s
		}
	}
	return ""
}

func (c *cli) do(req *http.Request) response {
	c.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

// get is ApiConnection._get with the client's current headers.
func (c *cli) get(url string) response {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header = c.headers.Clone()
	return c.do(req)
}

// pushCheck is step 1 of push.py: requests.post(auth_url, json=fields,
// headers={'Authorization': <push signature>}).
func (c *cli) pushCheck(n names, auth string) response {
	body, _ := json.Marshal(map[string]string{"collection": n.collection, "name": n.image, "tag": n.tag})
	req, _ := http.NewRequest("POST", c.base+"/upload/chunked_upload", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	return c.do(req)
}

// uploadBody is step 2's MultipartEncoder: fields in the order of push.py's
// dict, the file last as (basename(storage), file, 'text/plain'). It
// streams, as MultipartEncoder does.
func uploadBody(fields [][2]string, fileField, fileName string, file io.Reader) (io.Reader, string) {
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

// upload is step 2 of push.py: POST <registry without /api>/upload.
func (c *cli) upload(n names, cid int64, auth, path string) response {
	f, err := os.Open(path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	body, ctype := uploadBody([][2]string{{"SREGISTRY_EVENT", auth}, {"name", n.image}, {"collection", fmt.Sprint(cid)}, {"tag", n.tag}},
		"file1", filepath.Base(n.storage), f)
	req, _ := http.NewRequest("POST", strings.Replace(c.base, "/api", "", 1)+"/upload", body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", auth)
	return c.do(req)
}

// push is push.py's whole push; it returns both answers.
func (c *cli) push(path, name string) (check, upload response) {
	n := parseImageName(name)
	check = c.pushCheck(n, c.authorize("push", n.collection, n.image, n.tag))
	if check.status != 200 {
		return check, response{}
	}
	var cid struct {
		CID int64 `json:"cid"`
	}
	check.json(c.t, &cid)
	return check, c.upload(n, cid.CID, c.authorize("upload", n.collection, n.image, n.tag), path)
}

// pull is pull.py: GET the container; on 403, retry with a pull signature
// (kept in the headers, as _update_headers does); then download "image".
func (c *cli) pull(name string) (manifest map[string]any, data []byte, last response) {
	q := parseImageName(name)
	url := fmt.Sprintf("%s/container/%s/%s:%s", c.base, q.collection, q.image, q.tag)
	r := c.get(url)
	if r.status == 403 {
		c.headers.Set("Authorization", c.authorize("pull", q.collection, q.image, q.tag))
		r = c.get(url)
	}
	if r.status != 200 {
		return nil, nil, r
	}
	r.json(c.t, &manifest)
	img, _ := manifest["image"].(string)
	if img == "" {
		return manifest, nil, r
	}
	d := c.get(img)
	if d.status != 200 {
		c.t.Fatalf("downloading %s: %d %s", img, d.status, d.body)
	}
	return manifest, d.body, r
}

// remove is delete.py: DELETE <registry>/container/<c>/<i>:<t> signed "delete".
func (c *cli) remove(name string) response {
	q := parseImageName(name)
	req, _ := http.NewRequest("DELETE", fmt.Sprintf("%s/container/%s/%s:%s", c.base, q.collection, q.image, q.tag), nil)
	req.Header = c.headers.Clone()
	req.Header.Set("Authorization", c.authorize("delete", q.collection, q.image, q.tag))
	return c.do(req)
}

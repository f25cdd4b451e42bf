package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	aclient "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/api/silo"
)

// names are what a probe names. A cell runs its probes with the real
// names and, for an actor who may not see the private image, again with a
// twin's: the same request about a collection (or link) that does not
// exist, whose answers the real ones must equal.
type names struct {
	collection string // "tools", or a twin's, "x0042"
	search     string // the search text: the collection's name
	newName    string // the container push-new creates
	link       string // a link actor's /s/<secret>/<file>
	// The ids of the container and the image under test, for the calls
	// that name them by id; a twin's container id is one that does not
	// exist.
	containerID, imageID string
}

// The twin's collection (numbered per cell) and container id, and the
// placeholder both names become when the answers are compared.
const (
	twinCollection  = "x"
	twinContainerID = "999999"
	placeholder     = "NAME"
)

// call is one run of a probe: who, with what names, recorded where.
type call struct {
	t    *testing.T
	w    *world
	rec  *recorder
	tok  string
	sreg sregCred // the actor's sregistry-cli configuration, if any
	n    names
}

// client is the real library client, as apptainer drives it.
func (c *call) client() *aclient.Client {
	cl, err := aclient.NewClient(&aclient.Config{
		BaseURL: c.w.in.URL, AuthToken: c.tok,
		HTTPClient: &http.Client{Transport: c.rec, Timeout: time.Minute},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// do sends one raw request (not following redirects) and returns the
// status and body. body is JSON-encoded when not nil.
func (c *call) do(method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.w.in.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.tok != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	hc := &http.Client{
		Transport:     c.rec,
		Timeout:       time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := hc.Do(req)
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

// byStatus is the matrix's word for a status.
func byStatus(status int) string {
	switch {
	case status >= 200 && status < 400:
		return "ok"
	case status == http.StatusUnauthorized:
		return "401"
	case status == http.StatusForbidden:
		return "403"
	case status == http.StatusNotFound:
		return "hide"
	}
	return fmt.Sprintf("status %d", status)
}

// byClient is the matrix's word for what a client call came to: ok, or
// the status of the answer it failed on (the last one it got, since the
// clients stop at the first answer they cannot go on from).
func (c *call) byClient(err error) string {
	if err == nil {
		return "ok"
	}
	last := c.rec.last()
	if last.Status < 400 {
		return fmt.Sprintf("client error after %d: %v", last.Status, err)
	}
	return byStatus(last.Status)
}

// listing is the word for a listing or search answer: ok when it shows
// the image under test, hide when it answers without it.
func listing(status int, shows bool) string {
	if status != http.StatusOK {
		return byStatus(status)
	}
	if shows {
		return "ok"
	}
	return "hide"
}

// probe is one way a protocol carries an action.
type probe struct {
	what string
	// named probes name the image (or link), so a twin run applies; the
	// unfiltered listing names nothing and is only scanned for leaks.
	named bool
	run   func(c *call) string
}

// coreProbes returns how the library and silo APIs and share links carry
// act for an actor (probes adds the other protocols): link actors
// use the share protocol where it has the action (get, pull) and present
// their secret as a token everywhere else; everyone else speaks the
// library and silo APIs. A protocol that lands (OCI, the sregistry API,
// the web pages) adds its probes here, and every cell then holds it to
// the same matrix.
func (w *world) coreProbes(act string, isLink bool) []probe {
	ref := func(n names) string { return entity + "/" + n.collection + "/" + container }
	if isLink {
		switch act {
		case "get":
			return []probe{{"share HEAD /s/<secret>", true, func(c *call) string {
				st, _ := c.do("HEAD", c.n.link, nil)
				return byStatus(st)
			}}}
		case "pull":
			return []probe{{"share GET /s/<secret>/<file>", true, func(c *call) string {
				st, b := c.do("GET", c.n.link, nil)
				if st == http.StatusOK && sha256Hex(b) != w.imgA.digest {
					return "ok, but not the image's bytes"
				}
				return byStatus(st)
			}}}
		}
	}
	switch act {
	case "list":
		return []probe{
			{"silo GET images", false, func(c *call) string {
				st, l := c.list("")
				return listing(st, w.shows(l))
			}},
			{"silo GET images?entity=&collection=", true, func(c *call) string {
				st, l := c.list("?entity=" + entity + "&collection=" + c.n.collection)
				return listing(st, w.shows(l))
			}},
		}
	case "search":
		return []probe{
			{"library client Search", true, func(c *call) string {
				res, err := c.client().Search(context.Background(), map[string]string{"value": c.n.search})
				if err != nil {
					return c.byClient(err)
				}
				for _, im := range res.Images {
					if im.Hash == "sha256."+w.imgA.digest && im.CollectionName == collection && im.ContainerName == container {
						return "ok"
					}
				}
				return "hide"
			}},
			{"silo GET images?q=", true, func(c *call) string {
				st, l := c.list("?q=" + url.QueryEscape(c.n.search))
				return listing(st, w.shows(l))
			}},
		}
	case "get":
		return []probe{
			{"library client GetImage", true, func(c *call) string {
				im, err := c.client().GetImage(context.Background(), arch, ref(c.n)+":"+tag)
				if err == nil && im.Hash != "sha256."+w.imgA.digest {
					return "ok, but another image"
				}
				return c.byClient(err)
			}},
			{"library GET /v1/collections", true, func(c *call) string {
				st, _ := c.do("GET", "/v1/collections/"+entity+"/"+c.n.collection, nil)
				return byStatus(st)
			}},
			{"library GET /v1/containers", true, func(c *call) string {
				st, _ := c.do("GET", "/v1/containers/"+ref(c.n), nil)
				return byStatus(st)
			}},
			{"library GET /v2/tags/<container id>", true, func(c *call) string {
				st, _ := c.do("GET", "/v2/tags/"+c.n.containerID, nil)
				return byStatus(st)
			}},
			{"library GET /v1/images by version", true, func(c *call) string {
				st, _ := c.do("GET", "/v1/images/"+ref(c.n)+":sha256."+w.imgA.digest+"?arch="+arch, nil)
				return byStatus(st)
			}},
		}
	case "pull":
		return []probe{
			{"library client ConcurrentDownloadImage", true, func(c *call) string {
				dst, err := os.Create(filepath.Join(c.t.TempDir(), "pulled.sif"))
				if err != nil {
					c.t.Fatal(err)
				}
				defer dst.Close()
				err = c.client().ConcurrentDownloadImage(context.Background(), dst, arch, ref(c.n), tag,
					&aclient.Downloader{Concurrency: 2, PartSize: 32 << 10}, nil)
				if err == nil {
					if b, rerr := os.ReadFile(dst.Name()); rerr != nil || sha256Hex(b) != w.imgA.digest {
						return "ok, but not the image's bytes"
					}
				}
				return c.byClient(err)
			}},
			{"library GET /v1/imagefile", true, func(c *call) string {
				st, _ := c.do("GET", "/v1/imagefile/"+ref(c.n)+":"+tag+"?arch="+arch, nil)
				if st < 400 && st != http.StatusSeeOther {
					return fmt.Sprintf("status %d, want a 303", st)
				}
				return byStatus(st)
			}},
		}
	case "push-new":
		return []probe{{"library client UploadImage (new container)", true, func(c *call) string {
			return c.upload(entity + "/" + c.n.collection + "/" + c.n.newName)
		}}}
	case "tag":
		// By ids, as the push's last step does, with the tag pointed where
		// it already points: allowed, it changes nothing.
		return []probe{{"library POST /v2/tags/<container id>", true, func(c *call) string {
			st, _ := c.do("POST", "/v2/tags/"+c.n.containerID, map[string]string{"Tag": tag, "ImageID": c.n.imageID, "Arch": arch})
			return byStatus(st)
		}}}
	case "push-tag":
		return []probe{{"library client UploadImage (over the tag)", true, func(c *call) string {
			return c.upload(ref(c.n))
		}}}
	case "delete":
		return []probe{{"library client DeleteImage", true, func(c *call) string {
			return c.byClient(c.client().DeleteImage(context.Background(), ref(c.n)+":"+tag, arch))
		}}}
	case "freeze":
		return []probe{{"silo PUT containers/…/frozen", true, func(c *call) string {
			st, _ := c.do("PUT", api+"containers/"+ref(c.n)+"/frozen", nil)
			return byStatus(st)
		}}}
	case "share":
		return []probe{{"silo POST shares", true, func(c *call) string {
			st, _ := c.do("POST", api+"shares", silo.ShareRequest{Name: ref(c.n) + ":" + tag})
			return byStatus(st)
		}}}
	case "collection":
		return []probe{{"silo PATCH collections", true, func(c *call) string {
			// Privacy set to what it is: a change of nothing, so that an
			// allowed cell leaves the world as it was.
			st, _ := c.do("PATCH", api+"collections/"+entity+"/"+c.n.collection, silo.CollectionChange{Private: ptr(w.private)})
			return byStatus(st)
		}}}
	case "users":
		return []probe{
			{"silo GET users", false, func(c *call) string {
				st, _ := c.do("GET", api+"users", nil)
				return byStatus(st)
			}},
			{"silo POST users", false, func(c *call) string {
				st, _ := c.do("POST", api+"users", silo.NewUserRequest{Name: fmt.Sprintf("newuser%d", w.next())})
				return byStatus(st)
			}},
		}
	}
	panic("no probes for action " + act)
}

// list asks the silo API for images with query and decodes the listing.
func (c *call) list(query string) (int, silo.ImageList) {
	st, b := c.do("GET", api+"images"+query, nil)
	var l silo.ImageList
	if st == http.StatusOK {
		if err := json.Unmarshal(b, &l); err != nil {
			c.t.Errorf("GET images%s: %v in %s", query, err, abbrev(b))
		}
	}
	return st, l
}

// shows reports whether a listing has the image under test.
func (w *world) shows(l silo.ImageList) bool {
	for _, im := range l.Images {
		if im.Name == entity+"/"+collection+"/"+container && im.Version == "sha256."+w.imgA.digest {
			return true
		}
	}
	return false
}

// upload pushes imgB to path:latest with the real client.
func (c *call) upload(path string) string {
	f, err := os.Open(c.w.imgB.path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	_, err = c.client().UploadImage(context.Background(), f, path, arch, []string{tag}, "", nil)
	if err != nil && strings.Contains(err.Error(), "malformed") {
		c.t.Fatalf("pushing to %s: %v", path, err)
	}
	return c.byClient(err)
}

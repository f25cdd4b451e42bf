package library_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	aclient "github.com/apptainer/container-library-client/client"
	sclient "github.com/sylabs/scs-library-client/client"
)

// The two real library clients: Apptainer's and SingularityCE's. Their
// methods have the same signatures over distinct types, so each gets a
// one-line-per-method adapter onto libClient and every test runs over
// clientKinds. Results are converted through their JSON form (the wire
// shape both share) into the small structs below.

var clientKinds = []string{"apptainer", "sylabs"}

// libClient is what the tests drive; each method is the real client's own.
type libClient interface {
	Push(ctx context.Context, r io.ReadSeeker, path, arch string, tags []string, description string) (*uploadComplete, error)
	// Pull is DownloadImage: one GET that follows the 303 and streams.
	Pull(ctx context.Context, w io.Writer, arch, path, tag string) error
	// PullParts is ConcurrentDownloadImage: ranged GETs of the 303 target.
	PullParts(ctx context.Context, dst *os.File, arch, path, tag string, concurrency uint, partSize int64) error
	GetImage(ctx context.Context, arch, ref string) (*image, error)
	Search(ctx context.Context, args map[string]string) (*searchResults, error)
	DeleteImage(ctx context.Context, ref, arch string) error
	GetVersion(ctx context.Context) (apiVersion string, err error)
}

type image struct {
	ID             string   `json:"id"`
	Hash           string   `json:"hash"`
	Description    string   `json:"description"`
	Container      string   `json:"container"`
	Size           int64    `json:"size"`
	Uploaded       bool     `json:"uploaded"`
	Signed         *bool    `json:"signed"`
	Arch           *string  `json:"arch"`
	EntityName     string   `json:"entityName"`
	CollectionName string   `json:"collectionName"`
	ContainerName  string   `json:"containerName"`
	Tags           []string `json:"tags"`
}

type searchResults struct {
	Images []image `json:"image"`
}

type uploadComplete struct {
	Quota struct {
		Total int64 `json:"quotaTotal"`
		Usage int64 `json:"quotaUsage"`
	} `json:"quota"`
	ContainerURL string `json:"containerUrl"`
}

// convert re-reads a client value as T through JSON; nil stays nil.
func convert[T any, S any](v *S, err error) (*T, error) {
	if err != nil || v == nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := new(T)
	return out, json.Unmarshal(b, out)
}

type apptainerClient struct{ c *aclient.Client }

func (a apptainerClient) Push(ctx context.Context, r io.ReadSeeker, path, arch string, tags []string, desc string) (*uploadComplete, error) {
	return convert[uploadComplete](a.c.UploadImage(ctx, r, path, arch, tags, desc, nil))
}
func (a apptainerClient) Pull(ctx context.Context, w io.Writer, arch, path, tag string) error {
	return a.c.DownloadImage(ctx, w, arch, path, tag, nil)
}
func (a apptainerClient) PullParts(ctx context.Context, dst *os.File, arch, path, tag string, n uint, size int64) error {
	return a.c.ConcurrentDownloadImage(ctx, dst, arch, path, tag, &aclient.Downloader{Concurrency: n, PartSize: size}, nil)
}
func (a apptainerClient) GetImage(ctx context.Context, arch, ref string) (*image, error) {
	return convert[image](a.c.GetImage(ctx, arch, ref))
}
func (a apptainerClient) Search(ctx context.Context, args map[string]string) (*searchResults, error) {
	return convert[searchResults](a.c.Search(ctx, args))
}
func (a apptainerClient) DeleteImage(ctx context.Context, ref, arch string) error {
	return a.c.DeleteImage(ctx, ref, arch)
}
func (a apptainerClient) GetVersion(ctx context.Context) (string, error) {
	v, err := a.c.GetVersion(ctx)
	return v.APIVersion, err
}

type sylabsClient struct{ c *sclient.Client }

func (s sylabsClient) Push(ctx context.Context, r io.ReadSeeker, path, arch string, tags []string, desc string) (*uploadComplete, error) {
	return convert[uploadComplete](s.c.UploadImage(ctx, r, path, arch, tags, desc, nil))
}
func (s sylabsClient) Pull(ctx context.Context, w io.Writer, arch, path, tag string) error {
	return s.c.DownloadImage(ctx, w, arch, path, tag, nil)
}
func (s sylabsClient) PullParts(ctx context.Context, dst *os.File, arch, path, tag string, n uint, size int64) error {
	return s.c.ConcurrentDownloadImage(ctx, dst, arch, path, tag, &sclient.Downloader{Concurrency: n, PartSize: size}, nil)
}
func (s sylabsClient) GetImage(ctx context.Context, arch, ref string) (*image, error) {
	return convert[image](s.c.GetImage(ctx, arch, ref))
}
func (s sylabsClient) Search(ctx context.Context, args map[string]string) (*searchResults, error) {
	return convert[searchResults](s.c.Search(ctx, args))
}
func (s sylabsClient) DeleteImage(ctx context.Context, ref, arch string) error {
	return s.c.DeleteImage(ctx, ref, arch)
}
func (s sylabsClient) GetVersion(ctx context.Context) (string, error) {
	v, err := s.c.GetVersion(ctx)
	return v.APIVersion, err
}

// newClient builds the real client of kind for baseURL; token "" is
// anonymous. Its HTTP goes through rt when rt is not nil.
func newClient(t testing.TB, kind, baseURL, token string, rt http.RoundTripper) libClient {
	t.Helper()
	hc := &http.Client{Transport: rt}
	var (
		c   libClient
		err error
	)
	switch kind {
	case "apptainer":
		var ac *aclient.Client
		ac, err = aclient.NewClient(&aclient.Config{BaseURL: baseURL, AuthToken: token, HTTPClient: hc, Logger: testLogger{t}})
		c = apptainerClient{ac}
	case "sylabs":
		var sc *sclient.Client
		sc, err = sclient.NewClient(&sclient.Config{BaseURL: baseURL, AuthToken: token, HTTPClient: hc, Logger: testLogger{t}})
		c = sylabsClient{sc}
	default:
		t.Fatalf("unknown client kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testLogger sends the clients' chatter to the test log when
// SILO_TEST_LOG is set, as servertest does with the server's log.
type testLogger struct{ t testing.TB }

var clientLog = os.Getenv("SILO_TEST_LOG") != ""

func (l testLogger) Log(v ...any) {
	if clientLog {
		l.t.Log(v...)
	}
}
func (l testLogger) Logf(format string, v ...any) {
	if clientLog {
		l.t.Logf(format, v...)
	}
}

// isNotFound reports whether err is a client's "not found": ErrNotFound
// from the API calls, or the downloaders' own (unexported) error.
func isNotFound(err error) bool {
	return err != nil && (errors.Is(err, aclient.ErrNotFound) || errors.Is(err, sclient.ErrNotFound) ||
		strings.Contains(err.Error(), "requested image was not found in the library"))
}

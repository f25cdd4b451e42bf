package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	aclient "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// site is a running server with people on it.
type site struct {
	*servertest.Instance
	tokens map[string]string // API tokens by user, made without the web pages
}

const password = "correct horse battery staple"

func startSite(t testing.TB, users ...string) *site {
	t.Helper()
	s := &site{Instance: servertest.Start(t, server.Config{}), tokens: map[string]string{}}
	ctx := context.Background()
	op := registry.Operator("test")
	if err := s.Server.Registry.SetPassword(ctx, op, "admin", "", password); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		s.tokens[u] = s.User(t, u, false)
		if err := s.Server.Registry.SetPassword(ctx, op, u, "", password); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// image is a SIF pushed for a test.
type image struct {
	Path   string
	Digest string
	Size   int64
}

// push builds a SIF with o and pushes it as user to name:tag with the
// library client, as apptainer would.
func (s *site) push(t testing.TB, user, name, tag string, o siftest.Options) image {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img.sif")
	digest, size, err := siftest.Write(path, o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := aclient.NewClient(&aclient.Config{BaseURL: s.URL, AuthToken: s.tokens[user]})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	arch := o.Arch
	if arch == "" {
		arch = "amd64"
	}
	if _, err := c.UploadImage(context.Background(), f, name, arch, []string{tag}, "", nil); err != nil {
		t.Fatalf("pushing %s:%s: %v", name, tag, err)
	}
	return image{Path: path, Digest: digest, Size: size}
}

// apiGet calls the silo API with token and returns the status.
func (s *site) apiGet(t testing.TB, path, token string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// download fetches a URL and returns the status and the sha256 of the body.
func download(t testing.TB, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, hex.EncodeToString(h.Sum(nil))
}

package server_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/blob/s3/s3test"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestBootstrapAdmin(t *testing.T) {
	data := t.TempDir()
	in := servertest.Start(t, server.Config{Data: data})
	st, err := os.Stat(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v, want 0600", st.Mode().Perm())
	}
	if n := len(in.AdminToken); n < 200 || n > 4096 {
		t.Errorf("token is %d characters; apptainer's --tokenfile needs 200-4096", n)
	}
	if code, body := get(t, in.URL+"/v1/token-status", in.AdminToken); code != http.StatusOK {
		t.Errorf("token-status with the admin token: %d %s", code, body)
	}
	if code, _ := get(t, in.URL+"/v1/token-status", in.AdminToken+"x"); code != http.StatusUnauthorized {
		t.Errorf("token-status with a wrong token: %d, want 401", code)
	}
}

func TestRestartKeepsAdmin(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	b := backendtest.Config(t, data)
	cfg := server.Config{Data: data, DB: b.DB, Store: b.Store}
	first, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := os.ReadFile(filepath.Join(data, "admin.token"))
	first.Close()
	if err := os.Remove(filepath.Join(data, "admin.token")); err != nil {
		t.Fatal(err)
	}
	in := servertest.StartExisting(t, cfg)
	if _, err := os.Stat(filepath.Join(data, "admin.token")); !os.IsNotExist(err) {
		t.Errorf("a second start made a new admin token (err=%v)", err)
	}
	if code, body := get(t, in.URL+"/v1/token-status", strings.TrimSpace(string(tok))); code != http.StatusOK {
		t.Errorf("the first start's token no longer works: %d %s", code, body)
	}
}

func TestHealth(t *testing.T) {
	in := servertest.Start(t, server.Config{})
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, in.URL+p, ""); code != http.StatusOK {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	// A blob store that cannot be used: on files, its uploads directory
	// gone; on S3, a bucket that does not exist (a second node on the same
	// database, configured wrongly).
	broken := in
	if backendtest.ScaleOut(t) {
		cfg := in.Config()
		bucket := s3test.Shared(t).Bucket
		cfg.Store = strings.Replace(cfg.Store, "s3://"+bucket+"/", "s3://"+bucket+"-missing/", 1)
		broken = servertest.StartExisting(t, cfg)
	} else if err := os.RemoveAll(filepath.Join(in.Data, "uploads")); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, broken.URL+"/readyz", ""); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "blob store: ") {
		t.Errorf("/readyz with the blob store broken: %d %s, want 503", code, body)
	}
	// A metadata store that cannot be used: closed under the server.
	if err := in.Server.Meta.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, in.URL+"/readyz", ""); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "metadata store: ") {
		t.Errorf("/readyz with the metadata store closed: %d %s, want 503", code, body)
	}
}

func TestBadDefaults(t *testing.T) {
	_, err := server.New(context.Background(), server.Config{Data: t.TempDir(), DefaultEntity: "Not Valid"})
	if err == nil || !strings.Contains(err.Error(), "default") {
		t.Fatalf("want an error about the default entity, got %v", err)
	}
}

// TestBlobAccessConfig: --blob-access takes redirect or proxy, and
// redirect needs a store clients can be sent to.
func TestBlobAccessConfig(t *testing.T) {
	for access, want := range map[string]string{
		"sideways":          `--blob-access "sideways": want redirect or proxy`,
		server.BlobRedirect: "--blob-access redirect needs a blob store clients can be sent to",
	} {
		data := t.TempDir()
		_, err := server.New(context.Background(), server.Config{Data: data, BlobAccess: access})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("BlobAccess %q on files: %v, want an error saying %q", access, err, want)
		}
	}
	for _, access := range []string{"", server.BlobProxy} {
		srv, err := server.New(context.Background(), server.Config{Data: t.TempDir(), BlobAccess: access})
		if err != nil {
			t.Errorf("BlobAccess %q on files: %v", access, err)
			continue
		}
		srv.Close()
	}
}

package oci_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/siloreg/silo/internal/api/oci/ocitest"
	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestBlobAccess pulls a SIF with go-containerregistry (Apptainer's way)
// and with oras from a Silo on S3 in both --blob-access modes, and counts
// the bytes Silo itself sent for blob GETs in its request log: with
// redirect none of the layer's (every GET is a 307 to the bucket), with
// proxy all of them. Access is checked before any URL is handed out.
func TestBlobAccess(t *testing.T) {
	bin := ocitest.Binary(t, "oras", orasInstall)
	sif, _ := writeSIF(t, 40, 3<<20)
	for _, mode := range []string{server.BlobRedirect, server.BlobProxy} {
		t.Run(mode, func(t *testing.T) {
			log := &requestLog{}
			// The bucket by another name than Silo's 127.0.0.1, as in
			// production (see servertest.Start).
			store := strings.Replace(backendtest.FreshStore(t), "http%3A%2F%2F127.0.0.1", "http%3A%2F%2Flocalhost", 1)
			in := servertest.Start(t, server.Config{Store: store, BlobAccess: mode, Log: slog.New(log)})
			tok := in.User(t, "alice", false)
			alice := remote.WithAuth(&authn.Basic{Username: "alice", Password: tok})
			r := ref(t, in, "alice/secret/bwa:1.0")
			if err := remote.Write(r, sifImage(t, sif), alice); err != nil {
				t.Fatalf("push: %v", err)
			}
			if err := in.Server.Registry.Meta().SetCollectionPrivate(t.Context(), collectionID(t, in, "alice", "secret"), true); err != nil {
				t.Fatal(err)
			}
			log.reset()

			img, err := remote.Image(r, alice)
			if err != nil {
				t.Fatalf("ggcr pull: %v", err)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers: %v, %v", layers, err)
			}
			layerDigest, _ := layers[0].Digest()
			rc, err := layers[0].Compressed()
			if err != nil {
				t.Fatal(err)
			}
			if b, err := readAll(rc); err != nil || !bytes.Equal(b, sif) {
				t.Errorf("ggcr pulled %d bytes (%v), pushed %d: not identical", len(b), err, len(sif))
			}

			dir := t.TempDir()
			oras(t, bin, dir, "pull", "--plain-http", "-u", "alice", "-p", tok, strings.TrimPrefix(in.URL, "http://")+"/alice/secret/bwa:1.0", "-o", "out")
			if got, err := os.ReadFile(filepath.Join(dir, "out", "img.sif")); err != nil || !bytes.Equal(got, sif) {
				t.Errorf("oras pulled %d bytes (%v), pushed %d: not identical", len(got), err, len(sif))
			}

			gets, redirects, sent := log.blobGets()
			switch {
			case gets < 2:
				t.Errorf("%d blob GETs in the log, want at least one per client", gets)
			case mode == server.BlobRedirect && (redirects != gets || sent > 4096):
				t.Errorf("redirect: %d of %d blob GETs redirected, %d bytes through Silo; want all, none of the layer", redirects, gets, sent)
			case mode == server.BlobProxy && (redirects != 0 || sent < 2*int64(len(sif))):
				t.Errorf("proxy: %d of %d blob GETs redirected, %d bytes through Silo; want none, at least %d", redirects, gets, sent, 2*len(sif))
			}

			// A ranged GET works through the redirect too (307 keeps Range).
			tokReq, _ := http.NewRequest(http.MethodGet, in.URL+"/v2/token?scope=repository:alice/secret/bwa:pull", nil)
			tokReq.SetBasicAuth("alice", tok)
			bearer := tokenFrom(t, tokReq)
			req, _ := http.NewRequest(http.MethodGet, in.URL+"/v2/alice/secret/bwa/blobs/"+layerDigest.String(), nil)
			req.Header.Set("Authorization", "Bearer "+bearer)
			req.Header.Set("Range", "bytes=100-199")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, sif[100:200]) {
				t.Errorf("ranged GET: %s, %d bytes; want 206 and bytes 100-199", resp.Status, len(b))
			}

			// No URL for those who may not read the repository, or for a
			// blob it does not have.
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for _, tc := range []struct {
				auth, digest string
				status       int
			}{
				{"", layerDigest.String(), http.StatusUnauthorized},
				{"Bearer " + bearer, "sha256:" + strings.Repeat("0", 64), http.StatusNotFound},
			} {
				req, _ := http.NewRequest(http.MethodGet, in.URL+"/v2/alice/secret/bwa/blobs/"+tc.digest, nil)
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				resp, err := noFollow.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.status || resp.Header.Get("Location") != "" {
					t.Errorf("GET %s (auth %t): %s Location %q; want %d and no URL", tc.digest, tc.auth != "", resp.Status, resp.Header.Get("Location"), tc.status)
				}
			}
		})
	}
}

// requestLog keeps Silo's request log lines.
type requestLog struct {
	mu    sync.Mutex
	lines []map[string]any
}

func (l *requestLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *requestLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *requestLog) WithGroup(string) slog.Handler            { return l }
func (l *requestLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "request" {
		return nil
	}
	m := map[string]any{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, m)
	l.mu.Unlock()
	return nil
}

func (l *requestLog) reset() {
	l.mu.Lock()
	l.lines = nil
	l.mu.Unlock()
}

// blobGets counts the blob GETs Silo answered, those it redirected, and
// the body bytes it sent for them.
func (l *requestLog) blobGets() (gets, redirects int, sent int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.lines {
		if m["method"] != http.MethodGet || !strings.Contains(m["path"].(string), "/blobs/sha256:") {
			continue
		}
		gets++
		if m["status"] == int64(http.StatusTemporaryRedirect) {
			redirects++
		}
		sent += m["bytes"].(int64)
	}
	return gets, redirects, sent
}

func tokenFrom(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_, rest, ok := strings.Cut(string(b), `"token":"`)
	tok, _, _ := strings.Cut(rest, `"`)
	if resp.StatusCode != http.StatusOK || !ok || tok == "" {
		t.Fatalf("token: %s %s", resp.Status, b)
	}
	return tok
}

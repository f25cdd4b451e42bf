package web_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/siloreg/silo/internal/sif/siftest"
)

// BenchmarkSearch compares a search page with the same search through the
// silo API (GET /api/silo/v1/images?q=), over 100 containers: the page
// should cost about what the API does, plus rendering.
func BenchmarkSearch(b *testing.B) {
	s := startSite(b, "alice")
	for i := range 100 {
		s.push(b, "alice", fmt.Sprintf("alice/tools/tool%03d", i), "v1", siftest.Options{Seed: int64(i + 1)})
	}
	c := loginClient(b, s, "alice")
	for _, bc := range []struct {
		name, url string
		client    *http.Client
		token     string
	}{
		{"page", s.URL + "/search?q=tool", c, ""},
		{"api", s.URL + "/api/silo/v1/images?q=tool", http.DefaultClient, s.tokens["alice"]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, bc.url, nil)
				if bc.token != "" {
					req.Header.Set("Authorization", "Bearer "+bc.token)
				}
				resp, err := bc.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", bc.url, resp.StatusCode)
				}
			}
		})
	}
}

package sregistry_test

import (
	"path/filepath"
	"testing"

	"github.com/siloreg/silo/internal/sif/siftest"
)

// BenchmarkPush pushes a 256 MiB image the way sregistry-cli does (push
// check, then the streamed multipart upload) and reports the throughput.
//
//	go test ./internal/api/sregistry -run '^$' -bench Push -benchtime 5x
func BenchmarkPush(b *testing.B) {
	const size = 256 << 20
	s := startSite(b)
	path := filepath.Join(b.TempDir(), "big.sif")
	if _, _, err := siftest.Write(path, siftest.Options{Size: size, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	c := s.cli("alice")
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, up := c.Push(path, "bench/big:latest"); up.Status != 200 {
			b.Fatalf("push: %d %s", up.Status, up.Body)
		}
	}
}

package fs_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/siloreg/silo/internal/blob/fs"
)

const benchSize = 256 << 20

// pattern is a body of n bytes that repeats a random block, so the benchmark
// measures the store rather than a generator, and allocates nothing per read.
type pattern struct {
	block []byte
	off   int
	left  int64
}

func newPattern(block []byte, n int64) *pattern { return &pattern{block: block, left: n} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := copy(b, p.block[p.off:])
	p.off = (p.off + n) % len(p.block)
	p.left -= int64(n)
	return n, nil
}

func benchBlock() []byte {
	b := make([]byte, 1<<20+13) // Odd length, so reads do not line up with it.
	rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

// BenchmarkCommit pushes a 256 MiB blob in one WriteAt and commits it, which
// includes the fsync that makes it durable.
func BenchmarkCommit(b *testing.B) {
	benchCommit(b, 1)
}

// BenchmarkCommitParts pushes the same blob as four parts written
// concurrently, as a parallel multipart client does.
func BenchmarkCommitParts(b *testing.B) {
	benchCommit(b, 4)
}

func benchCommit(b *testing.B, parts int) {
	s, err := fs.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	block := benchBlock()
	part := int64(benchSize / parts)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id, err := s.NewUpload(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, parts)
		for p := range parts {
			wg.Go(func() {
				_, errs[p] = s.WriteAt(ctx, id, int64(p)*part, newPattern(block, part))
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		// The store does not hash, so any unused digest will do.
		d := fmt.Sprintf("%064x", i)
		if err := s.Commit(ctx, id, d, benchSize); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Delete(ctx, d); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkWriteAt is the copy alone, without the commit's fsync, to show
// what durability costs.
func BenchmarkWriteAt(b *testing.B) {
	s, err := fs.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	block := benchBlock()
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		id, err := s.NewUpload(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.WriteAt(ctx, id, 0, newPattern(block, benchSize)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Cancel(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

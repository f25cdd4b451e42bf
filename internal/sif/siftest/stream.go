package siftest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
)

// Generating, writing and hashing each cost a comparable share of a core
// (hashing the most, about 1.8 GB/s with SHA-NI), so they run as a pipeline
// to keep both cores busy. Several buffers absorb bursts of write latency
// when the kernel flushes, and 4 MiB writes make syscall cost negligible.
const (
	bufSize = 4 << 20
	numBufs = 8
)

// writeFile streams p to path and returns its sha256 and size. A partial file
// is removed on error so a failed build never looks like a finished one.
func writeFile(path string, p plan, seed uint64) (string, int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", 0, fmt.Errorf("siftest: %w", err)
	}
	digest, n, err := stream(f, p, seed)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("siftest: %w", cerr)
	}
	if err == nil && n != p.size() {
		err = fmt.Errorf("siftest: wrote %d bytes, planned %d", n, p.size())
	}
	if err != nil {
		os.Remove(path)
		return "", 0, err
	}
	return digest, n, nil
}

type chunk struct {
	b      []byte
	pooled bool // return b to the free list once hashed
}

// stream writes the plan to w in file order through three stages: a
// producer that emits literal bytes, zero gaps and generated payload; a
// writer; and the hasher on the calling goroutine. Each chunk is written
// before it is hashed, and both happen in order, so the digest is of exactly
// the bytes written.
func stream(w io.Writer, p plan, seed uint64) (string, int64, error) {
	free := make(chan []byte, numBufs)
	for range numBufs {
		free <- make([]byte, bufSize)
	}
	toWrite := make(chan chunk, numBufs)
	toHash := make(chan chunk, numBufs)
	stop := make(chan struct{})

	go produce(p, seed, free, toWrite, stop)

	var werr error
	go func() {
		defer close(toHash)
		for c := range toWrite {
			if werr == nil {
				if _, werr = w.Write(c.b); werr != nil {
					close(stop)
				}
			}
			toHash <- c
		}
	}()

	h := sha256.New()
	var n int64
	for c := range toHash {
		h.Write(c.b)
		n += int64(len(c.b))
		if c.pooled {
			free <- c.b[:cap(c.b)]
		}
	}
	if werr != nil {
		return "", 0, fmt.Errorf("siftest: %w", werr)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// zeros backs the gaps between segments; never written to, so shared.
var zeros = make([]byte, 64<<10)

// produce emits the file's bytes in order until done or told to stop.
func produce(p plan, seed uint64, free chan []byte, out chan<- chunk, stop <-chan struct{}) {
	defer close(out)
	send := func(c chunk) bool {
		select {
		case out <- c:
			return true
		case <-stop:
			return false
		}
	}
	gen := newPayload(seed)
	var pos int64
	for _, s := range p {
		for gap := s.off - pos; gap > 0; {
			k := min(gap, int64(len(zeros)))
			if !send(chunk{b: zeros[:k]}) {
				return
			}
			gap -= k
		}
		if len(s.data) > 0 && !send(chunk{b: s.data}) {
			return
		}
		for left := s.hole; left > 0; {
			var b []byte
			select {
			case b = <-free:
			case <-stop:
				return
			}
			b = b[:min(left, int64(len(b)))]
			gen.fill(b)
			if !send(chunk{b: b, pooled: true}) {
				return
			}
			left -= int64(len(b))
		}
		pos = s.end()
	}
}

// payload is a fast deterministic byte source. PCG was chosen over ChaCha8
// because it is twice as fast here and the bytes need not be secret, only
// incompressible-looking and different per seed.
type payload struct {
	r   *rand.PCG
	buf [8]byte
}

func newPayload(seed uint64) *payload { return &payload{r: rand.NewPCG(seed, streamPayload)} }

// fill overwrites b. Only the file's final chunk can have a length that is
// not a multiple of 8, so the stream is the same however it is chunked up
// to that point.
func (g *payload) fill(b []byte) {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], g.r.Uint64())
	}
	if i < len(b) {
		binary.LittleEndian.PutUint64(g.buf[:], g.r.Uint64())
		copy(b[i:], g.buf[:])
	}
}

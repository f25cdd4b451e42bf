package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

// failAt is a ReaderAt over data that fails reads reaching past bad.
type failAt struct {
	data []byte
	bad  int64
}

var errDisk = errors.New("disk on fire")

func (f failAt) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > f.bad {
		return 0, errDisk
	}
	return bytes.NewReader(f.data).ReadAt(b, off)
}

func TestHashBack(t *testing.T) {
	data := make([]byte, 3*readBackChunk+12345)
	rand.Read(data)
	for _, c := range []struct {
		name    string
		from, n int64
		want    int64
	}{
		{"all", 0, int64(len(data)), int64(len(data))},
		{"from an offset", 777, int64(len(data)) - 777, int64(len(data)) - 777},
		{"one chunk", 5, 100, 100},
		{"nothing", 10, 0, 0},
		{"past the end", 1000, int64(len(data)), int64(len(data)) - 1000},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := sha256.New()
			got, err := hashBack(t.Context(), h, bytes.NewReader(data), c.from, c.n)
			if err != nil || got != c.want {
				t.Fatalf("hashBack = %d, %v; want %d", got, err, c.want)
			}
			want := sha256.Sum256(data[c.from : c.from+c.want])
			if !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatal("hash differs from the bytes' hash")
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := hashBack(ctx, io.Discard, bytes.NewReader(data), 0, int64(len(data))); !errors.Is(err, context.Canceled) {
			t.Fatalf("hashBack with a cancelled context = %v", err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		got, err := hashBack(t.Context(), io.Discard, failAt{data, 2 * readBackChunk}, 0, int64(len(data)))
		if !errors.Is(err, errDisk) || got != 2*readBackChunk {
			t.Fatalf("hashBack = %d, %v; want %d, %v", got, err, 2*readBackChunk, errDisk)
		}
	})
}

package siftest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sylabs/sif/v2/pkg/sif"
)

// libraryWrite builds the same image the simple way — the sif library
// writing straight to a file with the real payload — for comparison.
func libraryWrite(t *testing.T, path string, o Options, payloadLen int64) {
	t.Helper()
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, payloadLen)
	newPayload(uint64(o.Seed)).fill(payload)
	dis, err := inputs(o, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	f, err := sif.CreateContainerAtPath(path,
		sif.OptCreateWithID(imageID(o.Seed)),
		sif.OptCreateWithTime(o.Created),
		sif.OptCreateWithLaunchScript(launchScript),
		sif.OptCreateWithDescriptors(dis...),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.UnloadContainer(); err != nil {
		t.Fatal(err)
	}
}

func partitionSize(t *testing.T, path string) int64 {
	t.Helper()
	f, err := sif.LoadContainerFromPath(path, sif.OptLoadWithFlag(os.O_RDONLY))
	if err != nil {
		t.Fatal(err)
	}
	defer f.UnloadContainer()
	d, err := f.GetDescriptor(sif.WithPartitionType(sif.PartPrimSys))
	if err != nil {
		t.Fatal(err)
	}
	return d.Size()
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The streamed file must be byte-for-byte what the library itself writes,
// or it would not be a real SIF.
func TestWriteMatchesLibrary(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]Options{
		"defaults": {},
		"everything": {
			Arch: "arm64", Seed: 7, Signed: true,
			Labels:     map[string]string{"org.label-schema.version": "1.0", "Ünïcode": "✓", "empty": ""},
			Definition: "Bootstrap: docker\nFrom: alpine\n\n%labels\n  a b\n",
			Created:    time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC),
		},
		"odd size":         {Size: 100_003, Seed: -1},
		"several buffers":  {Size: 2*bufSize + 12345, Seed: 3, Signed: true},
		"below overhead":   {Size: 1},
		"labels only":      {Labels: map[string]string{}},
		"definition only":  {Definition: "x"},
		"ppc64le unsigned": {Arch: "ppc64le"},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			got := filepath.Join(dir, name+".sif")
			want := filepath.Join(dir, name+".want.sif")
			digest, size, err := Write(got, o)
			if err != nil {
				t.Fatal(err)
			}
			libraryWrite(t, want, o, partitionSize(t, got))
			gb, _ := os.ReadFile(got)
			wb, _ := os.ReadFile(want)
			if !bytes.Equal(gb, wb) {
				t.Fatalf("streamed file (%d bytes) differs from library-written file (%d bytes)", len(gb), len(wb))
			}
			if size != int64(len(gb)) {
				t.Errorf("size = %d, file is %d bytes", size, len(gb))
			}
			if d := sha256File(t, got); digest != d {
				t.Errorf("digest = %s, file hashes to %s", digest, d)
			}
			if o.Size >= DefaultSize && size != o.Size {
				t.Errorf("size = %d, asked for %d", size, o.Size)
			}
		})
	}
}

func TestWriteSizes(t *testing.T) {
	dir := t.TempDir()
	_, size, err := Write(filepath.Join(dir, "d.sif"), Options{})
	if err != nil || size != DefaultSize {
		t.Errorf("default size = %d, %v; want %d", size, err, DefaultSize)
	}
	_, size, err = Write(filepath.Join(dir, "s.sif"), Options{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p := partitionSize(t, filepath.Join(dir, "s.sif")); p != minPayload {
		t.Errorf("tiny image has a %d-byte partition, want %d", p, minPayload)
	}
	if size > DefaultSize {
		t.Errorf("tiny image is %d bytes", size)
	}
	if _, _, err := Write(filepath.Join(dir, "n.sif"), Options{Size: -1}); err == nil {
		t.Error("negative size accepted")
	}
}

func TestWriteDeterministic(t *testing.T) {
	dir := t.TempDir()
	d1, _, err1 := Write(filepath.Join(dir, "a"), Options{Seed: 1})
	d2, _, err2 := Write(filepath.Join(dir, "b"), Options{Seed: 1})
	d3, _, err3 := Write(filepath.Join(dir, "c"), Options{Seed: 2})
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("same options gave different digests %s, %s", d1, d2)
	}
	if d1 == d3 {
		t.Errorf("different seeds gave the same digest %s", d1)
	}
	if imageID(1) == imageID(2) {
		t.Error("different seeds gave the same image ID")
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.sif")
	if _, _, err := Write(path, Options{Arch: "vax"}); err == nil {
		t.Error("unknown arch accepted")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file left behind after failure: %v", err)
	}
	if _, _, err := Write(filepath.Join(dir, "no", "such", "dir.sif"), Options{}); err == nil {
		t.Error("write into missing directory succeeded")
	}
}

type failingWriter struct{ left int }

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		return w.left, errDiskFull
	}
	w.left -= len(p)
	return len(p), nil
}

// A write failure must stop the pipeline promptly (not generate the rest of
// a huge payload) and be reported.
func TestStreamWriteError(t *testing.T) {
	p := plan{{off: 0, data: []byte("head")}, {off: 4096, hole: 1 << 40}}
	done := make(chan error, 1)
	go func() {
		_, _, err := stream(&failingWriter{left: 3 * bufSize}, p, 1)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errDiskFull) {
			t.Fatalf("err = %v, want disk full", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not stop after a write error")
	}
}

func TestStreamGapsAreZero(t *testing.T) {
	var buf bytes.Buffer
	p := plan{{off: 2, data: []byte("ab")}, {off: 10, hole: 3}, {off: 100000, data: []byte("z")}}
	_, n, err := stream(&buf, p, 9)
	if err != nil || n != 100001 || int64(buf.Len()) != n {
		t.Fatalf("n = %d, len = %d, err = %v", n, buf.Len(), err)
	}
	b := buf.Bytes()
	want := make([]byte, 3)
	newPayload(9).fill(want)
	if !bytes.Equal(b[:4], []byte("\x00\x00ab")) || !bytes.Equal(b[10:13], want) ||
		!bytes.Equal(b[13:100000], make([]byte, 100000-13)) || b[100000] != 'z' {
		t.Error("stream did not lay out segments, payload and zero gaps as planned")
	}
}

func BenchmarkWrite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.sif")
	const size = 256 << 20
	b.SetBytes(size)
	for b.Loop() {
		if _, _, err := Write(path, Options{Size: size}); err != nil {
			b.Fatal(err)
		}
	}
}

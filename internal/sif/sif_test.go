package sif

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/siloreg/silo/internal/sif/siftest"
	"github.com/sylabs/sif/v2/pkg/sif"
)

// writeSIF builds a file with siftest and returns its path and bytes.
func writeSIF(t testing.TB, o siftest.Options) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img.sif")
	if _, _, err := siftest.Write(path, o); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func inspectBytes(b []byte) (*Info, error) {
	return Inspect(bytes.NewReader(b), int64(len(b)))
}

// buildSIF lays out objects siftest does not produce (legacy labels,
// encrypted or non-primary partitions) with the sif library, in memory.
func buildSIF(t testing.TB, objs ...sif.DescriptorInput) []byte {
	t.Helper()
	var buf sif.Buffer
	f, err := sif.CreateContainer(&buf,
		sif.OptCreateWithID("11111111-2222-4333-8444-555555555555"),
		sif.OptCreateWithTime(time.Unix(1600000000, 0)),
		sif.OptCreateWithDescriptorCapacity(8),
		sif.OptCreateWithDescriptors(objs...))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.UnloadContainer(); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func object(t testing.TB, dt sif.DataType, data string, opts ...sif.DescriptorInputOpt) sif.DescriptorInput {
	t.Helper()
	di, err := sif.NewDescriptorInput(dt, strings.NewReader(data), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return di
}

func partition(t testing.TB, fs sif.FSType, pt sif.PartType, arch string) sif.DescriptorInput {
	return object(t, sif.DataPartition, "hsqs-not-really", sif.OptPartitionMetadata(fs, pt, arch))
}

func TestInspectSiftest(t *testing.T) {
	created := time.Date(2022, 3, 4, 5, 6, 7, 0, time.UTC)
	labels := map[string]string{
		"org.label-schema.build-arch": "arm64",
		"MAINTAINER":                  "Ünïcode ✓",
		"empty":                       "",
		"quote\"key":                  "line1\nline2",
	}
	def := "Bootstrap: docker\nFrom: alpine:3.19\n\n%labels\n    MAINTAINER x\n"
	path, b := writeSIF(t, siftest.Options{
		Arch: "arm64", Seed: 42, Labels: labels, Definition: def, Signed: true, Created: created,
	})
	got, err := inspectBytes(b)
	if err != nil {
		t.Fatal(err)
	}

	f, err := sif.LoadContainerFromPath(path, sif.OptLoadWithFlag(os.O_RDONLY))
	if err != nil {
		t.Fatal(err)
	}
	wantID := f.ID()
	f.UnloadContainer()

	want := &Info{
		ID: wantID, Arch: "arm64", Created: created, Labels: labels, Definition: def,
		Signed: true, Encrypted: false, Partitions: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Inspect =\n%#v\nwant\n%#v", got, want)
	}
	if len(got.ID) != 36 || got.ID == "00000000-0000-0000-0000-000000000000" {
		t.Errorf("implausible ID %q", got.ID)
	}
	if got.Created.Location() != time.UTC {
		t.Errorf("Created is in %v, want UTC", got.Created.Location())
	}
}

func TestInspectDefaults(t *testing.T) {
	_, b := writeSIF(t, siftest.Options{})
	got, err := inspectBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels == nil || len(got.Labels) != 0 {
		t.Errorf("Labels = %#v, want empty non-nil map", got.Labels)
	}
	if got.Arch != "amd64" || !got.Created.Equal(siftest.DefaultCreated) || got.Definition != "" ||
		got.Signed || got.Encrypted || got.Partitions != 1 {
		t.Errorf("Inspect = %+v", got)
	}

	_, b2 := writeSIF(t, siftest.Options{Seed: 1})
	got2, err := inspectBytes(b2)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == got2.ID {
		t.Errorf("different seeds share ID %s", got.ID)
	}
}

func TestInspectArches(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64", "ppc64le", "s390x", "riscv64", "386"} {
		_, b := writeSIF(t, siftest.Options{Arch: arch, Size: 1})
		got, err := inspectBytes(b)
		if err != nil || got.Arch != arch {
			t.Errorf("arch %s: Inspect = %+v, %v", arch, got, err)
		}
	}
}

func TestInspectEncrypted(t *testing.T) {
	b := buildSIF(t, partition(t, sif.FsEncryptedSquashfs, sif.PartPrimSys, "amd64"))
	got, err := inspectBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Encrypted || got.Arch != "amd64" || got.Partitions != 1 || got.Signed {
		t.Errorf("Inspect = %+v", got)
	}
	if !got.Created.Equal(time.Unix(1600000000, 0)) || got.ID != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("header fields: %+v", got)
	}
}

// Only the primary partition says what the image runs on; a data or overlay
// partition's architecture is not the image's.
func TestInspectNoPrimaryPartition(t *testing.T) {
	b := buildSIF(t,
		partition(t, sif.FsSquash, sif.PartData, "arm64"),
		partition(t, sif.FsExt3, sif.PartOverlay, "arm64"))
	got, err := inspectBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arch != "" || got.Partitions != 2 || got.Encrypted {
		t.Errorf("Inspect = %+v", got)
	}

	got, err = inspectBytes(buildSIF(t, object(t, sif.DataGeneric, "x")))
	if err != nil || got.Partitions != 0 || got.Arch != "" {
		t.Errorf("no partitions: %+v, %v", got, err)
	}
}

func TestInspectLabelLayouts(t *testing.T) {
	part := func() sif.DescriptorInput { return partition(t, sif.FsSquash, sif.PartPrimSys, "amd64") }
	meta := func(js string) sif.DescriptorInput {
		return object(t, sif.DataGenericJSON, js, sif.OptObjectName("inspect-metadata.json"))
	}
	tests := []struct {
		name    string
		objs    []sif.DescriptorInput
		labels  map[string]string
		deffile string
	}{
		{"legacy flat", []sif.DescriptorInput{object(t, sif.DataLabels, `{"a":"1","b":"two"}`), part()},
			map[string]string{"a": "1", "b": "two"}, ""},
		{"legacy nested", []sif.DescriptorInput{
			object(t, sif.DataLabels, `{"system-partition":{"a":"1"},"myapp":{"b":"2"}}`), part()},
			map[string]string{"a": "1"}, ""},
		{"non-string values", []sif.DescriptorInput{
			object(t, sif.DataLabels, `{"n":3,"t":true,"l":[1,"x"],"z":null}`), part()},
			map[string]string{"n": "3", "t": "true", "l": `[1,"x"]`, "z": ""}, ""},
		{"legacy invalid JSON", []sif.DescriptorInput{object(t, sif.DataLabels, `{"a":`), part()},
			map[string]string{}, ""},
		{"metadata wins over legacy", []sif.DescriptorInput{
			object(t, sif.DataLabels, `{"old":"x"}`),
			meta(`{"data":{"attributes":{"labels":{"new":"y"}}},"type":"container"}`), part()},
			map[string]string{"new": "y"}, ""},
		{"metadata without labels falls back", []sif.DescriptorInput{
			object(t, sif.DataLabels, `{"old":"x"}`),
			meta(`{"data":{"attributes":{"runscript":"r"}},"type":"container"}`), part()},
			map[string]string{"old": "x"}, ""},
		{"unreadable metadata is ignored", []sif.DescriptorInput{meta(`not json`), part()},
			map[string]string{}, ""},
		{"other generic JSON is not metadata", []sif.DescriptorInput{
			object(t, sif.DataGenericJSON, `{"data":{"attributes":{"labels":{"a":"b"}}}}`, sif.OptObjectName("oci-config.json")),
			part()},
			map[string]string{}, ""},
		{"deffile from metadata", []sif.DescriptorInput{
			meta(`{"data":{"attributes":{"deffile":"From: x"}}}`), part()},
			map[string]string{}, "From: x"},
		{"deffile object wins", []sif.DescriptorInput{
			object(t, sif.DataDeffile, "Bootstrap: y"),
			meta(`{"data":{"attributes":{"deffile":"From: x"}}}`), part()},
			map[string]string{}, "Bootstrap: y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inspectBytes(buildSIF(t, tt.objs...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Labels, tt.labels) {
				t.Errorf("Labels = %#v, want %#v", got.Labels, tt.labels)
			}
			if got.Definition != tt.deffile {
				t.Errorf("Definition = %q, want %q", got.Definition, tt.deffile)
			}
		})
	}
}

// The pre-checks hard-code the on-disk layout; make sure it is the
// library's.
func TestLayoutConstants(t *testing.T) {
	path, b := writeSIF(t, siftest.Options{})
	f, err := sif.LoadContainerFromPath(path, sif.OptLoadWithFlag(os.O_RDONLY))
	if err != nil {
		t.Fatal(err)
	}
	defer f.UnloadContainer()
	if got := f.DescriptorsSize() / f.DescriptorsTotal(); got != descriptorSize {
		t.Errorf("descriptor size is %d, code assumes %d", got, descriptorSize)
	}
	for _, c := range []struct {
		off  int
		want int64
	}{
		{offDescriptorsTotal, f.DescriptorsTotal()},
		{offDescriptorsOffset, f.DescriptorsOffset()},
		{offDescriptorsSize, f.DescriptorsSize()},
	} {
		if got := int64(binary.LittleEndian.Uint64(b[c.off:])); got != c.want {
			t.Errorf("header field at %d = %d, library says %d", c.off, got, c.want)
		}
	}
	if f.DescriptorsOffset() < headerSize {
		t.Errorf("descriptors start at %d, inside the %d-byte header", f.DescriptorsOffset(), headerSize)
	}
}

func patch64(b []byte, off int, v int64) []byte {
	c := bytes.Clone(b)
	binary.LittleEndian.PutUint64(c[off:], uint64(v))
	return c
}

func TestInspectNotSIF(t *testing.T) {
	_, good := writeSIF(t, siftest.Options{Definition: "x", Labels: map[string]string{"a": "b"}, Signed: true})
	random := make([]byte, 100_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	descOff := int64(binary.LittleEndian.Uint64(good[offDescriptorsOffset:]))
	badVersion := bytes.Clone(good)
	copy(badVersion[42:45], "02\x00")
	// descriptor 0 is the deffile; its Size field is 25 bytes in.
	hugeObject := patch64(good, int(descOff)+25, 1<<50)

	cases := map[string][]byte{
		"empty":                 {},
		"one byte":              {'S'},
		"random":                random,
		"text":                  []byte(strings.Repeat("#!/bin/sh\necho hi\n", 100)),
		"magic only":            append(make([]byte, 32), "SIF_MAGIC\x00"...),
		"magic in wrong place":  append([]byte("SIF_MAGIC\x00"), make([]byte, 200)...),
		"bad version":           badVersion,
		"huge descriptor count": patch64(good, offDescriptorsTotal, 1<<40),
		"negative count":        patch64(good, offDescriptorsTotal, -1),
		"table too small":       patch64(good, offDescriptorsSize, descriptorSize),
		"table past EOF":        patch64(good, offDescriptorsOffset, int64(len(good))),
		"table inside header":   patch64(good, offDescriptorsOffset, 8),
		"negative table offset": patch64(good, offDescriptorsOffset, -4096),
		"huge table size":       patch64(good, offDescriptorsSize, 1<<62),
		"object past EOF":       hugeObject,
	}
	for _, n := range []int{headerSize - 1, headerSize, 4096, int(descOff) + 100, len(good) / 2, len(good) - 1} {
		cases["truncated to "+strconv.Itoa(n)] = good[:n]
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			info, err := inspectBytes(b)
			if !errors.Is(err, ErrNotSIF) {
				t.Fatalf("Inspect = %+v, %v; want error wrapping ErrNotSIF", info, err)
			}
			if info != nil {
				t.Errorf("Info %+v returned with error", info)
			}
			if !strings.HasPrefix(err.Error(), ErrNotSIF.Error()+": ") || len(err.Error()) <= len(ErrNotSIF.Error())+2 {
				t.Errorf("message %q does not explain itself", err)
			}
		})
	}
	if _, err := inspectBytes(good); err != nil {
		t.Fatalf("the unmodified file must pass: %v", err)
	}
}

// A metadata object may lie about its size while staying inside a large
// file; that must be refused rather than allocated.
func TestInspectOversizedMetadata(t *testing.T) {
	path, _ := writeSIF(t, siftest.Options{Definition: "x", Size: maxMetadataSize + 2<<20})
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, headerSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	descOff := int64(binary.LittleEndian.Uint64(hdr[offDescriptorsOffset:]))
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], maxMetadataSize+1)
	if _, err := f.WriteAt(size[:], descOff+25); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	_, err = Inspect(f, fi.Size())
	if !errors.Is(err, ErrNotSIF) || !strings.Contains(err.Error(), "allowed for metadata") {
		t.Fatalf("err = %v", err)
	}
}

type failingReaderAt struct {
	r     io.ReaderAt
	after int64
	err   error
}

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.after {
		return 0, f.err
	}
	return f.r.ReadAt(p, off)
}

func TestInspectIOError(t *testing.T) {
	_, good := writeSIF(t, siftest.Options{Definition: "x"})
	boom := errors.New("disk on fire")
	for _, after := range []int64{0, headerSize, 5000, int64(len(good)) - 1} {
		_, err := Inspect(failingReaderAt{bytes.NewReader(good), after, boom}, int64(len(good)))
		if after == int64(len(good))-1 {
			// Inspect never reads the payload, so a fault at its end is never seen.
			if err != nil {
				t.Errorf("fault past the metadata: %v", err)
			}
			continue
		}
		if !errors.Is(err, boom) || errors.Is(err, ErrNotSIF) {
			t.Errorf("fault after %d bytes: err = %v, want the I/O error and not ErrNotSIF", after, err)
		}
	}
}

type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func TestInspectReadsOnlyMetadata(t *testing.T) {
	path, _ := writeSIF(t, siftest.Options{Size: 64 << 20, Labels: map[string]string{"a": "b"}, Definition: "d", Signed: true})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	c := &countingReaderAt{r: f}
	info, err := Inspect(c, fi.Size())
	if err != nil || !info.Signed || info.Labels["a"] != "b" {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
	if n := c.n.Load(); n > 256<<10 {
		t.Errorf("Inspect read %d bytes of a %d-byte image", n, fi.Size())
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	ro := &readOnly{r: bytes.NewReader(nil)}
	if _, err := ro.Write([]byte("x")); !errors.Is(err, errReadOnly) {
		t.Error("Write allowed")
	}
	if _, err := ro.Seek(0, io.SeekStart); !errors.Is(err, errReadOnly) {
		t.Error("Seek allowed")
	}
	if err := ro.Truncate(0); !errors.Is(err, errReadOnly) {
		t.Error("Truncate allowed")
	}
}

// Text from an image is stored and shown: it comes out as valid UTF-8
// without NUL bytes, whatever the uploader put in.
func TestInspectCleansText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dirty.sif")
	if _, _, err := siftest.Write(path, siftest.Options{
		Labels:     map[string]string{"nul": "a\x00b", "bad": "c\xffd"},
		Definition: "Bootstrap: docker\x00\nFrom: \xfe\xffalpine\n",
	}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	info, err := Inspect(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{info.Definition}
	for k, v := range info.Labels {
		texts = append(texts, k, v)
	}
	for _, s := range texts {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Errorf("unclean text %q", s)
		}
	}
	if info.Labels["nul"] != "ab" || !strings.Contains(info.Definition, "alpine") {
		t.Errorf("cleaning lost more than it should: %q %q", info.Labels, info.Definition)
	}
}

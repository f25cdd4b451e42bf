package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in       string
		multi    bool
		path     string
		parts    int
		tags     []string
		digest   string
		errMatch string
	}{
		{in: "tools/bwa", path: "tools/bwa", parts: 2},
		{in: "tools/bwa:0.7.17", path: "tools/bwa", parts: 2, tags: []string{"0.7.17"}},
		{in: "library://alice/tools/bwa:1", path: "alice/tools/bwa", parts: 3, tags: []string{"1"}},
		{in: "bwa", path: "bwa", parts: 1},
		{in: "tools/bwa@sha256." + hex64, path: "tools/bwa", parts: 2, digest: hex64},
		{in: "tools/bwa:sha256." + hex64, path: "tools/bwa", parts: 2, digest: hex64},
		{in: "tools/bwa:a,b,a", multi: true, path: "tools/bwa", parts: 2, tags: []string{"a", "b"}},
		{in: "tools/bwa:a,b", errMatch: "invalid name"},
		{in: "tools/bwa:a,,b", multi: true, errMatch: "tag is empty"},
		{in: "Tools/bwa", errMatch: "lower-case"},
		{in: "a/b/c/d", errMatch: "at most 3"},
		{in: "", errMatch: "empty"},
	} {
		n, err := ParseName(tc.in, tc.multi)
		if tc.errMatch != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errMatch) {
				t.Errorf("ParseName(%q) = %+v, %v; want error with %q", tc.in, n, err, tc.errMatch)
			}
			continue
		}
		if err != nil || n.Path != tc.path || n.Parts != tc.parts || !slices.Equal(n.Tags, tc.tags) || n.Digest != tc.digest {
			t.Errorf("ParseName(%q) = %+v, %v", tc.in, n, err)
		}
	}
}

func TestFull(t *testing.T) {
	for in, want := range map[string]string{"bwa": "lab/misc/bwa", "tools/bwa": "lab/tools/bwa", "a/tools/bwa": "a/tools/bwa"} {
		n, _ := ParseName(in, false)
		if got, err := n.Full("lab", "misc"); got != want || err != nil {
			t.Errorf("%s: Full = %q, %v; want %q", in, got, err, want)
		}
	}
	n, _ := ParseName("tools/bwa", false)
	if _, err := n.Full("", "misc"); err == nil {
		t.Error("an empty default entity was accepted")
	}
}

func TestListFilterFor(t *testing.T) {
	for in, want := range map[string]ListFilter{
		"":            {},
		"tools":       {Collection: "tools"},
		"alice/tools": {Entity: "alice", Collection: "tools"},
		"a/tools/bwa": {Entity: "a", Collection: "tools", Container: "bwa"},
	} {
		if got, err := ListFilterFor(in); got != want || err != nil {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"a/b/c/d", "Tools", "tools:latest", "a//b"} {
		if _, err := ListFilterFor(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNormalizeServer(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/":     "http://127.0.0.1:8080",
		" https://silo.example.org ": "https://silo.example.org",
		"https://example.org/silo/":  "https://example.org/silo",
	} {
		if got, err := NormalizeServer(in); got != want || err != nil {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8080", "ftp://x", "http://", "http://u:p@x", "http://x/?a=b"} {
		if _, err := NormalizeServer(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// seekBuffer is an io.ReadSeeker that counts the bytes read through it, to
// show when the digest came free and when it cost another pass.
type seekBuffer struct {
	*bytes.Reader
	read int
}

func (s *seekBuffer) Read(p []byte) (int, error) {
	n, err := s.Reader.Read(p)
	s.read += n
	return n, err
}

func TestHashingReader(t *testing.T) {
	data := bytes.Repeat([]byte("silo"), 10000)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	size := int64(len(data))

	// The way UploadImage reads: one full pass, seek back, read again.
	src := &seekBuffer{Reader: bytes.NewReader(data)}
	r := &hashingReader{f: src, h: sha256.New()}
	io.Copy(io.Discard, r)
	r.Seek(0, io.SeekStart)
	io.Copy(io.Discard, io.LimitReader(r, 100))
	if got, err := r.digest(size); got != want || err != nil {
		t.Errorf("digest after a full pass = %q, %v; want %q", got, err, want)
	}
	if src.read != len(data)+100 {
		t.Errorf("read %d bytes: the digest should not have cost another pass", src.read)
	}

	// A seek before the end: the partial hash is not trusted.
	src = &seekBuffer{Reader: bytes.NewReader(data)}
	r = &hashingReader{f: src, h: sha256.New()}
	io.Copy(io.Discard, io.LimitReader(r, 10))
	r.Seek(5, io.SeekStart)
	io.Copy(io.Discard, r)
	if got, err := r.digest(size); got != want || err != nil {
		t.Errorf("digest after a broken pass = %q, %v; want %q", got, err, want)
	}
}

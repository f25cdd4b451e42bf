package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	lc "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/sif"
)

// Pushed describes an image the server now holds.
type Pushed struct {
	Name   string   // entity/collection/container
	Tags   []string // the tags now pointing at it
	Arch   string   // from the SIF header
	Digest string   // 64 hex
	Size   int64
}

// Push uploads the SIF file at path under name ("collection/container:tag",
// with several comma-separated tags, or a three-part name). The
// architecture is the one the image declares, not the caller's: pushing an
// arm64 image from an amd64 laptop must tag it arm64.
func (c *Client) Push(ctx context.Context, path, name, description string) (*Pushed, error) {
	n, err := ParseName(name, true)
	if err != nil {
		return nil, err
	}
	if n.Digest != "" {
		return nil, fmt.Errorf("%s: push takes tags, not a version; the version is the digest of the file, computed as it is pushed", name)
	}
	if len(n.Tags) == 0 {
		n.Tags = []string{registry.DefaultTag}
	}
	if err := c.RequireToken("push"); err != nil {
		return nil, err
	}

	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	info, err := sif.Inspect(f, st.Size())
	if err != nil {
		if errors.Is(err, sif.ErrNotSIF) {
			return nil, fmt.Errorf("%s is not a SIF image (%w); build one with `apptainer build`", path, err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if info.Arch == "" {
		return nil, fmt.Errorf("%s does not say which architecture it is for; rebuild it with a current apptainer", path)
	}

	// The library push needs entity/collection/container spelt out.
	full, err := c.fullName(ctx, n)
	if err != nil {
		return nil, err
	}

	hr := &hashingReader{f: f, h: sha256.New()}
	var cb lc.UploadCallback
	if c.progress != nil {
		cb = &uploadBar{w: c.progress, desc: "pushing"}
	}
	if _, err := c.lib.UploadImage(ctx, hr, full, info.Arch, n.Tags, description, cb); err != nil {
		return nil, c.libErr(err, "cannot push to "+full+": not found, or you may not write there")
	}
	digest, err := hr.digest(st.Size())
	if err != nil {
		return nil, err
	}
	// Ask what the server recorded rather than trust that a quiet upload
	// stored everything.
	im, err := c.lib.GetImage(ctx, info.Arch, full+":sha256."+digest)
	if err != nil {
		return nil, c.libErr(err, "the server does not show "+full+"@sha256."+digest+" after the push")
	}
	if !im.Uploaded || im.Size != st.Size() {
		return nil, fmt.Errorf("the server shows %s@sha256.%s as not fully uploaded after the push; push again", full, digest)
	}
	return &Pushed{Name: full, Tags: n.Tags, Arch: info.Arch, Digest: digest, Size: st.Size()}, nil
}

// hashingReader hashes the first complete front-to-back pass over the
// file. UploadImage starts with exactly such a pass (to checksum the file)
// and then seeks back; hashing along the way gives push the image's
// digest without reading a multi-GiB file once more.
type hashingReader struct {
	f      io.ReadSeeker
	h      hash.Hash
	n      int64  // bytes hashed so far
	sum    string // set once the pass reached EOF
	broken bool   // a seek came before EOF: the pass is not the whole file
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if r.sum == "" && !r.broken {
		r.h.Write(p[:n])
		r.n += int64(n)
		if err == io.EOF {
			r.sum = hex.EncodeToString(r.h.Sum(nil))
		}
	}
	return n, err
}

func (r *hashingReader) Seek(offset int64, whence int) (int64, error) {
	if r.sum == "" {
		r.broken = true
	}
	return r.f.Seek(offset, whence)
}

// digest returns the file's sha256, reading the file again only when the
// upload did not make the full pass hashingReader relies on.
func (r *hashingReader) digest(size int64) (string, error) {
	if r.sum != "" && r.n == size {
		return r.sum, nil
	}
	if _, err := r.f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, r.f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

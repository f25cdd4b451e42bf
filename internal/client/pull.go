package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	lc "github.com/apptainer/container-library-client/client"

	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// The download is split like apptainer splits it, so that a CLI pull
// loads the server the way an apptainer pull does.
const (
	pullConcurrency = 3
	pullPartSize    = 5 << 20
)

// PullOptions adjust a pull.
type PullOptions struct {
	// Arch picks among images tagged alike for several architectures;
	// default runtime.GOARCH. A version (digest) names one image whatever
	// its architecture.
	Arch string
	// Output is the file to write, or an existing directory to write the
	// default name into; default <container>_<tag>.sif in the working
	// directory.
	Output string
	// Force replaces an existing file at the output path.
	Force bool
}

// Image describes an image on the server.
type Image struct {
	Name   string   // entity/collection/container
	Tags   []string // tags pointing at it
	Arch   string
	Digest string // 64 hex
	Size   int64
}

// Pulled is the result of a pull.
type Pulled struct {
	Image
	Path string // where the image now is
}

// Image resolves name (tag default "latest", or a version) for arch.
func (c *Client) Image(ctx context.Context, name, arch string) (*Image, error) {
	n, err := ParseName(name, false)
	if err != nil {
		return nil, err
	}
	return c.image(ctx, n, arch)
}

func (c *Client) image(ctx context.Context, n Name, arch string) (*Image, error) {
	if arch == "" {
		arch = runtime.GOARCH
	}
	what := n.Path
	var sel string // what follows ':' in the library API's spelling
	switch {
	case len(n.Tags) > 0:
		sel = n.Tags[0]
		what += ":" + sel + " for " + arch
	case n.Digest != "":
		sel = "sha256." + n.Digest
		what += "@" + sel
	default:
		sel = registry.DefaultTag
		what += ":" + sel + " for " + arch
	}
	notFound := "image " + what + " not found"
	if c.token == "" {
		notFound += " (if it is private, log in first: silo login " + c.server + ")"
	}
	im, err := c.lib.GetImage(ctx, arch, n.Path+":"+sel)
	if err != nil {
		if n.Digest == "" && errors.Is(err, lc.ErrNotFound) {
			if others := c.otherArches(ctx, n, sel); len(others) > 0 {
				notFound += " (" + sel + " is tagged for " + strings.Join(others, ", ") + " only: choose one with --arch)"
			}
		}
		return nil, c.libErr(err, notFound)
	}
	digest, err := ref.ParseDigest(im.Hash)
	if err != nil || !im.Uploaded {
		// An image whose bytes never arrived is not there to be had.
		return nil, &Error{Status: 404, Message: notFound}
	}
	if n.Digest != "" && digest != n.Digest {
		return nil, fmt.Errorf("%s:%s is version sha256.%s, not the sha256.%s asked for", n.Path, sel, digest, n.Digest)
	}
	out := &Image{
		Name:   im.EntityName + "/" + im.CollectionName + "/" + im.ContainerName,
		Tags:   im.Tags,
		Digest: digest,
		Size:   im.Size,
	}
	if im.Architecture != nil {
		out.Arch = *im.Architecture
	}
	return out, nil
}

// otherArches lists the architectures tag exists for in n's container,
// so that "not found" on an arm64-only image says what to ask for instead.
// It is best effort: any failure just means no hint.
func (c *Client) otherArches(ctx context.Context, n Name, tag string) []string {
	full, err := c.fullName(ctx, n)
	if err != nil {
		return nil
	}
	segs := strings.Split(full, "/")
	list, err := c.List(ctx, ListFilter{Entity: segs[0], Collection: segs[1], Container: segs[2]})
	if err != nil {
		return nil
	}
	var arches []string
	for _, im := range list.Images {
		if slices.Contains(im.Tags, tag) && !slices.Contains(arches, im.Arch) {
			arches = append(arches, im.Arch)
		}
	}
	sort.Strings(arches)
	return arches
}

// Pull downloads the image name names. The bytes go to a temporary file
// next to the output and are renamed into place only once their sha256 is
// the image's version: an interrupted or corrupted pull never leaves a
// half-written image at the output path.
func (c *Client) Pull(ctx context.Context, name string, o PullOptions) (*Pulled, error) {
	n, err := ParseName(name, false)
	if err != nil {
		return nil, err
	}
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	dest, err := outputPath(n, o.Output)
	if err != nil {
		return nil, err
	}
	if !o.Force {
		if err := notThere(dest); err != nil {
			return nil, err
		}
	}
	im, err := c.image(ctx, n, o.Arch)
	if err != nil {
		return nil, err
	}

	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*.part")
	if err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", dest, err)
	}
	placed := false
	defer func() {
		if !placed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	var pb lc.ProgressBar
	if c.progress != nil {
		pb = &downloadBar{w: c.progress, desc: "pulling"}
	}
	// Fetch by version, not by tag: the tag could move between resolving
	// it above and downloading, and the bytes must be the image checked.
	spec := &lc.Downloader{Concurrency: pullConcurrency, PartSize: pullPartSize}
	if err := c.lib.ConcurrentDownloadImage(ctx, tmp, o.Arch, n.Path, "sha256."+im.Digest, spec, pb); err != nil {
		return nil, c.libErr(err, "image "+im.Name+"@sha256."+im.Digest+" disappeared during the pull")
	}
	if err := verify(tmp, im); err != nil {
		return nil, err
	}
	// A SIF starts with a #! line and is run directly, so make it
	// executable the way apptainer's own pulls are.
	if err := tmp.Chmod(0o755); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := place(tmp.Name(), dest, o.Force); err != nil {
		return nil, err
	}
	placed = true
	return &Pulled{Image: *im, Path: dest}, nil
}

// outputPath is where a pull writes: o as given, the default name inside
// o when it is a directory, or the default name in the working directory.
func outputPath(n Name, o string) (string, error) {
	def := n.Container + "_"
	switch {
	case len(n.Tags) > 0:
		def += n.Tags[0]
	case n.Digest != "":
		def += "sha256." + n.Digest
	default:
		def += registry.DefaultTag
	}
	def += ".sif"
	if o == "" {
		return def, nil
	}
	if st, err := os.Stat(o); err == nil && st.IsDir() {
		return filepath.Join(o, def), nil
	}
	if strings.HasSuffix(o, string(filepath.Separator)) {
		return "", fmt.Errorf("output directory %s does not exist", o)
	}
	return o, nil
}

// notThere refuses an existing output before anything is downloaded.
func notThere(dest string) error {
	if _, err := os.Lstat(dest); err == nil {
		return &existsError{dest}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// verify checks the downloaded file is the image, byte for byte: the
// concurrent downloader writes whatever each range request answers,
// error bodies included, so its success alone proves nothing.
func verify(f *os.File, im *Image) error {
	if err := f.Sync(); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != im.Size || got != im.Digest {
		return fmt.Errorf("the download of %s is corrupt (%d bytes hashing to sha256.%s; expected %d bytes, sha256.%s); nothing was written, try again",
			im.Name, n, got, im.Size, im.Digest)
	}
	return nil
}

// place moves the verified temporary file to dest. Without force it links
// rather than renames, because a link fails if dest appeared during the
// download, where a rename would silently replace it.
func place(tmp, dest string, force bool) error {
	if force {
		return os.Rename(tmp, dest)
	}
	err := os.Link(tmp, dest)
	switch {
	case err == nil:
		return os.Remove(tmp)
	case errors.Is(err, fs.ErrExist):
		return &existsError{dest}
	}
	// Some filesystems have no hard links; check, then rename.
	if err := notThere(dest); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}

// existsError refuses to overwrite a file. It matches fs.ErrExist, so the
// CLI can tell it apart and suggest --force.
type existsError struct{ path string }

func (e *existsError) Error() string        { return e.path + " already exists" }
func (e *existsError) Is(target error) bool { return target == fs.ErrExist }

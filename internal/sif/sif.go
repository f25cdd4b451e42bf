// Package sif reads what a SIF (Singularity Image Format) file says about
// itself — its ID, architecture, labels, definition file, and whether it is
// signed or encrypted — so the registry can index an upload without trusting
// what the client claims and without holding the image in memory.
package sif

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sylabs/sif/v2/pkg/sif"
)

// ErrNotSIF is wrapped by every error that means the bytes are not a usable
// SIF image (wrong magic, unsupported version, truncated or corrupt), as
// opposed to an I/O failure while reading them.
var ErrNotSIF = errors.New("not a valid SIF image")

// Info is what a SIF file says about itself.
type Info struct {
	ID         string            // SIF UUID
	Arch       string            // Go GOARCH name of the primary system partition, "" if none/unknown
	Created    time.Time         // SIF header creation time (UTC)
	Labels     map[string]string // image labels, as `apptainer inspect --labels` shows them; never nil
	Definition string            // the definition file, "" if absent
	Signed     bool              // has at least one signature descriptor
	Encrypted  bool              // primary partition is encrypted (FsEncryptedSquashfs)
	Partitions int               // number of partition descriptors
}

// Layout facts from the SIF specification, checked before handing a file to
// the sif library: it sizes its descriptor slice straight from the header, so
// a corrupt count would otherwise allocate gigabytes or panic.
const (
	headerSize     = 128 // global header, fixed by the spec
	descriptorSize = 585 // one on-disk descriptor, fixed by the spec

	offDescriptorsTotal  = 88
	offDescriptorsOffset = 96
	offDescriptorsSize   = 104

	// maxDescriptors is far above the 48 that apptainer and singularity
	// create, and keeps the descriptor table under 3 MiB.
	maxDescriptors = 4096

	// maxMetadataSize bounds the label and definition objects read into
	// memory; real ones are a few KiB.
	maxMetadataSize = 16 << 20
)

var sifMagic = []byte("SIF_MAGIC\x00")

// inspectMetadataName is the descriptor apptainer (and SingularityCE) build
// writes its `inspect` data into: a DataGenericJSON object holding labels,
// definition, runscript and so on.
const inspectMetadataName = "inspect-metadata.json"

// legacyPartitionKey is where singularity 3.0 nested the labels of the
// system partition inside a DataLabels object.
const legacyPartitionKey = "system-partition"

func notSIF(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotSIF, fmt.Sprintf(format, args...))
}

// Inspect reads a SIF from r (size bytes) without loading its data objects
// into memory: only the header, the descriptor table and the small metadata
// objects are read, so a 4 GiB image costs the same as a 4 KiB one.
func Inspect(r io.ReaderAt, size int64) (*Info, error) {
	ro := &readOnly{r: io.NewSectionReader(r, 0, size)}
	info, err := inspect(ro, size)
	if err != nil && ro.err != nil {
		// A failing disk or connection is not the uploader's fault; report
		// it as what it is rather than as a bad image.
		return nil, fmt.Errorf("reading SIF: %w", ro.err)
	}
	return info, err
}

func inspect(ro *readOnly, size int64) (*Info, error) {
	if err := checkHeader(ro, size); err != nil {
		return nil, err
	}
	f, err := sif.LoadContainer(ro, sif.OptLoadWithCloseOnUnload(false))
	if err != nil {
		return nil, notSIF("%v", err)
	}
	defer f.UnloadContainer()

	info := &Info{
		ID:      f.ID(),
		Created: f.CreatedAt().UTC(),
		Labels:  map[string]string{},
	}

	var (
		primary            *sif.Descriptor
		deffile, metadata  *sif.Descriptor
		legacyLabels       []sif.Descriptor
		firstBadDescriptor error
	)
	f.WithDescriptors(func(d sif.Descriptor) bool {
		if end := d.Offset() + d.Size(); d.Offset() < 0 || d.Size() < 0 || end < d.Offset() || end > size {
			firstBadDescriptor = notSIF("object %d (%v) claims bytes %d..%d but the file is %d bytes; is it truncated?",
				d.ID(), d.DataType(), d.Offset(), d.Offset()+d.Size(), size)
			return true
		}
		switch d.DataType() {
		case sif.DataPartition:
			info.Partitions++
			if _, pt, _, err := d.PartitionMetadata(); err == nil && pt == sif.PartPrimSys && primary == nil {
				primary = &d
			}
		case sif.DataSignature:
			info.Signed = true
		case sif.DataDeffile:
			if deffile == nil {
				deffile = &d
			}
		case sif.DataGenericJSON:
			if metadata == nil && d.Name() == inspectMetadataName {
				metadata = &d
			}
		case sif.DataLabels:
			legacyLabels = append(legacyLabels, d)
		}
		return false
	})
	if firstBadDescriptor != nil {
		return nil, firstBadDescriptor
	}

	if primary != nil {
		fs, _, arch, _ := primary.PartitionMetadata()
		info.Encrypted = fs == sif.FsEncryptedSquashfs
		info.Arch = knownArch(arch)
	} else {
		// Images made before partitions carried a "primary" flag still have
		// the architecture in the header.
		info.Arch = knownArch(f.PrimaryArch())
	}

	var md inspectMetadata
	if metadata != nil {
		b, err := readObject(*metadata)
		if err != nil {
			return nil, err
		}
		// apptainer only warns about unreadable inspect metadata and still
		// runs the image, so a registry should not refuse it either.
		if json.Unmarshal(b, &md) != nil {
			md = inspectMetadata{}
		}
	}
	if deffile != nil {
		b, err := readObject(*deffile)
		if err != nil {
			return nil, err
		}
		info.Definition = string(b)
	} else {
		info.Definition = md.Data.Attributes.Deffile
	}

	if md.Data.Attributes.Labels != nil {
		copyLabels(info.Labels, md.Data.Attributes.Labels)
	} else {
		for _, d := range legacyLabels {
			b, err := readObject(d)
			if err != nil {
				return nil, err
			}
			parseLegacyLabels(info.Labels, b)
		}
	}
	info.Definition = cleanText(info.Definition)
	clean := make(map[string]string, len(info.Labels))
	for k, v := range info.Labels {
		clean[cleanText(k)] = cleanText(v)
	}
	info.Labels = clean
	return info, nil
}

// cleanText makes text taken from an image safe to store and show: valid
// UTF-8 with no NUL bytes. The image is the uploader's to fill, and some
// databases (PostgreSQL) refuse both in text.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// checkHeader rejects what is plainly not a SIF, and any header whose
// descriptor table could not fit in the file, before the library sees it.
func checkHeader(r io.ReaderAt, size int64) error {
	if size < headerSize {
		return notSIF("the file is %d bytes, too short for a SIF header", size)
	}
	h := make([]byte, headerSize)
	if _, err := r.ReadAt(h, 0); err != nil {
		return notSIF("reading header: %v", err)
	}
	if string(h[32:32+len(sifMagic)]) != string(sifMagic) {
		return notSIF("the SIF_MAGIC signature is missing")
	}
	total := int64(binary.LittleEndian.Uint64(h[offDescriptorsTotal:]))
	off := int64(binary.LittleEndian.Uint64(h[offDescriptorsOffset:]))
	n := int64(binary.LittleEndian.Uint64(h[offDescriptorsSize:]))
	switch {
	case total < 0 || total > maxDescriptors:
		return notSIF("the header claims %d descriptors (at most %d are supported)", total, maxDescriptors)
	case n < total*descriptorSize:
		return notSIF("the header's descriptor table is %d bytes, too small for %d descriptors", n, total)
	case off < headerSize || n > size || off > size-n:
		return notSIF("the header's descriptor table (bytes %d..%d) lies outside the %d-byte file", off, off+n, size)
	}
	return nil
}

// readObject reads one small data object, refusing sizes that would let a
// hostile file make the registry allocate without bound.
func readObject(d sif.Descriptor) ([]byte, error) {
	if d.Size() > maxMetadataSize {
		return nil, notSIF("object %d (%v) is %d bytes, more than the %d allowed for metadata",
			d.ID(), d.DataType(), d.Size(), maxMetadataSize)
	}
	b, err := d.GetData()
	if err != nil {
		return nil, notSIF("reading object %d (%v): %v", d.ID(), d.DataType(), err)
	}
	return b, nil
}

// knownArch maps the library's "unknown" to "" so callers need one test.
func knownArch(a string) string {
	if a == "unknown" {
		return ""
	}
	return a
}

// inspectMetadata is the part of apptainer's inspect-metadata.json that Silo
// uses. Labels are decoded as raw JSON so that a non-string value (which a
// hand-edited image might carry) costs that label's quoting, not all labels.
type inspectMetadata struct {
	Data struct {
		Attributes struct {
			Labels  map[string]json.RawMessage `json:"labels"`
			Deffile string                     `json:"deffile"`
		} `json:"attributes"`
	} `json:"data"`
}

func copyLabels(dst map[string]string, src map[string]json.RawMessage) {
	for k, v := range src {
		dst[k] = labelValue(v)
	}
}

// labelValue turns a JSON value into the text `apptainer inspect` would
// print: strings unquoted, null as empty, anything else as its JSON spelling.
func labelValue(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// parseLegacyLabels reads a DataLabels object. Singularity has written it
// two ways: a flat {"label": "value"} object, and (3.0) the same nested under
// "system-partition" beside per-app objects. Both are accepted; app labels
// are not image labels and are skipped. Unparsable JSON yields no labels, as
// it does in apptainer.
func parseLegacyLabels(dst map[string]string, b []byte) {
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		return
	}
	for k, v := range top {
		var nested map[string]json.RawMessage
		if len(v) > 0 && v[0] == '{' && json.Unmarshal(v, &nested) == nil {
			if k == legacyPartitionKey {
				copyLabels(dst, nested)
			}
			continue
		}
		dst[k] = labelValue(v)
	}
}

// readOnly lets the sif library, which wants a read-write file, load from a
// plain io.ReaderAt; any attempt to modify the image fails. It also remembers
// the first real read error so Inspect can tell I/O failure from bad data.
type readOnly struct {
	r   io.ReaderAt
	err error
}

var errReadOnly = errors.New("sif: image opened read-only")

func (ro *readOnly) ReadAt(p []byte, off int64) (int, error) {
	n, err := ro.r.ReadAt(p, off)
	if err != nil && err != io.EOF && ro.err == nil {
		ro.err = err
	}
	return n, err
}

func (*readOnly) Write([]byte) (int, error)      { return 0, errReadOnly }
func (*readOnly) Seek(int64, int) (int64, error) { return 0, errReadOnly }
func (*readOnly) Truncate(int64) error           { return errReadOnly }

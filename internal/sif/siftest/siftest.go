// Package siftest builds real SIF files for tests and benchmarks: the
// header, descriptors and metadata objects are produced by the sylabs sif
// library exactly as apptainer lays them out, and the system partition is
// filled with deterministic pseudo-random bytes. Files of several GiB are
// streamed straight to disk, never held in memory.
package siftest

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/sylabs/sif/v2/pkg/sif"
)

// Options describes the SIF to build. The zero value is a valid 64 KiB
// amd64 image with no labels, definition or signature.
type Options struct {
	Arch       string            // GOARCH name, default "amd64"
	Size       int64             // approximate total file size in bytes, default 64 KiB (see Write)
	Seed       int64             // payload bytes and image ID derive from Seed; different seeds give different digests
	Labels     map[string]string // written the way apptainer writes them (inspect-metadata.json)
	Definition string            // written as the deffile descriptor when non-empty
	Signed     bool              // add a signature descriptor (not cryptographically valid)
	Created    time.Time         // header time; default a fixed time so files are deterministic
}

// DefaultSize is the file size used when Options.Size is zero.
const DefaultSize = 64 << 10

// DefaultCreated is the header time used when Options.Created is zero; a
// fixed value keeps files, and so their digests, identical across runs.
var DefaultCreated = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// minPayload keeps the partition non-empty when Size is below the fixed
// overhead (about 36 KiB: header, descriptor table, 4 KiB alignment).
const minPayload = 4096

// launchScript is what apptainer puts in the header so a SIF is executable.
const launchScript = "#!/usr/bin/env run-singularity\n"

// Distinct PCG streams so the ID, fingerprint and payload of one seed are
// independent of each other.
const (
	streamPayload = 0x5349465061796c64 // "SIFPayld"
	streamID      = 0x5349464944000000
	streamFP      = 0x5349464650000000
)

// Write creates the SIF at path and returns the lower-case hex sha256 of the
// whole file and its size. The same Options always give the same bytes. The
// size matches o.Size exactly unless o.Size is below the fixed overhead, in
// which case the file is the smallest this layout allows.
//
// The sif library writes the payload first and the header last, so the file
// cannot be hashed as it is written. Instead Write lets the library lay the
// image out against a recorder that keeps every byte except the payload, then
// streams header, metadata and generated payload to disk in file order,
// hashing on the way.
func Write(path string, o Options) (digest string, size int64, err error) {
	o, err = o.withDefaults()
	if err != nil {
		return "", 0, err
	}
	bare, err := layout(o, 0)
	if err != nil {
		return "", 0, err
	}
	n := max(o.Size-bare.size(), minPayload)
	l, err := layout(o, n)
	if err != nil {
		return "", 0, err
	}
	return writeFile(path, l, uint64(o.Seed))
}

func (o Options) withDefaults() (Options, error) {
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.Size < 0 {
		return o, fmt.Errorf("siftest: negative size %d", o.Size)
	}
	if o.Created.IsZero() {
		o.Created = DefaultCreated
	}
	return o, nil
}

// layout runs the sif library against a recorder, with a payload of n bytes
// that is only accounted for, not produced.
func layout(o Options, n int64) (plan, error) {
	dis, err := inputs(o, &payloadHole{n: n})
	if err != nil {
		return nil, err
	}
	rec := &recorder{}
	f, err := sif.CreateContainer(rec,
		sif.OptCreateWithID(imageID(o.Seed)),
		sif.OptCreateWithTime(o.Created),
		sif.OptCreateWithLaunchScript(launchScript),
		sif.OptCreateWithDescriptors(dis...),
		sif.OptCreateWithCloseOnUnload(false),
	)
	if err != nil {
		return nil, fmt.Errorf("siftest: laying out SIF: %w", err)
	}
	if err := f.UnloadContainer(); err != nil {
		return nil, fmt.Errorf("siftest: %w", err)
	}
	return rec.plan()
}

// inputs lists the data objects in the order apptainer's build writes them:
// definition, JSON metadata, system partition (read from part); `apptainer
// sign` later adds the signature, linked to the object group that holds the
// partition.
func inputs(o Options, part io.Reader) ([]sif.DescriptorInput, error) {
	var dis []sif.DescriptorInput
	add := func(t sif.DataType, r io.Reader, opts ...sif.DescriptorInputOpt) error {
		di, err := sif.NewDescriptorInput(t, r, opts...)
		if err != nil {
			return fmt.Errorf("siftest: %v object: %w", t, err)
		}
		dis = append(dis, di)
		return nil
	}

	if o.Definition != "" {
		if err := add(sif.DataDeffile, bytes.NewReader([]byte(o.Definition))); err != nil {
			return nil, err
		}
	}
	if o.Labels != nil || o.Definition != "" {
		md, err := inspectMetadata(o)
		if err != nil {
			return nil, err
		}
		if err := add(sif.DataGenericJSON, bytes.NewReader(md), sif.OptObjectName("inspect-metadata.json")); err != nil {
			return nil, err
		}
	}
	if err := add(sif.DataPartition, part,
		sif.OptPartitionMetadata(sif.FsSquash, sif.PartPrimSys, o.Arch)); err != nil {
		return nil, err
	}
	if o.Signed {
		err := add(sif.DataSignature, bytes.NewReader(signatureText(o.Seed)),
			sif.OptNoGroup(),
			sif.OptLinkedGroupID(sif.DefaultObjectGroup),
			sif.OptSignatureMetadata(crypto.SHA256, fingerprint(o.Seed)))
		if err != nil {
			return nil, err
		}
	}
	return dis, nil
}

// inspectMetadata encodes labels and definition in the shape of apptainer's
// inspect-metadata.json object.
func inspectMetadata(o Options) ([]byte, error) {
	type attributes struct {
		Labels  map[string]string `json:"labels,omitempty"`
		Deffile string            `json:"deffile,omitempty"`
	}
	var md struct {
		Data struct {
			Attributes attributes `json:"attributes"`
		} `json:"data"`
		Type string `json:"type"`
	}
	md.Data.Attributes = attributes{Labels: o.Labels, Deffile: o.Definition}
	md.Type = "container"
	return json.Marshal(md)
}

// imageID is a version-4-shaped UUID derived from seed, so that images built
// from different seeds have different IDs but each build is reproducible.
func imageID(seed int64) string {
	var b [16]byte
	r := rand.NewPCG(uint64(seed), streamID)
	binary.LittleEndian.PutUint64(b[:8], r.Uint64())
	binary.LittleEndian.PutUint64(b[8:], r.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// fingerprint stands in for the 20-byte OpenPGP fingerprint of a signer.
func fingerprint(seed int64) []byte {
	r := rand.NewPCG(uint64(seed), streamFP)
	b := make([]byte, 24)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:20]
}

// signatureText has the shape of the clear-signed message `apptainer sign`
// stores; nothing here verifies it.
func signatureText(seed int64) []byte {
	return fmt.Appendf(nil, "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"+
		"{\"version\":1,\"header\":{\"digests\":[]},\"objects\":[],\"siftest-seed\":%d}\n"+
		"-----BEGIN PGP SIGNATURE-----\n\nc2lmdGVzdCBzaWduYXR1cmU=\n-----END PGP SIGNATURE-----\n", seed)
}

// payloadHole is the partition content during layout: it tells the recorder
// how many bytes the payload will take without producing them.
type payloadHole struct{ n int64 }

var errNotRecorder = errors.New("siftest: payload placeholder copied to something other than the layout recorder")

// Read is never used: io.Copy prefers WriteTo. Failing loudly guards against
// a library change that would silently lay out an empty partition.
func (*payloadHole) Read([]byte) (int, error) { return 0, errNotRecorder }

func (h *payloadHole) WriteTo(w io.Writer) (int64, error) {
	rec, ok := w.(*recorder)
	if !ok {
		return 0, errNotRecorder
	}
	rec.segs = append(rec.segs, segment{off: rec.pos, hole: h.n})
	rec.pos += h.n
	return h.n, nil
}

// segment is one write the library made: literal bytes, or (hole > 0) the
// payload, which is generated when the file is streamed.
type segment struct {
	off  int64
	data []byte
	hole int64
}

func (s segment) end() int64 { return s.off + int64(len(s.data)) + s.hole }

// plan is the file's content in offset order; gaps between segments are
// zeros, as they are when the library writes to a real file.
type plan []segment

func (p plan) size() int64 {
	if len(p) == 0 {
		return 0
	}
	return p[len(p)-1].end()
}

// recorder is a sif.ReadWriter that remembers writes instead of storing a
// file. The library never reads back while creating an image.
type recorder struct {
	pos  int64
	segs []segment
}

var errRecorder = errors.New("siftest: layout recorder supports only seeks and writes")

func (r *recorder) Write(p []byte) (int, error) {
	if len(p) > 0 {
		r.segs = append(r.segs, segment{off: r.pos, data: bytes.Clone(p)})
		r.pos += int64(len(p))
	}
	return len(p), nil
}

func (r *recorder) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += r.pos
	default:
		return 0, errRecorder
	}
	if off < 0 {
		return 0, errRecorder
	}
	r.pos = off
	return off, nil
}

func (*recorder) ReadAt([]byte, int64) (int, error) { return 0, errRecorder }
func (*recorder) Truncate(int64) error              { return errRecorder }

// plan orders the writes and refuses overlaps, which would mean the library
// rewrote bytes and the streamed file would not match what it intended.
func (r *recorder) plan() (plan, error) {
	p := plan(r.segs)
	sort.SliceStable(p, func(i, j int) bool { return p[i].off < p[j].off })
	for i := 1; i < len(p); i++ {
		if p[i].off < p[i-1].end() {
			return nil, fmt.Errorf("siftest: sif library wrote bytes %d..%d twice", p[i].off, p[i-1].end())
		}
	}
	return p, nil
}

// Package blob defines Silo's content-addressed blob store: image bytes keyed by
// their sha256 digest, written through resumable uploads that only become
// visible once their bytes are durable. Backends live in sub-packages (fs/ now,
// s3/ later) and all pass the shared suite in blobtest/.
package blob

import (
	"context"
	"errors"
	"io"
	"os"
	"regexp"
	"time"
)

// ErrNotFound is returned for a digest or upload id the store does not hold.
var ErrNotFound = errors.New("blob: not found")

// ErrInvalidDigest is returned for a digest that is not 64 lower-case hex digits.
var ErrInvalidDigest = errors.New("blob: invalid digest")

var digestRE = regexp.MustCompile(`^[a-f0-9]{64}$`)

// ValidDigest reports whether d is a sha256 digest in the store's spelling:
// 64 lower-case hex digits, no algorithm prefix.
func ValidDigest(d string) bool { return digestRE.MatchString(d) }

// Store holds immutable blobs by sha256 digest and the uploads that create them.
//
// Uploads are written at explicit offsets so that a part, a chunk or a single
// body all use the same path, and so that any process sharing the store can
// continue an upload another began. The store does not hash: the caller
// verifies the digest (it streams the bytes anyway) and names the digest when it
// commits. Commit makes the blob durable (synced) before it returns, so the
// caller may commit metadata right after.
type Store interface {
	// NewUpload starts an empty upload and returns its id.
	NewUpload(ctx context.Context) (id string, err error)
	// WriteAt writes r into upload id starting at offset and returns how many
	// bytes it wrote. A short or failed write leaves bytes beyond the last full
	// one undefined; the caller rewrites that range or cancels.
	WriteAt(ctx context.Context, id string, offset int64, r io.Reader) (int64, error)
	// ReadUpload opens what upload id holds so far, for a caller that must
	// hash bytes it did not see arrive in order.
	ReadUpload(ctx context.Context, id string) (Reader, error)
	// Commit makes the first size bytes of upload id the blob named digest,
	// durable on return, and removes the upload. When the blob already exists
	// the upload is simply discarded (identical bytes are stored once).
	Commit(ctx context.Context, id, digest string, size int64) error
	// Cancel discards upload id. Cancelling an unknown upload is not an error.
	Cancel(ctx context.Context, id string) error

	// Open returns a reader for the blob named digest.
	Open(ctx context.Context, digest string) (Reader, error)
	// Stat returns the size of the blob named digest.
	Stat(ctx context.Context, digest string) (Info, error)
	// Delete removes the blob named digest. Deleting a missing blob is not an error.
	Delete(ctx context.Context, digest string) error
	// Walk calls fn for every blob in the store, in no particular order.
	Walk(ctx context.Context, fn func(Info) error) error
	// Uploads calls fn for every unfinished upload, for garbage collection.
	Uploads(ctx context.Context, fn func(UploadInfo) error) error
	// Ping checks the store can be read and written, for readiness checks.
	Ping(ctx context.Context) error
}

// Filer is implemented by readers backed by a local file, so that HTTP
// downloads can hand the file to the kernel's sendfile.
type Filer interface {
	File() *os.File
}

// Reader reads a blob at random offsets, as ranged downloads need.
type Reader interface {
	io.ReadSeekCloser
	io.ReaderAt
	// Size is the number of bytes in the blob.
	Size() int64
	// ModTime is when the blob was last written or committed.
	ModTime() time.Time
}

// Info describes a stored blob.
type Info struct {
	Digest  string
	Size    int64
	ModTime time.Time
}

// UploadInfo describes an unfinished upload.
type UploadInfo struct {
	ID      string
	Size    int64
	ModTime time.Time
}

// Presigner is implemented by stores that clients can reach themselves (an
// S3 bucket): it hands out URLs that read a blob or write into an upload
// without credentials until they expire, so that image bytes go between
// client and store without passing through Silo. A caller hands such a URL
// out only after the same access checks it makes before serving bytes
// itself, and still verifies an upload's digest before naming it.
type Presigner interface {
	// PresignGet returns a URL that fetches the blob named digest (with
	// Range) until ttl has passed.
	PresignGet(ctx context.Context, digest string, ttl time.Duration) (string, error)
	// PresignWrite returns a URL that a client PUTs bytes to until ttl has
	// passed; they land in upload id at offset, as WriteAt would put them.
	PresignWrite(ctx context.Context, id string, offset int64, ttl time.Duration) (string, error)
}

// Package s3 is a blob.Store kept in an S3-compatible object store (AWS S3,
// MinIO, Ceph RGW, versitygw), so that any number of Silo processes share
// one set of blobs and uploads and no state lives in a process.
//
// Layout under Config.Prefix:
//
//	blobs/sha256/<xx>/<hex>          a committed blob
//	uploads/<id>/marker              an upload's marker (empty; its existence is the upload)
//	uploads/<id>/<offset>-<stamp>    bytes written at <offset>; newer stamps win overlaps
//
// Why uploads are plain objects rather than parts of an S3 multipart upload:
// an S3 multipart upload is created for its final key, and a blob's key is its
// digest, which blob.Store learns only at Commit; and S3 cannot read back the
// parts of an unfinished multipart upload, while ReadUpload must (the
// registry reads every upload's SIF header before it commits). So WriteAt
// stores readable "segment" objects, and Commit creates the multipart upload
// for the final key and fills it with UploadPartCopy: a server-side copy, no
// bytes through Silo for segments of 5 MiB or more, and no temporary blob copied
// whole afterwards (distribution's weakness). Only fragments smaller than S3's
// minimum part size pass through Silo, at most one part's worth at a time.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/siloreg/silo/internal/blob"
)

// Defaults for Config's sizes.
const (
	DefaultPartSize = 64 << 20
	// maxSegment caps the default SegmentSize, the memory one WriteAt
	// holds, whatever the part size.
	maxSegment = 64 << 20
	// minPart is S3's smallest part size for all parts but the last.
	minPart = 5 << 20
	// maxCopyPart is S3's largest UploadPartCopy range.
	maxCopyPart = 5 << 30
)

// Config says where the blobs live. Credentials come from the standard AWS
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles, roles).
type Config struct {
	Bucket string
	// Prefix is prepended to every key ("silo" gives "silo/blobs/..."), so
	// that one bucket can hold several registries.
	Prefix string
	// Endpoint is the S3 server's URL; empty means AWS.
	Endpoint string
	// Region defaults to us-east-1, which most S3-compatible servers accept.
	Region string
	// PathStyle addresses the bucket in the URL path rather than the host
	// name, as MinIO, versitygw and most on-premises servers need.
	PathStyle bool
	// PartSize is the library API's part size, which PresignPart maps part
	// numbers onto offsets with; default DefaultPartSize.
	PartSize int64
	// SegmentSize bounds the bytes WriteAt holds in memory before it stores
	// them as one object (S3 needs each object's length before it is sent);
	// default PartSize (at most 64 MiB), so that a proxied library part is one
	// segment and Commit copies one object per part; at least 5 MiB so that
	// segments copy server-side.
	SegmentSize int64
	// HTTPClient, if set, carries every request (tests count them with it).
	HTTPClient *http.Client
}

// Store is a blob.Store in an S3 bucket. It is safe for concurrent use, and
// any number of Stores (on any number of machines) may share one bucket.
type Store struct {
	c       *s3.Client
	presign *s3.PresignClient
	bucket  string
	prefix  string // "" or ends in "/"
	partSz  int64
	segSz   int64
}

var (
	_ blob.Store     = (*Store)(nil)
	_ blob.Presigner = (*Store)(nil)
)

// New connects to the bucket cfg names. It does not check the bucket is
// reachable: that is Ping's job, so that a server can start while its store
// is briefly away.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket configured")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region)}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading AWS configuration: %w", err)
	}
	c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		if cfg.HTTPClient != nil {
			o.HTTPClient = cfg.HTTPClient
		}
		// Checksums only where S3 requires them: the SDK's default
		// (trailing CRC32 on every upload) is not understood by every
		// S3-compatible server, and TLS already protects the bytes in flight.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	s := &Store{c: c, presign: s3.NewPresignClient(c), bucket: cfg.Bucket, partSz: cfg.PartSize, segSz: cfg.SegmentSize}
	if p := strings.Trim(cfg.Prefix, "/"); p != "" {
		s.prefix = p + "/"
	}
	if s.partSz <= 0 {
		s.partSz = DefaultPartSize
	}
	if s.segSz <= 0 {
		s.segSz = min(s.partSz, maxSegment)
	}
	s.segSz = max(s.segSz, minPart)
	return s, nil
}

func (s *Store) blobKey(digest string) string {
	return s.prefix + "blobs/sha256/" + digest[:2] + "/" + digest
}

// notFound reports whether err is S3's answer for a missing key.
func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NoSuchUpload")
}

// Stat returns the size and time of the blob named digest.
func (s *Store) Stat(ctx context.Context, digest string) (blob.Info, error) {
	if !blob.ValidDigest(digest) {
		return blob.Info{}, blob.ErrInvalidDigest
	}
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.blobKey(digest))})
	if err != nil {
		if notFound(err) {
			return blob.Info{}, blob.ErrNotFound
		}
		return blob.Info{}, fmt.Errorf("s3: stat %s: %w", digest, err)
	}
	return blob.Info{Digest: digest, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Open returns a reader for the blob named digest; reads are ranged GETs.
func (s *Store) Open(ctx context.Context, digest string) (blob.Reader, error) {
	info, err := s.Stat(ctx, digest)
	if err != nil {
		return nil, err
	}
	key := s.blobKey(digest)
	return s.newReader(ctx, []piece{{key: key, dst: 0, src: 0, n: info.Size}}, info.Size, info.ModTime), nil
}

// Delete removes the blob named digest; S3 deletes of missing keys succeed.
func (s *Store) Delete(ctx context.Context, digest string) error {
	if !blob.ValidDigest(digest) {
		return blob.ErrInvalidDigest
	}
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.blobKey(digest))})
	if err != nil && !notFound(err) {
		return fmt.Errorf("s3: delete %s: %w", digest, err)
	}
	return nil
}

// Walk lists the blobs under blobs/sha256/, skipping keys that are not
// blobs (someone else's files in a shared prefix).
func (s *Store) Walk(ctx context.Context, fn func(blob.Info) error) error {
	return s.list(ctx, s.prefix+"blobs/sha256/", func(o types.Object) error {
		d := path.Base(aws.ToString(o.Key))
		if !blob.ValidDigest(d) || aws.ToString(o.Key) != s.blobKey(d) {
			return nil
		}
		return fn(blob.Info{Digest: d, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
	})
}

// list calls fn for every object under prefix.
func (s *Store) list(ctx context.Context, prefix string, fn func(types.Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3: listing %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// Ping checks the bucket answers with the store's credentials.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("s3: bucket %s: %w", s.bucket, err)
	}
	return nil
}

// PresignGet returns a URL that fetches the blob named digest (honouring
// Range) without credentials until ttl has passed, for download redirects.
func (s *Store) PresignGet(ctx context.Context, digest string, ttl time.Duration) (string, error) {
	if !blob.ValidDigest(digest) {
		return "", blob.ErrInvalidDigest
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.blobKey(digest))}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3: presigning %s: %w", digest, err)
	}
	return req.URL, nil
}

// PresignWrite returns a URL a client may PUT bytes to without credentials
// until ttl has passed; they land as a segment of upload id at offset, like
// a WriteAt, so Commit treats them the same way. S3 does not bound the
// length a presigned PUT stores, so the caller must verify what arrived
// (the registry hashes every upload before it commits it).
func (s *Store) PresignWrite(ctx context.Context, id string, offset int64, ttl time.Duration) (string, error) {
	if offset < 0 {
		return "", fmt.Errorf("s3: negative offset %d", offset)
	}
	if err := s.checkUpload(ctx, id); err != nil {
		return "", err
	}
	key := s.segmentKey(id, offset)
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3: presigning a write to %s at %d: %w", id, offset, err)
	}
	return req.URL, nil
}

// PresignPart returns a URL a client may PUT part partNumber (1-based, of
// Config.PartSize bytes, the last one shorter) of upload uploadID to without
// credentials until ttl has passed: PresignWrite at (partNumber-1)*PartSize.
func (s *Store) PresignPart(ctx context.Context, uploadID string, partNumber int, ttl time.Duration) (string, error) {
	if partNumber < 1 || partNumber > 10000 {
		return "", fmt.Errorf("s3: part number %d out of range 1-10000", partNumber)
	}
	return s.PresignWrite(ctx, uploadID, int64(partNumber-1)*s.partSz, ttl)
}

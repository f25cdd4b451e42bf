package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/siloreg/silo/internal/blob"
)

// Commit makes the first size bytes of upload id the blob named digest. The
// blob is written once, straight to its final key, by an S3 multipart upload
// whose parts are server-side copies of the segments (see the package
// comment); on return S3 holds it durably.
func (s *Store) Commit(ctx context.Context, id, digest string, size int64) error {
	if !blob.ValidDigest(digest) {
		return blob.ErrInvalidDigest
	}
	if !uploadIDRE.MatchString(id) {
		return blob.ErrNotFound
	}
	if size < 0 {
		return fmt.Errorf("s3: negative size %d", size)
	}
	segs, ok, _, err := s.segments(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return blob.ErrNotFound
	}
	ps, end := overlay(segs)
	if end < size {
		// The upload stays as it is, so the client can send the rest.
		return fmt.Errorf("s3: upload %s holds %d of %d bytes: %w", id, end, size, errShort)
	}
	ps = trim(ps, size)
	key := s.blobKey(digest)
	_, err = s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	switch {
	case err == nil:
		// Identical bytes are stored once; refresh the blob's time so
		// garbage collection's grace period starts again.
		if err := s.touch(ctx, key); err != nil {
			return err
		}
	case notFound(err):
		if whole(ps, segs, size) {
			err = s.copyWhole(ctx, key, ps[0].key)
		} else {
			err = s.assemble(ctx, key, ps, size)
		}
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("s3: stat %s: %w", digest, err)
	}
	return s.Cancel(ctx, id)
}

// touch moves key's LastModified to now by copying it onto itself, which S3
// allows only when something changes: hence the REPLACE of its metadata.
// The copy is server-side, and a blob is re-used far less often than read.
func (s *Store) touch(ctx context.Context, key string) error {
	_, err := s.c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &s.bucket, Key: &key, CopySource: aws.String(s.bucket + "/" + key),
		MetadataDirective: types.MetadataDirectiveReplace,
		Metadata:          map[string]string{"silo-touched": time.Now().UTC().Format(time.RFC3339Nano)},
	})
	if err != nil {
		return fmt.Errorf("s3: refreshing %s: %w", key, err)
	}
	return nil
}

// plan groups pieces into multipart parts. S3 wants every part but the
// last to hold at least 5 MiB, and copies a part from one source object: a
// piece of 5 MiB or more becomes a part of its own (copied server-side);
// smaller pieces are gathered, topped up from the next piece, into parts of
// exactly 5 MiB that Silo reads and sends itself.
func plan(ps []piece) [][]piece {
	var parts [][]piece
	var cur []piece
	var curN int64
	for _, p := range ps {
		for p.n > 0 {
			take := min(p.n, minPart-curN)
			if curN == 0 && p.n >= minPart {
				take = min(p.n, maxCopyPart)
			}
			cur = append(cur, piece{p.key, p.dst, p.src, take})
			curN += take
			p = piece{p.key, p.dst + take, p.src + take, p.n - take}
			if curN >= minPart {
				parts, cur, curN = append(parts, cur), nil, 0
			}
		}
	}
	if curN > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// assemble writes ps, size bytes in all, to key.
func (s *Store) assemble(ctx context.Context, key string, ps []piece, size int64) error {
	parts := plan(ps)
	if len(parts) == 0 || (len(parts) == 1 && size < minPart) {
		// Small blobs: one PUT is cheaper than a multipart upload's three
		// requests, and the bytes are few.
		data, err := s.readPieces(ctx, ps, size)
		if err != nil {
			return err
		}
		_, err = s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(data), ContentLength: aws.Int64(size)})
		if err != nil {
			return fmt.Errorf("s3: writing %s: %w", key, err)
		}
		return nil
	}
	mu, err := s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("s3: starting %s: %w", key, err)
	}
	done := false
	defer func() {
		if !done {
			s.c.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: mu.UploadId})
		}
	}()
	completed := make([]types.CompletedPart, len(parts))
	// The parts are independent requests, and on a real object store each
	// is a round trip and a copy another machine makes: run a few at once.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(parts))
	slots := make(chan struct{}, copyStreams)
	var wg sync.WaitGroup
	for i, part := range parts {
		slots <- struct{}{}
		if pctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			etag, err := s.fillPart(pctx, key, mu.UploadId, int32(i+1), part)
			completed[i] = types.CompletedPart{ETag: etag, PartNumber: aws.Int32(int32(i + 1))}
			if err != nil {
				errs[i] = err
				cancel() // the others are wasted work now
			}
		}()
	}
	wg.Wait()
	if err := firstErr(errs); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err = s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	if err != nil {
		return fmt.Errorf("s3: completing %s: %w", key, err)
	}
	done = true
	return nil
}

// firstErr returns the error that stopped the copies: the first that is
// not a cancellation it caused in the others.
func firstErr(errs []error) error {
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// copyStreams is how many parts Commit copies at once.
const copyStreams = 4

// fillPart writes part number num of multipart upload uploadID of key from
// pieces: a server-side copy when it is one piece, else through Silo.
func (s *Store) fillPart(ctx context.Context, key string, uploadID *string, num int32, part []piece) (*string, error) {
	if len(part) == 1 {
		p := part[0]
		out, err := s.c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: &s.bucket, Key: &key, UploadId: uploadID, PartNumber: aws.Int32(num),
			CopySource:      aws.String(s.bucket + "/" + p.key),
			CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", p.src, p.src+p.n-1)),
		})
		if err != nil {
			return nil, fmt.Errorf("s3: copying part %d of %s: %w", num, key, err)
		}
		return out.CopyPartResult.ETag, nil
	}
	var n int64
	for _, p := range part {
		n += p.n
	}
	data, err := s.readPieces(ctx, part, n)
	if err != nil {
		return nil, err
	}
	out, err := s.c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &s.bucket, Key: &key, UploadId: uploadID, PartNumber: aws.Int32(num),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(n),
	})
	if err != nil {
		return nil, fmt.Errorf("s3: writing part %d of %s: %w", num, key, err)
	}
	return out.ETag, nil
}

// whole reports whether ps, the trimmed content of an upload of size
// bytes, is one segment object from its first byte to its last, which
// Commit can copy as it is: one CopyObject instead of a multipart upload.
func whole(ps []piece, segs []segment, size int64) bool {
	if len(ps) != 1 || ps[0].src != 0 || ps[0].n != size || size > maxCopyPart {
		return false
	}
	for _, sg := range segs {
		if sg.key == ps[0].key {
			return sg.size == size
		}
	}
	return false
}

// copyWhole copies object src to key server-side.
func (s *Store) copyWhole(ctx context.Context, key, src string) error {
	_, err := s.c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: &key, CopySource: aws.String(s.bucket + "/" + src)})
	if err != nil {
		return fmt.Errorf("s3: copying %s to %s: %w", src, key, err)
	}
	return nil
}

// readPieces reads n bytes described by ps (n is at most a part) into memory.
func (s *Store) readPieces(ctx context.Context, ps []piece, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	shifted := make([]piece, len(ps))
	base := ps[0].dst
	for i, p := range ps {
		p.dst -= base
		shifted[i] = p
	}
	data := make([]byte, n)
	if _, err := s.newReader(ctx, shifted, n, time.Time{}).ReadAt(data, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return data, nil
}

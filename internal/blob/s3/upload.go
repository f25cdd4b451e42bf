package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/siloreg/silo/internal/blob"
)

var (
	uploadIDRE = regexp.MustCompile(`^[a-f0-9]{32}$`)
	segmentRE  = regexp.MustCompile(`^([a-f0-9]{16})-([a-f0-9]{24})$`)
)

// segment is one object of an upload: the bytes one WriteAt (or one
// presigned part PUT) stored at off.
type segment struct {
	key   string
	off   int64
	stamp string // fixed-width hex, so string order is time order
	size  int64
}

// uploadDir is where upload id's objects live. The marker is a sibling of
// the segments rather than their parent key, since file-backed S3 servers
// (versitygw posix, MinIO in FS mode) cannot hold both "a" and "a/b".
func (s *Store) uploadDir(id string) string { return s.prefix + "uploads/" + id + "/" }

func (s *Store) markerKey(id string) string { return s.uploadDir(id) + "marker" }

// segmentKey names a new segment of upload id at off. The stamp (nanoseconds,
// then random bits against collisions) makes a rewrite of a range win over
// what it replaces; nodes' clocks must agree to better than the time between
// a write and its retry, which NTP gives.
func (s *Store) segmentKey(id string, off int64) string {
	return fmt.Sprintf("%suploads/%s/%016x-%016x%08x", s.prefix, id, off, time.Now().UnixNano(), mrand.Uint32())
}

// NewUpload starts an upload: an empty marker object, so any node can tell
// the upload exists, and Uploads can date it.
func (s *Store) NewUpload(ctx context.Context) (string, error) {
	var b [16]byte
	if _, err := cryptoRead(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	_, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: aws.String(s.markerKey(id)), Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)})
	if err != nil {
		return "", fmt.Errorf("s3: starting upload: %w", err)
	}
	return id, nil
}

var cryptoRead = rand.Read

// checkUpload returns blob.ErrNotFound unless upload id exists. Ids are
// checked for shape first, so that no caller-supplied string reaches a key.
func (s *Store) checkUpload(ctx context.Context, id string) error {
	if !uploadIDRE.MatchString(id) {
		return blob.ErrNotFound
	}
	_, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.markerKey(id))})
	if err != nil {
		if notFound(err) {
			return blob.ErrNotFound
		}
		return fmt.Errorf("s3: upload %s: %w", id, err)
	}
	return nil
}

// bufs holds segment buffers between WriteAts, so that concurrent parts do
// not each allocate SegmentSize afresh.
var bufs sync.Pool

// WriteAt stores r at offset as segments of at most SegmentSize bytes. S3
// needs an object's length before its bytes, hence the buffer; what a
// failing body delivered before it failed is stored, so the caller can
// resume after the count returned.
func (s *Store) WriteAt(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	if offset < 0 {
		return 0, fmt.Errorf("s3: negative offset %d", offset)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.checkUpload(ctx, id); err != nil {
		return 0, err
	}
	bp, _ := bufs.Get().(*[]byte)
	if bp == nil || int64(len(*bp)) != s.segSz {
		b := make([]byte, s.segSz)
		bp = &b
	}
	defer bufs.Put(bp)
	buf := *bp
	var written int64
	for {
		n, rerr := fill(ctx, r, buf)
		if n > 0 && ctx.Err() == nil {
			key := s.segmentKey(id, offset+written)
			_, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n))})
			if err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return written, cerr
				}
				return written, fmt.Errorf("s3: writing upload %s at %d: %w", id, offset+written, err)
			}
			written += int64(n)
		}
		switch {
		case rerr == io.EOF:
			return written, nil
		case rerr != nil:
			return written, rerr
		}
	}
}

// fill reads r until buf is full, r ends (io.EOF) or fails, checking ctx
// between reads so that a cancelled request stops consuming its body.
func fill(ctx context.Context, r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := r.Read(buf[n:min(len(buf), n+1<<20)])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// segments lists upload id's segments; ok is false when its marker is gone.
func (s *Store) segments(ctx context.Context, id string) (segs []segment, ok bool, mod time.Time, err error) {
	marker := s.markerKey(id)
	err = s.list(ctx, s.uploadDir(id), func(o types.Object) error {
		key := aws.ToString(o.Key)
		if t := aws.ToTime(o.LastModified); t.After(mod) {
			mod = t
		}
		if key == marker {
			ok = true
			return nil
		}
		if seg, good := parseSegment(strings.TrimPrefix(key, s.uploadDir(id)), key, aws.ToInt64(o.Size)); good {
			segs = append(segs, seg)
		}
		return nil
	})
	return segs, ok, mod, err
}

func parseSegment(name, key string, size int64) (segment, bool) {
	m := segmentRE.FindStringSubmatch(name)
	if m == nil {
		return segment{}, false
	}
	off, err := strconv.ParseInt(m[1], 16, 64)
	if err != nil || off < 0 {
		return segment{}, false
	}
	return segment{key: key, off: off, stamp: m[2], size: size}, true
}

// overlay lays segments over each other oldest first, and returns the
// pieces that start at 0 and run without a gap, and where they end: the
// upload's readable content. Bytes after a gap are not part of it yet.
func overlay(segs []segment) ([]piece, int64) {
	sort.Slice(segs, func(i, j int) bool { return segs[i].stamp < segs[j].stamp })
	var ps []piece
	for _, sg := range segs {
		if sg.size == 0 {
			continue
		}
		a, b := sg.off, sg.off+sg.size
		kept := ps[:0:0]
		for _, p := range ps {
			if p.dst < a {
				kept = append(kept, piece{p.key, p.dst, p.src, min(p.n, a-p.dst)})
			}
			if end := p.dst + p.n; end > b {
				st := max(p.dst, b)
				kept = append(kept, piece{p.key, st, p.src + st - p.dst, end - st})
			}
		}
		ps = append(kept, piece{sg.key, a, 0, sg.size})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].dst < ps[j].dst })
	var end int64
	for i, p := range ps {
		if p.dst != end {
			return ps[:i], end
		}
		end += p.n
	}
	return ps, end
}

// trim cuts pieces down to the first size bytes.
func trim(ps []piece, size int64) []piece {
	var out []piece
	for _, p := range ps {
		if p.dst >= size {
			break
		}
		p.n = min(p.n, size-p.dst)
		out = append(out, p)
	}
	return out
}

// ReadUpload reads what upload id holds so far, from 0 to the first gap.
func (s *Store) ReadUpload(ctx context.Context, id string) (blob.Reader, error) {
	if !uploadIDRE.MatchString(id) {
		return nil, blob.ErrNotFound
	}
	segs, ok, mod, err := s.segments(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, blob.ErrNotFound
	}
	ps, end := overlay(segs)
	return s.newReader(ctx, ps, end, mod), nil
}

// Cancel deletes upload id's marker and segments.
func (s *Store) Cancel(ctx context.Context, id string) error {
	if !uploadIDRE.MatchString(id) {
		return nil
	}
	var keys []string
	err := s.list(ctx, s.uploadDir(id), func(o types.Object) error {
		if k := aws.ToString(o.Key); k != s.markerKey(id) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The marker goes last: if this is interrupted the upload is still
	// listed, and garbage collection cancels it again.
	return s.deleteKeys(ctx, append(keys, s.markerKey(id)))
}

// deleteKeys deletes keys, a thousand (S3's limit) per request.
func (s *Store) deleteKeys(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := s.c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &s.bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return fmt.Errorf("s3: deleting: %w", err)
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) != "NoSuchKey" {
				return fmt.Errorf("s3: deleting %s: %s", aws.ToString(e.Key), aws.ToString(e.Message))
			}
		}
		keys = keys[n:]
	}
	return nil
}

// Uploads lists unfinished uploads; an upload's time is its newest write.
// Segments whose marker is gone (a WriteAt racing a Cancel) are listed
// too, so that garbage collection cancels them.
func (s *Store) Uploads(ctx context.Context, fn func(blob.UploadInfo) error) error {
	type acc struct {
		segs []segment
		mod  time.Time
	}
	all := map[string]*acc{}
	root := s.prefix + "uploads/"
	err := s.list(ctx, root, func(o types.Object) error {
		key := aws.ToString(o.Key)
		id, rest, _ := strings.Cut(strings.TrimPrefix(key, root), "/")
		if !uploadIDRE.MatchString(id) {
			return nil
		}
		a := all[id]
		if a == nil {
			a = &acc{}
			all[id] = a
		}
		if t := aws.ToTime(o.LastModified); t.After(a.mod) {
			a.mod = t
		}
		if seg, ok := parseSegment(rest, key, aws.ToInt64(o.Size)); ok {
			a.segs = append(a.segs, seg)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, a := range all {
		_, end := overlay(a.segs)
		if err := fn(blob.UploadInfo{ID: id, Size: end, ModTime: a.mod}); err != nil {
			return err
		}
	}
	return nil
}

// errShort is wrapped by Commit when the upload lacks some declared bytes.
var errShort = errors.New("upload is shorter than its declared size")

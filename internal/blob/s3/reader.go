package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// piece maps bytes [dst, dst+n) of what a reader shows onto bytes
// [src, src+n) of object key. A blob is one piece; an upload is the
// newest-wins overlay of its segments.
type piece struct {
	key      string
	dst, src int64
	n        int64
}

// reader reads a sequence of pieces that covers [0, size) with ranged GETs.
// Read streams one GET per piece from the current position, so sequential
// reads cost one request each; ReadAt issues its own GETs and so is safe to
// call concurrently with other ReadAts, as io.ReaderAt requires.
type reader struct {
	ctx    context.Context
	s      *Store
	pieces []piece // sorted by dst, contiguous
	size   int64
	mod    time.Time

	pos     int64
	body    io.ReadCloser
	bodyPos int64 // position body is at, while body != nil
	bodyEnd int64 // where body's piece ends
}

func (s *Store) newReader(ctx context.Context, pieces []piece, size int64, mod time.Time) *reader {
	return &reader{ctx: ctx, s: s, pieces: pieces, size: size, mod: mod}
}

func (r *reader) Size() int64        { return r.size }
func (r *reader) ModTime() time.Time { return r.mod }

// find returns the index of the piece holding byte off.
func (r *reader) find(off int64) int {
	return sort.Search(len(r.pieces), func(i int) bool { return r.pieces[i].dst+r.pieces[i].n > off })
}

// get opens bytes [off, off+n) of the stream, which must lie in piece p.
func (r *reader) get(p piece, off, n int64) (io.ReadCloser, error) {
	from := p.src + off - p.dst
	out, err := r.s.c.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket: &r.s.bucket, Key: aws.String(p.key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", from, from+n-1)),
	})
	if err != nil {
		return nil, fmt.Errorf("s3: reading %s: %w", p.key, err)
	}
	return out.Body, nil
}

func (r *reader) Read(b []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if len(b) == 0 {
		return 0, nil
	}
	if r.body == nil || r.bodyPos != r.pos {
		r.closeBody()
		i := r.find(r.pos)
		if i == len(r.pieces) {
			return 0, io.ErrUnexpectedEOF
		}
		p := r.pieces[i]
		end := p.dst + p.n
		body, err := r.get(p, r.pos, end-r.pos)
		if err != nil {
			return 0, err
		}
		r.body, r.bodyPos, r.bodyEnd = body, r.pos, end
	}
	b = b[:min(int64(len(b)), r.bodyEnd-r.pos)]
	n, err := r.body.Read(b)
	r.pos += int64(n)
	r.bodyPos += int64(n)
	if err == io.EOF || r.bodyPos == r.bodyEnd {
		if r.bodyPos < r.bodyEnd {
			err = io.ErrUnexpectedEOF // The object is shorter than it said.
		} else {
			err = nil
		}
		r.closeBody()
	}
	return n, err
}

func (r *reader) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("s3: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := b[:min(int64(len(b)), r.size-off)]
	done := 0
	for done < len(want) {
		at := off + int64(done)
		i := r.find(at)
		if i == len(r.pieces) {
			return done, io.ErrUnexpectedEOF
		}
		p := r.pieces[i]
		n := min(int64(len(want)-done), p.dst+p.n-at)
		body, err := r.get(p, at, n)
		if err != nil {
			return done, err
		}
		m, err := io.ReadFull(body, want[done:done+int(n)])
		body.Close()
		done += m
		if err != nil {
			return done, fmt.Errorf("s3: reading %s: %w", p.key, err)
		}
	}
	if len(want) < len(b) {
		return done, io.EOF
	}
	return done, nil
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	case io.SeekStart:
	default:
		return 0, errors.New("s3: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("s3: negative position")
	}
	r.pos = offset // A stream at another position is dropped at the next Read.
	return offset, nil
}

func (r *reader) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

func (r *reader) Close() error {
	r.closeBody()
	return nil
}

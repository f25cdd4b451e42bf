package registry

import (
	"context"
	"io"
	"sync"
)

// Reading an upload back to hash it (its parts arrived where Silo did not
// see them in order: presigned S3 part URLs, or parts out of sequence).
// Hashing is sequential, but from an object store a single stream is slow
// and small reads are slower still (every ReadAt of an S3 upload is a GET),
// so the bytes come in large chunks, several in flight, and are hashed in
// order as they arrive.
const (
	readBackChunk   = 16 << 20
	readBackStreams = 4
)

// hashBack writes bytes [from, from+n) of rd to w in order, reading ahead
// with up to readBackStreams concurrent ReadAts of readBackChunk bytes. It
// returns how many bytes reached w; fewer than n only with an error.
func hashBack(ctx context.Context, w io.Writer, rd io.ReaderAt, from, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	type chunk struct {
		buf  []byte
		err  error
		done chan struct{}
	}
	pool := sync.Pool{New: func() any { b := make([]byte, readBackChunk); return &b }}
	count := int((n + readBackChunk - 1) / readBackChunk)
	chunks := make([]*chunk, count)
	for i := range chunks {
		chunks[i] = &chunk{done: make(chan struct{})}
	}
	slots := make(chan struct{}, readBackStreams)
	// The feeder counts in wg too, so that its Adds for the readers it
	// starts never race a Wait on a zero counter; on return the feeder is
	// stopped first, then the reads still in flight are waited for.
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Start chunks in order, each when a slot frees; a slot is given
		// back once its chunk has been hashed, so memory stays bounded.
		for i := range chunks {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				for j := i; j < count; j++ {
					chunks[j].err = ctx.Err()
					close(chunks[j].done)
				}
				return
			}
			c := chunks[i]
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer close(c.done)
				off := from + int64(i)*readBackChunk
				size := min(readBackChunk, from+n-off)
				bp := pool.Get().(*[]byte)
				c.buf = (*bp)[:size]
				m, err := rd.ReadAt(c.buf, off)
				if m == int(size) {
					err = nil // io.EOF with a full read is no error
				} else if err == nil {
					err = io.ErrUnexpectedEOF
				}
				c.buf, c.err = c.buf[:m], err
			}(i)
		}
	}()
	var total int64
	for i := range chunks {
		c := chunks[i]
		select {
		case <-c.done:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if c.buf != nil {
			m, err := w.Write(c.buf)
			total += int64(m)
			b := c.buf[:cap(c.buf)]
			pool.Put(&b)
			c.buf = nil
			if err != nil {
				return total, err
			}
		}
		if c.err != nil {
			if c.err == io.EOF || c.err == io.ErrUnexpectedEOF {
				return total, nil // a short upload: the caller reports it
			}
			return total, c.err
		}
		<-slots
	}
	return total, nil
}

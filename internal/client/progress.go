package client

import (
	"fmt"
	"io"
	"sync"
	"time"

	lc "github.com/apptainer/container-library-client/client"
	"github.com/schollz/progressbar/v3"
)

// The library client reports transfer progress through two interfaces of
// its own (UploadCallback for push, ProgressBar for pull); these adapters
// drive one schollz/progressbar from them. They exist only when the client
// has somewhere to draw: with Config.Progress nil, push and pull pass the
// library client nothing and not a byte of bar output is produced.

func newBar(w io.Writer, size int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		// The bar redraws its line with \r; end it so the result line that
		// follows starts on a line of its own.
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// uploadBar is an lc.UploadCallback: it counts the bytes the library
// client reads for the upload. The client hashes parts straight from the
// file, so only bytes actually sent move the bar.
type uploadBar struct {
	w    io.Writer
	desc string

	mu   sync.Mutex
	bar  *progressbar.ProgressBar
	r    io.Reader
	done bool
}

var _ lc.UploadCallback = (*uploadBar)(nil)

// InitUpload starts the bar for an upload of size bytes read from r.
func (u *uploadBar) InitUpload(size int64, r io.Reader) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bar = newBar(u.w, size, u.desc)
	u.r = io.TeeReader(r, u.bar)
}

// GetReader returns the counting reader.
func (u *uploadBar) GetReader() io.Reader {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.r
}

// Terminate stops the bar where it is, for a failed upload.
func (u *uploadBar) Terminate() { u.end(false) }

// Finish completes the bar. The library client calls it twice on some
// paths (after the PUT and after completing the upload), so it is idempotent.
func (u *uploadBar) Finish() { u.end(true) }

func (u *uploadBar) end(ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bar == nil || u.done {
		return
	}
	u.done = true
	if ok {
		_ = u.bar.Finish()
	} else if !u.bar.IsFinished() {
		_ = u.bar.Exit() // also ends the line, through OnCompletion
	}
}

// downloadBar is an lc.ProgressBar. The concurrent downloader calls IncrBy
// and Abort from several workers at once.
type downloadBar struct {
	w    io.Writer
	desc string

	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	aborted bool
}

var _ lc.ProgressBar = (*downloadBar)(nil)

// Init starts the bar for size bytes.
func (d *downloadBar) Init(size int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bar = newBar(d.w, size, d.desc)
}

// ProxyReader counts bytes read from r (single-stream downloads).
func (d *downloadBar) ProxyReader(r io.Reader) io.ReadCloser {
	return io.NopCloser(io.TeeReader(r, writerFunc(func(p []byte) (int, error) {
		d.IncrBy(len(p))
		return len(p), nil
	})))
}

// IncrBy adds n downloaded bytes.
func (d *downloadBar) IncrBy(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar != nil && !d.aborted {
		_ = d.bar.Add(n)
	}
}

// Abort stops the bar where it is; every failing worker calls it.
func (d *downloadBar) Abort(bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar != nil && !d.aborted {
		d.aborted = true
		if !d.bar.IsFinished() {
			_ = d.bar.Exit() // also ends the line, through OnCompletion
		}
	}
}

// Wait completes the bar unless the download was aborted.
func (d *downloadBar) Wait() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar != nil && !d.aborted && !d.bar.IsFinished() {
		_ = d.bar.Finish()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

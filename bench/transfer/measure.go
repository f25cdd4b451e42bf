package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	aclient "github.com/apptainer/container-library-client/client"
)

// copyTimes is the cp baseline: the copy alone (which may end with the
// bytes still in the page cache) and the copy followed by an fsync of the
// copy, which is what the server does before it acknowledges a push.
type copyTimes struct{ cp, cpSync time.Duration }

// measureCopy copies src to dst with cp(1) and then syncs dst with
// sync(1), which fsyncs just the files it is given.
func measureCopy(ctx context.Context, src, dst string) (copyTimes, error) {
	defer os.Remove(dst)
	settle(ctx)
	t0 := time.Now()
	if out, err := exec.CommandContext(ctx, "cp", src, dst).CombinedOutput(); err != nil {
		return copyTimes{}, fmt.Errorf("cp: %v: %s", err, out)
	}
	t1 := time.Now()
	if out, err := exec.CommandContext(ctx, "sync", dst).CombinedOutput(); err != nil {
		return copyTimes{}, fmt.Errorf("sync: %v: %s", err, out)
	}
	t2 := time.Now()
	return copyTimes{cp: t1.Sub(t0), cpSync: t2.Sub(t0)}, nil
}

// quietLimit is how long settle waits for the machine to go quiet; unquiet
// counts the measurements that started without it, to flag them. cooldown
// is settle's fixed pause.
var (
	quietLimit time.Duration
	unquiet    int
	cooldown   time.Duration
)

// settle prepares a measurement so that every one starts from the same
// state: earlier writes are flushed, so their writeback does not slow this
// one; memory freed by the previous step (a deleted file's page cache) is
// given time to go cold; and other work on the machine to finish.
//
// The pause matters on a VM whose balloon driver hands freed memory back
// to the host after a few seconds (free page reporting): writing a file
// into such memory costs about a second per GiB more than into memory freed
// a moment before, so without it whichever measurement happens to follow a
// delete wins by a factor of four. The pause narrows that effect but cannot
// remove it, since the host's own state varies from run to run; on other
// machines it only costs time.
func settle(ctx context.Context) {
	syscall.Sync()
	select {
	case <-ctx.Done():
	case <-time.After(cooldown):
	}
	if !waitQuiet(ctx, quietLimit) {
		unquiet++
	}
}

// call is one HTTP exchange the library client made.
type call struct {
	method, path string
	start, end   time.Time
}

// tracer records every request of a client, so one UploadImage call can be
// split into the client's hashing, the upload proper and the server's share
// of it.
type tracer struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	calls []call
}

// RoundTrip ends the call when the response headers arrive. For an upload
// PUT that is after the server has read, hashed and written the whole body;
// for the completion call, after it has verified and fsynced the image.
func (t *tracer) RoundTrip(r *http.Request) (*http.Response, error) {
	c := call{method: r.Method, path: r.URL.Path, start: time.Now()}
	resp, err := t.rt.RoundTrip(r)
	c.end = time.Now()
	t.mu.Lock()
	t.calls = append(t.calls, c)
	t.mu.Unlock()
	return resp, err
}

// pushTimes splits one push.
type pushTimes struct {
	total  time.Duration // the whole UploadImage call
	hash   time.Duration // client-side md5+sha256 of the file before the first request
	upload time.Duration // first upload PUT to the end of the completion call
	busy   time.Duration // time inside requests during upload: excludes the client's per-part hashing between them
	cpu    time.Duration // this process's CPU (the client's) during the call
	parts  int
}

// pushImage uploads path as name with the real library client.
func pushImage(ctx context.Context, baseURL, token, path, name string) (pushTimes, error) {
	tr := &tracer{rt: http.DefaultTransport.(*http.Transport).Clone()}
	defer tr.rt.(*http.Transport).CloseIdleConnections()
	c, err := aclient.NewClient(&aclient.Config{BaseURL: baseURL, AuthToken: token, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		return pushTimes{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return pushTimes{}, err
	}
	defer f.Close()
	settle(ctx)
	cpu0 := selfCPU()
	t0 := time.Now()
	_, err = c.UploadImage(ctx, f, name, "amd64", []string{"latest"}, "transfer benchmark", nil)
	total := time.Since(t0)
	if err != nil {
		return pushTimes{}, fmt.Errorf("push: %w", err)
	}
	pt := pushTimes{total: total, cpu: selfCPU() - cpu0}
	if len(tr.calls) > 0 {
		pt.hash = tr.calls[0].start.Sub(t0)
	}
	first := -1
	for i, k := range tr.calls {
		if k.method == http.MethodPut && strings.HasPrefix(k.path, "/v2/upload/") {
			pt.parts++
			if first < 0 {
				first = i
			}
		}
		if first >= 0 {
			pt.busy += k.end.Sub(k.start)
		}
		if first >= 0 && k.method == http.MethodPut && (strings.HasSuffix(k.path, "/_multipart_complete") || strings.HasSuffix(k.path, "/_complete")) {
			pt.upload = k.end.Sub(tr.calls[first].start)
			return pt, nil
		}
	}
	return pt, fmt.Errorf("push: no upload PUT followed by a completion call among %d requests", len(tr.calls))
}

// pullImage downloads name with ConcurrentDownloadImage into dst. The file
// is closed but not fsynced: apptainer does not fsync a pull either, and
// the static-file baseline is written the same way.
func pullImage(ctx context.Context, baseURL, token, name, dst string, want int64, conc uint, partSize int64) (time.Duration, error) {
	defer os.Remove(dst)
	t := http.DefaultTransport.(*http.Transport).Clone()
	defer t.CloseIdleConnections()
	c, err := aclient.NewClient(&aclient.Config{BaseURL: baseURL, AuthToken: token, HTTPClient: &http.Client{Transport: t}})
	if err != nil {
		return 0, err
	}
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	settle(ctx)
	t0 := time.Now()
	err = c.ConcurrentDownloadImage(ctx, f, "amd64", name, "latest", &aclient.Downloader{Concurrency: conc, PartSize: partSize}, nil)
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("pull: %w", err)
	}
	return d, checkSize(f, want)
}

// staticGet fetches url with a plain http.Get into dst, written the same
// way the library client writes (io.Copy into the file, no fsync).
func staticGet(ctx context.Context, url, dst string, want int64) (time.Duration, error) {
	defer os.Remove(dst)
	t := http.DefaultTransport.(*http.Transport).Clone()
	defer t.CloseIdleConnections()
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	settle(ctx)
	t0 := time.Now()
	resp, err := (&http.Client{Transport: t}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("static GET: %s", resp.Status)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		return 0, fmt.Errorf("static GET: %w", err)
	}
	d := time.Since(t0)
	return d, checkSize(f, want)
}

// rangedGet fetches url the way ConcurrentDownloadImage fetches a blob:
// conc workers, each taking the next part-sized Range and copying it into
// dst at its offset, over a transport with Go's default idle-connection
// limit as the library client's http.DefaultClient has. Against the static
// server it shows what that access pattern costs without Silo in the way.
func rangedGet(ctx context.Context, url, dst string, n int64, conc int, part int64) (time.Duration, error) {
	defer os.Remove(dst)
	t := http.DefaultTransport.(*http.Transport).Clone()
	defer t.CloseIdleConnections()
	hc := &http.Client{Transport: t}
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	settle(ctx)
	t0 := time.Now()
	offsets := make(chan int64, (n+part-1)/part)
	for off := int64(0); off < n; off += part {
		offsets <- off
	}
	close(offsets)
	errs := make([]error, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for off := range offsets {
				if errs[w] = getRange(ctx, hc, url, f, off, min(part, n-off)); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("ranged GET: %w", err)
	}
	return d, checkSize(f, n)
}

func getRange(ctx context.Context, hc *http.Client, url string, f *os.File, off, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+size-1))
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return errors.New(resp.Status)
	}
	got, err := io.Copy(io.NewOffsetWriter(f, off), resp.Body)
	if err == nil && got != size {
		err = fmt.Errorf("range at %d: got %d bytes, want %d", off, got, size)
	}
	return err
}

// checkSize guards against timing a transfer that silently fell short.
func checkSize(f *os.File, want int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != want {
		return fmt.Errorf("%s: got %d bytes, want %d", f.Name(), fi.Size(), want)
	}
	return nil
}

// selfCPU is the user+system CPU this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

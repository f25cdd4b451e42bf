package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Chromium: Debian's /usr/bin/chromium (what .ci/run
// installs), or one named by SILO_CHROMIUM. Without it the browser tests
// skip loudly, and fail under CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SILO_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium is not installed (apt-get install chromium, or set SILO_CHROMIUM): the web interface's browser tests are NOT run"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: browser tests must not be skipped)", msg)
	}
	t.Skip("SKIPPED: " + msg)
	return ""
}

// browserProcess starts one headless Chromium for the test and returns a
// context for opening isolated browser contexts (each with its own
// cookies) in it.
func browserProcess(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// Without these Chromium reaches for Google's services, which a
		// closed network refuses, and its own connections suffer.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	// Start the browser now, so a broken install fails here and clearly.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium (%s): %v", exe, err)
	}
	return bctx
}

// browser is one person's browser: its own cookies, on one server.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	name string // for screenshot files
}

func newBrowser(t *testing.T, proc context.Context, base, name string) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(proc, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, base: base, name: name}
}

// do runs actions with a timeout, failing the test on error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %s: %v (at %s)", b.name, what, err, b.location())
	}
}

func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
	return v
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// open loads a path on the server.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// text is the visible text of the first element sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return run(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// has reports whether sel matches anything on the page now.
func (b *browser) has(sel string) bool {
	b.t.Helper()
	return run(b, "looking for "+sel, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`))
}

// submit clicks sel (a submit button) and waits for the page it leads to.
func (b *browser) submit(sel string) {
	b.t.Helper()
	run(b, "mark the page", chromedp.Evaluate[bool](`window.__siloOld = true`))
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	// Polled from here rather than with chromedp.Poll, which the
	// navigation it waits for would interrupt.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__siloOld === undefined && document.readyState === "complete"`))
		cancel()
		if err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: no new page after clicking %s (last error: %v)", b.name, sel, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fill types into the input sel, replacing what is there.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.do("fill "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

// login logs in through the form.
func (b *browser) login(user, password string) {
	b.t.Helper()
	b.open("/login")
	b.fill(`input[name=username]`, user)
	b.fill(`input[name=password]`, password)
	b.submit(`form[action="/login"] button[type=submit]`)
	if got := b.text("header .who span"); got != user {
		b.t.Fatalf("%s: after logging in as %s the header says %q; page: %s", b.name, user, got, b.text("main"))
	}
}

// shot saves a screenshot of the whole page as <artifacts>/<name>.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	png := run(b, "screenshot", chromedp.FullScreenshot(100))
	dir := artifacts(b.t)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// phone switches to a phone-sized viewport (true) or back.
func (b *browser) phone(on bool) {
	b.t.Helper()
	if on {
		b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	} else {
		b.do("laptop viewport", chromedp.EmulateViewport(1280, 900))
	}
}

// artifacts is where screenshots go: $SILO_TEST_ARTIFACTS, else the
// test's temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("SILO_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

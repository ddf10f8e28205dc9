package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNoChromium: the machine has no Chromium to drive.
var ErrNoChromium = errors.New("no Chromium: install Debian's chromium package, or set REFBOT_CHROMIUM to the browser's path")

// Timeouts of the Browser's calls: a page that does not load, or an
// element that never appears, fails the test instead of hanging it.
const (
	chromiumStart = 60 * time.Second
	chromiumLoad  = 30 * time.Second
	chromiumStep  = 15 * time.Second
)

// Browser is a headless Chromium with one tab, for tests that look at
// refbot's pages as a person does. Its methods fail the test on an error
// (Open returns it, for tests of pages that must not load); each is
// bounded by a timeout.
type Browser struct {
	t testing.TB
	// tab is chromedp's handle of the tab: chromedp carries its browser
	// and target in a context, so the Browser keeps it for the test's
	// life (it ends at the test's cleanup).
	tab context.Context

	mu      sync.Mutex
	errs    []string // console errors and uncaught exceptions, in order
	markers int      // sync markers seen (see Console)
	seen    *sync.Cond
}

// Chromium starts a headless Chromium for t ($REFBOT_CHROMIUM, else
// /usr/bin/chromium) with a fresh profile in t's TempDir, and kills it at
// t's cleanup. A machine without Chromium skips the test, saying so,
// except in CI (CI set), where every test must run.
func Chromium(t testing.TB) *Browser {
	t.Helper()
	path := os.Getenv("REFBOT_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("Chromium: %v (%s: %v)", ErrNoChromium, path, err)
		}
		t.Fatalf("Chromium: %v (%s: %v)", ErrNoChromium, path, err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
		chromedp.WindowSize(1280, 900),
	)
	tab, cancelTab := chromedp.NewContext(alloc)
	b := &Browser{t: t, tab: tab}
	b.seen = sync.NewCond(&b.mu)
	done := make(chan struct{})
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills the browser and waits for it
		<-done
	})

	// Start the browser and its tab now, so that a browser that cannot
	// start fails here, and subscribe to the console before any page. The
	// first action's context becomes the browser's own (chromedp), so its
	// time limit is a timer that ends the tab, not a derived context.
	timer := time.AfterFunc(chromiumStart, cancelTab)
	err := chromedp.Do(tab, chromedp.Navigate("about:blank"))
	timer.Stop()
	if err != nil {
		close(done)
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	messages := chromedp.Console(tab)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				break
			}
			b.mu.Lock()
			switch {
			case m.Type == chromedp.ConsoleDebug && m.Text == consoleMarker:
				b.markers++
			case m.Type == chromedp.ConsoleError || m.IsException():
				where := m.URL
				if where != "" {
					where += ":" + strconv.FormatInt(m.Line+1, 10) + ": "
				}
				b.errs = append(b.errs, where+m.Text)
			}
			b.seen.Broadcast()
			b.mu.Unlock()
		}
		b.mu.Lock()
		b.markers = -1 // the tab is gone: nobody waits for a marker
		b.seen.Broadcast()
		b.mu.Unlock()
	}()
	return b
}

// consoleMarker is what Console writes to the console to know it has read
// every message before it.
const consoleMarker = "refbot-testenv-console-sync"

// step runs actions with the step timeout.
func (b *Browser) step(d time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.tab, d)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Open navigates the tab to url and waits for the page to load.
func (b *Browser) Open(url string) error {
	if err := b.step(chromiumLoad, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("open %s: %w", url, err)
	}
	return nil
}

// Text returns the visible text of the first element matching the CSS
// selector sel, waiting for it to appear.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, chromiumStep)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return text
}

// Click clicks the first element matching the CSS selector sel, waiting
// for it to be visible. A click that loads another page returns before it
// loaded: read the new page with Text, which waits.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	if err := b.step(chromiumStep, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
}

// Eval runs the JavaScript expression js in the page (a promise is
// awaited) and decodes its JSON value into out (nil: the value is
// dropped).
func (b *Browser) Eval(js string, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, chromiumStep)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("eval %q: %v", js, err)
	}
	if out == nil {
		return
	}
	if err := json.Unmarshal(raw, out); err != nil {
		b.t.Fatalf("eval %q: decode %s: %v", js, raw, err)
	}
}

// Screenshot saves a PNG of the whole page as name.png in the test's
// artifact folder (go test -artifacts keeps it; see testing.T.ArtifactDir).
func (b *Browser) Screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, chromiumStep)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	type artifacts interface{ ArtifactDir() string }
	a, ok := b.t.(artifacts)
	if !ok {
		b.t.Fatalf("screenshot %s: %T has no artifact folder", name, b.t)
	}
	file := filepath.Join(a.ArtifactDir(), name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.t.Logf("screenshot %s", file)
}

// Console returns the console errors and uncaught exceptions the tab has
// seen so far, failed loads (a missing image, a 404 script) among them.
// It first writes a marker to the console and waits for it to come back,
// so every message before it is in the answer.
func (b *Browser) Console() []string {
	b.t.Helper()
	b.mu.Lock()
	want := b.markers + 1
	b.mu.Unlock()
	if err := b.step(chromiumStep, chromedp.Evaluate[chromedp.Void](`console.debug("`+consoleMarker+`")`)); err != nil {
		b.t.Fatalf("console: %v", err)
	}
	ctx, cancel := context.WithTimeout(b.tab, chromiumStep)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.seen.Broadcast()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.markers >= 0 && b.markers < want && ctx.Err() == nil {
		b.seen.Wait()
	}
	if b.markers < want {
		b.t.Fatalf("console: the tab's messages did not arrive: %v", ctx.Err())
	}
	return append([]string(nil), b.errs...)
}

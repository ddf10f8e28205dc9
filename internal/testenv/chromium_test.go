package testenv

import (
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestChromium: the browser opens a page, reads and clicks its elements,
// evaluates script, saves a screenshot, and reports the page's console
// errors, uncaught exceptions and failed loads, each once, in order.
func TestChromium(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html><head><link rel="icon" href="data:,"><title>t</title></head><body>
<p id="p">hello <b>there</b></p>
<button id="b" onclick="document.getElementById('p').textContent = 'clicked'">go</button>
<a id="bad" href="#" onclick="console.error('oops'); setTimeout(() => { throw new Error('boom') }); return false">bad</a>
<a id="img" href="#" onclick="let i = new Image(); i.src = '/missing.png'; return false">img</a>
</body></html>`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b := Chromium(t)
	if err := b.Open(srv.URL + "/"); err != nil {
		t.Fatal(err)
	}
	if got := b.Text("#p"); got != "hello there" {
		t.Errorf("Text = %q", got)
	}
	if errs := b.Console(); len(errs) != 0 {
		t.Errorf("console errors of a clean page: %q", errs)
	}
	b.Click("#b")
	var text string
	b.Eval(`document.getElementById("p").textContent`, &text)
	if text != "clicked" {
		t.Errorf("after the click: %q", text)
	}
	var sum int
	b.Eval(`Promise.resolve(1 + 2)`, &sum)
	if sum != 3 {
		t.Errorf("Eval awaited %d, want 3", sum)
	}

	b.Click("#bad")
	b.Eval(`new Promise(r => setTimeout(r))`, nil) // the throw has happened
	b.Click("#img")
	b.Eval(`new Promise(r => { let i = new Image(); i.onerror = r; i.src = "/missing2.png" })`, nil)
	errs := b.Console()
	want := []string{"oops", "boom", "missing.png", "missing2.png"}
	if len(errs) != len(want) {
		t.Errorf("console errors %q, want one each of %q", errs, want)
	}
	for _, w := range want {
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, w) }) {
			t.Errorf("console errors %q lack %q", errs, w)
		}
	}

	b.Screenshot("page")
	f, err := os.Open(filepath.Join(t.ArtifactDir(), "page.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() == 0 {
		t.Errorf("screenshot: %v", err)
	}

	if err := b.Open("http://127.0.0.1:1/"); err == nil {
		t.Error("opening a closed port did not fail")
	}
}

package pages

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refbot/refbot/bot/review"
	"github.com/refbot/refbot/internal/imgdiff"
	"github.com/refbot/refbot/internal/testenv"
)

// plotPNG is a 64×48 picture; square, when set, paints a 10×10 square at
// (20, 10) red: 100 of its 3072 pixels.
func plotPNG(t *testing.T, square bool, level png.CompressionLevel) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.NRGBA{R: uint8(x * 4), G: uint8(y * 5), B: 200, A: 255})
		}
	}
	if square {
		for y := 10; y < 20; y++ {
			for x := 20; x < 30; x++ {
				img.Set(x, y, color.NRGBA{R: 255, A: 255})
			}
		}
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: level}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// evilSVG tries to script the page that shows it.
const evilSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="teal"/>` +
	`<script>document.title = "pwned"</script></svg>`

// compareImages is the difference refbot computes of two images.
func compareImages(t *testing.T, old, new []byte) *review.ImageDiff {
	t.Helper()
	o, err := imgdiff.Decode(old, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := imgdiff.Decode(new, 0)
	if err != nil {
		t.Fatal(err)
	}
	res := imgdiff.Compare(o, n)
	d := &review.ImageDiff{OldWidth: res.OldWidth, OldHeight: res.OldHeight, NewWidth: res.NewWidth, NewHeight: res.NewHeight,
		Changed: res.Changed, Total: res.Total, Share: res.Share, Identical: res.Identical}
	if !res.Identical {
		if d.PNG, err = imgdiff.EncodePNG(res.Diff); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestReviewInChromium(t *testing.T) {
	b := testenv.Chromium(t)
	old := plotPNG(t, false, png.DefaultCompression)
	changedPNG, samePNG := changed("p/changed.png", review.KindImage), changed("p/same.png", review.KindImage)
	svg, text := added("p/evil.svg", review.KindImage), changed("t/notes.txt", review.KindText)
	r := &fakeReviewer{reviews: map[review.Against]*review.Review{review.AgainstBranch: newReview(changedPNG, samePNG, svg, text)},
		old: map[string][]byte{}, new: map[string][]byte{}, diffs: map[string]*review.ImageDiff{}}
	set := func(f review.File, old, new []byte) {
		if old != nil {
			r.old[f.Old] = old
		}
		r.new[f.Path] = new
	}
	set(changedPNG, old, plotPNG(t, true, png.DefaultCompression))
	// The same pixels, other bytes.
	set(samePNG, old, plotPNG(t, false, png.NoCompression))
	if bytes.Equal(r.new["p/same.png"], old) {
		t.Fatal("the re-encoded PNG has the same bytes")
	}
	set(svg, nil, []byte(evilSVG))
	set(text, []byte("alpha\nbeta\n"), []byte("alpha\ngamma\n"))
	for _, f := range []review.File{changedPNG, samePNG} {
		r.diffs[f.Path] = compareImages(t, r.old[f.Old], r.new[f.Path])
	}
	srv := httptest.NewServer(reviewPages(r, ""))
	t.Cleanup(srv.Close)

	if err := b.Open(srv.URL + "/pr/12"); err != nil {
		t.Fatal(err)
	}
	if got := b.Text("#review h2"); !strings.Contains(got, "Review") {
		t.Errorf("review heading %q", got)
	}
	// Load every image of the page (they load lazily, as they scroll in)
	// and report each one's width.
	var widths map[string]int
	b.Eval(`(async () => {
		const out = {};
		for (const img of document.querySelectorAll('#review img')) {
			img.loading = 'eager';
			if (!img.complete) await new Promise(r => { img.onload = img.onerror = r; });
			const path = img.closest('[data-path]').dataset.path;
			out[path + ' ' + img.className + ' ' + img.alt.split(' ')[0]] = img.naturalWidth;
		}
		return out;
	})()`, &widths)
	for _, want := range []string{"p/changed.png rv-diff difference", "p/changed.png  old", "p/changed.png  new",
		"p/changed.png rv-old old", "p/changed.png rv-new new", "p/same.png  old", "p/same.png  new", "p/evil.svg  new"} {
		if widths[want] == 0 {
			t.Errorf("image %q not shown (naturalWidth 0); widths: %v", want, widths)
		}
	}
	if _, ok := widths["p/same.png rv-diff difference"]; ok {
		t.Error("an identical-looking image has a difference image")
	}
	if got := b.Text(`[data-path="p/changed.png"] .rv-share`); !strings.HasPrefix(got, "3.26 % of pixels changed (100 of 3072") {
		t.Errorf("share of the changed PNG: %q", got)
	}
	if got := b.Text(`[data-path="p/same.png"] .rv-identical`); !strings.Contains(got, "Looks identical (bytes differ)") {
		t.Errorf("identical-looking PNG: %q", got)
	}
	var noShare bool
	b.Eval(`document.querySelector('[data-path="p/same.png"] .rv-share') === null`, &noShare)
	if !noShare {
		t.Error("an identical-looking PNG has a share of changed pixels")
	}

	// The slider wipes: the new image is clipped left of its value.
	clip := func() string {
		var s string
		b.Eval(`getComputedStyle(document.querySelector('[data-path="p/changed.png"] .rv-new')).clipPath`, &s)
		return s
	}
	if got := clip(); got != "inset(0px 0px 0px 50%)" {
		t.Errorf("clip at first: %q", got)
	}
	b.Eval(`(() => { const s = document.querySelector('[data-path="p/changed.png"] .rv-slider');
		s.value = 20; s.dispatchEvent(new Event('input', {bubbles: true})); })()`, nil)
	if got := clip(); got != "inset(0px 0px 0px 20%)" {
		t.Errorf("clip after sliding to 20: %q", got)
	}
	b.Screenshot("review-slider")
	// The toggle shows all of the old image, then all of the new.
	toggle := `[data-path="p/changed.png"] .rv-toggle`
	b.Click(toggle)
	if got, text := clip(), b.Text(toggle); got != "inset(0px 0px 0px 100%)" || !strings.HasPrefix(text, "showing old") {
		t.Errorf("after the toggle: clip %q, button %q", got, text)
	}
	b.Click(toggle)
	if got, text := clip(), b.Text(toggle); got != "inset(0px 0px 0px 0%)" || !strings.HasPrefix(text, "showing new") {
		t.Errorf("after the toggle again: clip %q, button %q", got, text)
	}

	// The copy box holds the exact command, and its button copies it.
	var command string
	b.Eval(`document.getElementById('rv-command').value`, &command)
	if command != "BUILDBOT: UPDATE "+reviewHead {
		t.Errorf("copy box: %q", command)
	}
	b.Click(".rv-copy-button")
	var copied string
	b.Eval(`new Promise(r => {
		const b = document.querySelector('.rv-copy-button');
		if (b.textContent === 'Copied') return r(b.textContent);
		new MutationObserver(() => r(b.textContent)).observe(b, {childList: true});
	})`, &copied)
	if copied != "Copied" {
		t.Errorf("copy button says %q", copied)
	}
	b.Screenshot("review")
	if errs := b.Console(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}

	// An SVG opened directly runs nothing: the CSP's sandbox. The same
	// SVG served without it does run, so the check can fail.
	open := func(url string) string {
		if err := b.Open(url); err != nil {
			t.Fatal(err)
		}
		var title string
		b.Eval(`document.title`, &title)
		return title
	}
	if title := open(srv.URL + "/pr/12/new/1001/p/evil.svg"); title == "pwned" {
		t.Error("an SVG of the build ran its script in refbot's origin")
	}
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		fmt.Fprint(w, evilSVG)
	}))
	t.Cleanup(bare.Close)
	if title := open(bare.URL + "/evil.svg"); title != "pwned" {
		t.Errorf("the SVG without refbot's headers did not run its script (title %q): the check above proves nothing", title)
	}
}

package imgdiff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"
)

// plot draws a picture like a plotting library's output: a gradient, a
// few opaque bars and a half-transparent band.
func plot(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: 128, A: 255}
			if x%17 < 5 && y > h/3 {
				c = color.NRGBA{R: 30, G: 60, B: 200, A: 255}
			}
			if y%11 == 0 {
				c.A = 100
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image, level png.CompressionLevel) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: level}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngChunk is one PNG chunk: length, type, data, CRC of type and data.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// withText inserts a tEXt chunk after a PNG's IHDR (8 bytes of signature,
// then IHDR's 4+4+13+4).
func withText(p []byte, key, value string) []byte {
	const afterIHDR = 8 + 25
	out := append([]byte{}, p[:afterIHDR]...)
	out = append(out, pngChunk("tEXt", []byte(key+"\x00"+value))...)
	return append(out, p[afterIHDR:]...)
}

func decode(t testing.TB, data []byte) image.Image {
	t.Helper()
	img, err := Decode(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestCompareChangedPNG(t *testing.T) {
	old := plot(120, 90)
	changedAt := []image.Point{{0, 0}, {5, 7}, {119, 89}, {60, 44}, {61, 44}, {33, 11}}
	new := image.NewNRGBA(old.Rect)
	copy(new.Pix, old.Pix)
	for _, p := range changedAt {
		c := new.NRGBAAt(p.X, p.Y)
		c.R ^= 0x01 // the smallest change there is
		new.SetNRGBA(p.X, p.Y, c)
	}
	// Fully transparent pixels of different colours are the same pixel.
	old.SetNRGBA(10, 50, color.NRGBA{R: 1, G: 2, B: 3, A: 0})
	new.SetNRGBA(10, 50, color.NRGBA{R: 200, G: 100, B: 0, A: 0})

	r := Compare(decode(t, encodePNG(t, old, png.DefaultCompression)), decode(t, encodePNG(t, new, png.DefaultCompression)))
	if r.Changed != len(changedAt) || r.Total != 120*90 || r.Identical || r.SizeChanged {
		t.Fatalf("Changed %d of %d, identical %v, size changed %v; want %d of %d, different, same size",
			r.Changed, r.Total, r.Identical, r.SizeChanged, len(changedAt), 120*90)
	}
	if want := float64(len(changedAt)) / (120 * 90); r.Share != want {
		t.Errorf("Share %v, want %v", r.Share, want)
	}
	if r.Diff.Rect != old.Rect {
		t.Fatalf("diff image %v, want %v", r.Diff.Rect, old.Rect)
	}
	changed := map[image.Point]bool{}
	for _, p := range changedAt {
		changed[p] = true
	}
	for y := range 90 {
		for x := range 120 {
			got := r.Diff.NRGBAAt(x, y)
			if changed[image.Pt(x, y)] {
				if got != Highlight {
					t.Errorf("diff at %d,%d is %v, want the highlight %v", x, y, got, Highlight)
				}
				continue
			}
			if got.R != got.G || got.G != got.B || got.R < 192 || got.A != 255 {
				t.Fatalf("diff at unchanged %d,%d is %v, want a light grey", x, y, got)
			}
		}
	}
}

func TestCompareSameImageOtherBytes(t *testing.T) {
	// A picture of few colours (some half transparent), so that it can
	// also be a palette PNG.
	img := plot(64, 48)
	for i := range img.Pix {
		img.Pix[i] &= 0xc0
	}
	base := encodePNG(t, img, png.BestCompression)
	// The same picture with at most 256 colours, as a palette PNG.
	pal := image.NewPaletted(img.Rect, nil)
	index := map[color.NRGBA]uint8{}
	for y := range 48 {
		for x := range 64 {
			c := img.NRGBAAt(x, y)
			i, ok := index[c]
			if !ok {
				if len(pal.Palette) == 256 {
					t.Fatal("test picture has more than 256 colours")
				}
				i = uint8(len(pal.Palette))
				index[c] = i
				pal.Palette = append(pal.Palette, c)
			}
			pal.SetColorIndex(x, y, i)
		}
	}
	for name, other := range map[string][]byte{
		"other compression": encodePNG(t, img, png.NoCompression),
		"tEXt chunk":        withText(base, "Software", "matplotlib version 3.9"),
		"palette":           encodePNG(t, pal, png.DefaultCompression),
	} {
		t.Run(name, func(t *testing.T) {
			if bytes.Equal(base, other) {
				t.Fatal("the encodings are the same bytes: the test tests nothing")
			}
			r := Compare(decode(t, base), decode(t, other))
			if !r.Identical || r.Changed != 0 || r.Share != 0 {
				t.Errorf("Identical %v, Changed %d, Share %v; want identical", r.Identical, r.Changed, r.Share)
			}
		})
	}
}

func TestCompareDifferentSizes(t *testing.T) {
	tall, wide := plot(10, 20), plot(20, 10)
	// The 10×10 both have is the same picture in both.
	for y := range 10 {
		for x := range 10 {
			wide.SetNRGBA(x, y, tall.NRGBAAt(x, y))
		}
	}
	r := Compare(tall, wide)
	if r.Total != 400 || r.Changed != 300 || !r.SizeChanged || r.Identical {
		t.Errorf("Changed %d of %d, size changed %v, identical %v; want 300 of 400, size changed", r.Changed, r.Total, r.SizeChanged, r.Identical)
	}
	if r.OldWidth != 10 || r.OldHeight != 20 || r.NewWidth != 20 || r.NewHeight != 10 || r.Diff.Rect != image.Rect(0, 0, 20, 20) {
		t.Errorf("sizes old %d×%d new %d×%d diff %v", r.OldWidth, r.OldHeight, r.NewWidth, r.NewHeight, r.Diff.Rect)
	}
	if r.Diff.NRGBAAt(15, 5) != Highlight || r.Diff.NRGBAAt(5, 15) != Highlight || r.Diff.NRGBAAt(5, 5) == Highlight {
		t.Error("diff should highlight what only one image has, and not what both have")
	}
	// Images need not start at (0, 0): each is compared from its corner.
	sub := tall.SubImage(image.Rect(0, 10, 10, 20))
	r = Compare(sub, plot(10, 20).SubImage(image.Rect(0, 10, 10, 20)))
	if !r.Identical {
		t.Errorf("same sub-images: Changed %d", r.Changed)
	}
}

func TestDecodeJPEG(t *testing.T) {
	var a, b bytes.Buffer
	img := plot(80, 60)
	if err := jpeg.Encode(&a, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	changed := plot(80, 60)
	for y := 20; y < 40; y++ {
		for x := 20; x < 40; x++ {
			changed.SetNRGBA(x, y, color.NRGBA{R: 255, A: 255})
		}
	}
	if err := jpeg.Encode(&b, changed, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	old, new := decode(t, a.Bytes()), decode(t, b.Bytes())
	if old.Bounds() != image.Rect(0, 0, 80, 60) {
		t.Fatalf("JPEG decoded to %v", old.Bounds())
	}
	if r := Compare(old, old); !r.Identical {
		t.Errorf("a JPEG against itself: Changed %d", r.Changed)
	}
	if r := Compare(old, new); r.Changed < 400 || r.Identical {
		t.Errorf("a 20×20 red square in a JPEG: Changed %d, want at least 400", r.Changed)
	}
}

func TestDecodeGIF(t *testing.T) {
	pal := color.Palette{color.RGBA{A: 255}, color.RGBA{R: 255, A: 255}, color.RGBA{G: 255, A: 255}}
	frame := func(changed ...image.Point) *image.Paletted {
		p := image.NewPaletted(image.Rect(0, 0, 30, 20), pal)
		for i := range p.Pix {
			p.Pix[i] = uint8(i % 2)
		}
		for _, c := range changed {
			p.SetColorIndex(c.X, c.Y, 2)
		}
		return p
	}
	enc := func(g *gif.GIF) []byte {
		var buf bytes.Buffer
		if err := gif.EncodeAll(&buf, g); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	// Two frames: only the first counts.
	old := enc(&gif.GIF{Image: []*image.Paletted{frame(), frame(image.Pt(1, 1))}, Delay: []int{0, 0}})
	new := enc(&gif.GIF{Image: []*image.Paletted{frame(image.Pt(3, 4), image.Pt(29, 19))}, Delay: []int{0}})
	if r := Compare(decode(t, old), decode(t, new)); r.Changed != 2 || r.Total != 600 {
		t.Errorf("GIFs with 2 pixels changed: Changed %d of %d", r.Changed, r.Total)
	}
	// A first frame smaller than the GIF's canvas is drawn on the canvas.
	small := image.NewPaletted(image.Rect(5, 5, 15, 10), pal)
	data := enc(&gif.GIF{Image: []*image.Paletted{small}, Delay: []int{0}, Config: image.Config{Width: 30, Height: 20, ColorModel: pal}})
	if b := decode(t, data).Bounds(); b != image.Rect(0, 0, 30, 20) {
		t.Errorf("GIF with a small first frame decoded to %v, want its 30×20 canvas", b)
	}
}

const svgTemplate = `<?xml version="1.0" encoding="UTF-8"?>
<!-- written by a plotting library -->
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="80" viewBox="0 0 100 80">
  <rect x="0" y="0" width="100" height="80" fill="white"/>
  <rect x="20" y="10" width="30" height="40" fill="%s"/>
  <circle cx="80" cy="60" r="10" fill="green"/>
</svg>`

func TestDecodeSVG(t *testing.T) {
	old := decode(t, fmt.Appendf(nil, svgTemplate, "red"))
	new := decode(t, fmt.Appendf(nil, svgTemplate, "#0000ff"))
	if old.Bounds() != image.Rect(0, 0, 100, 80) {
		t.Fatalf("SVG drawn at %v, want 100×80", old.Bounds())
	}
	if c := color.NRGBAModel.Convert(old.At(35, 30)).(color.NRGBA); c != (color.NRGBA{R: 255, A: 255}) {
		t.Fatalf("inside the red rect: %v", c)
	}
	r := Compare(old, new)
	// The rect is 30×40 = 1200 pixels on whole-pixel edges.
	if r.Changed < 1100 || r.Changed > 1300 {
		t.Errorf("Changed %d, want about 1200", r.Changed)
	}
	var box image.Rectangle
	for y := range 80 {
		for x := range 100 {
			if r.Diff.NRGBAAt(x, y) == Highlight {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if want := image.Rect(20, 10, 50, 50); !box.In(want.Inset(-1)) || !want.Inset(1).In(box) {
		t.Errorf("changed pixels in %v, want about %v", box, want)
	}
}

func TestSVGSize(t *testing.T) {
	for _, tc := range []struct {
		name, root string
		max        int64
		want       image.Rectangle
	}{
		{"viewBox only", `<svg viewBox="0 0 50 40">`, 0, image.Rect(0, 0, 50, 40)},
		{"width and height win", `<svg width="60" height="30" viewBox="0 0 120 60">`, 0, image.Rect(0, 0, 60, 30)},
		{"units", `<svg width="1in" height="72pt">`, 0, image.Rect(0, 0, 96, 96)},
		{"width and aspect", `<svg width="200px" height="100%" viewBox="0,0,100,25">`, 0, image.Rect(0, 0, 200, 50)},
		{"scaled down to fit", `<svg width="1000" height="500">`, 5000, image.Rect(0, 0, 100, 50)},
		{"huge", `<svg width="1e300" height="1e300">`, 10000, image.Rect(0, 0, 100, 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Decode([]byte(tc.root+`<rect width="10" height="10"/></svg>`), tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if img.Bounds() != tc.want {
				t.Errorf("drawn at %v, want %v", img.Bounds(), tc.want)
			}
			if size, err := Size([]byte(tc.root+`<rect width="10" height="10"/></svg>`), tc.max); err != nil || size != tc.want.Size() {
				t.Errorf("Size = %v, %v; want %v", size, err, tc.want.Size())
			}
		})
	}
}

// TestSize: the size Size reads from a header is what Decode gives, and
// it refuses what Decode refuses before decoding.
func TestSize(t *testing.T) {
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, plot(80, 60), nil); err != nil {
		t.Fatal(err)
	}
	var gifb bytes.Buffer
	pal := color.Palette{color.RGBA{A: 255}, color.RGBA{R: 255, A: 255}}
	if err := gif.EncodeAll(&gifb, &gif.GIF{Image: []*image.Paletted{image.NewPaletted(image.Rect(5, 5, 15, 10), pal)},
		Delay: []int{0}, Config: image.Config{Width: 30, Height: 20, ColorModel: pal}}); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"PNG":  encodePNG(t, plot(50, 40), png.DefaultCompression),
		"JPEG": jpg.Bytes(),
		"GIF":  gifb.Bytes(), // its canvas, not its first frame
		"SVG":  []byte(fmt.Sprintf(svgTemplate, "red")),
	} {
		size, err := Size(data, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := decode(t, data).Bounds(); size != b.Size() {
			t.Errorf("%s: Size = %v, decoded %v", name, size, b)
		}
	}
	if _, err := Size(tooLargePNG(), 1_000_000); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a too-large PNG: %v, want ErrTooLarge", err)
	}
	if _, err := Size([]byte("x,y\n1,2\n"), 0); !errors.Is(err, ErrUnsupported) {
		t.Errorf("text: %v, want ErrUnsupported", err)
	}
}

// tooLargePNG is a PNG signature and an IHDR claiming 100000×100000 RGBA
// pixels, and nothing else.
func tooLargePNG() []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 6 // 8 bits, RGBA
	return append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
}

func TestDecodeBadInput(t *testing.T) {
	good := encodePNG(t, plot(50, 40), png.DefaultCompression)
	for _, tc := range []struct {
		name string
		data []byte
		want error // nil: any error but these two
	}{
		{"text", []byte("x,y\n1,2\n"), ErrUnsupported},
		{"empty", nil, ErrUnsupported},
		{"HTML", []byte("<!DOCTYPE html><html><body>hi</body></html>"), ErrUnsupported},
		{"XML that is not SVG", []byte(`<?xml version="1.0"?><plot><svg/></plot>`), ErrUnsupported},
		{"too large PNG", tooLargePNG(), ErrTooLarge},
		{"truncated PNG", good[:len(good)/2], nil},
		{"PNG signature only", good[:12], nil},
		{"PNG with a bad CRC", append(append([]byte{}, good[:30]...), append([]byte{good[30] ^ 0xff}, good[31:]...)...), nil},
		{"truncated JPEG", []byte("\xff\xd8\xff\xe0\x00\x10JFIF"), nil},
		{"unclosed SVG", []byte(`<svg width="10" height="10"><rect width="5" height="5">`), nil},
		{"SVG cut in a tag", []byte(`<svg width="10" height="10"><rect width="5`), nil},
		{"SVG without a size", []byte(`<svg><rect width="5" height="5"/></svg>`), nil},
		{"SVG bad viewBox", []byte(`<svg viewBox="0 0 x 10"></svg>`), nil},
		{"SVG transform without numbers", []byte(`<svg width="10" height="10"><g transform="translate()"><rect width="5" height="5"/></g></svg>`), nil},
		// oksvg itself panics on these.
		{"SVG whose use unbalances oksvg", []byte(`<svg width="10" height="10"><defs><g><g id="a"/></g></defs><use href="#a"/><use href="#a"/><use href="#a"/></svg>`), nil},
		{"SVG whose use unbalances oksvg 2", []byte(`<svg width="10" height="10"><defs><g><g id="a"></g></g></defs><g><use href="#a"/></g><use href="#a"/></svg>`), nil},
		// Without checkUse, the stack overflows and the process dies.
		{"SVG use using itself", []byte(`<svg width="10" height="10"><defs><use id="a" href="#a"/></defs><use href="#a"/></svg>`), nil},
		{"SVG rotate without numbers", []byte(`<svg width="10" height="10"><rect transform="rotate()" width="5" height="5"/></svg>`), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Decode(tc.data, 1_000_000)
			if err == nil {
				t.Fatalf("no error; decoded %v", img.Bounds())
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if tc.want == nil && (errors.Is(err, ErrUnsupported) || errors.Is(err, ErrTooLarge)) {
				t.Fatalf("error %v, want a decoding error", err)
			}
			t.Log(err)
		})
	}
}

func TestDecodeTooLargeAllocatesNothing(t *testing.T) {
	data := tooLargePNG()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(data, 1_000_000)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing a too-large PNG allocated %d bytes", n)
	}
}

// TestUnpremultiply checks the fast path against the standard library's
// conversion for every colour value and alpha, so decoding paths agree.
func TestUnpremultiply(t *testing.T) {
	d := make([]byte, 4)
	for a := range 256 {
		for v := 0; v <= a; v++ {
			s := []byte{uint8(v), uint8(v / 2), 0, uint8(a)}
			unpremultiply(d, s)
			want := color.NRGBAModel.Convert(color.RGBA{R: s[0], G: s[1], B: s[2], A: s[3]}).(color.NRGBA)
			if got := (color.NRGBA{R: d[0], G: d[1], B: d[2], A: d[3]}); got != want {
				t.Fatalf("unpremultiply %v = %v, want %v", s, got, want)
			}
		}
	}
}

func TestToNRGBATypes(t *testing.T) {
	src := plot(33, 21)
	want := toNRGBA(src)
	rgba := image.NewRGBA(src.Rect)
	gray := image.NewGray(src.Rect)
	n64 := image.NewNRGBA64(src.Rect)
	for y := range 21 {
		for x := range 33 {
			c := src.NRGBAAt(x, y)
			c.A = 255 // opaque, so that the premultiplied copy is exact
			src.SetNRGBA(x, y, c)
			rgba.Set(x, y, c)
			gray.Set(x, y, color.Gray{Y: c.G})
			n64.Set(x, y, c)
		}
	}
	for name, img := range map[string]image.Image{"RGBA": rgba, "NRGBA64": n64} {
		if r := Compare(want, img); !r.Identical {
			t.Errorf("%s copy of an NRGBA image: %d pixels changed", name, r.Changed)
		}
	}
	g := toNRGBA(gray)
	if c := g.NRGBAAt(7, 9); c != (color.NRGBA{R: src.NRGBAAt(7, 9).G, G: src.NRGBAAt(7, 9).G, B: src.NRGBAAt(7, 9).G, A: 255}) {
		t.Errorf("gray pixel converted to %v", c)
	}
}

func TestThumbnail(t *testing.T) {
	img := plot(100, 50)
	for _, tc := range []struct {
		name           string
		old, new, diff image.Image
		h, maxWidth    int
		want           image.Rectangle
	}{
		{"three panes", img, img, img, 40, 1000, image.Rect(0, 0, 3*80+2*thumbSeparator, 40)},
		{"added: new only", nil, img, nil, 40, 1000, image.Rect(0, 0, 80, 40)},
		{"too wide: shrunk to fit", img, img, img, 40, 100, image.Rect(0, 0, 100, 40)},
		{"tall and wide", plot(10, 100), plot(200, 10), nil, 50, 2000, image.Rect(0, 0, 5+1000+thumbSeparator, 50)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Thumbnail(tc.old, tc.new, tc.diff, tc.h, tc.maxWidth)
			if got == nil {
				t.Fatal("nil thumbnail")
			}
			if got.Rect.Dy() != tc.want.Dy() || got.Rect.Dx() > tc.want.Dx() || got.Rect.Dx() < tc.want.Dx()-2 {
				t.Errorf("thumbnail %v, want %v", got.Rect, tc.want)
			}
			if _, err := png.Decode(bytes.NewReader(must(EncodePNG(got)))); err != nil {
				t.Errorf("EncodePNG: %v", err)
			}
		})
	}
	if got := Thumbnail(nil, nil, nil, 40, 100); got != nil {
		t.Errorf("nothing to draw gave %v", got.Rect)
	}

	// A transparent image shows the white background; the rule is grey.
	clear := image.NewNRGBA(image.Rect(0, 0, 20, 20))
	got := Thumbnail(clear, clear, nil, 20, 100)
	if c := got.NRGBAAt(5, 5); c != (color.NRGBA{R: 255, G: 255, B: 255, A: 255}) {
		t.Errorf("transparent pane drawn %v, want white", c)
	}
	if c := got.NRGBAAt(20, 5); c != (color.NRGBA{R: 0xcc, G: 0xcc, B: 0xcc, A: 0xff}) {
		t.Errorf("separator %v, want light grey", c)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkCompare compares two 1000×800 pictures as PNG decodes opaque
// plots (*image.RGBA), one pixel in a thousand changed.
func BenchmarkCompare(b *testing.B) {
	old, new := image.NewRGBA(image.Rect(0, 0, 1000, 800)), image.NewRGBA(image.Rect(0, 0, 1000, 800))
	src := plot(1000, 800)
	for i := 0; i < len(src.Pix); i += 4 {
		copy(old.Pix[i:i+3], src.Pix[i:i+3])
		old.Pix[i+3] = 255
	}
	copy(new.Pix, old.Pix)
	for i := 0; i < len(new.Pix); i += 4000 {
		new.Pix[i] ^= 0xff
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := Compare(old, new); r.Changed != 800 {
			b.Fatalf("Changed %d", r.Changed)
		}
	}
}

// BenchmarkThumbnail draws old | new | diff of two 1000×800 pictures at
// 150 pixels high.
func BenchmarkThumbnail(b *testing.B) {
	img := plot(1000, 800)
	b.ReportAllocs()
	for b.Loop() {
		Thumbnail(img, img, img, 150, 800)
	}
}

// FuzzDecode: whatever the bytes, Decode returns an image or an error.
func FuzzDecode(f *testing.F) {
	f.Add(fmt.Appendf(nil, svgTemplate, "red"))
	f.Add([]byte(`<svg viewBox="0 0 10 10"><defs><g id="m"><path d="M0 0L5 5Z" transform="rotate(45 1 1)"/></g></defs><use href="#m" x="2"/><polyline points="1,1 2,2"/><linearGradient id="g"><stop offset="0.5"/></linearGradient></svg>`))
	f.Add(encodePNG(f, plot(8, 8), png.DefaultCompression))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data, 10_000)
		if err == nil && img.Bounds().Dx()*img.Bounds().Dy() > 10_000 {
			t.Errorf("decoded %v, more than the limit", img.Bounds())
		}
	})
}

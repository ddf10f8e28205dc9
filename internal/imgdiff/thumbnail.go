package imgdiff

import (
	"image"
	"image/color"
	"math"

	xdraw "golang.org/x/image/draw"
)

// Thumbnail layout.
const (
	thumbSeparator = 2 // pixels between panes
)

var (
	thumbBackground = image.NewUniform(color.White)
	thumbRule       = image.NewUniform(color.NRGBA{R: 0xcc, G: 0xcc, B: 0xcc, A: 0xff})
)

// Thumbnail draws old | new | diff side by side on a white background,
// each scaled to height h keeping its aspect, with a thin grey rule
// between them. Any may be nil (an added image has only new) and is then
// left out. When the panes would be wider than maxWidth in total, all are
// shrunk alike to fit and centred vertically, so the thumbnail is always h
// high. It returns nil when there is nothing to draw or h or maxWidth is
// below one.
func Thumbnail(old, new, diff image.Image, h, maxWidth int) *image.NRGBA {
	var panes []image.Image
	for _, img := range []image.Image{old, new, diff} {
		if img != nil && !img.Bounds().Empty() {
			panes = append(panes, img)
		}
	}
	if len(panes) == 0 || h < 1 || maxWidth < 1 {
		return nil
	}
	rules := thumbSeparator * (len(panes) - 1)
	// Widths at height h, then one scale for all when too wide.
	widths := make([]float64, len(panes))
	sum := 0.0
	for i, p := range panes {
		b := p.Bounds()
		widths[i] = float64(b.Dx()) * float64(h) / float64(b.Dy())
		sum += widths[i]
	}
	scale := 1.0
	if room := float64(maxWidth - rules); sum > room {
		scale = max(room, float64(len(panes))) / sum
	}
	paneH := max(1, int(math.Round(float64(h)*scale)))
	top := (h - paneH) / 2
	rects := make([]image.Rectangle, len(panes))
	x := 0
	for i := range panes {
		if i > 0 {
			x += thumbSeparator
		}
		w := widths[i] * scale
		if scale < 1 {
			w = math.Floor(w) // so that the rounded panes still fit
		}
		rects[i] = image.Rect(x, top, x+max(1, int(math.Round(w))), top+paneH)
		x = rects[i].Max.X
	}
	// Only a maxWidth narrower than a pixel per pane clips.
	total := min(x, maxWidth)
	// Drawn as RGBA, for which golang.org/x/image/draw has fast paths; on
	// the opaque background its bytes are NRGBA's too.
	dst := image.NewRGBA(image.Rect(0, 0, total, h))
	xdraw.Draw(dst, dst.Rect, thumbBackground, image.Point{}, xdraw.Src)
	for i, p := range panes {
		if i > 0 {
			rule := image.Rect(rects[i].Min.X-thumbSeparator, 0, rects[i].Min.X, h)
			xdraw.Draw(dst, rule, thumbRule, image.Point{}, xdraw.Src)
		}
		// Over, so transparent pixels show the white background.
		xdraw.CatmullRom.Scale(dst, rects[i].Intersect(dst.Rect), p, p.Bounds(), xdraw.Over, nil)
	}
	return &image.NRGBA{Pix: dst.Pix, Stride: dst.Stride, Rect: dst.Rect}
}

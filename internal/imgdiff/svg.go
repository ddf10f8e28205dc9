package imgdiff

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/srwiley/oksvg"
	"github.com/srwiley/rasterx"
)

// svgSniffLimit is how much of a file isSVG reads to find the root
// element: enough for an XML declaration, a DOCTYPE and a comment.
const svgSniffLimit = 64 << 10

// isSVG reports whether data is XML whose root element is <svg>.
func isSVG(data []byte) bool {
	_, ok := svgRoot(data)
	return ok
}

// svgRoot returns the root element of an SVG document.
func svgRoot(data []byte) (xml.StartElement, bool) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '<' {
		return xml.StartElement{}, false // text, quickly
	}
	d := xml.NewDecoder(io.LimitReader(bytes.NewReader(data), svgSniffLimit))
	// Only the root element's name matters here; the real parse decodes
	// the declared charset.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, t.Name.Local == "svg"
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, false
			}
		}
	}
}

// decodeSVG draws an SVG at the size readHeader gave with oksvg, which covers the subset of SVG that
// plotting libraries write (paths, shapes, groups, gradients). oksvg is old
// code that indexes slices without checking them on some malformed input,
// so a panic in it is turned into an error.
func decodeSVG(data []byte, hd header) (img image.Image, err error) {
	if err := checkUse(data); err != nil {
		return nil, err
	}
	w, h, width, height := hd.svgW, hd.svgH, hd.size.X, hd.size.Y
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("render svg: %v", p)
		}
	}()
	icon, err := oksvg.ReadIconStream(bytes.NewReader(data), oksvg.IgnoreErrorMode)
	if err != nil {
		return nil, fmt.Errorf("parse svg: %w", err)
	}
	if icon.ViewBox.W <= 0 || icon.ViewBox.H <= 0 {
		icon.ViewBox.X, icon.ViewBox.Y, icon.ViewBox.W, icon.ViewBox.H = 0, 0, w, h
	}
	canvas := image.NewRGBA(image.Rect(0, 0, width, height))
	scanner := rasterx.NewScannerGV(width, height, canvas, canvas.Bounds())
	icon.SetTarget(0, 0, float64(width), float64(height))
	icon.Draw(rasterx.NewDasher(width, height, scanner), 1)
	return canvas, nil
}

// checkUse refuses a <use> inside <defs>. oksvg expands a <use> by
// drawing the definition it names, so one there could name itself and
// recurse until the stack overflows, which no recover stops; nor could
// definitions that use each other multiply without end. Plotting
// libraries reuse markers with <use> in the drawing, which stays allowed.
func checkUse(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	inDefs := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("parse svg: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "defs":
				inDefs++
			case t.Name.Local == "use" && inDefs > 0:
				return errors.New("svg has a <use> inside <defs>, which refbot does not draw")
			}
		case xml.EndElement:
			if t.Name.Local == "defs" {
				inDefs--
			}
		}
	}
}

// svgSize is the size an SVG asks to be drawn at, in CSS pixels: its width
// and height when both are absolute lengths, one of them and the viewBox's
// aspect, or else the viewBox's own size.
func svgSize(root xml.StartElement) (w, h float64, err error) {
	var vbW, vbH float64
	var width, height string
	for _, a := range root.Attr {
		switch a.Name.Local {
		case "viewBox":
			f := strings.FieldsFunc(a.Value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
			if len(f) != 4 {
				return 0, 0, fmt.Errorf("svg viewBox %q: want four numbers", a.Value)
			}
			var errW, errH error
			vbW, errW = strconv.ParseFloat(f[2], 64)
			vbH, errH = strconv.ParseFloat(f[3], 64)
			if err := errors.Join(errW, errH); err != nil || !(vbW > 0 && vbH > 0) {
				return 0, 0, fmt.Errorf("svg viewBox %q: want a positive width and height", a.Value)
			}
		case "width":
			width = a.Value
		case "height":
			height = a.Value
		}
	}
	lw, okW := cssPixels(width)
	lh, okH := cssPixels(height)
	hasVB := vbW > 0 && vbH > 0
	switch {
	case okW && okH:
		w, h = lw, lh
	case okW && hasVB:
		w, h = lw, lw*vbH/vbW
	case okH && hasVB:
		w, h = lh*vbW/vbH, lh
	case hasVB:
		w, h = vbW, vbH
	default:
		return 0, 0, errors.New("svg has no size: neither width and height nor a viewBox")
	}
	if !(w > 0 && h > 0) || math.IsInf(w, 0) || math.IsInf(h, 0) {
		return 0, 0, fmt.Errorf("svg size %g×%g is not drawable", w, h)
	}
	return w, h, nil
}

// cssPixels converts an absolute SVG length (unitless or px, pt, pc, mm,
// cm, in) to CSS pixels. Relative lengths (%, em) are not sizes on their
// own and report false.
func cssPixels(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	scale := 1.0
	for _, u := range []struct {
		suffix string
		px     float64
	}{{"px", 1}, {"pt", 96.0 / 72}, {"pc", 16}, {"mm", 96 / 25.4}, {"cm", 96 / 2.54}, {"in", 96}} {
		if strings.HasSuffix(s, u.suffix) {
			s, scale = strings.TrimSuffix(s, u.suffix), u.px
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, false
	}
	return v * scale, true
}

// fitPixels rounds a drawing size to whole pixels, scaled down (keeping
// its aspect as far as whole pixels allow) to at most maxPixels.
func fitPixels(w, h float64, maxPixels int64) (int, int) {
	if w*h > float64(maxPixels) {
		// Each side on its own: w*h may overflow to +Inf.
		s := math.Sqrt(float64(maxPixels)) / math.Sqrt(w) / math.Sqrt(h)
		w, h = w*s, h*s
	}
	width := int64(max(1, math.Min(math.Round(w), float64(maxPixels))))
	height := int64(max(1, math.Min(math.Round(h), float64(maxPixels))))
	// Rounding up, or a side clamped to one pixel, may pass the limit.
	for width*height > maxPixels {
		if width >= height {
			width = max(1, maxPixels/height)
		} else {
			height = max(1, maxPixels/width)
		}
	}
	return int(width), int(height)
}

package imgdiff

import (
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
)

// Highlight is the colour of a changed pixel in a difference image.
var Highlight = color.NRGBA{R: 255, G: 0, B: 255, A: 255}

// Result is how two versions of an image differ.
type Result struct {
	OldWidth, OldHeight, NewWidth, NewHeight int
	// Changed and Total count pixels; Total is the union canvas, the
	// larger width by the larger height.
	Changed, Total int
	Share          float64 // Changed / Total
	SizeChanged    bool
	// Identical: no pixel differs and the size is the same, whatever the
	// bytes (a re-encoding, other metadata).
	Identical bool
	// Diff is the difference image, the size of the union canvas: the new
	// image faded to light grey where nothing changed, Highlight where
	// something did.
	Diff *image.NRGBA
}

// Compare compares old and new pixel by pixel in non-premultiplied RGBA,
// each from its own top-left corner: two encodings of the same picture
// compare identical, and fully transparent pixels compare equal whatever
// their colour. A pixel of the union canvas outside either image counts as
// changed; a nil image is an empty one.
func Compare(old, new image.Image) *Result {
	o, n := toNRGBA(old), toNRGBA(new)
	ow, oh := o.Rect.Dx(), o.Rect.Dy()
	nw, nh := n.Rect.Dx(), n.Rect.Dy()
	w, h := max(ow, nw), max(oh, nh)
	diff := image.NewNRGBA(image.Rect(0, 0, w, h))
	changed := 0
	for y := range h {
		drow := diff.Pix[y*diff.Stride : y*diff.Stride+4*w]
		var orow, nrow []byte
		if y < oh {
			orow = o.Pix[y*o.Stride : y*o.Stride+4*ow]
		}
		if y < nh {
			nrow = n.Pix[y*n.Stride : y*n.Stride+4*nw]
		}
		// Columns both images have, then the rest of the row. Pixels are
		// read and written as little-endian words: R is the low byte.
		both := min(len(orow), len(nrow))
		for i := 0; i < both; i += 4 {
			op := binary.LittleEndian.Uint32(orow[i:])
			np := binary.LittleEndian.Uint32(nrow[i:])
			if op == np || (op>>24 == 0 && np>>24 == 0) {
				binary.LittleEndian.PutUint32(drow[i:], faded(np))
				continue
			}
			changed++
			binary.LittleEndian.PutUint32(drow[i:], highlight)
		}
		for i := both; i < len(drow); i += 4 {
			changed++
			binary.LittleEndian.PutUint32(drow[i:], highlight)
		}
	}
	r := &Result{
		OldWidth: ow, OldHeight: oh, NewWidth: nw, NewHeight: nh,
		Changed: changed, Total: w * h,
		SizeChanged: ow != nw || oh != nh,
		Diff:        diff,
	}
	if r.Total > 0 {
		r.Share = float64(r.Changed) / float64(r.Total)
	}
	r.Identical = r.Changed == 0 && !r.SizeChanged
	return r
}

// highlight is Highlight as a little-endian word.
var highlight = uint32(Highlight.R) | uint32(Highlight.G)<<8 | uint32(Highlight.B)<<16 | uint32(Highlight.A)<<24

// faded is the opaque grey an unchanged pixel p (a little-endian NRGBA
// word) shows in a difference image: its luminance over white, squeezed
// into the lightest quarter so that the picture stays recognisable and any
// change stands out.
func faded(p uint32) uint32 {
	r, g, b, a := p&0xff, p>>8&0xff, p>>16&0xff, p>>24
	// Rec. 601 luma in 1/256ths, then composited over white.
	y := (77*r + 150*g + 29*b) >> 8
	y = (y*a + 255*(255-a)) / 255
	y = 192 + y*63/255
	return 0xff000000 | y<<16 | y<<8 | y
}

// toNRGBA returns img as non-premultiplied 8-bit RGBA with its top-left
// corner at (0, 0), reading the common decoded types' pixels directly and
// sharing img's pixels when it already is one.
func toNRGBA(img image.Image) *image.NRGBA {
	if img == nil {
		return image.NewNRGBA(image.Rectangle{})
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch src := img.(type) {
	case *image.NRGBA:
		if b.Min == (image.Point{}) {
			return src
		}
		return &image.NRGBA{Pix: src.Pix[src.PixOffset(b.Min.X, b.Min.Y):], Stride: src.Stride, Rect: image.Rect(0, 0, w, h)}
	case *image.RGBA:
		if src.Opaque() { // as PNG decodes a picture without transparency
			return &image.NRGBA{Pix: src.Pix[src.PixOffset(b.Min.X, b.Min.Y):], Stride: src.Stride, Rect: image.Rect(0, 0, w, h)}
		}
		dst := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			d := dst.Pix[y*dst.Stride:][:4*w]
			for i := 0; i < len(s); i += 4 {
				unpremultiply(d[i:i+4:i+4], s[i:i+4:i+4])
			}
		}
		return dst
	case *image.Paletted:
		// Convert the palette once; the pixels are indices into it.
		var lut [256][4]byte
		for i, c := range src.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			lut[i] = [4]byte{n.R, n.G, n.B, n.A}
		}
		dst := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			d := dst.Pix[y*dst.Stride:][:4*w]
			for x, idx := range s {
				copy(d[4*x:4*x+4], lut[idx][:]) // the decoders pad or refuse a short palette
			}
		}
		return dst
	case *image.YCbCr, *image.Gray, *image.CMYK:
		// Opaque: image/draw converts these quickly into RGBA, whose
		// bytes are then the non-premultiplied ones too.
		rgba := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(rgba, rgba.Rect, src, b.Min, draw.Src)
		return &image.NRGBA{Pix: rgba.Pix, Stride: rgba.Stride, Rect: rgba.Rect}
	default:
		// 16-bit PNGs and other rare types: slow but exact.
		dst := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				dst.SetNRGBA(x, y, color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA))
			}
		}
		return dst
	}
}

// unpremultiply converts one premultiplied RGBA pixel s into d exactly as
// color.NRGBAModel does, so a picture compares the same whichever way it
// was decoded.
func unpremultiply(d, s []byte) {
	switch a := uint32(s[3]); a {
	case 0:
		d[0], d[1], d[2], d[3] = 0, 0, 0, 0
	case 255:
		d[0], d[1], d[2], d[3] = s[0], s[1], s[2], 255
	default:
		a16 := a * 0x101
		d[0] = uint8((uint32(s[0]) * 0x101 * 0xffff / a16) >> 8)
		d[1] = uint8((uint32(s[1]) * 0x101 * 0xffff / a16) >> 8)
		d[2] = uint8((uint32(s[2]) * 0x101 * 0xffff / a16) >> 8)
		d[3] = uint8(a)
	}
}

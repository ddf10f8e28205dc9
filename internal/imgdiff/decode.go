// Package imgdiff decodes the images of a project's reference data and
// compares two versions of one pixel by pixel, for the review pages
// (docs/design.md, "Review pages"): how many pixels changed, a difference
// image that shows where, and small old | new | difference thumbnails.
//
// Everything here works on untrusted input: image sizes are checked from
// the header before anything is decoded, and a file that is not a PNG,
// JPEG, GIF or SVG, or does not parse, is an error, never a panic.
package imgdiff

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// DefaultMaxPixels is the limit Decode applies when given maxPixels <= 0:
// 50 megapixels, about 200 MB once decoded.
const DefaultMaxPixels = 50_000_000

var (
	// ErrUnsupported: the data is not a PNG, JPEG, GIF or SVG.
	ErrUnsupported = errors.New("not a PNG, JPEG, GIF or SVG image")
	// ErrTooLarge: the image has more pixels than the caller allows.
	ErrTooLarge = errors.New("image has too many pixels")
)

// Format names what Sniff recognised.
type Format string

// The formats Decode reads.
const (
	PNG  Format = "png"
	JPEG Format = "jpeg"
	GIF  Format = "gif"
	SVG  Format = "svg"
)

// Sniff recognises the format of data by its content (never by a file
// name); it returns "" for anything else.
func Sniff(data []byte) Format {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return JPEG
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return GIF
	case isSVG(data):
		return SVG
	}
	return ""
}

// Decode reads a PNG, JPEG, GIF (its first frame, on the GIF's full
// canvas) or SVG. A raster image's dimensions are read from its header
// first and refused with ErrTooLarge when they exceed maxPixels, so a
// decompression bomb costs nothing. An SVG is drawn at its own size (its
// width and height, else its viewBox), scaled down to fit maxPixels, on a
// transparent canvas. maxPixels <= 0 means DefaultMaxPixels.
func Decode(data []byte, maxPixels int64) (image.Image, error) {
	hd, err := readHeader(data, maxPixels)
	if err != nil {
		return nil, err
	}
	if hd.format == SVG {
		return decodeSVG(data, hd)
	}
	img, err := decodeRaster(hd.format, data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", hd.format, err)
	}
	// A GIF's first frame may cover only part of the GIF's canvas.
	if canvas := (image.Rectangle{Max: hd.size}); hd.format == GIF && img.Bounds() != canvas {
		full := image.NewNRGBA(canvas)
		draw.Draw(full, img.Bounds(), img, img.Bounds().Min, draw.Src)
		img = full
	}
	return img, nil
}

// Size is the size of the image Decode gives data, read from its header
// (an SVG: its size fitted to maxPixels) without decoding it; it refuses
// what Decode refuses before decoding, with the same errors. Callers use
// it to weigh a decoding before they start it.
func Size(data []byte, maxPixels int64) (image.Point, error) {
	hd, err := readHeader(data, maxPixels)
	return hd.size, err
}

// header is what Decode reads of an image before decoding it.
type header struct {
	format Format
	size   image.Point // of the image Decode gives
	// svgW and svgH are an SVG's own size in CSS pixels, before it is
	// fitted to the pixels allowed.
	svgW, svgH float64
}

// readHeader sniffs data's format and reads its size from its header,
// refusing what is not an image Decode reads and a raster image of more
// than maxPixels (<= 0: DefaultMaxPixels).
func readHeader(data []byte, maxPixels int64) (header, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	hd := header{format: Sniff(data)}
	switch hd.format {
	case "":
		return hd, ErrUnsupported
	case SVG:
		root, _ := svgRoot(data)
		w, h, err := svgSize(root)
		if err != nil {
			return hd, err
		}
		hd.svgW, hd.svgH, hd.size = w, h, image.Pt(fitPixels(w, h, maxPixels))
		return hd, nil
	}
	cfg, err := rasterConfig(hd.format, data, maxPixels)
	if err != nil {
		return hd, err
	}
	hd.size = image.Pt(cfg.Width, cfg.Height)
	return hd, nil
}

// rasterConfig reads a raster image's header and refuses an image with
// no pixels or more than maxPixels.
func rasterConfig(format Format, data []byte, maxPixels int64) (image.Config, error) {
	cfg, err := decodeConfig(format, data)
	if err != nil {
		return cfg, fmt.Errorf("read %s header: %w", format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return cfg, fmt.Errorf("%s has no pixels (%d×%d)", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return cfg, fmt.Errorf("%s of %d×%d pixels, more than %d: %w", format, cfg.Width, cfg.Height, maxPixels, ErrTooLarge)
	}
	return cfg, nil
}

// decodeConfig and decodeRaster call the format's own decoder rather than
// image.Decode, so the format is the one Sniff saw whatever other
// packages register.
func decodeConfig(format Format, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	switch format {
	case PNG:
		return png.DecodeConfig(r)
	case JPEG:
		return jpeg.DecodeConfig(r)
	default:
		return gif.DecodeConfig(r)
	}
}

func decodeRaster(format Format, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	switch format {
	case PNG:
		return png.Decode(r)
	case JPEG:
		return jpeg.Decode(r)
	default:
		return gif.Decode(r)
	}
}

// EncodePNG encodes img as a PNG, favouring speed over size: difference
// images and thumbnails are computed on demand and cached.
func EncodePNG(img image.Image) ([]byte, error) {
	if img == nil {
		return nil, errors.New("encode png: no image")
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

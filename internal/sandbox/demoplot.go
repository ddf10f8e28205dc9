package sandbox

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
)

// linePlot is the demo's line plot, a real PNG so that the review page
// can show its old and new versions and the pixels that changed: a
// 160×100 figure with a grid and one curve, which the PR makes "prettier"
// (thicker, in colour). The bytes are the same every time.
func linePlot(prettier bool) string {
	const w, h = 160, 100
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	grid := color.NRGBA{220, 220, 220, 255}
	for x := 10; x < w; x += 30 {
		for y := range h {
			img.SetNRGBA(x, y, grid)
		}
	}
	for y := 10; y < h; y += 20 {
		for x := range w {
			img.SetNRGBA(x, y, grid)
		}
	}
	line, thick := color.NRGBA{90, 90, 90, 255}, 0
	if prettier {
		line, thick = color.NRGBA{31, 119, 180, 255}, 1
	}
	for x := range w {
		y := h/2 - int(30*math.Sin(2*math.Pi*float64(x)/float64(w)))
		for d := -thick; d <= thick; d++ {
			img.SetNRGBA(x, y+d, line)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // an in-memory image always encodes
	}
	return b.String()
}

// histPlot is the demo's new histogram, a real PNG too: a 160×100 figure
// of bars. Its title, "new histogram", is in a tEXt chunk, where the bytes
// of the file show it.
func histPlot() string {
	const w, h = 160, 100
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	bar := color.NRGBA{255, 127, 14, 255}
	for i, count := range []int{12, 30, 41, 17} {
		x0, top := 15+i*35, h-10-2*count
		for x := x0; x < x0+25; x++ {
			for y := top; y < h-10; y++ {
				img.SetNRGBA(x, y, bar)
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // an in-memory image always encodes
	}
	// The signature (8 bytes) and IHDR (25) first, then the title.
	raw := b.Bytes()
	text := []byte("tEXtTitle\x00new histogram")
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(text)-4))
	chunk = append(chunk, text...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(text))
	return string(raw[:33]) + string(chunk) + string(raw[33:])
}

package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// The generated data: what a plotting project's test outputs look like,
// in the shares a large one has. Paths are relative to the data root.
const (
	plotSuites    = 6  // plots/<suite>/fig_NNN.png
	plotsPerSuite = 50 // 300 plots
	tableFolders  = 20 // tables/<folder>/t_NNNN.csv, 150 each
	tablesPer     = 150
	resultFolders = 8 // results/<folder>/run_NNNN.json, 150 each
	resultsPer    = 150
	logFiles      = 500 // logs/log_NNNN.txt
	// What the reviewed build changes against the data branch.
	changedPlots  = 50
	changedTables = 20
	changedJSON   = 10
	addedFiles    = 5
	removedFiles  = 5
	// The plots' size, and one heat-map pixel in noiseEvery is noisy.
	plotW, plotH = 800, 600
	noiseEvery   = 8
)

// files are a build's outputs or a data root: path → content.
type files map[string][]byte

// dataset is the base, the build the data branch holds (build 1) and the
// build under review (build 2), and the plots build 2 changes.
type dataset struct {
	base, build1, build2 files
	changedPlots         []string
}

// generate makes the dataset: the base's 5,000 files; build 1, the base
// with the changed plots drawn once (a region redrawn) and a few tables
// changed, which UPDATE puts on the PR's data branch; build 2, build 1
// with the same plots redrawn again, text files changed, some added and
// some removed.
func generate() (*dataset, error) {
	d := &dataset{base: files{}}
	var plots []string
	for s := range plotSuites {
		for i := range plotsPerSuite {
			plots = append(plots, fmt.Sprintf("plots/suite%d/fig_%03d.png", s, i))
		}
	}
	// Every sixth plot changes: spread over the suites.
	for i := 0; i < len(plots) && len(d.changedPlots) < changedPlots; i += len(plots) / changedPlots {
		d.changedPlots = append(d.changedPlots, plots[i])
	}
	type job struct {
		path    string
		variant int
		into    files
	}
	d.build1, d.build2 = files{}, files{}
	var jobs []job
	for _, p := range plots {
		jobs = append(jobs, job{p, 0, d.base})
	}
	for _, p := range d.changedPlots {
		jobs = append(jobs, job{p, 1, d.build1}, job{p, 2, d.build2})
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan job)
	for range runtime.NumCPU() {
		wg.Go(func() {
			for j := range next {
				b := plotPNG(seedOf(j.path), j.variant)
				mu.Lock()
				j.into[j.path] = b
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()

	for f := range tableFolders {
		for i := range tablesPer {
			p := fmt.Sprintf("tables/set%02d/t_%04d.csv", f, i)
			d.base[p] = csvTable(seedOf(p), 0)
		}
	}
	for f := range resultFolders {
		for i := range resultsPer {
			p := fmt.Sprintf("results/group%d/run_%04d.json", f, i)
			d.base[p] = jsonResult(seedOf(p), 0)
		}
	}
	for i := range logFiles {
		p := fmt.Sprintf("logs/log_%04d.txt", i)
		d.base[p] = logText(seedOf(p))
	}

	// Build 1: the base, the changed plots' first redraw, five tables.
	b1 := maps.Clone(d.base)
	maps.Copy(b1, d.build1)
	for i := range 5 {
		p := fmt.Sprintf("tables/set%02d/t_%04d.csv", 19, i)
		b1[p] = csvTable(seedOf(p), 1)
	}
	// Build 2: build 1, the plots' second redraw, text changed, files
	// added and removed.
	b2 := maps.Clone(b1)
	maps.Copy(b2, d.build2)
	for i := range changedTables {
		p := fmt.Sprintf("tables/set%02d/t_%04d.csv", i, 7*i%tablesPer)
		b2[p] = csvTable(seedOf(p), 2)
	}
	for i := range changedJSON {
		p := fmt.Sprintf("results/group%d/run_%04d.json", i%resultFolders, 11*i)
		b2[p] = jsonResult(seedOf(p), 2)
	}
	for i := range addedFiles {
		p := fmt.Sprintf("tables/new/t_%04d.csv", i)
		b2[p] = csvTable(seedOf(p), 0)
	}
	for i := range removedFiles {
		delete(b2, fmt.Sprintf("logs/log_%04d.txt", 100+i))
	}
	d.build1, d.build2 = b1, b2
	if n := len(d.base); n != 5000 {
		return nil, fmt.Errorf("generated %d base files, want 5000", n)
	}
	return d, nil
}

// write writes fs under dir, below sub ("" or a folder).
func (fs files) write(dir, sub string) error {
	for _, p := range slices.Sorted(maps.Keys(fs)) {
		full := filepath.Join(dir, sub, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, fs[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// size is the files' total size in bytes.
func (fs files) size() (n int64) {
	for _, b := range fs {
		n += int64(len(b))
	}
	return n
}

func seedOf(p string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(p); i++ {
		h = (h ^ uint64(p[i])) * 1099511628211
	}
	return h
}

// plotPNG draws an 800×600 figure as a plotting library would: a line
// plot with a grid and three curves on the left, a heat map of a smooth
// field with some measurement noise on the right (what makes such plots
// 50–200 KB). Variant 0 is the reference; variants 1 and 2 redraw a region
// (a bump in one curve, a patch of the heat map), as a changed
// computation does.
func plotPNG(seed uint64, variant int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	// Left: grid, axes, curves.
	const left, top, right, bottom = 50, 30, 390, 560
	grid := color.RGBA{225, 225, 225, 255}
	for x := left; x <= right; x += 34 {
		vline(img, x, top, bottom, grid)
	}
	for y := top; y <= bottom; y += 53 {
		hline(img, left, right, y, grid)
	}
	vline(img, left, top, bottom, color.RGBA{0, 0, 0, 255})
	hline(img, left, right, bottom, color.RGBA{0, 0, 0, 255})
	curves := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}}
	for c, col := range curves {
		freq, phase, amp := 1+rng.Float64()*3, rng.Float64()*math.Pi, 60+rng.Float64()*120
		mid := float64(top+bottom)/2 + float64(c-1)*80
		prev := -1
		for x := left + 1; x < right; x++ {
			t := float64(x-left) / float64(right-left)
			y := mid - amp*math.Sin(2*math.Pi*freq*t+phase)
			if variant > 0 && c == 0 && t > 0.4 && t < 0.6 {
				// The change: a bump in the first curve.
				y -= float64(variant) * 25 * math.Sin(math.Pi*(t-0.4)/0.2)
			}
			yi := min(max(int(y), top), bottom-1)
			if prev < 0 {
				prev = yi
			}
			for yy := min(prev, yi) - 1; yy <= max(prev, yi)+1; yy++ {
				img.SetRGBA(x, yy, col)
			}
			prev = yi
		}
	}
	// Right: heat map.
	const hx0, hy0, hx1, hy1 = 420, 30, 780, 560
	fx, fy := 2+rng.Float64()*4, 2+rng.Float64()*4
	sinU := make([]float64, hx1-hx0)
	for x := range sinU {
		sinU[x] = math.Sin(2 * math.Pi * fx * float64(x) / float64(hx1-hx0))
	}
	for y := hy0; y < hy1; y++ {
		v := float64(y-hy0) / float64(hy1-hy0)
		cosV := math.Cos(2 * math.Pi * fy * v)
		for x := hx0; x < hx1; x++ {
			u := float64(x-hx0) / float64(hx1-hx0)
			val := 0.5 + 0.25*sinU[x-hx0]*cosV + 0.2*u*v
			if variant > 0 && u > 0.6 && u < 0.75 && v > 0.2 && v < 0.3 {
				val += 0.08 * float64(variant)
			}
			// Measurement noise, in a share of the pixels.
			if rng.IntN(noiseEvery) == 0 {
				val += (rng.Float64() - 0.5) * 0.03
			}
			img.SetRGBA(x, y, viridis(val))
		}
	}
	// Zlib's fastest level: the plots are made by the thousand here; a
	// plotting library's default level makes them 20% smaller, 4× slower.
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		panic(err) // an in-memory image always encodes
	}
	return buf.Bytes()
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

// viridis maps [0, 1] to a blue–green–yellow scale of 64 colours, as a
// plotting library's colour map does.
func viridis(v float64) color.RGBA {
	v = math.Round(min(max(v, 0), 1)*63) / 63
	return color.RGBA{uint8(68 + v*185), uint8(1 + v*230), uint8(84 + (0.5-math.Abs(v-0.5))*150), 255}
}

// csvTable is a table of measurements, ~40 rows.
func csvTable(seed uint64, variant int) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	var b strings.Builder
	b.WriteString("x,y,err,n\n")
	for i := range 40 {
		y := rng.NormFloat64()
		if variant > 0 && i%9 == 0 {
			y += 0.01 * float64(variant)
		}
		fmt.Fprintf(&b, "%d,%.6f,%.6f,%d\n", i, y, math.Abs(rng.NormFloat64())*0.1, 100+rng.IntN(900))
	}
	return []byte(b.String())
}

// jsonResult is a run's summary.
func jsonResult(seed uint64, variant int) []byte {
	rng := rand.New(rand.NewPCG(seed, 3))
	mean := rng.NormFloat64() + 0.001*float64(variant)
	return fmt.Appendf(nil, "{\n  \"mean\": %.6f,\n  \"median\": %.6f,\n  \"std\": %.6f,\n  \"n\": %d,\n  \"converged\": true,\n  \"iterations\": %d\n}\n",
		mean, rng.NormFloat64(), math.Abs(rng.NormFloat64()), 100+rng.IntN(10000), 5+rng.IntN(50))
}

// logText is a test's log.
func logText(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 4))
	var b strings.Builder
	for i := range 30 {
		fmt.Fprintf(&b, "step %03d: residual %.3e, %d evaluations\n", i, rng.ExpFloat64()*1e-3, rng.IntN(500))
	}
	return []byte(b.String())
}

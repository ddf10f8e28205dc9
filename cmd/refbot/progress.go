package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/refbot/refbot/bot/publish"
)

// progressReporter shows a publish's downloads and pushes: bars on a
// terminal, a plain line every two seconds otherwise (logs, CI).
type progressReporter struct {
	w        io.Writer
	terminal bool

	mu    sync.Mutex
	stage string
	bar   *progressbar.ProgressBar
	last  time.Time
}

func newProgressReporter(w io.Writer) *progressReporter {
	f, ok := w.(*os.File)
	return &progressReporter{w: w, terminal: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progressReporter) report(pr publish.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr.Stage != p.stage {
		p.finish()
		p.stage = pr.Stage
		desc := pr.Stage
		if pr.Variant != "" {
			desc += " " + pr.Variant
		}
		if p.terminal {
			p.bar = progressbar.NewOptions64(pr.Total,
				progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(desc),
				progressbar.OptionShowBytes(true), progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(), progressbar.OptionSpinnerType(14))
		}
		p.last = time.Time{}
	}
	if p.bar != nil {
		p.bar.Set64(pr.Done)
		return
	}
	if time.Since(p.last) < 2*time.Second {
		return
	}
	p.last = time.Now()
	if pr.Total >= 0 {
		fmt.Fprintf(p.w, "%s: %s of %s\n", pr.Stage, humanBytes(pr.Done), humanBytes(pr.Total))
	} else {
		fmt.Fprintf(p.w, "%s: %s sent\n", pr.Stage, humanBytes(pr.Done))
	}
}

func (p *progressReporter) finish() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

// Close ends the last bar.
func (p *progressReporter) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finish()
}

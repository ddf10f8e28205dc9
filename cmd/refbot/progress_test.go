package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/publish"
)

// TestProgressPlainLines: off a terminal, progress is a line per stage and
// then at most one every two seconds.
func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressReporter(&buf)
	if p.terminal {
		t.Fatal("a buffer taken for a terminal")
	}
	p.report(publish.Progress{Stage: "download", Total: 3 << 20})
	p.last = time.Now()                                                          // however long the first line took
	p.report(publish.Progress{Stage: "download", Done: 1 << 20, Total: 3 << 20}) // within 2 s: quiet
	p.last = time.Now().Add(-3 * time.Second)
	p.report(publish.Progress{Stage: "download", Done: 2 << 20, Total: 3 << 20})
	p.report(publish.Progress{Stage: "push", Done: 512, Total: -1})
	p.Close()
	want := "download: 0 B of 3.0 MiB\ndownload: 2.0 MiB of 3.0 MiB\npush: 512 B sent\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("progress lines (-want +got):\n%s", diff)
	}
}

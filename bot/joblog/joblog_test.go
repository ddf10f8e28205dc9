package joblog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/refbot/refbot/bot/store"
)

type lines struct {
	mu  sync.Mutex
	got []Line
}

func (l *lines) Write(x Line) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, x)
}

// TestCore: a logger wrapped with the context's sink writes each entry of
// Info and above to it, message then fields (With's first) as key=value,
// and still to its own core; an error's text stays out of the job's log.
func TestCore(t *testing.T) {
	main, logs := observer.New(zapcore.DebugLevel)
	sink := &lines{}
	ctx := With(context.Background(), sink)
	log := zap.New(main).WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return Core(ctx, c) }))
	log = log.With(zap.Int("pr", 7), zap.String("user", "ann"))
	log.Debug("not in the job's log")
	log.Info("update: push", zap.String("build", "12 34"), zap.Strings("files", []string{"a.png", "b.png"}))
	log.Warn("restart CI build", zap.Error(errors.New("dial tcp 10.0.0.3:443: secret host")), zap.String("empty", ""),
		zap.Duration("after", 1500*time.Millisecond), zap.Bool("fork", true), zap.String("quote", `a"b`))
	want := []string{
		`info update: push pr=7 user=ann build="12 34" files="[a.png b.png]"`,
		`warn restart CI build pr=7 user=ann error=(in refbot's log) empty="" after=1.5s fork=true quote="a\"b"`,
	}
	var got []string
	for _, l := range sink.got {
		if l.At.IsZero() {
			t.Errorf("line %q without a time", l.Message)
		}
		got = append(got, l.Level+" "+l.Message)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("job's log (-want +got):\n%s", diff)
	}
	if n := logs.Len(); n != 3 {
		t.Errorf("refbot's log has %d entries, want all 3", n)
	}
	if e := logs.All()[2]; e.ContextMap()["error"] == nil {
		t.Errorf("refbot's log lost the error: %+v", e.ContextMap())
	}
}

// TestNoSink: without a sink, Core is the core itself and From is nil,
// also for a nil context.
func TestNoSink(t *testing.T) {
	main, _ := observer.New(zapcore.InfoLevel)
	if got := Core(context.Background(), main); got != main {
		t.Errorf("Core without a sink is %T, want the core itself", got)
	}
	var none context.Context
	if s := From(none); s != nil {
		t.Errorf("From(nil) = %v", s)
	}
	if s := From(context.Background()); s != nil {
		t.Errorf("From without a sink = %v", s)
	}
}

type fakeStore struct {
	mu      sync.Mutex
	written []store.JobLogLine
	fail    error
	wrote   chan struct{}
}

func (f *fakeStore) AppendJobLogs(ctx context.Context, id int64, l []store.JobLogLine) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wrote != nil {
		defer func() { f.wrote <- struct{}{} }()
	}
	if f.fail != nil {
		return f.fail
	}
	f.written = append(f.written, l...)
	return nil
}

// TestWriter: lines are written while the job runs (without waiting for
// Close) and the rest at Close, in order, with the attempt; past the cap
// the writer keeps no more; writes after Close are dropped.
func TestWriter(t *testing.T) {
	st := &fakeStore{wrote: make(chan struct{}, 100)}
	w := NewWriter(st, 5, 2, nil)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	w.Write(Line{At: at, Level: "info", Message: "first"})
	<-st.wrote // flushed by the ticker, the writer still open
	for range store.MaxJobLogLines + 50 {
		w.Write(Line{At: at, Level: "info", Message: "line"})
	}
	w.Close()
	w.Close()
	w.Write(Line{At: at, Level: "info", Message: "after close"})
	st.mu.Lock()
	defer st.mu.Unlock()
	if n := len(st.written); n != store.MaxJobLogLines+1 {
		t.Errorf("%d lines written, want %d (the cap, and one for the store's note)", n, store.MaxJobLogLines+1)
	}
	if got := st.written[0]; got != (store.JobLogLine{Attempt: 2, At: at, Level: "info", Message: "first"}) {
		t.Errorf("first line %+v", got)
	}
}

// TestWriterFailure: a failed write is said once in refbot's log and its
// lines dropped; the job goes on.
func TestWriterFailure(t *testing.T) {
	st := &fakeStore{fail: errors.New("database is locked"), wrote: make(chan struct{}, 100)}
	core, logs := observer.New(zapcore.InfoLevel)
	w := NewWriter(st, 5, 1, zap.New(core))
	w.Write(Line{Level: "info", Message: "one"})
	<-st.wrote
	w.Write(Line{Level: "info", Message: "two"})
	<-st.wrote
	w.Write(Line{Level: "info", Message: "three"})
	w.Close()
	if n := logs.FilterMessage("job log lines dropped").Len(); n != 1 {
		t.Errorf("failed writes logged %d times, want once", n)
	}
}

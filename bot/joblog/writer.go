package joblog

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/store"
)

// Store keeps the lines (store.Store).
type Store interface {
	AppendJobLogs(ctx context.Context, jobID int64, lines []store.JobLogLine) error
}

// FlushEvery is how often a Writer writes the lines it holds.
const FlushEvery = 200 * time.Millisecond

// flushTimeout bounds one write to the store.
const flushTimeout = 5 * time.Second

// Writer is the Sink of one attempt of one job: Write only keeps the line,
// and a goroutine writes what it holds every FlushEvery, so that logging
// never waits for the database (one line in a transaction of its own costs
// SQLite about 80µs, on the connection River shares). A failed write is
// logged once to refbot's log and its lines dropped: a job's log must not
// slow or fail the job. Close writes the rest and ends the goroutine.
type Writer struct {
	st      Store
	job     int64
	attempt int
	log     *zap.Logger

	mu      sync.Mutex
	pending []store.JobLogLine
	held    int  // lines taken by this writer, written or not
	failed  bool // a write failed: said once
	stop    chan struct{}
	done    chan struct{}
	closed  bool
}

// NewWriter starts the Writer of attempt attempt of job id; log is
// refbot's, told of a failed write.
func NewWriter(st Store, id int64, attempt int, log *zap.Logger) *Writer {
	if log == nil {
		log = zap.NewNop()
	}
	w := &Writer{st: st, job: id, attempt: attempt, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Write keeps l for the next flush. Past the store's cap, lines are not
// kept (the store writes one line saying so).
func (w *Writer) Write(l Line) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.held > store.MaxJobLogLines {
		return
	}
	w.held++
	w.pending = append(w.pending, store.JobLogLine{Attempt: w.attempt, At: l.At, Level: l.Level, Message: l.Message})
}

func (w *Writer) run() {
	defer close(w.done)
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			w.flush()
			return
		case <-t.C:
			w.flush()
		}
	}
}

// flush writes the lines held. Only run calls it: writes are in order.
func (w *Writer) flush() {
	w.mu.Lock()
	lines := w.pending
	w.pending = nil
	w.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := w.st.AppendJobLogs(ctx, w.job, lines); err != nil {
		w.mu.Lock()
		first := !w.failed
		w.failed = true
		w.mu.Unlock()
		if first {
			w.log.Warn("job log lines dropped", zap.Int64("job", w.job), zap.Int("lines", len(lines)), zap.Error(err))
		}
	}
}

// Close writes the lines still held and stops the Writer; Writes after it
// are dropped. It is safe to call more than once.
func (w *Writer) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
}

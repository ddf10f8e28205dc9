package queue

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/refbot/refbot/bot/intake"
)

// TestRiverLogsInRefbotsLog: River's warnings and errors reach refbot's
// logger, named "river", with their attributes; its Info lines (each
// maintenance pass) do not. Without this River writes text to standard
// output, into the CLI's answers.
func TestRiverLogsInRefbotsLog(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := riverLogger(zap.New(core))
	l.Info("maintenance ran", slog.Int("n", 1))
	l.Warn("soft stop timeout", slog.Duration("soft_stop_timeout", time.Second))
	l.WithGroup("job").Error("job errored", slog.Int64("id", 7))
	got := logs.AllUntimed()
	if len(got) != 2 {
		t.Fatalf("logged %d lines, want the warning and the error: %v", len(got), got)
	}
	if e := got[0]; e.LoggerName != "river" || e.Level != zapcore.WarnLevel || e.ContextMap()["soft_stop_timeout"] != time.Second {
		t.Errorf("warning logged as %+v", e)
	}
	if e := got[1]; e.Level != zapcore.ErrorLevel || e.ContextMap()["job"].(map[string]any)["id"] != int64(7) {
		t.Errorf("error logged as %+v", e)
	}

	// Through a real queue: River recovers a worker's panic and says so
	// at Error.
	ctx := context.Background()
	core, logs = observer.New(zapcore.DebugLevel)
	ran := make(chan struct{}, 1)
	q := openConfig(t, database(t), Config{Logger: zap.New(core), LeaseWait: 50 * time.Millisecond, Handlers: Handlers{
		Comment: func(ctx context.Context, w intake.CommentWork) error {
			ran <- struct{}{}
			panic("a bug in a job")
		},
	}})
	if _, err := q.Record(ctx, commentDelivery("d", 7, 70)); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-ran
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	q.Close()
	river := logs.Filter(func(e observer.LoggedEntry) bool { return e.LoggerName == "river" }).AllUntimed()
	if len(river) == 0 {
		t.Fatalf("River logged nothing through refbot's logger; refbot logged %v", logs.AllUntimed())
	}
	for _, e := range river {
		if e.Level < zapcore.WarnLevel {
			t.Errorf("River's %s line %q passed", e.Level, e.Message)
		}
	}
	if !strings.Contains(river[0].Message, "panic") || river[0].ContextMap()["panic_val"] != "a bug in a job" {
		t.Errorf("River's line: %s %v, want its panic recovery", river[0].Message, river[0].ContextMap())
	}
}

package workflow

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/refbot/refbot/bot/joblog"
)

type sinkLines []joblog.Line

func (s *sinkLines) Write(l joblog.Line) { *s = append(*s, l) }

// TestLogc: in a job, the Bot's log lines go to refbot's log and to the
// job's; outside one, only to refbot's.
func TestLogc(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	b := &Bot{log: zap.New(core)}
	var sink sinkLines
	b.logc(context.Background()).Info("outside a job")
	ctx := joblog.With(context.Background(), &sink)
	b.logc(ctx).With(zap.Int("pr", 3)).Warn("restart CI build", zap.String("build", "42"), zap.Error(errors.New("internal")))
	if logs.Len() != 2 {
		t.Errorf("refbot's log has %d lines, want 2", logs.Len())
	}
	if len(sink) != 1 || sink[0].Level != "warn" || sink[0].Message != "restart CI build pr=3 build=42 error=(in refbot's log)" {
		t.Errorf("job's log: %+v", sink)
	}
}

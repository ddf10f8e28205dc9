package workflow

import (
	"context"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/refbot/refbot/bot/joblog"
)

// logc is refbot's log, teed into the log of the job ctx runs in (see
// joblog), so that the job's page shows what it does while it runs. Code
// that runs in a job logs through it; what it logs is public on a public
// repository's page (an error's text is kept out: joblog renders it as a
// pointer to refbot's log).
func (b *Bot) logc(ctx context.Context) *zap.Logger {
	if joblog.From(ctx) == nil {
		return b.log
	}
	return b.log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return joblog.Core(ctx, c) }))
}

// Package joblog gives a running job a log of its own, which the job's
// page shows while it runs (docs/design.md, "Review pages"): a Sink is
// carried in the job's context, and a zap logger wrapped by Core writes
// each entry to the sink as well as to refbot's log.
//
// River's own riverlog middleware does not fit: it collects an attempt's
// output in memory and writes it into the job's metadata only when the
// attempt ends (riverlog.Middleware.Work, in a deferred function), so a
// page could not show the lines of a running attempt. Here, a Writer
// flushes lines to the store every FlushEvery and at the attempt's end.
package joblog

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
)

// Line is one entry of a job's log.
type Line struct {
	At      time.Time
	Level   string // zap's level name: debug, info, warn, error …
	Message string // the message, then the entry's fields as key=value
}

// Sink takes a job's log lines. Write must not block for long nor fail:
// the job's work comes first.
type Sink interface {
	Write(Line)
}

type sinkKey struct{}

// With returns ctx carrying sink.
func With(ctx context.Context, sink Sink) context.Context {
	return context.WithValue(ctx, sinkKey{}, sink)
}

// From returns the sink ctx carries, or nil.
func From(ctx context.Context) Sink {
	if ctx == nil {
		return nil
	}
	s, _ := ctx.Value(sinkKey{}).(Sink)
	return s
}

// MinLevel is the least level a job's log keeps: debug entries stay in
// refbot's log only.
const MinLevel = zapcore.InfoLevel

// Core returns core teed into the sink ctx carries (entries of MinLevel
// and above), or core itself when ctx carries none.
func Core(ctx context.Context, core zapcore.Core) zapcore.Core {
	s := From(ctx)
	if s == nil {
		return core
	}
	return zapcore.NewTee(core, &sinkCore{sink: s})
}

// sinkCore is a zapcore.Core writing to a Sink.
type sinkCore struct {
	sink   Sink
	fields string // rendered fields added by With, each with a leading space
}

func (c *sinkCore) Enabled(l zapcore.Level) bool { return l >= MinLevel }

func (c *sinkCore) With(fields []zapcore.Field) zapcore.Core {
	return &sinkCore{sink: c.sink, fields: c.fields + render(fields)}
}

func (c *sinkCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *sinkCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	c.sink.Write(Line{At: e.Time, Level: e.Level.String(), Message: e.Message + c.fields + render(fields)})
	return nil
}

func (c *sinkCore) Sync() error { return nil }

// render writes fields as " key=value", in order. An error's text is left
// out: it may name refbot's internals (hosts, paths, buckets), and a job's
// page may be public; it is in refbot's log.
func render(fields []zapcore.Field) string {
	var b strings.Builder
	for _, f := range fields {
		switch f.Type {
		case zapcore.SkipType, zapcore.NamespaceType:
			continue
		case zapcore.ErrorType:
			b.WriteString(" " + f.Key + "=(in refbot's log)")
			continue
		}
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		for _, k := range sortedKeys(enc.Fields) {
			b.WriteString(" " + k + "=" + value(enc.Fields[k]))
		}
	}
	return b.String()
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// value renders a field's value; text with spaces, quotes or nothing at all
// is quoted, so that a line reads back unambiguously.
func value(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case time.Time:
		s = v.UTC().Format(time.RFC3339)
	case time.Duration:
		s = v.String()
	case fmt.Stringer:
		s = v.String()
	default:
		s = fmt.Sprint(v)
	}
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return strconv.Quote(s)
	}
	return s
}

package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestJobLog: lines are numbered per job in the order written, read after a
// given line, capped with one line saying the rest were dropped, and
// pruned once their job is gone from River's table.
func TestJobLog(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if err := s.AppendJobLog(ctx, 7, 1, t0, "info", "update: find the build"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendJobLogs(ctx, 7, []JobLogLine{
		{Seq: 99, Attempt: 1, At: t0.Add(time.Second), Level: "warn", Message: `restart CI build build=42 error="<timeout>"`},
		{Attempt: 2, At: t0.Add(time.Minute), Level: "info", Message: "update: push"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendJobLog(ctx, 8, 1, t0, "info", "other job"); err != nil {
		t.Fatal(err)
	}
	want := []JobLogLine{
		{Seq: 1, Attempt: 1, At: t0, Level: "info", Message: "update: find the build"},
		{Seq: 2, Attempt: 1, At: t0.Add(time.Second), Level: "warn", Message: `restart CI build build=42 error="<timeout>"`},
		{Seq: 3, Attempt: 2, At: t0.Add(time.Minute), Level: "info", Message: "update: push"},
	}
	got, err := s.JobLog(ctx, 7, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JobLog(7, 0) (-want +got):\n%s", diff)
	}
	got, err = s.JobLog(ctx, 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[2:], got); diff != "" {
		t.Errorf("JobLog(7, 2) (-want +got):\n%s", diff)
	}
	if got, err := s.JobLog(ctx, 9, 0); err != nil || len(got) != 0 {
		t.Errorf("JobLog of a job without lines: %+v, %v", got, err)
	}

	// The cap: job 8 already has one line; 1200 more leave 1000 and one
	// line saying the rest were dropped, and later appends add nothing.
	var many []JobLogLine
	for i := range 1200 {
		many = append(many, JobLogLine{Attempt: 1, At: t0, Level: "info", Message: fmt.Sprint("line ", i)})
	}
	if err := s.AppendJobLogs(ctx, 8, many[:600]); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendJobLogs(ctx, 8, many[600:]); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendJobLog(ctx, 8, 2, t0, "info", "after the cap"); err != nil {
		t.Fatal(err)
	}
	got, err = s.JobLog(ctx, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxJobLogLines+1 {
		t.Fatalf("%d lines kept of 1202, want %d", len(got), MaxJobLogLines+1)
	}
	if l := got[MaxJobLogLines-1]; l.Seq != MaxJobLogLines || l.Message != "line 998" {
		t.Errorf("last line kept: %+v, want line 998 at %d", l, MaxJobLogLines)
	}
	if l := got[MaxJobLogLines]; l.Seq != MaxJobLogLines+1 || l.Message != JobLogDropped || l.Level != "warn" {
		t.Errorf("line after the cap: %+v, want the note that lines were dropped", l)
	}

	// Pruning keeps the lines of jobs River still has. The store's tests
	// have no River: a table with its job ids stands in.
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE river_job (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO river_job (id) VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneJobLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != MaxJobLogLines+1 {
		t.Errorf("pruned %d lines, want job 8's %d", n, MaxJobLogLines+1)
	}
	if got, _ := s.JobLog(ctx, 8, 0); len(got) != 0 {
		t.Errorf("job 8's log after pruning: %d lines", len(got))
	}
	if got, _ := s.JobLog(ctx, 7, 0); len(got) != 3 {
		t.Errorf("job 7's log after pruning: %d lines, want 3", len(got))
	}
}

// BenchmarkAppendJobLog measures one line appended in its own transaction
// (SQLite; PostgreSQL in the run on it).
func BenchmarkAppendJobLog(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir()+"/refbot.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	at := time.Now()
	b.ResetTimer()
	for i := range b.N {
		if err := s.AppendJobLog(ctx, int64(i/500), 1, at, "info", "update: push the data build=12345 pr=7"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendJobLogs measures a batch of 20 lines in one transaction,
// what the job log's writer flushes.
func BenchmarkAppendJobLogs(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir()+"/refbot.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	lines := make([]JobLogLine, 20)
	for i := range lines {
		lines[i] = JobLogLine{Attempt: 1, At: time.Now(), Level: "info", Message: "update: push the data build=12345 pr=7"}
	}
	b.ResetTimer()
	for i := range b.N {
		if err := s.AppendJobLogs(ctx, int64(i/40), lines); err != nil {
			b.Fatal(err)
		}
	}
}

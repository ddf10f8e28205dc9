package queue

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestOldestJobAge: the age of the oldest job waiting to run is counted
// from when it became due.
func TestOldestJobAge(t *testing.T) {
	ctx := context.Background()
	q := open(t, database(t), Handlers{})
	defer q.Close()
	before := time.Now()
	for i := range 2 {
		if _, err := q.Record(ctx, commentDelivery(fmt.Sprint("age", i), 1, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	after := time.Now()
	stats, err := q.JobStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 1 || stats[0].Kind != "comment" || stats[0].State != "available" || stats[0].Count != 2 {
		t.Fatalf("stats = %+v, want 2 available comment jobs", stats)
	}
	// River keeps times to the millisecond.
	if oldest := stats[0].Oldest; oldest.Before(before.Add(-time.Millisecond)) || oldest.After(after.Add(time.Millisecond)) {
		t.Fatalf("oldest = %v, want between %v and %v", oldest, before, after)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(jobCollector{stats: q.JobStats, now: func() time.Time { return stats[0].Oldest.Add(90 * time.Second) }})
	want := `
# HELP refbot_jobs_oldest_age_seconds Age of the oldest job of a kind in a state that has not ended: for available jobs since they became due, for running ones since their attempt started, for the others (scheduled, retryable, pending) since they were made.
# TYPE refbot_jobs_oldest_age_seconds gauge
refbot_jobs_oldest_age_seconds{kind="comment",state="available"} 90
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "refbot_jobs_oldest_age_seconds"); err != nil {
		t.Error(err)
	}
}

func TestDBTime(t *testing.T) {
	want := time.Date(2026, 3, 1, 12, 30, 5, 123e6, time.UTC)
	for _, v := range []any{"2026-03-01 12:30:05.123", []byte("2026-03-01 12:30:05.123"), "2026-03-01T12:30:05.123Z",
		"2026-03-01T13:30:05.123+01:00", want} {
		var got dbTime
		if err := got.Scan(v); err != nil || !time.Time(got).Equal(want) {
			t.Errorf("Scan(%v) = %v, %v; want %v", v, time.Time(got), err, want)
		}
	}
	var got dbTime
	if err := got.Scan(nil); err != nil || !time.Time(got).IsZero() {
		t.Errorf("Scan(nil) = %v, %v", time.Time(got), err)
	}
	if err := got.Scan("yesterday"); err == nil {
		t.Error("Scan(yesterday): no error")
	}
	// A job made by SQLite's CURRENT_TIMESTAMP has no fraction.
	if err := got.Scan("2026-03-01 12:30:05"); err != nil || !time.Time(got).Equal(want.Truncate(time.Second)) {
		t.Errorf("Scan without a fraction = %v, %v", time.Time(got), err)
	}
}

// TestCollectorsDescribeWithoutSource: the collector of no source is
// described (for the list of refbot's metrics) and reports nothing.
func TestCollectorsDescribeWithoutSource(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewJobsCollector(nil))
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("a collector without a source gathered %d series, %v", n, err)
	}
	ch := make(chan *prometheus.Desc, 4)
	NewJobsCollector(nil).Describe(ch)
	close(ch)
	var names []string
	for d := range ch {
		names = append(names, d.String())
	}
	if len(names) != 2 || !strings.Contains(names[0], `"refbot_jobs"`) || !strings.Contains(names[1], `"refbot_jobs_oldest_age_seconds"`) {
		t.Errorf("descriptions: %v", names)
	}
}

package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/refbot/refbot/internal/fakegithub"
)

// TestRunMetrics: Run counts its passes and what they recorded that the
// webhook missed; the last complete pass is read from the store.
func TestRunMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *Options) { o.Metrics, o.Interval = m, time.Hour })
	reg.MustRegister(NewLastPassCollector(h.st.LastPass))
	h.fake.AddPR(fakegithub.PR{Number: 1})
	h.fake.AddComment(1, "alice", "BUILDBOT: UPDATE")
	h.at(time.Minute)

	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() { defer close(returned); h.r.Run(ctx) }()
	// Run passes at once, then waits an hour.
	for deadline := time.Now().Add(time.Minute); testutil.ToFloat64(m.passes.WithLabelValues("ok")) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no pass counted within a minute")
		}
	}
	cancel()
	<-returned

	last, err := h.st.LastPass(context.Background())
	if err != nil || last.IsZero() {
		t.Fatalf("last pass %v, %v", last, err)
	}
	want := `
# HELP refbot_reconcile_missed_events_total Events the webhook had not delivered that reconcile passes recorded, by kind (comment, merge, close).
# TYPE refbot_reconcile_missed_events_total counter
refbot_reconcile_missed_events_total{kind="close"} 0
refbot_reconcile_missed_events_total{kind="comment"} 1
refbot_reconcile_missed_events_total{kind="merge"} 0
# HELP refbot_reconcile_passes_total Reconcile passes this process ran, by outcome (ok, error).
# TYPE refbot_reconcile_passes_total counter
refbot_reconcile_passes_total{outcome="ok"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "refbot_reconcile_missed_events_total", "refbot_reconcile_passes_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(NewLastPassCollector(h.st.LastPass)); got != float64(last.Unix()) {
		t.Errorf("last pass metric = %v, want %v", got, last.Unix())
	}
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Errorf("pass durations: %d series", n)
	}
}

func TestLastPassCollector(t *testing.T) {
	for _, tc := range []struct {
		name string
		last func(context.Context) (time.Time, error)
		want int // series
	}{
		{"no source", nil, 0},
		{"no pass yet", func(context.Context) (time.Time, error) { return time.Time{}, nil }, 0},
		{"a pass", func(context.Context) (time.Time, error) { return time.Unix(1700000000, 5e8), nil }, 1},
	} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(NewLastPassCollector(tc.last))
		if n, err := testutil.GatherAndCount(reg); err != nil || n != tc.want {
			t.Errorf("%s: %d series, %v; want %d", tc.name, n, err, tc.want)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewLastPassCollector(func(context.Context) (time.Time, error) { return time.Time{}, errors.New("database is locked") }))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("a failed read: %v", err)
	}
}

package workflow

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetrics: an UPDATE counts once, when it ends, by its outcome, and
// is timed from its build's choice; a retried job counts nothing again; a
// merge counts once it is done.
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	f.bot.met = m
	f.upload(t, head, bChanged)
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	commentSeq-- // the same comment's job again
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if err := f.comment(t, "alice", "BUILDBOT: UPDATE"); err != nil { // within the cooldown
		t.Fatal(err)
	}
	f.postMergeBuild("passed")
	f.gh.fake.Merge(12, "alice")
	for range 2 { // the second: the event delivered again
		if err := f.closed(t, true); err != nil {
			t.Fatal(err)
		}
	}

	counts := func(c *prometheus.CounterVec) map[string]float64 {
		out := map[string]float64{}
		for _, outcome := range []string{"passed", "failed", "unchanged", "refused", "stopped", "superseded", "timed_out", "gave_up",
			"promoted", "rebuilt"} {
			if v := testutil.ToFloat64(c.WithLabelValues(outcome)); v > 0 {
				out[outcome] = v
			}
		}
		return out
	}
	if diff := cmp.Diff(map[string]float64{"passed": 1, "refused": 1}, counts(m.updates)); diff != "" {
		t.Errorf("updates by outcome (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]float64{"promoted": 1}, counts(m.merges)); diff != "" {
		t.Errorf("merges by outcome (-want +got):\n%s", diff)
	}
	// Only the UPDATE that chose a build is timed; the refused one was
	// refused before.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	timed := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() == "refbot_update_duration_seconds" {
			for _, s := range mf.GetMetric() {
				timed[s.GetLabel()[0].GetValue()] = s.GetHistogram().GetSampleCount()
				if s.GetHistogram().GetSampleSum() <= 0 {
					t.Errorf("an update took %v s", s.GetHistogram().GetSampleSum())
				}
			}
		}
	}
	if diff := cmp.Diff(map[string]uint64{"passed": 1}, timed); diff != "" {
		t.Errorf("timed updates (-want +got):\n%s", diff)
	}
}

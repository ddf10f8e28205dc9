package workflow

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/promreg"
)

// Metrics count how UPDATEs and merges end. A nil *Metrics counts nothing.
type Metrics struct {
	updates        *prometheus.CounterVec
	updateDuration *prometheus.HistogramVec
	merges         *prometheus.CounterVec
}

// NewMetrics registers the workflows' metrics on reg, or returns those
// registered there before.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refbot_updates_total",
			Help: "UPDATEs that ended, by outcome: passed, failed or unchanged (CI's verdict on the new data, or no change to push), " +
				"refused, stopped, superseded, timed_out, gave_up.",
		}, []string{"outcome"}),
		updateDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "refbot_update_duration_seconds",
			Help: "Time from an UPDATE's build being chosen to its end, CI's rerun included, by outcome; " +
				"an UPDATE refused before it chose a build is not timed.",
			Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800},
		}, []string{"outcome"}),
		merges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refbot_merges_total",
			Help: "Merged pull requests whose data refbot took to the base branch, by outcome: promoted (the data branch as it was), " +
				"rebuilt (the post-merge build's outputs), failed (nothing could be taken), gave_up (an outage outlasted the attempts).",
		}, []string{"outcome"}),
	}
	var err error
	if m.updates, err = promreg.Register(reg, m.updates); err != nil {
		return nil, err
	}
	if m.updateDuration, err = promreg.Register(reg, m.updateDuration); err != nil {
		return nil, err
	}
	if m.merges, err = promreg.Register(reg, m.merges); err != nil {
		return nil, err
	}
	return m, nil
}

// updateEnded counts an UPDATE that ended with outcome and, when it chose
// a build (started is not zero), times it until now.
func (m *Metrics) updateEnded(outcome string, started, now time.Time) {
	if m == nil {
		return
	}
	m.updates.WithLabelValues(outcome).Inc()
	if !started.IsZero() {
		m.updateDuration.WithLabelValues(outcome).Observe(max(now.Sub(started).Seconds(), 0))
	}
}

// startedAt is when update u chose its build; zero when there is no
// record of it (refused before).
func startedAt(u *store.Update) time.Time {
	if u == nil {
		return time.Time{}
	}
	return u.CreatedAt
}

// updateOutcome is the outcome label of an update that ended: CI's
// verdict for one that is done, else its final step.
func updateOutcome(u *store.Update) string {
	if u.Step == store.StepDone && u.Outcome != "" {
		return u.Outcome
	}
	return strings.ReplaceAll(u.Step, "-", "_")
}

func (m *Metrics) mergeEnded(outcome string) {
	if m == nil {
		return
	}
	m.merges.WithLabelValues(outcome).Inc()
}

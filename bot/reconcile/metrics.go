package reconcile

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/internal/promreg"
)

// Metrics count the reconciler's passes and what they found that the
// webhook had not delivered. A nil *Metrics counts nothing.
type Metrics struct {
	passes   *prometheus.CounterVec
	duration prometheus.Histogram
	missed   *prometheus.CounterVec
}

// NewMetrics registers the reconciler's metrics on reg, or returns those
// registered there before.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refbot_reconcile_passes_total",
			Help: "Reconcile passes this process ran, by outcome (ok, error).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "refbot_reconcile_pass_duration_seconds",
			Help:    "Time of a reconcile pass, failed ones included.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		missed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refbot_reconcile_missed_events_total",
			Help: "Events the webhook had not delivered that reconcile passes recorded, by kind (comment, merge, close).",
		}, []string{"kind"}),
	}
	var err error
	if m.passes, err = promreg.Register(reg, m.passes); err != nil {
		return nil, err
	}
	if m.duration, err = promreg.Register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.missed, err = promreg.Register(reg, m.missed); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) passed(res Result, err error, took time.Duration) {
	if m == nil {
		return
	}
	m.duration.Observe(took.Seconds())
	if err != nil {
		m.passes.WithLabelValues("error").Inc()
		return
	}
	m.passes.WithLabelValues("ok").Inc()
	m.missed.WithLabelValues("comment").Add(float64(res.Comments))
	m.missed.WithLabelValues("merge").Add(float64(res.Merges))
	m.missed.WithLabelValues("close").Add(float64(res.Closes))
}

var lastPassDesc = prometheus.NewDesc("refbot_reconcile_last_success_timestamp_seconds",
	"When the last complete reconcile pass started (Unix time), as the database records it: the same on every replica, "+
		"whichever ran the pass; absent before the first.", nil, nil)

// NewLastPassCollector reports the last complete pass, read by last (the
// store's LastPass) when Prometheus scrapes. With a nil last it reports
// nothing (its metric is described all the same).
func NewLastPassCollector(last func(context.Context) (time.Time, error)) prometheus.Collector {
	return lastPassCollector{last}
}

type lastPassCollector struct {
	last func(context.Context) (time.Time, error)
}

func (c lastPassCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lastPassDesc }

func (c lastPassCollector) Collect(ch chan<- prometheus.Metric) {
	if c.last == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t, err := c.last(ctx)
	switch {
	case err != nil:
		ch <- prometheus.NewInvalidMetric(lastPassDesc, err)
	case !t.IsZero():
		ch <- prometheus.MustNewConstMetric(lastPassDesc, prometheus.GaugeValue, float64(t.UnixNano())/1e9)
	}
}

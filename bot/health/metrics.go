package health

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/internal/promreg"
)

// Metrics show the checks' results. A nil *Metrics shows nothing.
type Metrics struct {
	up         *prometheus.GaugeVec
	lastPassed *prometheus.GaugeVec
	duration   *prometheus.HistogramVec
}

// NewMetrics registers the checks' metrics on reg, or returns those
// registered there before.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "refbot_dependency_up",
			Help: "1 when the last check of an outside system passed, 0 when it failed, by system (github, s3, data_repo).",
		}, []string{"system"}),
		lastPassed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "refbot_dependency_last_success_timestamp_seconds",
			Help: "When a check of an outside system last passed (Unix time), by system.",
		}, []string{"system"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "refbot_dependency_check_duration_seconds",
			Help:    "Time of a check of an outside system, by system (a check gives up after 10 s by default).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"system"}),
	}
	var err error
	if m.up, err = promreg.Register(reg, m.up); err != nil {
		return nil, err
	}
	if m.lastPassed, err = promreg.Register(reg, m.lastPassed); err != nil {
		return nil, err
	}
	if m.duration, err = promreg.Register(reg, m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) checked(r Result, took time.Duration) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(r.ID).Observe(took.Seconds())
	up := 0.0
	if r.Passed {
		up = 1
	}
	m.up.WithLabelValues(r.ID).Set(up)
	if !r.LastPassed.IsZero() {
		m.lastPassed.WithLabelValues(r.ID).Set(float64(r.LastPassed.UnixNano()) / 1e9)
	}
}

var readyDesc = prometheus.NewDesc("refbot_ready",
	"1 when refbot is ready (GET /readyz answers 200: its database answers and every outside system's last check passed recently), else 0.",
	nil, nil)

// NewReadyCollector reports refbot_ready from ready (a Checker's Ready),
// asked when Prometheus scrapes. With a nil ready it reports nothing (its
// metric is described all the same).
func NewReadyCollector(ready func(context.Context) error) prometheus.Collector {
	return readyCollector{ready}
}

type readyCollector struct {
	ready func(context.Context) error
}

func (c readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc }

func (c readyCollector) Collect(ch chan<- prometheus.Metric) {
	if c.ready == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v := 1.0
	if c.ready(ctx) != nil {
		v = 0
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, v)
}

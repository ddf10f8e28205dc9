package intake

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count deliveries by answer and time the answers.
type Metrics struct {
	deliveries *prometheus.CounterVec
	latency    prometheus.Histogram
}

// NewMetrics registers intake's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refbot_webhook_deliveries_total",
			Help: "Webhook deliveries by HTTP status of refbot's answer.",
		}, []string{"code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "refbot_webhook_answer_seconds",
			Help:    "Time from receiving a delivery to answering it.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	reg.MustRegister(m.deliveries, m.latency)
	return m
}

func (m *Metrics) observe(code int, d time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(strconv.Itoa(code)).Inc()
	m.latency.Observe(d.Seconds())
}

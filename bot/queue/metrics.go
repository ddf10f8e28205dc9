package queue

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var jobsDesc = prometheus.NewDesc("refbot_jobs", "Jobs in the queue by kind and state.", []string{"kind", "state"}, nil)

// Collector reports the jobs by kind and state, counted in the database
// when Prometheus scrapes.
func (q *Queue) Collector() prometheus.Collector { return jobCollector{q} }

type jobCollector struct{ q *Queue }

func (c jobCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c jobCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := c.q.db.QueryContext(ctx, `SELECT kind, state, count(*) FROM river_job GROUP BY kind, state`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var kind, state string
		var n float64
		if err := rows.Scan(&kind, &state, &n); err != nil {
			ch <- prometheus.NewInvalidMetric(jobsDesc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, n, kind, state)
	}
}

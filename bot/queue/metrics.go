package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	jobsDesc = prometheus.NewDesc("refbot_jobs", "Jobs in the queue by kind and state.", []string{"kind", "state"}, nil)
	ageDesc  = prometheus.NewDesc("refbot_jobs_oldest_age_seconds",
		"Age of the oldest job of a kind in a state that has not ended: for available jobs since they became due, "+
			"for running ones since their attempt started, for the others (scheduled, retryable, pending) since they were made.",
		[]string{"kind", "state"}, nil)
)

// JobStat counts the jobs of one kind in one state.
type JobStat struct {
	Kind, State string
	Count       int
	// Oldest is, for a state that has not ended, when its oldest job
	// became due (available), started its attempt (running) or was made
	// (the others); zero for the ended states.
	Oldest time.Time
}

// JobStats counts the queue's jobs by kind and state, in River's table.
func (q *Queue) JobStats(ctx context.Context) ([]JobStat, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT kind, state, count(*), min(CASE state
			WHEN 'available' THEN scheduled_at WHEN 'running' THEN attempted_at ELSE created_at END)
		FROM river_job GROUP BY kind, state`)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	var out []JobStat
	for rows.Next() {
		var s JobStat
		var oldest dbTime
		if err := rows.Scan(&s.Kind, &s.State, &s.Count, &oldest); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		if isActive(s.State) {
			s.Oldest = time.Time(oldest)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return out, nil
}

func isActive(state string) bool {
	switch state {
	case "available", "pending", "retryable", "running", "scheduled":
		return true
	}
	return false
}

// dbTime scans a time as the database gives it: a time.Time, or SQLite's
// text of an aggregate ("2006-01-02 15:04:05.000" in UTC, as River writes
// it, or RFC 3339); NULL is the zero time.
type dbTime time.Time

func (t *dbTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*t = dbTime{}
		return nil
	case time.Time:
		*t = dbTime(v)
		return nil
	case []byte:
		return t.Scan(string(v))
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05", time.RFC3339Nano, "2006-01-02T15:04:05"} {
			if p, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
				*t = dbTime(p)
				return nil
			}
		}
		return fmt.Errorf("job time %q: not a time", v)
	}
	return fmt.Errorf("job time: cannot scan %T", v)
}

// Collector reports the jobs by kind and state, counted in the database
// when Prometheus scrapes.
func (q *Queue) Collector() prometheus.Collector { return NewJobsCollector(q.JobStats) }

// NewJobsCollector reports refbot_jobs and refbot_jobs_oldest_age_seconds
// from stats, read when Prometheus scrapes. With a nil stats it reports
// nothing (its metrics are described all the same).
func NewJobsCollector(stats func(context.Context) ([]JobStat, error)) prometheus.Collector {
	return jobCollector{stats: stats, now: time.Now}
}

type jobCollector struct {
	stats func(context.Context) ([]JobStat, error)
	now   func() time.Time
}

func (c jobCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- ageDesc
}

func (c jobCollector) Collect(ch chan<- prometheus.Metric) {
	if c.stats == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	now := c.now()
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(s.Count), s.Kind, s.State)
		if !s.Oldest.IsZero() {
			age := max(now.Sub(s.Oldest).Seconds(), 0)
			ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age, s.Kind, s.State)
		}
	}
}

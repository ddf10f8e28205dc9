// Package metrics registers every Prometheus metric refbot serve exposes
// on /metrics, in one place: the counters and histograms its parts update
// as they work (given to them as a Set), and the collectors that read
// their values when Prometheus scrapes (the queue's jobs, the last
// reconcile pass, readiness). docs/operations.md lists them all, and the
// test in deploy/ checks that the example dashboard and alert rules name
// only metrics registered here.
package metrics

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/health"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/policy"
	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/reconcile"
	"github.com/refbot/refbot/bot/workflow"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis"
)

// Set is the metrics of refbot's parts, for each part to update. The
// GitHub client registers its own (ghclient.Options.Registerer), sharing
// those Register made.
type Set struct {
	Intake    *intake.Metrics
	Workflow  *workflow.Metrics
	Policy    *policy.Metrics
	Reconcile *reconcile.Metrics
	Health    *health.Metrics
	S3        *s3cache.Metrics
	Git       *refdata.Metrics
	CI        *travis.Metrics
}

// Register registers, once per registry, the Go runtime's and the
// process's collectors and every metric refbot's parts update, and returns
// the parts' Set. It starts nothing.
func Register(reg prometheus.Registerer) (*Set, error) {
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	if err := ghclient.RegisterMetrics(reg); err != nil {
		return nil, fmt.Errorf("github metrics: %w", err)
	}
	s := &Set{Intake: intake.NewMetrics(reg)}
	var err error
	if s.Workflow, err = workflow.NewMetrics(reg); err != nil {
		return nil, fmt.Errorf("workflow metrics: %w", err)
	}
	if s.Policy, err = policy.NewMetrics(reg); err != nil {
		return nil, fmt.Errorf("policy metrics: %w", err)
	}
	if s.Reconcile, err = reconcile.NewMetrics(reg); err != nil {
		return nil, fmt.Errorf("reconcile metrics: %w", err)
	}
	if s.Health, err = health.NewMetrics(reg); err != nil {
		return nil, fmt.Errorf("health metrics: %w", err)
	}
	if s.S3, err = s3cache.NewMetrics(reg); err != nil {
		return nil, fmt.Errorf("s3 metrics: %w", err)
	}
	if s.Git, err = refdata.NewMetrics(reg); err != nil {
		return nil, fmt.Errorf("data repo metrics: %w", err)
	}
	if s.CI, err = travis.NewMetrics(reg); err != nil {
		return nil, fmt.Errorf("ci metrics: %w", err)
	}
	return s, nil
}

// Sources are what the collectors registered by RegisterReaders read
// when Prometheus scrapes. A nil source's collector is registered all the
// same, and reports nothing.
type Sources struct {
	// Jobs counts the queue's jobs (queue.Queue's JobStats).
	Jobs func(ctx context.Context) ([]queue.JobStat, error)
	// LastReconcile is when the last complete reconcile pass started
	// (store.Store's LastPass).
	LastReconcile func(ctx context.Context) (time.Time, error)
	// Ready is /readyz's answer (health.Checker's Ready).
	Ready func(ctx context.Context) error
}

// RegisterReaders registers the collectors that read src when Prometheus
// scrapes. refbot serve calls it once the parts src reads exist.
func RegisterReaders(reg prometheus.Registerer, src Sources) error {
	for _, c := range []prometheus.Collector{
		queue.NewJobsCollector(src.Jobs),
		reconcile.NewLastPassCollector(src.LastReconcile),
		health.NewReadyCollector(src.Ready),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Metric describes one metric refbot serve exposes.
type Metric struct {
	Name   string
	Type   string // counter, gauge or histogram
	Help   string
	Labels []string
}

// Describe lists every metric Register and RegisterReaders register, by
// name, from a registry of its own; it starts nothing and reads nothing.
// The documentation and the deploy files are checked against it.
func Describe() ([]Metric, error) {
	reg := prometheus.NewRegistry()
	rec := &recording{Registerer: reg}
	if _, err := Register(rec); err != nil {
		return nil, err
	}
	// Sources with a value each, so that gathering them gives their types.
	if err := RegisterReaders(rec, Sources{
		Jobs: func(context.Context) ([]queue.JobStat, error) {
			return []queue.JobStat{{Kind: "comment", State: "available", Count: 1, Oldest: time.Now()}}, nil
		},
		LastReconcile: func(context.Context) (time.Time, error) { return time.Now(), nil },
		Ready:         func(context.Context) error { return nil },
	}); err != nil {
		return nil, err
	}
	types := map[string]string{}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	for _, mf := range mfs {
		types[mf.GetName()] = strings.ToLower(mf.GetType().String())
	}
	var out []Metric
	for _, c := range rec.collectors {
		descs := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(descs); close(descs) }()
		for d := range descs {
			m, err := parseDesc(d)
			if err != nil {
				return nil, err
			}
			if m.Type = types[m.Name]; m.Type == "" {
				m.Type = typeOf(c)
			}
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Metric) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// recording is a Registerer that keeps what it registers.
type recording struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recording) Register(c prometheus.Collector) error {
	if err := r.Registerer.Register(c); err != nil {
		return err
	}
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recording) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// typeOf is the type of the metrics of a collector that has none yet.
func typeOf(c prometheus.Collector) string {
	switch c.(type) {
	case *prometheus.HistogramVec, prometheus.Histogram:
		return "histogram"
	case *prometheus.GaugeVec, prometheus.Gauge: // before Counter: a Gauge has Counter's methods too
		return "gauge"
	case *prometheus.CounterVec, prometheus.Counter:
		return "counter"
	}
	return "untyped"
}

// descString is a description as prometheus.Desc's String writes it; the
// type keeps its parts unexported.
var descString = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), .*variableLabels: \{([^}]*)\}\}$`)

func parseDesc(d *prometheus.Desc) (Metric, error) {
	if err := d.Err(); err != nil {
		return Metric{}, err
	}
	m := descString.FindStringSubmatch(d.String())
	if m == nil {
		return Metric{}, fmt.Errorf("metric description %s: not in the form expected", d)
	}
	name, err := strconv.Unquote(m[1])
	if err != nil {
		return Metric{}, fmt.Errorf("metric description %s: %w", d, err)
	}
	help, err := strconv.Unquote(m[2])
	if err != nil {
		return Metric{}, fmt.Errorf("metric description %s: %w", d, err)
	}
	var labels []string
	if m[3] != "" {
		labels = strings.Split(m[3], ",")
	}
	return Metric{Name: name, Help: help, Labels: labels}, nil
}

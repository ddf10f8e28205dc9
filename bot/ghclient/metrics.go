package ghclient

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/internal/promreg"
)

// metrics are the client's Prometheus metrics. Several clients may share a
// Registerer: they then share the metrics.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	remaining *prometheus.GaugeVec
	limit     *prometheus.GaugeVec
	waits     *prometheus.CounterVec
	cacheHits prometheus.Counter
}

// RegisterMetrics registers the client's metrics on reg, as New does with
// Options.Registerer, so that they are described before any client exists;
// a client made later with the same Registerer shares them.
func RegisterMetrics(reg prometheus.Registerer) error {
	_, err := newMetrics(reg)
	return err
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refbot_github_requests_total",
			Help: "HTTP requests sent to GitHub, by method and status code (\"error\" when no answer came).",
		}, []string{"method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "refbot_github_request_duration_seconds",
			Help:    "Time from sending a request to GitHub to its answer's headers, each attempt apart, by method and outcome (ok, client_error, server_error, error).",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "outcome"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "refbot_github_rate_limit_remaining",
			Help: "Requests left in GitHub's primary rate limit window, from the last answer's x-ratelimit-remaining, by resource (core, graphql).",
		}, []string{"resource"}),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "refbot_github_rate_limit_limit",
			Help: "Requests allowed in GitHub's primary rate limit window, from the last answer's x-ratelimit-limit, by resource (core, graphql).",
		}, []string{"resource"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refbot_github_rate_limit_waits_total",
			Help: "Waits before sending a request to GitHub, by kind: primary and secondary rate limits, retry after a server error, pacing of writes.",
		}, []string{"kind"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "refbot_github_cache_hits_total",
			Help: "GET requests GitHub answered 304 Not Modified, served from the ETag cache.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = promreg.Register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = promreg.Register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.remaining, err = promreg.Register(reg, m.remaining); err != nil {
		return nil, err
	}
	if m.limit, err = promreg.Register(reg, m.limit); err != nil {
		return nil, err
	}
	if m.waits, err = promreg.Register(reg, m.waits); err != nil {
		return nil, err
	}
	if m.cacheHits, err = promreg.Register(reg, m.cacheHits); err != nil {
		return nil, err
	}
	return m, nil
}

// metricsTransport counts every request that goes on the wire and records
// the rate limit GitHub reports. It sits innermost, so a retried request
// counts once per attempt and a 304 counts as a 304.
type metricsTransport struct {
	next    http.RoundTripper
	metrics *metrics
}

func (t *metricsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	took := time.Since(start).Seconds()
	if err != nil {
		t.metrics.requests.WithLabelValues(req.Method, "error").Inc()
		t.metrics.duration.WithLabelValues(req.Method, "error").Observe(took)
		return nil, err
	}
	t.metrics.requests.WithLabelValues(req.Method, strconv.Itoa(resp.StatusCode)).Inc()
	t.metrics.duration.WithLabelValues(req.Method, outcome(resp.StatusCode)).Observe(took)
	setFromHeader(t.metrics.remaining, resp, req, "X-RateLimit-Remaining")
	setFromHeader(t.metrics.limit, resp, req, "X-RateLimit-Limit")
	return resp, nil
}

// setFromHeader sets g, for the request's rate-limit resource, to the
// number in header, when the answer has one.
func setFromHeader(g *prometheus.GaugeVec, resp *http.Response, req *http.Request, header string) {
	if v := resp.Header.Get(header); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			g.WithLabelValues(resourceOf(req, resp)).Set(float64(n))
		}
	}
}

// outcome is an answer's status as the duration's label has it: ok (a
// 304 from the ETag cache's question included), client_error for 4xx,
// server_error for 5xx.
func outcome(status int) string {
	switch {
	case status >= 500:
		return "server_error"
	case status >= 400:
		return "client_error"
	}
	return "ok"
}

package ghclient

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the client's Prometheus metrics. Several clients may share a
// Registerer: they then share the metrics.
type metrics struct {
	requests  *prometheus.CounterVec
	remaining *prometheus.GaugeVec
	waits     *prometheus.CounterVec
	cacheHits prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refbot_github_requests_total",
			Help: "HTTP requests sent to GitHub, by method and status code (\"error\" when no answer came).",
		}, []string{"method", "status"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "refbot_github_rate_limit_remaining",
			Help: "Requests left in GitHub's primary rate limit window, from the last answer's x-ratelimit-remaining, by resource (core, graphql).",
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
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.remaining, err = register(reg, m.remaining); err != nil {
		return nil, err
	}
	if m.waits, err = register(reg, m.waits); err != nil {
		return nil, err
	}
	if m.cacheHits, err = register(reg, m.cacheHits); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// metricsTransport counts every request that goes on the wire and records
// the rate limit GitHub reports. It sits innermost, so a retried request
// counts once per attempt and a 304 counts as a 304.
type metricsTransport struct {
	next    http.RoundTripper
	metrics *metrics
}

func (t *metricsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.metrics.requests.WithLabelValues(req.Method, "error").Inc()
		return nil, err
	}
	t.metrics.requests.WithLabelValues(req.Method, strconv.Itoa(resp.StatusCode)).Inc()
	if v := resp.Header.Get("X-RateLimit-Remaining"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			t.metrics.remaining.WithLabelValues(resourceOf(req, resp)).Set(float64(n))
		}
	}
	return resp, nil
}

package refdata

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/internal/promreg"
)

// Metrics time the requests refbot sends to the data repo's server.
type Metrics struct {
	requests *prometheus.HistogramVec
}

// NewMetrics registers the data repo's metrics on reg, or returns those
// registered there before.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "refbot_git_request_duration_seconds",
		Help: "Time of a smart-HTTP request to the data repo, from sending it to the end of its answer, by operation " +
			"(ls-refs, fetch, fetch-blobs, push-refs, push) and outcome (ok, client_error, server_error, error).",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"operation", "outcome"})
	h, err := promreg.Register(reg, h)
	if err != nil {
		return nil, err
	}
	return &Metrics{requests: h}, nil
}

// instrument returns a copy of c whose requests are timed.
func (m *Metrics) instrument(c *http.Client) *http.Client {
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	timed := *c
	timed.Transport = &metricsTransport{next: next, metrics: m}
	return &timed
}

// metricsTransport times each request until its answer's body ends (or is
// closed): a fetch's pack comes in the body, and a push's pack goes out
// before the answer's headers.
type metricsTransport struct {
	next    http.RoundTripper
	metrics *Metrics
}

func (t *metricsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := gitOperation(req)
	start := time.Now()
	observe := func(outcome string) {
		t.metrics.requests.WithLabelValues(op, outcome).Observe(time.Since(start).Seconds())
	}
	resp, err := t.next.RoundTrip(req)
	switch {
	case err != nil:
		observe("error")
		return nil, err
	case resp.StatusCode >= 500:
		observe("server_error")
	case resp.StatusCode >= 400:
		observe("client_error")
	default:
		resp.Body = &timedBody{ReadCloser: resp.Body, observe: observe}
	}
	return resp, nil
}

// gitOperation names what a smart-HTTP request does.
func gitOperation(req *http.Request) string {
	p := req.URL.Path
	switch {
	case strings.HasSuffix(p, "/info/refs") && req.URL.Query().Get("service") == "git-receive-pack":
		return "push-refs"
	case strings.HasSuffix(p, "/info/refs"):
		return "ls-refs"
	case strings.HasSuffix(p, "/git-upload-pack") && strings.Contains(req.Header.Get("Git-Protocol"), "version=2"):
		return "fetch-blobs" // Blobs: the only protocol-v2 request
	case strings.HasSuffix(p, "/git-upload-pack"):
		return "fetch"
	case strings.HasSuffix(p, "/git-receive-pack"):
		return "push"
	}
	return "other"
}

// timedBody observes its request once: ok at the end of the body or when
// it is closed, error when reading it fails.
type timedBody struct {
	io.ReadCloser
	observe func(outcome string)
	once    sync.Once
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		b.once.Do(func() { b.observe("ok") })
	case err != nil:
		b.once.Do(func() { b.observe("error") })
	}
	return n, err
}

func (b *timedBody) Close() error {
	b.once.Do(func() { b.observe("ok") })
	return b.ReadCloser.Close()
}

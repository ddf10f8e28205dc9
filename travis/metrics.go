package travis

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/internal/promreg"
)

// Metrics time the requests the client sends to Travis.
type Metrics struct {
	requests *prometheus.HistogramVec
}

// NewMetrics registers the client's metrics on reg, or returns those
// registered there before.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "refbot_ci_request_duration_seconds",
		Help: "Time from sending a request to the CI provider's API to its answer's headers, each attempt apart, by provider (travis), " +
			"operation (repository, builds, build, restart, cancel, trigger, request, requests) and outcome (ok, client_error, server_error, error). " +
			"With GitHub Actions, CI requests are GitHub's (refbot_github_request_duration_seconds).",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"provider", "operation", "outcome"})
	h, err := promreg.Register(reg, h)
	if err != nil {
		return nil, err
	}
	return &Metrics{requests: h}, nil
}

// WithMetrics times every attempt of every call in m.
func WithMetrics(m *Metrics) Option { return func(c *Client) { c.metrics = m } }

// metricsTransport times each attempt; it sits under the retries.
type metricsTransport struct {
	next     http.RoundTripper
	metrics  *Metrics
	basePath string // the API's escaped path on its host; the calls' paths follow it
}

func (t *metricsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Escaped: a repository's slug is one segment, its slash escaped.
	op := operation(req.Method, strings.TrimPrefix(req.URL.EscapedPath(), t.basePath))
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "error"
	case resp.StatusCode >= 500:
		outcome = "server_error"
	case resp.StatusCode >= 400:
		outcome = "client_error"
	}
	t.metrics.requests.WithLabelValues("travis", op, outcome).Observe(time.Since(start).Seconds())
	return resp, err
}

// The paths of the calls the client makes, a repository slug or an id in
// place of their variable parts.
var (
	repoCall  = regexp.MustCompile(`^/repo/[^/]+(/builds|/requests|/request/\d+)?$`)
	buildCall = regexp.MustCompile(`^/build/\d+(/restart|/cancel)?$`)
)

// operation names a call by its method and path (without the base path),
// for a label of few values.
func operation(method, path string) string {
	if m := repoCall.FindStringSubmatch(path); m != nil {
		switch {
		case m[1] == "":
			return "repository"
		case m[1] == "/builds":
			return "builds"
		case m[1] == "/requests" && method == http.MethodPost:
			return "trigger"
		case m[1] == "/requests":
			return "requests"
		}
		return "request"
	}
	if m := buildCall.FindStringSubmatch(path); m != nil {
		if m[1] == "" {
			return "build"
		}
		return m[1][1:]
	}
	return "other"
}

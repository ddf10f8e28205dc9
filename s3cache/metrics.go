package s3cache

import (
	"context"
	"errors"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/internal/promreg"
)

// Metrics time the requests the stores send to S3. Stores given the same
// Metrics (refbot's cache and its website builds) share its series.
type Metrics struct {
	requests *prometheus.HistogramVec
}

// NewMetrics registers the S3 metrics on reg, or returns those registered
// there before.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "refbot_s3_request_duration_seconds",
		Help: "Time from sending a request to S3 to its answer's headers, each attempt apart, by operation " +
			"(the S3 API's: GetObject, PutObject, ListObjectsV2 …) and outcome (ok, client_error, server_error, error).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"operation", "outcome"})
	h, err := promreg.Register(reg, h)
	if err != nil {
		return nil, err
	}
	return &Metrics{requests: h}, nil
}

// addTo adds the timing to a client's middleware stack, at the end of its
// finalize step: after the retries, so that each attempt is timed apart,
// and around the answer's decoding, so that S3's refusals are known by
// their status.
func (m *Metrics) addTo(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("RefbotMetrics",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			start := time.Now()
			out, md, err := next.HandleFinalize(ctx, in)
			m.requests.WithLabelValues(awsmiddleware.GetOperationName(ctx), requestOutcome(err)).Observe(time.Since(start).Seconds())
			return out, md, err
		}), middleware.After)
}

// requestOutcome says how a request went: ok, client_error when S3
// answered 4xx (a missing key is one), server_error for 5xx, error when
// no answer came.
func requestOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	resp, ok := errors.AsType[*smithyhttp.ResponseError](err)
	switch {
	case !ok || resp.Response == nil || resp.HTTPStatusCode() == 0: // the SDK's "StatusCode: 0": sending failed
		return "error"
	case resp.HTTPStatusCode() >= 500:
		return "server_error"
	case resp.HTTPStatusCode() >= 400:
		return "client_error"
	}
	return "ok" // 304: not modified
}

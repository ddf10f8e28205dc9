package ghclient

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/refbot/refbot/internal/fakegithub"
)

// TestRequestDurations: each request is timed by method and outcome, and
// the rate limit's size is kept beside what is left of it; metrics
// registered before any client (RegisterMetrics) are the clients'.
func TestRequestDurations(t *testing.T) {
	gh := fakegithub.New(t)
	reg := prometheus.NewRegistry()
	if err := RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, token := range []string{gh.Token(), "ghp_wrong"} {
		c, err := New(ctx, Options{APIURL: gh.APIURL(), GraphQLURL: gh.GraphQLURL(), Repo: gh.Repo(), Token: token, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.RateLimit(ctx)
		if token == gh.Token() && err != nil || token != gh.Token() && !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("rate limit with token %s: %v", token[:4], err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() == "refbot_github_request_duration_seconds" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()+"/"+m.GetLabel()[1].GetValue()] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	if diff := cmp.Diff(map[string]uint64{"GET/ok": 1, "GET/client_error": 1}, got); diff != "" {
		t.Errorf("timed requests by method/outcome (-want +got):\n%s", diff)
	}
	want := `
# HELP refbot_github_rate_limit_limit Requests allowed in GitHub's primary rate limit window, from the last answer's x-ratelimit-limit, by resource (core, graphql).
# TYPE refbot_github_rate_limit_limit gauge
refbot_github_rate_limit_limit{resource="core"} 5000
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "refbot_github_rate_limit_limit"); err != nil {
		t.Error(err)
	}
}

func TestOutcome(t *testing.T) {
	for status, want := range map[int]string{200: "ok", 304: "ok", 401: "client_error", 404: "client_error", 502: "server_error"} {
		if got := outcome(status); got != want {
			t.Errorf("outcome(%d) = %q, want %q", status, got, want)
		}
	}
}

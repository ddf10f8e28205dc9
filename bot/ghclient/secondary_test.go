package ghclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/fakegithub"
)

// TestSecondaryLimitHoldsEveryRequest: GitHub asks that no request be sent
// until a secondary limit ends. A request refused with a retry-after longer
// than its context allows returns a RateLimitError at once (its job is put
// off); the client's next request, another operation with time to wait,
// waits for the same end before it is sent, and one whose context is too
// short is refused without being sent, GraphQL too (unlike a primary
// limit, which is the used-up resource's).
func TestSecondaryLimitHoldsEveryRequest(t *testing.T) {
	e := setup(t, nil)
	e.gh.AddPR(fakegithub.PR{Number: 1})
	e.gh.Inject(fakegithub.Fault{Kind: fakegithub.SecondaryRateLimit, Status: 429, RetryAfter: 2 * time.Minute,
		Method: "POST", Route: commentRoute})
	short, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := e.c.CreateComment(short, 1, "hi")
	var rle *RateLimitError
	if !errors.As(err, &rle) || rle.Kind != "secondary" || !rle.Reset.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("the refused comment: %v, want a secondary RateLimitError until %s", err, t0.Add(2*time.Minute))
	}
	if _, err := e.c.PullRequest(short, 1); !errors.Is(err, ErrRateLimited) {
		t.Errorf("a request with a minute left during the limit: %v, want ErrRateLimited", err)
	}
	if _, err := e.c.OpenPullRequests(short); !errors.Is(err, ErrRateLimited) {
		t.Errorf("a GraphQL query with a minute left during the limit: %v, want ErrRateLimited", err)
	}
	if n := e.gh.RequestCount(); n != 1 {
		t.Errorf("%d requests sent during the limit, want 1 (the refused one)", n)
	}
	if _, err := e.c.PullRequest(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{2*time.Minute + time.Second}, e.clk.Sleeps()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	reqs := e.gh.Requests()
	if len(reqs) != 2 || reqs[1].Time.Before(t0.Add(2*time.Minute)) {
		t.Errorf("requests: %+v; want the GET after the limit's end", reqs)
	}
}

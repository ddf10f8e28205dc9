package ghclient

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/faultproxy"
	"github.com/refbot/refbot/internal/testenv"
)

// TestBlackholedGitHub: with GitHub blackholed (it takes requests and
// never answers), a read fails at the per-attempt timeout after its
// retries, one connection per attempt, under a caller's context with no
// deadline.
func TestBlackholedGitHub(t *testing.T) {
	var p *faultproxy.Proxy
	e := setup(t, func(o *Options) {
		api, _ := url.Parse(o.APIURL)
		gql, _ := url.Parse(o.GraphQLURL)
		p = faultproxy.New(t, api.Host)
		api.Host, gql.Host = p.Addr(), p.Addr()
		o.APIURL, o.GraphQLURL = api.String(), gql.String()
		o.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond}
		o.MaxRetries = 2
	})
	e.gh.AddPR(fakegithub.PR{Number: 1, Author: "alice", HeadSHA: sha('a')})
	testenv.NoLeaks(t)
	p.Blackhole()
	_, err := e.c.PullRequest(context.Background(), 1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the per-attempt timeout", err)
	}
	if got := p.Accepted(); got != 3 {
		t.Errorf("%d connections, want 3 (the attempt and 2 retries)", got)
	}
}

package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/internal/fakegithub"
)

// stuckGitHub passes calls on to next, except that the first times calls
// of one method (every one when times < 0) block until their context
// ends, as a GitHub that stopped answering would.
type stuckGitHub struct {
	next   GitHub
	method string

	mu    sync.Mutex
	times int
	stuck []stuckCall
}

// stuckCall is a call that blocked.
type stuckCall struct {
	hasDeadline bool
	bound       time.Duration // from the call to its context's deadline
	err         error         // why its context ended
}

// stick blocks a call of method if it is one to block, and says whether it
// did.
func (s *stuckGitHub) stick(ctx context.Context, method string) bool {
	s.mu.Lock()
	if method != s.method || s.times == 0 {
		s.mu.Unlock()
		return false
	}
	if s.times > 0 {
		s.times--
	}
	s.mu.Unlock()
	deadline, ok := ctx.Deadline()
	c := stuckCall{hasDeadline: ok, bound: time.Until(deadline)}
	<-ctx.Done()
	c.err = ctx.Err()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stuck = append(s.stuck, c)
	return true
}

func (s *stuckGitHub) Stuck() []stuckCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stuckCall(nil), s.stuck...)
}

func (s *stuckGitHub) OpenPullRequests(ctx context.Context) ([]ghclient.PRSummary, error) {
	if s.stick(ctx, "OpenPullRequests") {
		return nil, ctx.Err()
	}
	return s.next.OpenPullRequests(ctx)
}

func (s *stuckGitHub) ClosedPullRequests(ctx context.Context, since time.Time) ([]ghclient.ClosedPR, error) {
	if s.stick(ctx, "ClosedPullRequests") {
		return nil, ctx.Err()
	}
	return s.next.ClosedPullRequests(ctx, since)
}

func (s *stuckGitHub) Comments(ctx context.Context, pr int, since time.Time) ([]ghclient.Comment, error) {
	if s.stick(ctx, "Comments") {
		return nil, ctx.Err()
	}
	return s.next.Comments(ctx, pr, since)
}

func (s *stuckGitHub) PullRequest(ctx context.Context, n int) (*ghclient.PullRequest, error) {
	if s.stick(ctx, "PullRequest") {
		return nil, ctx.Err()
	}
	return s.next.PullRequest(ctx, n)
}

func (s *stuckGitHub) SetStatus(ctx context.Context, sha string, st ghclient.Status) error {
	if s.stick(ctx, "SetStatus") {
		return ctx.Err()
	}
	return s.next.SetStatus(ctx, sha, st)
}

// TestRunPassTimeout: Run bounds each pass with PassTimeout, so a GitHub
// that stops answering stops the pass, not the reconciler: Run goes on to
// the next pass, which picks up what the stuck one left, and returns only
// when its context ends. Durations are short and nothing is asserted of
// how long anything took; the overall deadline is generous.
func TestRunPassTimeout(t *testing.T) {
	const interval = 10 * time.Millisecond
	// What the PRs below ask to be recorded: PR 1's comment and PR 2's
	// close.
	missed := func(h *harness) []recorded {
		c := h.fake.Comments(1)[0]
		pr2, _ := h.fake.PR(2)
		return []recorded{
			{ID: fmt.Sprintf("reconcile-comment-%d", c.ID), Work: intake.CommentWork{Repo: "o/r", PR: 1, CommentID: c.ID,
				Author: "alice", Body: "BUILDBOT: UPDATE", URL: fmt.Sprintf("%s/o/r/pull/1#issuecomment-%d", h.fake.URL, c.ID),
				CreatedAt: t0}},
			{ID: fmt.Sprintf("reconcile-close-2-%d", t0.Unix()),
				Work: intake.PullRequestClosed{Repo: "o/r", PR: 2, BaseRef: "master", HeadSHA: pr2.HeadSHA}},
		}
	}
	cases := []struct {
		name        string
		method      string // the one that blocks
		times       int    // how many of its calls block; < 0: all
		passTimeout time.Duration
		// want is what is recorded in the end; nil when nothing.
		want func(h *harness) []recorded
	}{
		{
			name: "listing open PRs never answers", method: "OpenPullRequests", times: -1, passTimeout: 50 * time.Millisecond,
		},
		{
			name: "reading comments blocks once", method: "Comments", times: 1, passTimeout: 200 * time.Millisecond,
			want: missed,
		},
		{
			// The stuck pass recorded the comment before it stopped; the
			// next records the close and not the comment again.
			name: "listing closed PRs blocks once", method: "ClosedPullRequests", times: 1, passTimeout: 200 * time.Millisecond,
			want: missed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gh *stuckGitHub
			logs, logged := observer.New(zapcore.WarnLevel)
			h := newHarness(t, func(o *Options) {
				gh = &stuckGitHub{next: o.GitHub, method: tc.method, times: tc.times}
				o.GitHub, o.Interval, o.PassTimeout, o.Logger = gh, interval, tc.passTimeout, zap.New(logs)
			})
			h.fake.AddPR(fakegithub.PR{Number: 1})
			h.fake.AddComment(1, "alice", "BUILDBOT: UPDATE")
			h.fake.AddPR(fakegithub.PR{Number: 2})
			h.setBranch(2)
			h.fake.ClosePR(2)
			h.at(time.Minute)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			returned := make(chan struct{})
			go func() { defer close(returned); h.r.Run(ctx) }()

			// Wait until three passes got stuck, or until one got stuck
			// and a later pass completed.
			deadline := time.Now().Add(time.Minute)
			for {
				stuck := len(gh.Stuck())
				last, err := h.st.LastPass(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if tc.times < 0 && stuck >= 3 || tc.times > 0 && stuck == tc.times && !last.IsZero() {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after a minute: %d stuck passes, last complete pass %v", stuck, last)
				}
				select {
				case <-returned:
					t.Fatal("Run returned before its context ended")
				case <-time.After(5 * time.Millisecond):
				}
			}
			cancel()
			select {
			case <-returned:
			case <-time.After(time.Minute):
				t.Fatal("Run did not return within a minute of its context ending")
			}

			stuck := gh.Stuck()
			timedOut := 0
			for i, c := range stuck {
				if !c.hasDeadline || c.bound > tc.passTimeout {
					t.Errorf("stuck call %d: deadline %v, %s away; want at most PassTimeout (%s)", i, c.hasDeadline, c.bound, tc.passTimeout)
				}
				switch {
				case errors.Is(c.err, context.DeadlineExceeded):
					timedOut++
				case i == len(stuck)-1 && errors.Is(c.err, context.Canceled):
					// stopped by the end of Run's context
				default:
					t.Errorf("stuck call %d ended with %v, want the pass's deadline", i, c.err)
				}
			}
			// The stuck calls counted before cancel ended at their pass's
			// deadline: at least three, or exactly those asked for.
			if tc.times < 0 && timedOut < 3 || tc.times > 0 && timedOut != tc.times {
				t.Errorf("%d of %d stuck calls ended at the pass's deadline", timedOut, len(stuck))
			}
			warned := 0
			for _, e := range logged.FilterMessage("reconcile pass").All() {
				if err, ok := e.ContextMap()["error"].(string); ok && err == context.DeadlineExceeded.Error() {
					warned++
				}
			}
			if warned < timedOut {
				t.Errorf("%d passes stopped at their deadline, %d warnings of it", timedOut, warned)
			}
			var want []recorded
			if tc.want != nil {
				want = tc.want(h)
			}
			if diff := cmp.Diff(want, works(h.rec.Recorded())); diff != "" {
				t.Errorf("recorded (-want +got):\n%s", diff)
			}
		})
	}
}

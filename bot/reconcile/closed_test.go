package reconcile

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/internal/fakegithub"
)

// reopen reopens a closed pull request at the clock's time. The fake has
// no reopen of its own; adding a pull request under a number it holds
// replaces it.
func (h *harness) reopen(t *testing.T, n int) {
	t.Helper()
	p, ok := h.fake.PR(n)
	if !ok || p.State != "closed" || p.Merged {
		t.Fatalf("reopen #%d: not a closed, unmerged pull request: %+v", n, p)
	}
	p.State, p.ClosedAt, p.UpdatedAt = "open", time.Time{}, h.clock.Now()
	h.fake.AddPR(p)
}

// TestClosedWithoutMerging: a PR with a data branch closed without merging
// since the last pass is recorded once per close (the delivery id holds
// the close time; the data branch is deleted after a grace period that
// each close starts afresh). A PR without a data branch is not recorded; a
// merged PR goes the merged path, with its merge time. PR 1 is opened at
// t0 with head A; the first pass runs at t0+1m.
func TestClosedWithoutMerging(t *testing.T) {
	headA := fmt.Sprintf("%040x", 0xa)
	closedAt := func(at time.Duration) recorded {
		return recorded{
			ID:   fmt.Sprintf("reconcile-close-1-%d", t0.Add(at).Unix()),
			Work: intake.PullRequestClosed{Repo: "o/r", PR: 1, BaseRef: "master", HeadSHA: headA},
		}
	}
	cases := []struct {
		name      string
		hasBranch bool
		script    func(t *testing.T, h *harness) []recorded // returns what should have been recorded
	}{
		{
			name:      "closed",
			hasBranch: true,
			script: func(t *testing.T, h *harness) []recorded {
				h.at(5 * time.Minute)
				h.fake.ClosePR(1)
				h.at(6 * time.Minute)
				h.passWant(t, Result{Closes: 1})
				// Within the overlap the close is listed again: the same
				// delivery, a Duplicate.
				h.at(7 * time.Minute)
				h.passWant(t, Result{})
				return []recorded{closedAt(5 * time.Minute)}
			},
		},
		{
			name:      "closed, reopened and closed again",
			hasBranch: true,
			script: func(t *testing.T, h *harness) []recorded {
				h.at(5 * time.Minute)
				h.fake.ClosePR(1)
				h.at(6 * time.Minute)
				h.passWant(t, Result{Closes: 1})
				h.at(8 * time.Minute)
				h.reopen(t, 1)
				h.at(9 * time.Minute)
				h.passWant(t, Result{})
				h.at(12 * time.Minute)
				h.fake.ClosePR(1)
				h.at(13 * time.Minute)
				h.passWant(t, Result{Closes: 1})
				return []recorded{closedAt(5 * time.Minute), closedAt(12 * time.Minute)}
			},
		},
		{
			// Only the close that stands is recorded.
			name:      "closed, reopened and closed again between two passes",
			hasBranch: true,
			script: func(t *testing.T, h *harness) []recorded {
				h.at(5 * time.Minute)
				h.fake.ClosePR(1)
				h.at(6 * time.Minute)
				h.reopen(t, 1)
				h.at(7 * time.Minute)
				h.fake.ClosePR(1)
				h.at(8 * time.Minute)
				h.passWant(t, Result{Closes: 1})
				return []recorded{closedAt(7 * time.Minute)}
			},
		},
		{
			name: "closed without a data branch",
			script: func(t *testing.T, h *harness) []recorded {
				h.at(5 * time.Minute)
				h.fake.ClosePR(1)
				h.at(6 * time.Minute)
				h.passWant(t, Result{})
				return nil
			},
		},
		{
			name:      "merged",
			hasBranch: true,
			script: func(t *testing.T, h *harness) []recorded {
				h.at(5 * time.Minute)
				mergeCommit := h.fake.Merge(1, "maintainer")
				h.at(6 * time.Minute)
				h.passWant(t, Result{Merges: 1})
				h.at(7 * time.Minute)
				h.passWant(t, Result{})
				return []recorded{{ID: "reconcile-merge-1", Work: intake.PullRequestClosed{Repo: "o/r", PR: 1, Merged: true,
					BaseRef: "master", HeadSHA: headA, MergeCommit: mergeCommit, MergedBy: "maintainer", MergedAt: t0.Add(5 * time.Minute)}}}
			},
		},
		{
			// Promoted already (the branch is deleted), or never had data.
			name: "merged without a data branch",
			script: func(t *testing.T, h *harness) []recorded {
				h.at(5 * time.Minute)
				h.fake.Merge(1, "maintainer")
				h.at(6 * time.Minute)
				h.passWant(t, Result{})
				return nil
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.AddPR(fakegithub.PR{Number: 1, HeadSHA: headA})
			if tc.hasBranch {
				h.setBranch(1)
			}
			h.at(time.Minute)
			h.passWant(t, Result{})
			want := tc.script(t, h)
			// Long after, with nothing new: nothing recorded again.
			h.at(time.Hour)
			h.passWant(t, Result{})
			if diff := cmp.Diff(want, works(h.rec.Recorded())); diff != "" {
				t.Errorf("recorded (-want +got):\n%s", diff)
			}
		})
	}
}

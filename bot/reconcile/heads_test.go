package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/fakegithub"
)

// TestHeadsSeen: each pass notes every open PR's head at the PR's
// updatedAt (GitHub's clock), so that a comment can later be bound to the
// head its author saw. PR 1 is opened at t0 with head A and changed (or
// not) between a first pass at t0+1m and a second at t0+20m; PR 2 never
// changes. A third pass at t0+30m, with nothing changed, adds no row.
func TestHeadsSeen(t *testing.T) {
	headA, headB, headC := fmt.Sprintf("%040x", 0xa), fmt.Sprintf("%040x", 0xb), fmt.Sprintf("%040x", 0xc)
	seen := func(sha string, at time.Duration) store.HeadSeen {
		return store.HeadSeen{PR: 1, SHA: sha, At: t0.Add(at), Source: store.HeadFromReconciler}
	}
	cases := []struct {
		name    string
		between func(t *testing.T, h *harness)
		want    []store.HeadSeen // PR 1's
	}{
		{
			name: "unchanged",
			want: []store.HeadSeen{seen(headA, 0)},
		},
		{
			name:    "push",
			between: func(t *testing.T, h *harness) { h.at(10 * time.Minute); h.fake.SetHead(1, headB) },
			want:    []store.HeadSeen{seen(headA, 0), seen(headB, 10*time.Minute)},
		},
		{
			name:    "force-push",
			between: func(t *testing.T, h *harness) { h.at(10 * time.Minute); h.fake.ForcePush(1, headB) },
			want:    []store.HeadSeen{seen(headA, 0), seen(headB, 10*time.Minute)},
		},
		{
			// The reconciler knows only what the listing shows: a head
			// pushed over before the next pass is not its to record.
			name: "two pushes between passes",
			between: func(t *testing.T, h *harness) {
				h.at(10 * time.Minute)
				h.fake.SetHead(1, headB)
				h.at(12 * time.Minute)
				h.fake.SetHead(1, headC)
			},
			want: []store.HeadSeen{seen(headA, 0), seen(headC, 12*time.Minute)},
		},
		{
			// Back to a head seen before: a new row, so that the history
			// says which head was current when.
			name: "force-push back to an earlier head",
			between: func(t *testing.T, h *harness) {
				h.at(10 * time.Minute)
				h.fake.SetHead(1, headB)
				h.at(11 * time.Minute)
				h.pass(t)
				h.at(15 * time.Minute)
				h.fake.ForcePush(1, headA)
			},
			want: []store.HeadSeen{seen(headA, 0), seen(headB, 10*time.Minute), seen(headA, 15*time.Minute)},
		},
		{
			// A comment moves updatedAt, not the head: the same head, seen
			// at a later time.
			name:    "comment",
			between: func(t *testing.T, h *harness) { h.at(10 * time.Minute); h.fake.AddComment(1, "alice", "looks good") },
			want:    []store.HeadSeen{seen(headA, 0), seen(headA, 10*time.Minute)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.AddPR(fakegithub.PR{Number: 1, HeadSHA: headA})
			other := h.fake.AddPR(fakegithub.PR{Number: 2})
			wantOther := []store.HeadSeen{{PR: 2, SHA: other.HeadSHA, At: t0, Source: store.HeadFromReconciler}}
			check := func(when string) {
				t.Helper()
				for _, c := range []struct {
					pr   int
					want []store.HeadSeen
				}{{1, tc.want}, {2, wantOther}} {
					got, err := h.st.HeadsSeen(context.Background(), c.pr)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(c.want, got); diff != "" {
						t.Errorf("PR %d's heads %s (-want +got):\n%s", c.pr, when, diff)
					}
				}
			}
			h.at(time.Minute)
			h.pass(t)
			if tc.between != nil {
				tc.between(t, h)
			}
			h.at(20 * time.Minute)
			h.pass(t)
			check("after the second pass")
			h.at(30 * time.Minute)
			h.pass(t)
			check("after a pass with nothing changed")
		})
	}
}

package reconcile

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/internal/fakegithub"
)

// passReadingComments runs a pass and fails the test unless the pass
// listed comments: a case about what the reconciler does with a comment
// means nothing if the pass never read it.
func (h *harness) passReadingComments(t *testing.T, want Result) {
	t.Helper()
	h.fake.ResetRequests()
	h.passWant(t, want)
	for _, r := range h.fake.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Route, "/comments") {
			return
		}
	}
	t.Errorf("the pass at t0+%s did not read any comments", h.clock.Now().Sub(t0))
}

// TestEditedComments: the reconciler counts only comments as they were
// created. A comment edited before refbot read it is not recorded (what it
// first said is unknown, and an edit is not a command), nor is a later
// edit of a comment. Each case runs on PR 1, opened at t0.
func TestEditedComments(t *testing.T) {
	cases := []struct {
		name   string
		script func(t *testing.T, h *harness)
		// want are the bodies of the comments the recorder was asked
		// to record, in order.
		want []string
	}{
		{
			name: "missed comment, unedited",
			script: func(t *testing.T, h *harness) {
				h.at(time.Minute)
				h.fake.AddComment(1, "alice", "BUILDBOT: UPDATE")
				h.at(5 * time.Minute)
				h.passReadingComments(t, Result{Comments: 1})
			},
			want: []string{"BUILDBOT: UPDATE"},
		},
		{
			name: "missed comment, edited before the pass",
			script: func(t *testing.T, h *harness) {
				h.at(time.Minute)
				c := h.fake.AddComment(1, "alice", "BUILDBOT: STATUS")
				h.at(2 * time.Minute)
				h.fake.EditUserComment(c.ID, "BUILDBOT: UPDATE")
				h.at(5 * time.Minute)
				h.passReadingComments(t, Result{})
			},
		},
		{
			// GitHub may give an unedited comment an updated_at a second
			// after its created_at (palantir/policy-bot#459): that is not
			// an edit.
			name: "missed comment, touched within a second of its creation",
			script: func(t *testing.T, h *harness) {
				h.at(time.Minute)
				c := h.fake.AddComment(1, "alice", "BUILDBOT: UPDATE")
				h.at(time.Minute + time.Second)
				h.fake.EditUserComment(c.ID, "BUILDBOT: UPDATE")
				h.at(5 * time.Minute)
				h.passReadingComments(t, Result{Comments: 1})
			},
			want: []string{"BUILDBOT: UPDATE"},
		},
		{
			name: "recorded comment, edited later",
			script: func(t *testing.T, h *harness) {
				h.at(time.Minute)
				c := h.fake.AddComment(1, "alice", "BUILDBOT: STATUS")
				h.at(5 * time.Minute)
				h.passReadingComments(t, Result{Comments: 1})
				h.at(10 * time.Minute)
				h.fake.EditUserComment(c.ID, "BUILDBOT: UPDATE")
				h.fake.AddComment(1, "bob", "thanks") // so that the next pass reads PR 1's comments again
				h.at(15 * time.Minute)
				h.passReadingComments(t, Result{})
			},
			want: []string{"BUILDBOT: STATUS"},
		},
		{
			// The recorder's rule (one record per comment) does not help
			// here: the comment was never recorded.
			name: "comment without a command, edited to hold one",
			script: func(t *testing.T, h *harness) {
				h.at(time.Minute)
				c := h.fake.AddComment(1, "alice", "looks good")
				h.at(5 * time.Minute)
				h.passReadingComments(t, Result{})
				h.at(10 * time.Minute)
				h.fake.EditUserComment(c.ID, "looks good\nBUILDBOT: UPDATE")
				h.fake.AddComment(1, "bob", "thanks")
				h.at(15 * time.Minute)
				h.passReadingComments(t, Result{})
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.AddPR(fakegithub.PR{Number: 1})
			tc.script(t, h)
			var got []string
			for _, d := range h.rec.Asked() {
				got = append(got, d.Work.(intake.CommentWork).Body)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("comments offered to the recorder (-want +got):\n%s", diff)
			}
			// Nothing new is recorded later.
			h.at(30 * time.Minute)
			h.passWant(t, Result{})
		})
	}
}

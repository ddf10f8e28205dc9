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

// TestOpenPRsListed: each pass makes the store's open pull requests (the
// index page's list) what GitHub lists: title, author, head, base, draft
// and fork as GitHub has them; a push shows on the next pass; a PR closed
// between passes leaves the list.
func TestOpenPRsListed(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	headB := fmt.Sprintf("%040x", 0xb)
	one := h.fake.AddPR(fakegithub.PR{Number: 1, Title: "Plot <colours>", Author: "ann"})
	two := h.fake.AddPR(fakegithub.PR{Number: 2, Draft: true, HeadRepo: "fork/r", BaseRef: "v2"})
	read := func() []store.OpenPR {
		t.Helper()
		got, err := h.st.OpenPRs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	h.at(time.Minute)
	h.pass(t)
	want := []store.OpenPR{
		{PR: 2, Title: "Pull request 2", Author: "contributor", Head: two.HeadSHA, Base: "v2", Draft: true, Fork: true, UpdatedAt: t0},
		{PR: 1, Title: "Plot <colours>", Author: "ann", Head: one.HeadSHA, Base: "master", UpdatedAt: t0},
	}
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("after the first pass (-want +got):\n%s", diff)
	}

	h.at(10 * time.Minute)
	h.fake.SetHead(1, headB)
	h.fake.ClosePR(2)
	h.at(20 * time.Minute)
	h.pass(t)
	want = []store.OpenPR{{PR: 1, Title: "Plot <colours>", Author: "ann", Head: headB, Base: "master", UpdatedAt: t0.Add(10 * time.Minute)}}
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("after a push to #1 and #2 closed (-want +got):\n%s", diff)
	}
}

package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestOpenPRs: a pass's listing replaces the set; deliveries and jobs
// update one PR, never with an older view than the store's; a close
// removes the row; the list is newest update first.
func TestOpenPRs(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	pr := func(n int, title string, at time.Duration) OpenPR {
		return OpenPR{PR: n, Title: title, Author: "ann", Head: "sha-" + title, Base: "master", UpdatedAt: t0.Add(at)}
	}
	read := func() []OpenPR {
		t.Helper()
		got, err := s.OpenPRs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := read(); len(got) != 0 {
		t.Fatalf("open PRs of a new store: %+v", got)
	}
	draft := pr(3, "draft <b>", 3*time.Minute)
	draft.Draft, draft.Fork, draft.Author = true, true, ""
	if err := s.SetOpenPRs(ctx, []OpenPR{pr(1, "one", time.Minute), pr(2, "two", 2*time.Minute), draft}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]OpenPR{draft, pr(2, "two", 2*time.Minute), pr(1, "one", time.Minute)}, read()); diff != "" {
		t.Errorf("after a pass (-want +got):\n%s", diff)
	}

	// A synchronize delivery: newer, it replaces the row.
	if err := s.SaveOpenPR(ctx, pr(1, "one, pushed", 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A job read PR 1 before the push: older, it is ignored.
	if err := s.SaveOpenPR(ctx, pr(1, "one, stale", 5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// An opened delivery of a new PR.
	if err := s.SaveOpenPR(ctx, pr(4, "four", 4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseOpenPR(ctx, 2); err != nil {
		t.Fatal(err)
	}
	want := []OpenPR{pr(1, "one, pushed", 10*time.Minute), pr(4, "four", 4*time.Minute), draft}
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("after deliveries (-want +got):\n%s", diff)
	}

	// A pass that listed PR 1 before its push keeps the newer row; PR 3,
	// not listed, was closed; PR 5 is new.
	if err := s.SetOpenPRs(ctx, []OpenPR{pr(1, "one", time.Minute), pr(4, "four", 4*time.Minute), pr(5, "five", 11*time.Minute)}); err != nil {
		t.Fatal(err)
	}
	want = []OpenPR{pr(5, "five", 11*time.Minute), pr(1, "one, pushed", 10*time.Minute), pr(4, "four", 4*time.Minute)}
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("after a second pass (-want +got):\n%s", diff)
	}
	// An empty listing: no PR is open.
	if err := s.SetOpenPRs(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(); len(got) != 0 {
		t.Errorf("after an empty listing: %+v", got)
	}
	// A view that cannot be ordered is refused.
	if err := s.SaveOpenPR(ctx, OpenPR{PR: 6}); err == nil {
		t.Error("a PR without an update time was recorded")
	}
	if err := s.SetOpenPRs(ctx, []OpenPR{pr(0, "zero", 0)}); err == nil {
		t.Error("a PR without a number was recorded")
	}
}

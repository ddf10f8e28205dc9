package ghclient

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/fakegithub"
)

func TestForcePushes(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadSHA: sha('a')})
	e.gh.AddPR(fakegithub.PR{Number: 2, HeadSHA: sha('b')})
	e.gh.AddPR(fakegithub.PR{Number: 3})

	// #1: force-pushed, pushed plainly, force-pushed again.
	e.clk.Sleep(ctx, time.Minute)
	e.gh.ForcePush(1, sha('c'))
	e.clk.Sleep(ctx, time.Minute)
	e.gh.SetHead(1, sha('d'))
	e.clk.Sleep(ctx, time.Minute)
	e.gh.ForcePush(1, sha('e'))

	// #2: more force-pushes than a page holds.
	var many []ForcePush
	for i := range 205 {
		e.clk.Sleep(ctx, time.Second)
		next := fmt.Sprintf("%040x", i+1)
		e.gh.ForcePush(2, next)
		many = append(many, ForcePush{After: next, At: e.clk.Now()})
	}

	tests := []struct {
		name     string
		pr       int
		want     []ForcePush
		requests int
		wantErr  error
	}{
		{"plain push left out", 1, []ForcePush{
			{After: sha('c'), At: t0.Add(time.Minute)},
			{After: sha('e'), At: t0.Add(3 * time.Minute)},
		}, 1, nil},
		{"three pages", 2, many, 3, nil},
		{"never force-pushed", 3, nil, 1, nil},
		{"unknown pull request", 99, nil, 1, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.gh.ResetRequests()
			got, err := e.c.ForcePushes(ctx, tt.pr)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ForcePushes (-want +got):\n%s", diff)
			}
			if n := e.gh.RequestCount(); n != tt.requests {
				t.Errorf("%d GraphQL requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestClosedPullRequests(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	// 250 pull requests, one a second: every third merged, every fifth
	// (of the rest) left open, the others closed without merging.
	want := map[int]ClosedPR{}
	for i := 1; i <= 250; i++ {
		e.clk.Sleep(ctx, time.Second)
		pr := e.gh.AddPR(fakegithub.PR{Number: i, BaseRef: fmt.Sprintf("base-%d", i%2)})
		c := ClosedPR{Number: i, BaseRef: pr.BaseRef, HeadSHA: pr.HeadSHA, ClosedAt: e.clk.Now(), UpdatedAt: e.clk.Now()}
		switch {
		case i%3 == 0:
			e.gh.Merge(i, "alice")
			c.Merged, c.MergedAt = true, e.clk.Now()
			want[i] = c
		case i%5 != 0:
			e.gh.ClosePR(i)
			want[i] = c
		}
	}
	// A comment on a closed pull request updates it, not its ClosedAt.
	e.clk.Sleep(ctx, time.Minute)
	e.gh.AddComment(2, "bob", "why closed?")
	c2 := want[2]
	c2.UpdatedAt = e.clk.Now()
	want[2] = c2

	all := []ClosedPR{want[2]}
	for i := 250; i >= 1; i-- {
		if w, ok := want[i]; ok && i != 2 {
			all = append(all, w)
		}
	}
	// What a listing since since returns, and how many pages of 100 it
	// reads: up to the page holding the first pull request before since.
	expect := func(since time.Time) ([]ClosedPR, int) {
		for i, c := range all {
			if c.UpdatedAt.Before(since) {
				return all[:i], i/100 + 1
			}
		}
		return all, (len(all) + 99) / 100
	}
	for _, tt := range []struct {
		name  string
		since time.Time
	}{
		{"all, three pages", time.Time{}},
		{"since the 200th second: the first page passes it", t0.Add(200 * time.Second)},
		{"since the 100th second: the second page passes it", t0.Add(100 * time.Second)},
		{"since the 230th second", t0.Add(230 * time.Second)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.gh.ResetRequests()
			got, err := e.c.ClosedPullRequests(ctx, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			wantPRs, requests := expect(tt.since)
			if diff := cmp.Diff(wantPRs, got); diff != "" {
				t.Errorf("ClosedPullRequests (-want +got):\n%s", diff)
			}
			if n := e.gh.RequestCount(); n != requests {
				t.Errorf("%d GraphQL requests, want %d", n, requests)
			}
		})
	}
	if _, pages := expect(time.Time{}); pages != 3 {
		t.Errorf("the listing is %d pages, want 3 (the test checks paging)", pages)
	}
	if _, pages := expect(t0.Add(100 * time.Second)); pages != 2 {
		t.Errorf("since the 100th second: %d pages, want 2", pages)
	}
}

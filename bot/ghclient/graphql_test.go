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
	head := sha('b')
	for i := range 205 {
		e.clk.Sleep(ctx, time.Second)
		next := fmt.Sprintf("%040x", i+1)
		e.gh.ForcePush(2, next)
		many = append(many, ForcePush{Before: head, After: next, At: e.clk.Now()})
		head = next
	}

	tests := []struct {
		name     string
		pr       int
		want     []ForcePush
		requests int
		wantErr  error
	}{
		{"plain push left out", 1, []ForcePush{
			{Before: sha('a'), After: sha('c'), At: t0.Add(time.Minute)},
			{Before: sha('d'), After: sha('e'), At: t0.Add(3 * time.Minute)},
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
	// left open, the other 133 closed without merging.
	want := map[int]ClosedPR{}
	for i := 1; i <= 250; i++ {
		e.clk.Sleep(ctx, time.Second)
		pr := e.gh.AddPR(fakegithub.PR{Number: i, BaseRef: fmt.Sprintf("base-%d", i%2)})
		switch {
		case i%3 == 0:
			e.gh.Merge(i, "alice")
		case i%5 != 0:
			e.gh.ClosePR(i)
			want[i] = ClosedPR{Number: i, BaseRef: pr.BaseRef, HeadSHA: pr.HeadSHA, ClosedAt: e.clk.Now(), UpdatedAt: e.clk.Now()}
		}
	}
	// A comment on a closed pull request updates it, not its ClosedAt.
	e.clk.Sleep(ctx, time.Minute)
	e.gh.AddComment(2, "bob", "why closed?")
	c2 := want[2]
	c2.UpdatedAt = e.clk.Now()
	want[2] = c2

	newestFirst := func(since time.Time) []ClosedPR {
		var out []ClosedPR
		out = append(out, want[2])
		for i := 250; i >= 1; i-- {
			if w, ok := want[i]; ok && i != 2 && !w.UpdatedAt.Before(since) {
				out = append(out, w)
			}
		}
		return out
	}
	for _, tt := range []struct {
		name     string
		since    time.Time
		requests int
	}{
		{"all, two pages", time.Time{}, 2},
		// The first page ends with #64, closed at the 64th second.
		{"since the 65th second: the first page passes it", t0.Add(65 * time.Second), 1},
		{"since the 64th second, inclusive: the second page passes it", t0.Add(64 * time.Second), 2},
		{"since the 230th second", t0.Add(230 * time.Second), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.gh.ResetRequests()
			got, err := e.c.ClosedPullRequests(ctx, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(newestFirst(tt.since), got); diff != "" {
				t.Errorf("ClosedPullRequests (-want +got):\n%s", diff)
			}
			if n := e.gh.RequestCount(); n != tt.requests {
				t.Errorf("%d GraphQL requests, want %d", n, tt.requests)
			}
		})
	}
}

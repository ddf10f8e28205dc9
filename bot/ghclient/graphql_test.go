package ghclient

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/fakegithub"
)

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

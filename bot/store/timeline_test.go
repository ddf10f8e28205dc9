package store

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCacheStatuses(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	if got, err := s.CacheStatuses(ctx); len(got) != 0 || err != nil {
		t.Errorf("empty store: %v, %v", got, err)
	}
	want := map[int]CacheStatus{
		12: {PR: 12, SHA: "b", State: "success", Description: "cached", Build: "101"},
		13: {PR: 13, SHA: "c", State: "failure", Description: "missing"},
	}
	for _, c := range []CacheStatus{{PR: 12, SHA: "a", State: "pending"}, want[12], want[13]} {
		if err := s.SaveCacheStatus(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.CacheStatuses(ctx)
	if d := cmp.Diff(want, got); d != "" || err != nil {
		t.Errorf("cache statuses (-want +got):\n%s%v", d, err)
	}
}

func TestUpdatesOfPR(t *testing.T) {
	ctx := context.Background()
	s := open(t, database(t), nil)
	for i, u := range []Update{
		{CommentID: 1, Key: "UPDATE:1", PR: 12, Head: "aaa", Build: "100", Author: "alice"},
		{CommentID: 2, Key: "UPDATE:1", PR: 13, Head: "xxx", Build: "200", Author: "bob"},
		{CommentID: 3, Key: "UPDATE:1", PR: 12, Head: "bbb", Build: "101", Author: "carol"},
		{CommentID: 4, Key: "UPDATE:1", PR: 12, Head: "ccc", Build: "102", Author: "dave"},
	} {
		if _, err := s.StartUpdate(ctx, u); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	got, err := s.UpdatesOfPR(ctx, 12, 2)
	if err != nil {
		t.Fatal(err)
	}
	var builds []string
	for _, u := range got {
		builds = append(builds, u.Build+"@"+u.Head+" by "+u.Author)
	}
	if d := cmp.Diff([]string{"102@ccc by dave", "101@bbb by carol"}, builds); d != "" {
		t.Errorf("updates of #12, newest first, at most 2 (-want +got):\n%s", d)
	}
}

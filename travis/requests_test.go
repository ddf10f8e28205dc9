package travis_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/travis"
	"github.com/refbot/refbot/travis/travistest"
)

// TestRequest reads a build request back: no build while Travis has not
// got to it, then its build; a rejected one says so and has none.
func TestRequest(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := setup(t)
	srv.AddRepo(slug)
	srv.SetClock(func() time.Time { return clock })
	srv.SetRequestLag(1)
	if _, err := c.Trigger(ctx, slug, "main", map[string]string{"A": "1"}, "docs (m-1)"); err != nil {
		t.Fatal(err)
	}
	srv.RejectRequests(true)
	if _, err := c.Trigger(ctx, slug, "main", nil, "docs (m-2)"); err != nil {
		t.Fatal(err)
	}

	read := func(id int64) travis.Request {
		t.Helper()
		r, err := c.Request(ctx, slug, id)
		if err != nil {
			t.Fatalf("Request %d: %v", id, err)
		}
		return r
	}
	want := travis.Request{ID: 301, Branch: "main", Message: "docs (m-1)", State: "pending", EventType: "api", CreatedAt: clock}
	if diff := cmp.Diff(want, read(301)); diff != "" {
		t.Errorf("before the build (-want +got):\n%s", diff)
	}
	want.State, want.Result, want.BuildIDs = "finished", travis.ResultApproved, []int64{1001}
	if diff := cmp.Diff(want, read(301)); diff != "" {
		t.Errorf("with the build (-want +got):\n%s", diff)
	}
	read(302)
	rejected := travis.Request{ID: 302, Branch: "main", Message: "docs (m-2)", State: "finished", Result: travis.ResultRejected, EventType: "api", CreatedAt: clock}
	if diff := cmp.Diff(rejected, read(302)); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}

	if _, err := c.Request(ctx, slug, 999); !errors.Is(err, travis.ErrNotFound) {
		t.Errorf("unknown request: %v, want ErrNotFound", err)
	}
	srv.ResetRequests()
	if _, err := c.Request(ctx, slug, 0); err == nil {
		t.Error("request 0: no error")
	}
	if _, err := c.Request(ctx, "noslash", 301); err == nil {
		t.Error("bad slug: no error")
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent for bad arguments, want none", n)
	}
}

// TestRequests lists the requests made since a time, newest first, and
// stops reading pages at the first that holds none as new.
func TestRequests(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := setup(t, travis.WithPaging(2, 10))
	srv.AddRepo(slug)
	at := clock
	srv.SetClock(func() time.Time { return at })
	for i := range 5 {
		at = clock.Add(time.Duration(i) * time.Hour)
		if _, err := c.Trigger(ctx, slug, "main", nil, "docs "+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		since     time.Time
		wantIDs   []int64
		wantPages int
	}{
		{"all", clock, []int64{305, 304, 303, 302, 301}, 3},
		{"the newest two", clock.Add(3 * time.Hour), []int64{305, 304}, 2}, // the second page holds none as new
		{"the newest three", clock.Add(2 * time.Hour), []int64{305, 304, 303}, 3},
		{"none", clock.Add(5 * time.Hour), nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetRequests()
			got, err := c.Requests(ctx, slug, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, r := range got {
				ids = append(ids, r.ID)
				if r.CreatedAt.Before(tt.since) || !strings.HasPrefix(r.Message, "docs ") {
					t.Errorf("request %+v", r)
				}
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			sent := srv.Requests()
			if len(sent) != tt.wantPages {
				t.Errorf("%d pages read, want %d: %v", len(sent), tt.wantPages, sent)
			}
			if want := (url.Values{"limit": {"2"}}); len(sent) > 0 && !cmp.Equal(want, sent[0].Query) {
				t.Errorf("first page's query %v, want %v", sent[0].Query, want)
			}
		})
	}
}

// TestUnfinishedBuilds finds the cron builds of a branch that have not
// finished, and no others.
func TestUnfinishedBuilds(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := setup(t)
	add := func(b travistest.Build) int64 { b.Repo = slug; return srv.AddBuild(b).ID }
	running := add(travistest.Build{EventType: "cron", Branch: "main", State: "started"})
	queued := add(travistest.Build{EventType: "cron", Branch: "main", State: "created"})
	add(travistest.Build{EventType: "cron", Branch: "main", State: "passed"})
	add(travistest.Build{EventType: "cron", Branch: "release", State: "started"})
	add(travistest.Build{EventType: "push", Branch: "main", State: "started"})
	add(travistest.Build{EventType: "api", Branch: "main", State: "started"})

	got, err := c.UnfinishedBuilds(ctx, slug, "main", travis.EventCron)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{queued, running}, ids(got)); diff != "" {
		t.Errorf("unfinished cron builds of main (-want +got):\n%s", diff)
	}
	if got, err := c.UnfinishedBuilds(ctx, slug, "nightly", travis.EventCron); err != nil || len(got) != 0 {
		t.Errorf("another branch: %v, %v", ids(got), err)
	}
	if _, err := c.UnfinishedBuilds(ctx, slug, "", travis.EventCron); err == nil {
		t.Error("no branch: no error")
	}
}

package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// websiteStore is a store whose clock is *now.
func websiteStore(t *testing.T) (*Store, *time.Time) {
	t.Helper()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s := open(t, database(t), func() time.Time { return now })
	return s, &now
}

// startWebsite records a new WEBSITE request of comment on pr.
func startWebsite(t *testing.T, s *Store, comment int64, key string, pr int) *Website {
	t.Helper()
	w, err := s.StartWebsite(context.Background(), Website{CommentID: comment, Key: key, PR: pr,
		Head: strings.Repeat("a", 40), Branch: "master", Author: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// websiteIDs are the ids of ws, in order.
func websiteIDs(ws []Website) []int64 {
	ids := []int64{}
	for _, w := range ws {
		ids = append(ids, w.ID)
	}
	return ids
}

// TestStartWebsiteOnce: a comment's command is recorded once; starting it
// again (a retried job) returns the record as it stands, whatever the
// retry passes.
func TestStartWebsiteOnce(t *testing.T) {
	ctx := context.Background()
	s, now := websiteStore(t)
	t0 := *now
	head := strings.Repeat("a", 40)
	got, err := s.StartWebsite(ctx, Website{CommentID: 100, Key: "WEBSITE:1", PR: 7, Head: head, Branch: "docs", Author: "alice",
		// What a new request is recorded with is StartWebsite's to say.
		Step: WebsiteBuilding, Build: "9", Reported: true})
	if err != nil {
		t.Fatal(err)
	}
	want := &Website{ID: got.ID, CommentID: 100, Key: "WEBSITE:1", PR: 7, Head: head, Branch: "docs", Author: "alice",
		Step: WebsiteQueued, Until: t0, CreatedAt: t0, UpdatedAt: t0}
	if diff := cmp.Diff(want, got); diff != "" || got.ID == 0 {
		t.Errorf("new request (id %d) (-want +got):\n%s", got.ID, diff)
	}

	// The job goes on, then is retried later with other values.
	*now = t0.Add(time.Minute)
	got.Step, got.Slot, got.Build = WebsiteBuilding, 1, "55"
	if err := s.SaveWebsite(ctx, got); err != nil {
		t.Fatal(err)
	}
	saved := *got
	*now = t0.Add(time.Hour)
	again, err := s.StartWebsite(ctx, Website{CommentID: 100, Key: "WEBSITE:1", PR: 8, Head: strings.Repeat("b", 40), Branch: "master",
		Author: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&saved, again); diff != "" {
		t.Errorf("started again (-want +got):\n%s", diff)
	}
	if byID, err := s.WebsiteByID(ctx, got.ID); err != nil || !cmp.Equal(&saved, byID) {
		t.Errorf("WebsiteByID after the retry: %+v, %v; want %+v", byID, err, saved)
	}

	// Another command of the comment, and the same key in another comment,
	// are requests of their own.
	second := startWebsite(t, s, 100, "WEBSITE:2", 7)
	other := startWebsite(t, s, 101, "WEBSITE:1", 7)
	if ids := []int64{got.ID, second.ID, other.ID}; second.ID == got.ID || other.ID == got.ID || other.ID == second.ID {
		t.Errorf("three commands share ids: %v", ids)
	}
	if second.Step != WebsiteQueued || !second.CreatedAt.Equal(*now) {
		t.Errorf("second command of the comment: %+v", second)
	}

	// WebsiteByComment: the comment's newest request; none is nil.
	if w, err := s.WebsiteByComment(ctx, 100); err != nil || w == nil || w.ID != second.ID {
		t.Errorf("WebsiteByComment(100) = %+v, %v; want request %d", w, err, second.ID)
	}
	if w, err := s.WebsiteByComment(ctx, 101); err != nil || w == nil || w.ID != other.ID || w.Key != "WEBSITE:1" {
		t.Errorf("WebsiteByComment(101) = %+v, %v; want request %d", w, err, other.ID)
	}
	if w, err := s.WebsiteByComment(ctx, 999); w != nil || err != nil {
		t.Errorf("WebsiteByComment of a comment without one = %+v, %v; want nil, nil", w, err)
	}
	if w, err := s.WebsiteByID(ctx, other.ID+100); w != nil || err != nil {
		t.Errorf("WebsiteByID of no request = %+v, %v; want nil, nil", w, err)
	}
}

// TestSaveWebsiteRoundTrip: every field SaveWebsite writes reads back the
// same, its times in UTC whatever zone they were given in.
func TestSaveWebsiteRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, now := websiteStore(t)
	w := startWebsite(t, s, 100, "WEBSITE:1", 7)
	created := w.CreatedAt
	cet := time.FixedZone("CET", 3600)
	*now = time.Date(2026, 11, 23, 11, 30, 15, 123456789, cet)
	w.Step = WebsiteBuilding
	w.Until = time.Date(2026, 11, 24, 1, 0, 0, 1, cet)
	w.Reason = "WEBSITE ran 4 times today (UTC), its limit is 4 a day"
	w.Slot = 2
	w.Request = "req-81"
	w.Build = "4711"
	w.BuildURL = "https://ci.example/builds/4711"
	w.TriggeredAt = time.Date(2026, 11, 23, 11, 29, 0, 999, cet)
	w.PreviewURL = "https://docs.example/preview-2/"
	w.HeldUntil = time.Date(2026, 11, 23, 14, 0, 0, 0, cet)
	w.Detail = "detail with `code` and <b>"
	w.EndedBy = "bob"
	w.Reported = true
	if err := s.SaveWebsite(ctx, w); err != nil {
		t.Fatal(err)
	}
	if !w.UpdatedAt.Equal(*now) {
		t.Errorf("UpdatedAt = %v, want the clock's %v", w.UpdatedAt, *now)
	}
	got, err := s.WebsiteByID(ctx, w.ID)
	if err != nil || got == nil {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	want := *w
	want.CreatedAt = created
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	for name, tm := range map[string]time.Time{"Until": got.Until, "TriggeredAt": got.TriggeredAt, "HeldUntil": got.HeldUntil,
		"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("%s read back in %v, want UTC", name, tm.Location())
		}
	}

	// Zero times stay zero.
	w.Until, w.TriggeredAt, w.HeldUntil = time.Time{}, time.Time{}, time.Time{}
	if err := s.SaveWebsite(ctx, w); err != nil {
		t.Fatal(err)
	}
	if got, err := s.WebsiteByID(ctx, w.ID); err != nil || !got.Until.IsZero() || !got.TriggeredAt.IsZero() || !got.HeldUntil.IsZero() {
		t.Errorf("zero times read back as %v, %v, %v (%v)", got.Until, got.TriggeredAt, got.HeldUntil, err)
	}
}

// TestSaveWebsiteFinal: a request saved at a final step is told as not
// reported yet; once ended it keeps its end, and saving over it fails with
// ErrFinal whatever the step.
func TestSaveWebsiteFinal(t *testing.T) {
	ctx := context.Background()
	for _, step := range []string{WebsiteQueued, WebsiteTriggering, WebsiteBuilding, WebsitePublishing} {
		if WebsiteFinal(step) {
			t.Errorf("WebsiteFinal(%q) = true", step)
		}
	}
	for _, final := range websiteFinal {
		t.Run(final, func(t *testing.T) {
			if !WebsiteFinal(final) {
				t.Errorf("WebsiteFinal(%q) = false", final)
			}
			s, now := websiteStore(t)
			w := startWebsite(t, s, 100, "WEBSITE:1", 7)
			w.Step, w.Detail, w.Reported = final, "the end of "+final, true
			*now = now.Add(time.Minute)
			if err := s.SaveWebsite(ctx, w); err != nil {
				t.Fatal(err)
			}
			if w.Reported {
				t.Error("a final step was saved as reported")
			}
			ended, err := s.WebsiteByID(ctx, w.ID)
			if err != nil || ended.Step != final || ended.Reported {
				t.Fatalf("after the end: %+v, %v", ended, err)
			}
			if err := s.MarkWebsiteReported(ctx, w.ID); err != nil {
				t.Fatal(err)
			}
			ended.Reported = true
			for _, next := range []string{WebsiteBuilding, WebsiteCancelled, final} {
				*now = now.Add(time.Minute)
				late := *ended
				late.Step, late.Detail, late.EndedBy, late.Slot = next, "late", "bob", 3
				if err := s.SaveWebsite(ctx, &late); !errors.Is(err, ErrFinal) {
					t.Errorf("saving %s over %s: %v, want ErrFinal", next, final, err)
				}
			}
			got, err := s.WebsiteByID(ctx, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ended, got); diff != "" {
				t.Errorf("the end after late saves (-want +got):\n%s", diff)
			}
		})
	}
}

// TestActiveAndUnreportedWebsites: ActiveWebsites leaves out ended
// requests; UnreportedWebsites lists a PR's ended ones until their end is
// marked told.
func TestActiveAndUnreportedWebsites(t *testing.T) {
	ctx := context.Background()
	s, now := websiteStore(t)
	at := func(comment int64, pr int, step string, reported bool) int64 {
		t.Helper()
		*now = now.Add(time.Minute)
		w := startWebsite(t, s, comment, "WEBSITE:1", pr)
		if step == WebsiteQueued {
			return w.ID
		}
		w.Step = step
		if err := s.SaveWebsite(ctx, w); err != nil {
			t.Fatal(err)
		}
		if reported {
			if err := s.MarkWebsiteReported(ctx, w.ID); err != nil {
				t.Fatal(err)
			}
		}
		return w.ID
	}
	queued := at(1, 1, WebsiteQueued, false)
	failed := at(2, 1, WebsiteFailed, false)
	building := at(3, 1, WebsiteBuilding, false)
	at(4, 1, WebsitePublished, true)
	triggering := at(5, 2, WebsiteTriggering, false)
	cancelled := at(6, 2, WebsiteCancelled, false)
	publishing := at(7, 2, WebsitePublishing, false)
	gaveUp := at(8, 1, WebsiteGaveUp, false)

	tests := []struct {
		name string
		list func() ([]Website, error)
		want []int64
	}{
		{"active of #1", func() ([]Website, error) { return s.ActiveWebsites(ctx, 1) }, []int64{queued, building}},
		{"active of #2", func() ([]Website, error) { return s.ActiveWebsites(ctx, 2) }, []int64{triggering, publishing}},
		{"active of all", func() ([]Website, error) { return s.ActiveWebsites(ctx, 0) },
			[]int64{queued, building, triggering, publishing}},
		{"active of a PR without any", func() ([]Website, error) { return s.ActiveWebsites(ctx, 3) }, []int64{}},
		{"unreported of #1", func() ([]Website, error) { return s.UnreportedWebsites(ctx, 1) }, []int64{failed, gaveUp}},
		{"unreported of #2", func() ([]Website, error) { return s.UnreportedWebsites(ctx, 2) }, []int64{cancelled}},
	}
	check := func() {
		t.Helper()
		for _, tc := range tests {
			got, err := tc.list()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if diff := cmp.Diff(tc.want, websiteIDs(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}
	}
	check()
	// Told: no longer unreported; the others stay.
	if err := s.MarkWebsiteReported(ctx, failed); err != nil {
		t.Fatal(err)
	}
	tests[4].want = []int64{gaveUp}
	check()
	// A request that ends leaves the active ones and is unreported.
	w, err := s.WebsiteByID(ctx, building)
	if err != nil {
		t.Fatal(err)
	}
	w.Step = WebsiteTimedOut
	if err := s.SaveWebsite(ctx, w); err != nil {
		t.Fatal(err)
	}
	tests[0].want, tests[2].want = []int64{queued}, []int64{queued, triggering, publishing}
	tests[4].want = []int64{building, gaveUp}
	check()
}

// TestRecentWebsites: newest first, of one PR or all, at most limit.
func TestRecentWebsites(t *testing.T) {
	ctx := context.Background()
	s, now := websiteStore(t)
	var ids []int64
	for i, pr := range []int{1, 2, 1, 3, 1} {
		*now = now.Add(time.Minute)
		ids = append(ids, startWebsite(t, s, int64(100+i), "WEBSITE:1", pr).ID)
	}
	tests := []struct {
		pr, limit int
		want      []int64
	}{
		{0, 3, []int64{ids[4], ids[3], ids[2]}},
		{0, 10, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{1, 10, []int64{ids[4], ids[2], ids[0]}},
		{1, 2, []int64{ids[4], ids[2]}},
		{3, 10, []int64{ids[3]}},
		{4, 10, []int64{}},
	}
	for _, tc := range tests {
		got, err := s.RecentWebsites(ctx, tc.pr, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, websiteIDs(got)); diff != "" {
			t.Errorf("RecentWebsites(%d, %d) (-want +got):\n%s", tc.pr, tc.limit, diff)
		}
	}
	// The records are whole, not just their ids.
	got, err := s.RecentWebsites(ctx, 3, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("RecentWebsites(3, 1) = %+v, %v", got, err)
	}
	if diff := cmp.Diff(Website{CommentID: 103, Key: "WEBSITE:1", PR: 3, Head: strings.Repeat("a", 40), Branch: "master",
		Author: "alice", Step: WebsiteQueued}, got[0],
		cmpopts.IgnoreFields(Website{}, "ID", "Until", "CreatedAt", "UpdatedAt")); diff != "" {
		t.Errorf("RecentWebsites(3, 1) (-want +got):\n%s", diff)
	}
}

package pages

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/store"
)

// TestTimeline: the PR page's Timeline lists the PR's commands (linking
// their jobs), the builds its UPDATEs took and their data commits, the
// data branch's tip with its trailers, the last statuses, its merge and
// its heads, newest first (the statuses, which have no time, on top);
// everything escaped.
func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tip, head1, head2 := strings.Repeat("d", 40), strings.Repeat("1", 40), strings.Repeat("2", 40)
	rec := &records{
		statuses: map[int]store.CacheStatus{12: {PR: 12, SHA: head2, State: "success", Description: "outputs cached", Build: "4712"}},
		update:   map[int]*store.UpdateStatus{12: {PR: 12, SHA: head1, State: "success", Description: "data branch <updated>"}},
		heads: map[int][]store.HeadSeen{12: {{PR: 12, SHA: head1, At: at(1), Source: store.HeadFromWebhook},
			{PR: 12, SHA: head2, At: at(5), Source: store.HeadFromReconciler}}},
		updates: map[int][]store.Update{12: {{PR: 12, Head: head1, Build: "4711", Author: "alice", Step: store.StepDone,
			DataCommit: strings.Repeat("c", 40), CreatedAt: at(2), UpdatedAt: at(3)}}},
		merges: map[int]*store.Merge{12: {PR: 12, MergeCommit: strings.Repeat("e", 40), CodeBase: "main", MergedAt: at(9),
			MergedBy: "carol", Step: store.MergeDone, DataCommit: strings.Repeat("f", 40)}},
	}
	js := jobs{12: {{ID: 77, Kind: "comment", State: "completed", PR: 12, Author: "alice", Body: "BUILDBOT: UPDATE <i>now</i>", CreatedAt: at(2)}}}
	br := branches{"PR12": {Exists: true, Tip: plumbing.NewHash(tip), When: at(4),
		Trailers: map[string]string{"Refbot-Build": "4711", "Refbot-Commit": head1, "Refbot-Approved-By": "alice"}}}
	h := New(Options{Repo: "o/r", BaseBranch: "master", Branches: br, Jobs: js, Store: rec})
	code, body := get(t, h, "/pr/12")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	_, section, ok := strings.Cut(body, `<h2 id="timeline">Timeline</h2>`)
	if !ok {
		t.Fatal("no Timeline section")
	}
	var kinds []string
	for _, m := range regexp.MustCompile(`<li class="tl-(\w+)"><span class="when">([^<]*)</span>`).FindAllStringSubmatch(section, -1) {
		kinds = append(kinds, m[1]+" "+m[2])
	}
	want := []string{
		"status now", "status now",
		"merge 2026-05-01 12:09 UTC",
		"head 2026-05-01 12:05 UTC",
		"data 2026-05-01 12:04 UTC",
		"data 2026-05-01 12:03 UTC",
		"command 2026-05-01 12:02 UTC", "build 2026-05-01 12:02 UTC",
		"head 2026-05-01 12:01 UTC",
	}
	if d := cmp.Diff(want, kinds); d != "" {
		t.Errorf("events, newest first (-want +got):\n%s", d)
	}
	for _, want := range []string{
		`BUILDBOT: UPDATE &lt;i&gt;now&lt;/i&gt;</code> by @alice · <a href="/jobs/77">details</a>`,
		"UPDATE took build 4711 of head <code title=\"" + head1 + "\">111111111111</code>",
		"data branch PR12 at <code title=\"" + tip + "\">dddddddddddd</code>",
		"<th>Refbot-Approved-By</th><td>alice</td>",
		"data commit of build 4711 (done) <code",
		// An earlier data commit's trailers, from its UPDATE's record.
		"<th>Refbot-PR</th><td>12</td>",
		"cache status of head 222222222222: success, outputs cached; outputs of build <code>4712</code>",
		"update status of head 111111111111: success, data branch &lt;updated&gt;",
		"merged into main (done) <code", "by @carol", strings.Repeat("f", 40),
		"head seen (reconciler)",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}

	// Records that cannot be read: the page says the timeline is
	// incomplete, and still shows the rest.
	rec.err = errors.New("database is locked")
	code, body = get(t, h, "/pr/12")
	if code != 200 || !strings.Contains(body, "the timeline is incomplete") || !strings.Contains(body, "/jobs/77") ||
		strings.Contains(body, "database is locked") {
		t.Errorf("with the store failing: status %d; the failure not said, the jobs not shown or the error shown", code)
	}

	// Without a store (the PR page's older setups), no records are read.
	_, body = get(t, New(Options{Repo: "o/r", Branches: br, Jobs: jobs{12: []queue.JobSummary{}}}), "/pr/12")
	if !strings.Contains(body, "data branch PR12 at") || strings.Contains(body, "head seen") {
		t.Error("without a store the timeline is wrong")
	}
}

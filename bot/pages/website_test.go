package pages

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/bot/workflow"
)

// websitePage is a PR page's options with a data branch and a job, and
// WEBSITE set up to answer ov and err.
func websitePage(ov workflow.WebsiteOverview, err error, recs []store.Website) Options {
	return Options{Repo: "o/r", BaseBranch: "master", Branches: branches{}, Jobs: jobs{},
		Known:    func(context.Context, int) (bool, error) { return true, nil },
		Website:  func(context.Context) (workflow.WebsiteOverview, error) { return ov, err },
		Websites: func(_ context.Context, pr int) ([]store.Website, error) { return recs, nil },
	}
}

func TestWebsiteSection(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	headA, headB, headC := "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0", "b1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0",
		"c1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0"
	ov := workflow.WebsiteOverview{Day: "2026-11-23", Today: 3, MaxPerDay: 4,
		Previews: []workflow.PreviewSlot{
			{Slot: 1, URL: "https://docs.example/preview-1/", PR: 12, Head: headA, Build: "4711", Step: store.WebsitePublished,
				HeldUntil: time.Date(2026, 11, 23, 15, 30, 0, 0, cet)},
			{Slot: 2, URL: "https://docs.example/preview-2/", PR: 21, Head: headB, Build: "4712", Step: store.WebsiteBuilding,
				HeldUntil: time.Date(2026, 11, 23, 13, 5, 0, 0, time.UTC)},
		},
		Queued: []store.Website{{ID: 9, PR: 30, Head: headC, Author: "<script>alert(1)</script>", Step: store.WebsiteQueued,
			Until:  time.Date(2026, 11, 24, 1, 0, 0, 0, cet),
			Reason: "`WEBSITE` ran 4 times today (UTC); `<script>alert(2)</script>` it can run in 2h0m0s"}},
		Running: []store.Website{{ID: 8, PR: 21, Head: headB, Author: "bob", Step: store.WebsiteBuilding, Build: "4712"}},
	}
	recs := []store.Website{{ID: 5, PR: 12, Head: headA, Author: "carol", Step: store.WebsiteFailed,
		Detail: "the docs build ended `errored`", CreatedAt: time.Now()}}
	code, body := get(t, New(websitePage(ov, nil, recs)), "/pr/12")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		"Documentation preview",
		// The day's count against its cap.
		"Docs builds today: 3 of 4 (2026-11-23, UTC)",
		// The previews, the PR each shows with its head and build, and
		// their holds in UTC.
		`<a href="https://docs.example/preview-1/">https://docs.example/preview-1/</a>`,
		`<a href="https://docs.example/preview-2/">https://docs.example/preview-2/</a>`,
		`#12</a> at <code>a1b2c3d4e5f6</code>, docs build <code>4711</code>`,
		`#21</a> at <code>b1b2c3d4e5f6</code>, docs build <code>4712</code> (building: the site before it is still shown)`,
		"2026-11-23 14:30 UTC",
		"2026-11-23 13:05 UTC",
		// The queued request: when it starts, in UTC, and why.
		"#30</a>", "<code>c1b2c3d4e5f6</code>", "2026-11-24 00:00 UTC",
		"WEBSITE ran 4 times today (UTC); &lt;script&gt;alert(2)&lt;/script&gt; it can run in 2h0m0s",
		"@&lt;script&gt;alert(1)&lt;/script&gt;",
		// The running one.
		"<td>building</td>",
		// This PR's own requests.
		"WEBSITE requests of this pull request", "@carol", "the docs build ended errored",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("the page holds an unescaped <script>")
	}
	if strings.Contains(body, "`") {
		t.Error("the page shows Markdown's backticks")
	}
	if n := strings.Count(body, "the site before it is still shown"); n != 1 {
		t.Errorf("%d previews said to show the site before theirs, want 1 (the building one)", n)
	}

	// Without WEBSITE set up there is no section; its functions are not
	// called.
	o := websitePage(ov, nil, recs)
	o.Website, o.Websites = nil, func(context.Context, int) ([]store.Website, error) {
		t.Error("Websites called without WEBSITE set up")
		return recs, nil
	}
	_, body = get(t, New(o), "/pr/12")
	for _, lacks := range []string{"Documentation preview", "Docs builds today", "docs.example", "WEBSITE requests"} {
		if strings.Contains(body, lacks) {
			t.Errorf("without WEBSITE the page shows %q", lacks)
		}
	}

	// An error reading WEBSITE's state: a short line, never the error's
	// text.
	code, body = get(t, New(websitePage(workflow.WebsiteOverview{}, errors.New("read s3://secret-bucket/key: token xyz"), nil)), "/pr/12")
	if code != 200 {
		t.Errorf("status %d with WEBSITE's state unreadable, want 200", code)
	}
	if !strings.Contains(body, "Documentation preview") || !strings.Contains(body, "state could not be read just now") {
		t.Error("an unreadable WEBSITE state is not said")
	}
	if strings.Contains(body, "secret-bucket") || strings.Contains(body, "token xyz") || strings.Contains(body, "Docs builds today") {
		t.Error("the page shows the error's text or an overview it could not read")
	}
}

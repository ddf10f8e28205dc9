package workflow

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/refdata"
)

func TestThumbs(t *testing.T) {
	id := func(c string) plumbing.Hash { return plumbing.NewHash(strings.Repeat(c, 40)) }
	changes := []refdata.Change{
		{Path: "data/a b/p(1).png", Action: refdata.Modified, Old: id("1"), New: id("2")},
		{Path: "data/notes.txt", Action: refdata.Modified, Old: id("3"), New: id("4")},
		{Path: "data/gone.png", Action: refdata.Removed, Old: id("5")},
		{Path: "data/new.SVG", Action: refdata.Added, New: id("6")},
		{Path: "data/x1.png", Action: refdata.Added, New: id("7")},
		{Path: "data/x2.png", Action: refdata.Added, New: id("8")},
		{Path: "data/x3.png", Action: refdata.Added, New: id("9")},
	}
	b := &Bot{cfg: Config{PublicURL: "https://refbot.example.org/", Thumbnails: true, DataRoot: "data",
		SignLink: func(p string) string { return "sig=" + strings.Repeat("s", len(p)%7+1) }}}
	urls := func(ts []thumb) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.URL)
		}
		return out
	}
	// After a push both sides are in the data repo: by blob id. Removed
	// images and other files have none; four at most.
	want := []string{
		"https://refbot.example.org/thumb/" + id("1").String() + "-" + id("2").String() + ".png?sig=" + strings.Repeat("s", (len("/thumb/")+40+1+40+4)%7+1),
		"https://refbot.example.org/thumb/-" + id("6").String() + ".png?sig=" + strings.Repeat("s", (len("/thumb/")+1+40+4)%7+1),
		"https://refbot.example.org/thumb/-" + id("7").String() + ".png?sig=" + strings.Repeat("s", (len("/thumb/")+1+40+4)%7+1),
		"https://refbot.example.org/thumb/-" + id("8").String() + ".png?sig=" + strings.Repeat("s", (len("/thumb/")+1+40+4)%7+1),
	}
	if d := cmp.Diff(want, urls(b.thumbs(12, "77", changes, true))); d != "" {
		t.Errorf("pushed (-want +got):\n%s", d)
	}
	// A PLAN's new sides are in the build: its path under the data root,
	// escaped, both sides' ids in the query (a build uploaded again under
	// its id is not taken for this one), the signature after them.
	got := b.thumbs(12, "77", changes[:1], false)
	sides := "?old=" + id("1").String() + "&new=" + id("2").String()
	p := "/pr/12/thumb/77/a%20b/p%281%29.png" + sides
	signed := "/pr/12/thumb/77/a b/p(1).png" + sides // as the server reads it
	if len(got) != 1 || got[0].URL != "https://refbot.example.org"+p+"&sig="+strings.Repeat("s", len(signed)%7+1) {
		t.Errorf("plan: %v", urls(got))
	}
	// No public address, or thumbnails off: none.
	b.cfg.Thumbnails = false
	if got := b.thumbs(12, "77", changes, true); got != nil {
		t.Errorf("thumbnails off: %v", got)
	}
	// Public pages: unsigned.
	b.cfg.Thumbnails, b.cfg.SignLink = true, nil
	if got := b.thumbs(12, "77", changes[3:4], true); len(got) != 1 || strings.Contains(got[0].URL, "?") {
		t.Errorf("public: %v", urls(got))
	}
	// The rendered reply escapes the file name and the link.
	v := planData{Author: "alice", PR: PullRequest{Number: 12, HeadSHA: strings.Repeat("a", 40)}, Build: Build{ID: "77"},
		Thumbs: []thumb{{Path: "data/`x`<img>.png", Action: "modified", URL: "https://refbot.example.org/thumb/a(b).png"}},
		Review: "https://refbot.example.org/pr/12#review"}
	out := renderPlan(v)
	v.Thumbs = append(v.Thumbs, thumb{Path: "data/new.png", Action: "added", URL: "https://refbot.example.org/thumb/-b.png"})
	out = renderPlan(v)
	for _, want := range []string{"![thumbnail](https://refbot.example.org/thumb/a%28b%29.png)", "``data/`x`<img>.png``",
		"`data/new.png` (added):", "(modified; old · new · difference):",
		"[refbot's review page](https://refbot.example.org/pr/12#review)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan reply lacks %q:\n%s", want, out)
		}
	}
}

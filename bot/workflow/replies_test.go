package workflow

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/refdata"
)

func TestLinkImages(t *testing.T) {
	s := summarize([]refdata.Change{
		{Path: "data/plots/a.png", Action: refdata.Modified},
		{Path: "data/plots/b.PNG", Action: refdata.Added},
		{Path: "data/plots/c.png", Action: refdata.Removed},
		{Path: "data/table.json", Action: refdata.Added},
		{Path: "data/plots/a b (1)#x.png", Action: refdata.Added},
	})
	linkImages(&s, "https://github.com/o/data/", "abc123")
	var got []string
	for _, f := range s.Files {
		got = append(got, f.Link)
	}
	// A name from the build is percent-encoded: it cannot end the link
	// early or make it point elsewhere.
	want := []string{"https://github.com/o/data/blob/abc123/data/plots/a.png", "https://github.com/o/data/blob/abc123/data/plots/b.PNG", "", "",
		"https://github.com/o/data/blob/abc123/data/plots/a%20b%20%281%29%23x.png"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	s2 := summarize([]refdata.Change{{Path: "x.png", Action: refdata.Added}})
	linkImages(&s2, "", "abc123")
	if s2.Files[0].Link != "" {
		t.Error("a link without a web view")
	}
}

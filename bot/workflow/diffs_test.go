package workflow

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestUpdateTextDiffs: the UPDATE reply shows the diffs of small text
// files, added or changed, and never of images, binary or large files.
func TestUpdateTextDiffs(t *testing.T) {
	long := ""
	for i := range 200 {
		long += fmt.Sprintf("line %d\n", i)
	}
	files := map[string]string{
		"a.txt":          "a\n",
		"b.txt":          "b\nwith ``` fences\n",
		"c.txt":          "c\x00binary\n",
		"d.txt":          strings.Repeat("d", 17<<10) + "\n",
		"new/long.csv":   long,
		"plots/plot.svg": "<svg/>\n",
	}
	t.Run("shown", func(t *testing.T) {
		f := newFixture(t)
		f.upload(t, head, files)
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE --all"); err != nil {
			t.Fatal(err)
		}
		got := f.gh.lastComment()
		golden(t, "update-diffs", got)
		for _, want := range []string{
			"diff of <code>data/b.txt</code>", "````diff\n@@ -1 +1,2 @@\n b\n+with ``` fences\n````",
			"diff of <code>data/new/long.csv</code>", "@@ -0,0 +1,200 @@\n+line 0\n", "… 121 more lines",
			"diff of <code>data/plots/plot.svg</code>",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("the reply lacks %q", want)
			}
		}
		for _, not := range []string{"diff of <code>data/c.txt</code>", "diff of <code>data/d.txt</code>"} {
			if strings.Contains(got, not) {
				t.Errorf("the reply has %q", not)
			}
		}
	})
	t.Run("data repo cannot serve them", func(t *testing.T) {
		f := newFixture(t)
		f.gs.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Header.Get("Git-Protocol") == "version=2" && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
				http.Error(w, "no", http.StatusServiceUnavailable)
				return true
			}
			return false
		})
		f.upload(t, head, files)
		if err := f.comment(t, "alice", "BUILDBOT: UPDATE --all"); err != nil {
			t.Fatal(err)
		}
		got := f.gh.lastComment()
		if strings.Contains(got, "diff of") || !strings.Contains(got, "✅ CI build") || !strings.Contains(got, "- modified `data/b.txt`") {
			t.Errorf("reply without diffs:\n%s", got)
		}
		if st := f.gh.states(); st[len(st)-1] != "success" {
			t.Errorf("statuses %v", st)
		}
	})
}

package workflow

import (
	"bytes"
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
	"text/template"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/refdata"
)

//go:embed templates/*.md
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"short": short,
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
}).ParseFS(templateFS, "templates/*.md"))

func render(name string, data any) string {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		// The templates are compiled in and covered by golden tests; a
		// failure here is a bug, said plainly rather than hidden.
		return fmt.Sprintf("refbot could not render its reply (%v). Please report this.", err)
	}
	return strings.TrimSpace(buf.String()) + "\n"
}

// dirChange counts one folder's changes.
type dirChange struct {
	Dir                     string
	Added, Changed, Removed int
}

type fileChange struct {
	Action string
	Path   string
	Link   string // to view the new file (images), when the data repo has a web view
}

// changeSummary groups an update's changes by folder.
type changeSummary struct {
	Dirs  []dirChange
	Files []fileChange // the first maxListedFiles
	More  int          // files not listed
	Total int
}

const maxListedFiles = 50

func summarize(changes []refdata.Change) changeSummary {
	var s changeSummary
	byDir := map[string]*dirChange{}
	for _, c := range changes {
		d := path.Dir(c.Path)
		dc, ok := byDir[d]
		if !ok {
			dc = &dirChange{Dir: d}
			byDir[d] = dc
		}
		switch c.Action {
		case refdata.Added:
			dc.Added++
		case refdata.Modified:
			dc.Changed++
		case refdata.Removed:
			dc.Removed++
		}
		if len(s.Files) < maxListedFiles {
			s.Files = append(s.Files, fileChange{Action: string(c.Action), Path: c.Path})
		} else {
			s.More++
		}
		s.Total++
	}
	for _, dc := range byDir {
		s.Dirs = append(s.Dirs, *dc)
	}
	sort.Slice(s.Dirs, func(i, j int) bool { return s.Dirs[i].Dir < s.Dirs[j].Dir })
	return s
}

// overlap is another PR whose data branch changes some of the same files.
type overlap struct {
	PR    int
	Files []string
}

// planData is what PLAN says and what the large-change guard looks at.
type planData struct {
	Overlaps         []overlap
	Author           string
	PR               PullRequest
	Build            Build
	Variant          string
	Changes          changeSummary
	Files            int
	Before           int
	ChangedOrRemoved int
	Share            float64
	Limit            float64
	Large            bool
	NoChange         bool
}

func planView(w intake.CommentWork, cmd command.Command, pr PullRequest, build Build, res *publish.Result, limit float64) planData {
	u := res.Update
	v := planData{Author: w.Author, PR: pr, Build: build, Variant: cmd.Variant, Limit: limit, NoChange: u.NoChange,
		Files: u.Files, Before: u.FilesBefore}
	for _, c := range u.Changes {
		if c.Action != refdata.Added {
			v.ChangedOrRemoved++
		}
	}
	v.Changes = summarize(u.Changes)
	if v.Before > 0 {
		v.Share = float64(v.ChangedOrRemoved) / float64(v.Before)
	}
	v.Large = v.Share > limit
	return v
}

// updateData is the UPDATE reply, re-rendered as the job progresses.
type updateData struct {
	Author   string
	PR       PullRequest
	Build    Build
	CIBuild  Build
	Branch   string
	Commit   string
	NoChange bool
	Changes  changeSummary
	Diffs    []fileDiff
	Overlaps []overlap
	CI       string // restarting, running, passed, failed
}

// imageExts are the files whose replies link to a view of them.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".svg": true, ".webp": true}

// linkImages adds links to the added and changed images of s, at commit of
// the data repo whose web view is web (nothing when web is empty).
func linkImages(s *changeSummary, web, commit string) {
	if web == "" || commit == "" {
		return
	}
	for i, f := range s.Files {
		if f.Action != string(refdata.Removed) && imageExts[strings.ToLower(path.Ext(f.Path))] {
			s.Files[i].Link = strings.TrimSuffix(web, "/") + "/blob/" + commit + "/" + f.Path
		}
	}
}

func updateView(w intake.CommentWork, cmd command.Command, pr PullRequest, build Build, res *publish.Result) updateData {
	u := res.Update
	v := updateData{Author: w.Author, PR: pr, Build: build, Branch: refdata.PRBranch(pr.Number), NoChange: u.NoChange,
		Changes: summarize(u.Changes)}
	if !u.Commit.IsZero() {
		v.Commit = u.Commit.String()
	}
	return v
}

type statusView struct {
	PR         PullRequest
	Branch     string
	BaseBranch string
	URL        string
	Data       refdata.BranchInfo
	Build      *Build
	Artifacts  string
}

func renderHelp(prefix string) string { return render("help.md", map[string]string{"Prefix": prefix}) }

func renderProblems(prefix, author string, problems []command.Problem) string {
	return render("problems.md", map[string]any{"Prefix": prefix, "Author": author, "Problems": problems})
}

func renderRefusal(cmd command.Command, author, reason string) string {
	return render("refusal.md", map[string]any{"Verb": cmd.Verb, "Author": author, "Reason": reason})
}

func renderPlan(v planData) string     { return render("plan.md", v) }
func renderUpdate(v updateData) string { return render("update.md", v) }
func renderStatus(v statusView) string { return render("status.md", v) }

func renderStop(author string, jobs int, builds []string) string {
	return render("stop.md", map[string]any{"Author": author, "Jobs": jobs, "Builds": builds})
}

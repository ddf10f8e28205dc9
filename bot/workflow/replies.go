package workflow

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"
	"unicode"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/refdata"
)

//go:embed templates/*.md
var templateFS embed.FS

// Every value from outside refbot (a file name from a build, a comment's
// line, a login, an error's words, a trailer of the data repo) goes through
// one of these functions in the templates: code for names and lines, text
// for prose, login for people, link for addresses.
var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"short": short,
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
	"code":  code,
	"text":  text,
	"login": login,
	"link":  link,
	"codes": codesList,
	"cell":  cell,
	"clock": clock,
	// attempt names a re-run's attempt (GitHub Actions), after the build.
	"attempt": func(b Build) string {
		if b.Attempt > 1 {
			return fmt.Sprintf(" (attempt %d)", b.Attempt)
		}
		return ""
	},
}).ParseFS(templateFS, "templates/*.md"))

func render(name string, data any) string {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		// The templates are compiled in and covered by golden tests; a
		// failure here is a bug, said plainly rather than hidden.
		return "refbot could not render its reply. Please report this.\n"
	}
	return strings.TrimSpace(buf.String()) + "\n"
}

// code renders s as a Markdown code span that shows it as it is: a fence
// longer than any run of backticks in it, padded when it starts or ends
// with one; line breaks and other control characters are shown as U+FFFD.
// cell makes rendered Markdown fit a table cell: a "|" would end the cell,
// even inside a code span, and is escaped (GitHub shows it as "|").
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func code(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
	if s == "" {
		return "` `"
	}
	fence := strings.Repeat("`", longestBackticks(s)+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || (strings.HasPrefix(s, " ") && strings.HasSuffix(s, " ")) {
		s = " " + s + " "
	}
	return fence + s + fence
}

// mdSpecial are the characters Markdown (and GitHub's flavour of it) gives
// a meaning to within a line: emphasis, code, links and images (which need
// brackets), tables and strike-through. Block syntax needs a line of its
// own, which text never starts.
var mdSpecial = regexp.MustCompile("[\\\\`*_\\[\\]|~]")

// text renders s as plain words in Markdown: punctuation that would format
// is escaped, HTML is shown, not interpreted, an @ does not mention anyone
// and control characters (line breaks among them) become spaces.
func text(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = mdSpecial.ReplaceAllString(s, `\$0`)
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "@", "@\u200b").Replace(s)
	return s
}

// login renders a GitHub login as a mention; anything else as code.
func login(s string) string {
	if ghclient.ValidActor(s) {
		return "@" + s
	}
	return code(s)
}

// link makes an address safe in a Markdown link: only http(s), with every
// character Markdown could read as the link's end percent-encoded.
func link(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "<", "%3C", ">", "%3E", "\"", "%22", "`", "%60").Replace(u.String())
}

// pathURL percent-encodes each element of a slash path for a URL.
func pathURL(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		parts[i] = url.PathEscape(part)
	}
	return strings.Join(parts, "/")
}

// maxReply bounds a reply's body, below GitHub's 65,536 characters.
const maxReply = 60000

// marker is the hidden line at the end of every reply: it names the
// command the reply answers, so that after a crash between GitHub creating
// the reply and refbot recording it, the reply is found instead of posted
// twice.
func marker(comment int64, key string) string {
	return fmt.Sprintf("<!-- refbot:reply %d %s -->", comment, key)
}

// reply posts refbot's answer to a comment's command (key), or edits the
// answer it posted before (a retried job, or a reply updated as work
// progresses). It records that it is about to create the reply before it
// does; when that record is found without the reply's id, the reply is
// looked for by its marker among the PR's newer comments first.
func (b *Bot) reply(ctx context.Context, w intake.CommentWork, key, body string) error {
	body = strings.TrimRight(body, "\n")
	if len(body) > maxReply {
		// GitHub refuses a comment over 65,536 characters; the lists in a
		// reply are capped, this is the last guard.
		cut := strings.LastIndex(body[:maxReply], "\n")
		body = body[:max(cut, 0)] + "\n\n… (the rest is cut: a GitHub comment holds at most 65,536 characters)"
	}
	body += "\n\n" + marker(w.CommentID, key) + "\n"
	r, err := b.st.Reply(ctx, w.CommentID, key)
	if err != nil {
		return err
	}
	if r != nil && r.ID != 0 {
		err := b.gh.EditComment(ctx, r.ID, body)
		if !errors.Is(err, ghclient.ErrNotFound) {
			return outage("edit refbot's reply", err)
		}
		// Someone deleted it: post it again, recorded first as the
		// first time.
		if err := b.st.ReplyGone(ctx, w.CommentID, key); err != nil {
			return err
		}
	} else if r != nil && r.ID == 0 {
		id, err := b.findReply(ctx, w.PR, w.CommentID, key, r.Since)
		if err != nil {
			return err
		}
		if id != 0 {
			if err := b.st.SetReply(ctx, w.CommentID, key, id); err != nil {
				return err
			}
			return outage("edit refbot's reply", b.gh.EditComment(ctx, id, body))
		}
	} else {
		if err := b.st.ReplyIntent(ctx, w.CommentID, key); err != nil {
			return err
		}
	}
	id, err := b.gh.CreateComment(ctx, w.PR, body)
	if err != nil {
		return outage("post refbot's reply", err)
	}
	return b.st.SetReply(ctx, w.CommentID, key, id)
}

// findReply looks among pr's comments since (less a minute for clocks) for
// refbot's reply to (comment, key); 0 when there is none.
func (b *Bot) findReply(ctx context.Context, pr int, comment int64, key string, since time.Time) (int64, error) {
	cs, err := b.gh.Comments(ctx, pr, since.Add(-time.Minute))
	if err != nil {
		return 0, outage("look for refbot's reply", err)
	}
	// The marker ends refbot's replies; one quoted inside a comment (a
	// diff, a file name, someone's text) is not a reply.
	m := marker(comment, key)
	for _, c := range cs {
		if strings.HasSuffix(strings.TrimSpace(c.Body), m) && (b.cfg.BotLogin == "" || strings.EqualFold(c.Author, b.cfg.BotLogin)) {
			return c.ID, nil
		}
	}
	return 0, nil
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
	Dirs     []dirChange  // the first maxListedDirs
	MoreDirs int          // folders not listed
	Files    []fileChange // the first maxListedFiles
	More     int          // files not listed
	Total    int
}

const (
	maxListedFiles = 50
	maxListedDirs  = 50
)

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
	if len(s.Dirs) > maxListedDirs {
		s.MoreDirs, s.Dirs = len(s.Dirs)-maxListedDirs, s.Dirs[:maxListedDirs]
	}
	return s
}

// overlap is another PR whose data branch changes some of the same files.
type overlap struct {
	PR    int
	Files []string
}

// planData is what PLAN says and what the large-change guard looks at.
type planData struct {
	Prefix           string
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
	Notes            []variantNote
	Thumbs           []thumb
	Review           string // the review page
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

// updateData is the UPDATE reply, re-rendered as the work progresses; the
// store keeps it with the update's record.
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
	Notes    []variantNote
	// Thumbs show the first changed images once the data is pushed;
	// Review links the review page.
	Thumbs []thumb `json:",omitempty"`
	Review string  `json:",omitempty"`
	// CI is where the CI part stands: running, passed, failed, timeout,
	// stopped, superseded, gave-up.
	CI string
	By string // who stopped it, or whose UPDATE superseded it
	// Unpushed: stopped before its data was pushed; the branch is as it was.
	Unpushed bool   `json:",omitempty"`
	Reason   string // why refbot gave up, in plain words
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
			s.Files[i].Link = strings.TrimSuffix(web, "/") + "/blob/" + commit + "/" + pathURL(f.Path)
		}
	}
}

func updateView(w intake.CommentWork, pr PullRequest, build Build, res *publish.Result) updateData {
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

// stopData is what STOP's reply says it stopped.
type stopData struct {
	Author string
	Jobs   int      // queued or running jobs cancelled
	Builds []string // CI builds refbot had restarted, cancelled
	// Websites are the WEBSITE requests ended, DocsBuilds their docs
	// builds cancelled; StopCommand: the builder's stop command ran.
	Websites    int
	DocsBuilds  []string
	StopCommand bool
	Publishing  int // WEBSITE requests left to finish their publication
}

func renderStop(v stopData) string { return render("stop.md", v) }

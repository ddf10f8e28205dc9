package workflow

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/store"
)

// Checks are GitHub's check runs, which only a GitHub App may write: when
// refbot runs as one, each UPDATE has a check run on the head beside its
// commit status, with what it changed (docs/design.md, "Replies and
// statuses").
type Checks interface {
	CreateCheckRun(ctx context.Context, r ghclient.CheckRun) (int64, error)
	UpdateCheckRun(ctx context.Context, r ghclient.CheckRun) error
	CheckRunsFor(ctx context.Context, sha, name string) ([]ghclient.CheckRun, error)
}

// syncCheckRun brings u's check run in line with view: looked up by its
// external id (the update's) before it is created, so that a crash or a
// lost answer after creating it never makes a second one.
func (b *Bot) syncCheckRun(ctx context.Context, u *store.Update, view updateData) error {
	if b.checks == nil || u.Head == "" {
		return nil
	}
	run := b.checkRunOf(u, view)
	runs, err := b.checks.CheckRunsFor(ctx, u.Head, run.Name)
	if err != nil {
		return outage("read the check runs", err)
	}
	for _, r := range runs {
		if r.ExternalID == run.ExternalID {
			run.ID = r.ID
			if r.Status == "completed" && r.Conclusion == run.Conclusion && r.Summary == run.Summary {
				return nil
			}
			return outage("update the check run", b.checks.UpdateCheckRun(ctx, run))
		}
	}
	_, err = b.checks.CreateCheckRun(ctx, run)
	return outage("create the check run", err)
}

// checkRunOf renders u's check run: in progress until the update ends,
// then its conclusion.
func (b *Bot) checkRunOf(u *store.Update, view updateData) ghclient.CheckRun {
	r := ghclient.CheckRun{Name: b.cfg.StatusContext, HeadSHA: u.Head, ExternalID: "refbot-update-" + strconv.FormatInt(u.ID, 10),
		DetailsURL: b.prURL(u.PR), Status: "in_progress"}
	build := buildName(view.Build)
	switch view.CI {
	case "passed":
		r.Conclusion, r.Title = "success", fmt.Sprintf("Data updated; CI build %s passed", buildName(view.CIBuild))
	case "failed":
		r.Conclusion, r.Title = "failure", fmt.Sprintf("Data updated; CI build %s %s", buildName(view.CIBuild), view.CIBuild.State)
	case "unchanged":
		r.Conclusion, r.Title = "success", fmt.Sprintf("Data unchanged: the data branch holds build %s's data", build)
	case "timeout":
		r.Conclusion, r.Title = "timed_out", fmt.Sprintf("Data pushed; CI build %s did not finish in time", buildName(view.CIBuild))
	case "stopped":
		r.Conclusion, r.Title = "cancelled", "Stopped by "+view.By
	case "superseded":
		r.Conclusion, r.Title = "neutral", "Superseded by a newer UPDATE of "+view.By
	case "gave-up":
		r.Conclusion, r.Title = "failure", "refbot gave up"
	case "running":
		r.Title = fmt.Sprintf("Data pushed; CI build %s restarted", build)
	default:
		r.Title = fmt.Sprintf("Updating the data from build %s", build)
	}
	r.Summary = checkSummary(b.cfg.DataWebURL, view)
	return r
}

// checkSummary is the check run's Markdown: what the update changed, by
// folder, and where to look. Folder names come from the build: escaped.
func checkSummary(web string, v updateData) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Data branch `%s`", v.Branch)
	if v.Commit != "" {
		if u := link(strings.TrimSuffix(web, "/") + "/commit/" + v.Commit); web != "" && u != "" {
			fmt.Fprintf(&sb, " at [%s](%s)", short(v.Commit), u)
		} else {
			fmt.Fprintf(&sb, " at %s", short(v.Commit))
		}
	}
	fmt.Fprintf(&sb, ", from CI build %s", buildName(v.Build))
	if u := link(v.Build.URL); u != "" {
		fmt.Fprintf(&sb, " ([log](%s))", u)
	}
	sb.WriteString(".\n\n")
	if v.NoChange || v.Changes.Total == 0 {
		sb.WriteString("No file changed.\n")
		return sb.String()
	}
	fmt.Fprintf(&sb, "%d files changed.\n\n| Folder | Added | Changed | Removed |\n|---|---:|---:|---:|\n", v.Changes.Total)
	for _, d := range v.Changes.Dirs {
		fmt.Fprintf(&sb, "| %s | %d | %d | %d |\n", cell(code(d.Dir)), d.Added, d.Changed, d.Removed)
	}
	if v.Changes.MoreDirs > 0 {
		fmt.Fprintf(&sb, "\n…and %d more folders.\n", v.Changes.MoreDirs)
	}
	return sb.String()
}

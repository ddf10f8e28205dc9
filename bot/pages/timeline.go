package pages

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/refdata"
)

// updatesShown bounds the UPDATEs a timeline reads.
const updatesShown = 50

// event is one entry of a PR's timeline.
type event struct {
	// At is when it happened; zero for a state refbot keeps without a
	// time (the last statuses it set), shown first as "now".
	At time.Time
	// Kind is command, build, data, status, merge or head: the CSS class
	// tl-<kind>.
	Kind string
	What string // what happened, in words
	// Code is a command, a commit or a build, shown as code; Title, when
	// set, its full form.
	Code, Title string
	Who         string // a GitHub login
	Href        string // a link to more (a job's page)
	// Details are name/value pairs: a data commit's trailers.
	Details [][2]string
}

// timelineData is what the PR page's Timeline section shows.
type timelineData struct {
	Events []event
	Error  string // some records could not be read
}

// timeline gathers pr's events, newest first: its commands (jobs), the
// builds its UPDATEs took and the data commits they made, its data
// branch's tip with its trailers, the last update and cache statuses,
// its merge and the heads refbot saw. It reads the store (a few queries
// by PR) and what the page read already; nothing from GitHub. The
// backups refbot keeps of earlier data tips live only on the data repo's
// server (the cache holds no copy), so earlier data commits come from
// the UPDATEs' records instead.
func (p *Pages) timeline(ctx context.Context, pr int, jobs []queue.JobSummary, branch refdata.BranchInfo) timelineData {
	var d timelineData
	for _, j := range jobs {
		e := event{At: j.CreatedAt, Kind: "command", Who: j.Author, Href: "/jobs/" + strconv.FormatInt(j.ID, 10)}
		if j.Body != "" {
			e.What, e.Code = "command", j.Body
		} else {
			e.What = "job " + j.Kind
		}
		e.What += " (job " + strconv.FormatInt(j.ID, 10) + ", " + j.State + ")"
		d.Events = append(d.Events, e)
	}
	if branch.Exists {
		e := event{At: branch.When, Kind: "data", What: "data branch " + refdata.PRBranch(pr) + " at",
			Code: short(branch.Tip.String()), Title: branch.Tip.String()}
		for _, k := range slices.Sorted(maps.Keys(branch.Trailers)) {
			e.Details = append(e.Details, [2]string{k, branch.Trailers[k]})
		}
		d.Events = append(d.Events, e)
	}
	st := p.o.Store
	if st == nil {
		sortEvents(d.Events)
		return d
	}
	failed := false
	fail := func(what string, err error) {
		p.o.Logger.Warn("page: read the timeline", zap.Int("pr", pr), zap.String("what", what), zap.Error(err))
		failed = true
	}
	if ups, err := st.UpdatesOfPR(ctx, pr, updatesShown); err != nil {
		fail("updates", err)
	} else {
		for _, u := range ups {
			d.Events = append(d.Events, event{At: u.CreatedAt, Kind: "build", What: "UPDATE took build " + u.Build + " of head",
				Code: short(u.Head), Title: u.Head, Who: u.Author})
			if u.DataCommit != "" && u.DataCommit != branch.Tip.String() {
				// The trailers the UPDATE wrote on it, from its record.
				d.Events = append(d.Events, event{At: u.UpdatedAt, Kind: "data", What: "data commit of build " + u.Build + " (" + u.Step + ")",
					Code: short(u.DataCommit), Title: u.DataCommit, Details: [][2]string{
						{"Refbot-PR", strconv.Itoa(pr)}, {"Refbot-Build", u.Build}, {"Refbot-Commit", u.Head}, {"Refbot-Approved-By", u.Author}}})
			}
		}
	}
	if cs, err := st.CacheStatus(ctx, pr); err != nil {
		fail("cache status", err)
	} else if cs != nil {
		e := event{Kind: "status", What: "cache status of head " + short(cs.SHA) + ": " + said(cs.State, cs.Description)}
		if cs.Build != "" {
			e.What += "; outputs of build"
			e.Code = cs.Build
		}
		d.Events = append(d.Events, e)
	}
	if us, err := st.UpdateStatus(ctx, pr); err != nil {
		fail("update status", err)
	} else if us != nil {
		d.Events = append(d.Events, event{Kind: "status", What: "update status of head " + short(us.SHA) + ": " + said(us.State, us.Description)})
	}
	if m, err := st.Merge(ctx, pr); err != nil {
		fail("merge", err)
	} else if m != nil {
		e := event{At: m.MergedAt, Kind: "merge", What: "merged into " + m.CodeBase + " (" + m.Step + ")", Who: m.MergedBy,
			Code: short(m.MergeCommit), Title: m.MergeCommit}
		if m.DataCommit != "" {
			e.Details = append(e.Details, [2]string{"data commit", m.DataCommit})
		}
		if m.Build != "" {
			e.Details = append(e.Details, [2]string{"post-merge build", m.Build})
		}
		d.Events = append(d.Events, e)
	}
	if heads, err := st.HeadsSeen(ctx, pr); err != nil {
		fail("heads", err)
	} else {
		for _, h := range heads {
			d.Events = append(d.Events, event{At: h.At, Kind: "head", What: "head seen (" + h.Source + ")", Code: short(h.SHA), Title: h.SHA})
		}
	}
	if failed {
		d.Error = "some of refbot's records could not be read just now: the timeline is incomplete"
	}
	sortEvents(d.Events)
	return d
}

// sortEvents puts events newest first, those without a time before all.
func sortEvents(es []event) {
	slices.SortStableFunc(es, func(a, b event) int {
		if a.At.IsZero() != b.At.IsZero() {
			if a.At.IsZero() {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.At.UnixNano(), a.At.UnixNano())
	})
}

// said is a status's state and description as one phrase.
func said(state, description string) string {
	if description == "" {
		return state
	}
	return state + ", " + description
}

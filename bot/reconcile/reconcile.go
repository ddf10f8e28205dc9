// Package reconcile does what missed webhooks would have done. GitHub does
// not retry a failed delivery, and refbot may have been down: at start and
// every few minutes, the reconciler reads the comments written and the pull
// requests merged since its last pass and records them through the same
// durable path as the webhook. The queue handles each comment once, under
// any delivery id, and promotion is idempotent, so what the webhook did
// deliver is not done twice.
//
// Each pass also sets the cache status of every open PR's head (DESIGN.md
// §1), writing only when it changed and not re-examining a head whose
// status is already final, so that a quiet pass costs GitHub only the
// listing of open PRs.
package reconcile

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/intake"
)

// GitHub is what the reconciler reads.
type GitHub interface {
	OpenPullRequests(ctx context.Context) ([]ghclient.PRSummary, error)
	MergedPullRequests(ctx context.Context, since time.Time) ([]ghclient.MergedPR, error)
	Comments(ctx context.Context, pr int, since time.Time) ([]ghclient.Comment, error)
	PullRequest(ctx context.Context, n int) (*ghclient.PullRequest, error)
	SetStatus(ctx context.Context, sha string, s ghclient.Status) error
}

// Options configure a Reconciler.
type Options struct {
	Repo       string
	BotLogin   string
	HasCommand func(body string) bool
	GitHub     GitHub
	Recorder   intake.Recorder
	// DataBranches returns the PR numbers that have a data branch.
	DataBranches func(ctx context.Context) (map[int]bool, error)
	// CacheStatus works out the cache status of a PR's head and the build
	// it is about; nil means no cache statuses.
	// hasBranch says whether the PR has a data branch.
	CacheStatus func(ctx context.Context, pr int, head string, hasBranch bool) (ghclient.Status, string, error)
	DB          *sql.DB // where the last pass is remembered
	Interval    time.Duration
	// FirstLookback is how far back the very first pass looks; default a day.
	FirstLookback time.Duration
	Logger        *zap.Logger
	Now           func() time.Time
}

// Reconciler runs passes.
type Reconciler struct{ o Options }

// New returns a Reconciler; its table is created if missing.
func New(ctx context.Context, o Options) (*Reconciler, error) {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Minute
	}
	if o.FirstLookback <= 0 {
		o.FirstLookback = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS refbot_reconcile (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		// Each open PR's updatedAt as GitHub gave it when last read: a PR
		// is read again only when it changed (GitHub's clock, not ours).
		`CREATE TABLE IF NOT EXISTS refbot_reconcile_pr (pr INTEGER PRIMARY KEY, updated_at TEXT NOT NULL)`,
		// The cache status refbot last set on each open PR's head.
		`CREATE TABLE IF NOT EXISTS refbot_cache_status (pr INTEGER PRIMARY KEY, sha TEXT NOT NULL,
			state TEXT NOT NULL, description TEXT NOT NULL, build TEXT NOT NULL)`,
	} {
		if _, err := o.DB.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("reconcile: create tables: %w", err)
		}
	}
	return &Reconciler{o: o}, nil
}

// Run passes at once and then every Interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		if res, err := r.Pass(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.o.Logger.Warn("reconcile pass", zap.Error(err))
		} else if res.Comments+res.Merges > 0 {
			r.o.Logger.Info("reconciled missed events", zap.Int("comments", res.Comments), zap.Int("merges", res.Merges))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Result counts what a pass recorded that the webhook had not.
type Result struct {
	Comments int
	Merges   int
	Statuses int // cache statuses written
}

// overlap re-reads a little before the last pass, for clock skew between
// refbot and GitHub; the queue drops what it has already seen.
const overlap = 2 * time.Minute

// Pass reads what happened since the last pass and records it. A pass that
// fails leaves the last pass where it was, so the next reads it again.
func (r *Reconciler) Pass(ctx context.Context) (Result, error) {
	var res Result
	started := r.o.Now().UTC()
	since := started.Add(-r.o.FirstLookback)
	var last string
	switch err := r.o.DB.QueryRowContext(ctx, `SELECT value FROM refbot_reconcile WHERE key = 'last_pass'`).Scan(&last); {
	case err == nil:
		t, perr := time.Parse(time.RFC3339Nano, last)
		if perr == nil {
			since = t.Add(-overlap)
		}
	case err != sql.ErrNoRows:
		return res, err
	}

	open, err := r.o.GitHub.OpenPullRequests(ctx)
	if err != nil {
		return res, err
	}
	seen, err := r.seenPRs(ctx)
	if err != nil {
		return res, err
	}
	firstLook := started.Add(-r.o.FirstLookback)
	for _, pr := range open {
		prSince := firstLook
		if last, ok := seen[pr.Number]; ok {
			if !pr.UpdatedAt.After(last) {
				continue // unchanged since it was last read
			}
			prSince = last.Add(-overlap)
		} else if pr.UpdatedAt.Before(firstLook) {
			if err := r.markSeen(ctx, pr.Number, pr.UpdatedAt); err != nil {
				return res, err
			}
			continue
		}
		comments, err := r.o.GitHub.Comments(ctx, pr.Number, prSince)
		if err != nil {
			return res, err
		}
		for _, c := range comments {
			if c.CreatedAt.Before(prSince) || c.AuthorType == "Bot" || c.Author == r.o.BotLogin || !r.o.HasCommand(c.Body) {
				continue
			}
			out, err := r.o.Recorder.Record(ctx, intake.Delivery{
				ID: "reconcile-comment-" + strconv.FormatInt(c.ID, 10), Event: "issue_comment", Action: "created", Received: started,
				Work: intake.CommentWork{Repo: r.o.Repo, PR: pr.Number, CommentID: c.ID, Author: c.Author, Body: c.Body,
					URL: c.URL, CreatedAt: c.CreatedAt},
			})
			if err != nil {
				return res, err
			}
			if out == intake.Recorded {
				res.Comments++
			}
		}
		if err := r.markSeen(ctx, pr.Number, pr.UpdatedAt); err != nil {
			return res, err
		}
	}

	// The data branches, listed once a pass and only if needed.
	var branches map[int]bool
	dataBranches := func() (map[int]bool, error) {
		var err error
		if branches == nil {
			branches, err = r.o.DataBranches(ctx)
		}
		return branches, err
	}
	if r.o.CacheStatus != nil {
		for _, pr := range open {
			wrote, err := r.cacheStatus(ctx, pr, dataBranches)
			if err != nil {
				return res, err
			}
			if wrote {
				res.Statuses++
			}
		}
	}

	merged, err := r.o.GitHub.MergedPullRequests(ctx, since)
	if err != nil {
		return res, err
	}
	if len(merged) > 0 {
		branches, err := dataBranches()
		if err != nil {
			return res, err
		}
		for _, m := range merged {
			if !branches[m.Number] {
				continue // promoted already, or never had data
			}
			pr, err := r.o.GitHub.PullRequest(ctx, m.Number)
			if err != nil {
				return res, err
			}
			out, err := r.o.Recorder.Record(ctx, intake.Delivery{
				ID: "reconcile-merge-" + strconv.Itoa(m.Number), Event: "pull_request", Action: "closed", Received: started,
				Work: intake.PullRequestClosed{Repo: r.o.Repo, PR: m.Number, Merged: true, BaseRef: pr.BaseRef,
					HeadSHA: pr.HeadSHA, MergeCommit: pr.MergeCommitSHA},
			})
			if err != nil {
				return res, err
			}
			if out == intake.Recorded {
				res.Merges++
			}
		}
	}
	_, err = r.o.DB.ExecContext(ctx, `INSERT INTO refbot_reconcile (key, value) VALUES ('last_pass', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, started.Format(time.RFC3339Nano))
	return res, err
}

func (r *Reconciler) seenPRs(ctx context.Context) (map[int]time.Time, error) {
	rows, err := r.o.DB.QueryContext(ctx, `SELECT pr, updated_at FROM refbot_reconcile_pr`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]time.Time{}
	for rows.Next() {
		var pr int
		var at string
		if err := rows.Scan(&pr, &at); err != nil {
			return nil, err
		}
		if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
			out[pr] = t
		}
	}
	return out, rows.Err()
}

func (r *Reconciler) markSeen(ctx context.Context, pr int, updated time.Time) error {
	_, err := r.o.DB.ExecContext(ctx, `INSERT INTO refbot_reconcile_pr (pr, updated_at) VALUES (?, ?)
		ON CONFLICT (pr) DO UPDATE SET updated_at = excluded.updated_at`, pr, updated.UTC().Format(time.RFC3339Nano))
	return err
}

// cacheStatus sets pr's cache status if it changed. A head whose outputs
// were found cached is not examined again; a failure is (a re-run of the
// build, or a late upload, can mend it), at the cost of CI and S3 calls
// and one listing of the data branches a pass: GitHub is written to only
// on a change.
func (r *Reconciler) cacheStatus(ctx context.Context, pr ghclient.PRSummary, dataBranches func() (map[int]bool, error)) (bool, error) {
	var sha, state, desc, build string
	err := r.o.DB.QueryRowContext(ctx, `SELECT sha, state, description, build FROM refbot_cache_status WHERE pr = ?`, pr.Number).
		Scan(&sha, &state, &desc, &build)
	if err != nil && err != sql.ErrNoRows {
		return false, err
	}
	same := err == nil && sha == pr.HeadSHA
	if same && state == "success" {
		return false, nil
	}
	branches, err := dataBranches()
	if err != nil {
		return false, err
	}
	st, newBuild, err := r.o.CacheStatus(ctx, pr.Number, pr.HeadSHA, branches[pr.Number])
	if err != nil {
		return false, fmt.Errorf("cache status of #%d: %w", pr.Number, err)
	}
	if same && st.State == state && st.Description == desc {
		return false, nil
	}
	if err := r.o.GitHub.SetStatus(ctx, pr.HeadSHA, st); err != nil {
		return false, err
	}
	_, err = r.o.DB.ExecContext(ctx, `INSERT INTO refbot_cache_status (pr, sha, state, description, build) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (pr) DO UPDATE SET sha = excluded.sha, state = excluded.state, description = excluded.description, build = excluded.build`,
		pr.Number, pr.HeadSHA, st.State, st.Description, newBuild)
	return true, err
}

// CachedBuilds returns the builds the open PRs' cache statuses point at,
// for prune to keep.
func CachedBuilds(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT build FROM refbot_cache_status WHERE build != ''`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out[b] = true
	}
	return out, rows.Err()
}

// Package reconcile does what missed webhooks would have done. GitHub does
// not retry a failed delivery, and refbot may have been down: at start and
// every few minutes, the reconciler reads the comments written and the pull
// requests merged since its last pass and records them through the same
// durable path as the webhook. The queue handles each comment once, under
// any delivery id, and promotion is idempotent, so what the webhook did
// deliver is not done twice.
//
// Each pass also notes every open PR's head (so that a comment can be
// bound to the head its author saw, docs/design.md "Approval bound to what
// was reviewed") and the list of open PRs the index page shows, catches up on PRs closed without merging, and sets the
// cache status of every open PR's head (docs/design.md, "Cache status"),
// writing only when it changed and not re-examining a head whose status is
// already final, so that a quiet pass costs GitHub only the listings of
// open PRs and of PRs merged or closed since the last pass.
package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/failpoint"
)

// GitHub is what the reconciler reads.
type GitHub interface {
	OpenPullRequests(ctx context.Context) ([]ghclient.PRSummary, error)
	ClosedPullRequests(ctx context.Context, since time.Time) ([]ghclient.ClosedPR, error)
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
	CacheStatus func(ctx context.Context, pr ghclient.PRSummary, hasBranch bool) (ghclient.Status, string, error)
	Store       *store.Store // the last pass, the PRs read and their heads, cache statuses
	Interval    time.Duration
	// PassTimeout bounds one pass; default 10 minutes.
	PassTimeout time.Duration
	// FirstLookback is how far back the very first pass looks; default a day.
	FirstLookback time.Duration
	Logger        *zap.Logger
	Now           func() time.Time
	// Metrics, if set, count the passes Run makes.
	Metrics *Metrics
}

// Reconciler runs passes.
type Reconciler struct {
	o Options
}

// New returns a Reconciler.
func New(o Options) *Reconciler {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Minute
	}
	if o.PassTimeout <= 0 {
		o.PassTimeout = 10 * time.Minute
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
	return &Reconciler{o: o}
}

// Run passes at once and then every Interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		if r.RunPass(ctx) != nil && ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunPass makes one pass, bounded by PassTimeout, and counts and logs it:
// what Run does at each interval, and what refbot serve's periodic job
// does on the replica that leads.
func (r *Reconciler) RunPass(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, r.o.PassTimeout)
	start := time.Now()
	res, err := r.Pass(pctx)
	cancel()
	if ctx.Err() == nil {
		r.o.Metrics.passed(res, err, time.Since(start))
	}
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil:
		r.o.Logger.Warn("reconcile pass", zap.Error(err))
	case res.Comments+res.Merges+res.Closes > 0:
		r.o.Logger.Info("reconciled missed events", zap.Int("comments", res.Comments), zap.Int("merges", res.Merges),
			zap.Int("closes", res.Closes))
	}
	return err
}

// Result counts what a pass recorded that the webhook had not.
type Result struct {
	Comments int
	Merges   int
	Closes   int // closed without merging
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
	last, err := r.o.Store.LastPass(ctx)
	if err != nil {
		return res, err
	}
	if !last.IsZero() {
		since = last.Add(-overlap)
	}

	open, err := r.o.GitHub.OpenPullRequests(ctx)
	if err != nil {
		return res, err
	}
	seen, err := r.o.Store.SeenPRs(ctx)
	if err != nil {
		return res, err
	}
	// The heads of the PRs that changed since they were last read (the
	// others' are recorded already).
	var heads []store.HeadSeen
	for _, pr := range open {
		if last, ok := seen[pr.Number]; !ok || pr.UpdatedAt.After(last) {
			heads = append(heads, store.HeadSeen{PR: pr.Number, SHA: pr.HeadSHA, At: pr.UpdatedAt, Source: store.HeadFromReconciler})
		}
	}
	if err := r.o.Store.RecordHeads(ctx, heads); err != nil {
		return res, err
	}
	// The index page's list of open PRs is what GitHub listed.
	listed := make([]store.OpenPR, len(open))
	for i, pr := range open {
		listed[i] = store.OpenPR{PR: pr.Number, Title: pr.Title, Author: pr.Author, Head: pr.HeadSHA, Base: pr.BaseRef,
			Draft: pr.Draft, Fork: pr.IsFork, UpdatedAt: pr.UpdatedAt}
	}
	if err := r.o.Store.SetOpenPRs(ctx, listed); err != nil {
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
			if err := r.o.Store.MarkPRSeen(ctx, pr.Number, pr.UpdatedAt); err != nil {
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
			// Only comments as they were created count: an edited one's
			// first words are unknown, and an edit is not a command.
			// GitHub may stamp an unedited comment's updated_at a second
			// after its created_at (palantir/policy-bot#459), so a second
			// is allowed; an edit within it goes unnoticed.
			if c.UpdatedAt.After(c.CreatedAt.Add(time.Second)) {
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
				failpoint.Hit("reconcile-recorded")
				res.Comments++
			}
		}
		if err := r.o.Store.MarkPRSeen(ctx, pr.Number, pr.UpdatedAt); err != nil {
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

	// Merged, or closed without merging (their data branches are deleted
	// after the grace period). Each close is its own event: a PR closed,
	// reopened and closed again gets a fresh grace period.
	closed, err := r.o.GitHub.ClosedPullRequests(ctx, since)
	if err != nil {
		return res, err
	}
	if len(closed) > 0 {
		branches, err := dataBranches()
		if err != nil {
			return res, err
		}
		for _, c := range closed {
			if !branches[c.Number] {
				continue // promoted or deleted already, or never had data
			}
			d := intake.Delivery{ID: fmt.Sprintf("reconcile-close-%d-%d", c.Number, c.ClosedAt.Unix()),
				Event: "pull_request", Action: "closed", Received: started,
				Work: intake.PullRequestClosed{Repo: r.o.Repo, PR: c.Number, BaseRef: c.BaseRef, HeadSHA: c.HeadSHA}}
			if c.Merged {
				// The merge commit and who merged: the pull request's own.
				pr, err := r.o.GitHub.PullRequest(ctx, c.Number)
				if err != nil {
					return res, err
				}
				d.ID = "reconcile-merge-" + strconv.Itoa(c.Number)
				d.Work = intake.PullRequestClosed{Repo: r.o.Repo, PR: c.Number, Merged: true, BaseRef: pr.BaseRef,
					HeadSHA: pr.HeadSHA, MergeCommit: pr.MergeCommitSHA, MergedAt: c.MergedAt, MergedBy: pr.MergedBy}
			}
			out, err := r.o.Recorder.Record(ctx, d)
			if err != nil {
				return res, err
			}
			switch {
			case out != intake.Recorded:
			case c.Merged:
				res.Merges++
			default:
				res.Closes++
			}
		}
	}
	failpoint.Hit("reconcile-passing")
	return res, r.o.Store.SetLastPass(ctx, started)
}

// SetCacheStatus sets the cache status of pr's head now, if it changed:
// what a pass does for each open PR, for one told of by an event (a CI run
// ended, a head moved). It may run beside a pass: one PR's statuses are
// worked out and posted one at a time.
func (r *Reconciler) SetCacheStatus(ctx context.Context, pr int, head string, fork bool) error {
	if r.o.CacheStatus == nil {
		return nil
	}
	_, err := r.cacheStatus(ctx, ghclient.PRSummary{Number: pr, HeadSHA: head, IsFork: fork}, func() (map[int]bool, error) {
		return r.o.DataBranches(ctx)
	})
	return err
}

// cacheStatus sets pr's cache status if it changed. A head whose outputs
// were found cached is not examined again; a failure is (a re-run of the
// build, or a late upload, can mend it), at the cost of CI and S3 calls
// and one listing of the data branches a pass: GitHub is written to only
// on a change.
//
// The cache statuses of one PR are set one at a time, on whichever replica
// (the store's lock): a pass and a CI event (or two events) must not post
// out of order and leave GitHub showing one status while the store
// remembers another.
func (r *Reconciler) cacheStatus(ctx context.Context, pr ghclient.PRSummary, dataBranches func() (map[int]bool, error)) (bool, error) {
	var set bool
	err := r.o.Store.WithLock(ctx, fmt.Sprintf("cache-status:%d", pr.Number), func() error {
		var err error
		set, err = r.setCacheStatus(ctx, pr, dataBranches)
		return err
	})
	return set, err
}

func (r *Reconciler) setCacheStatus(ctx context.Context, pr ghclient.PRSummary, dataBranches func() (map[int]bool, error)) (bool, error) {
	last, err := r.o.Store.CacheStatus(ctx, pr.Number)
	if err != nil {
		return false, err
	}
	same := last != nil && last.SHA == pr.HeadSHA
	if same && last.State == "success" {
		return false, nil
	}
	branches, err := dataBranches()
	if err != nil {
		return false, err
	}
	st, newBuild, err := r.o.CacheStatus(ctx, pr, branches[pr.Number])
	if err != nil {
		return false, fmt.Errorf("cache status of #%d: %w", pr.Number, err)
	}
	if same && st.State == last.State && st.Description == last.Description {
		return false, nil
	}
	if err := r.o.GitHub.SetStatus(ctx, pr.HeadSHA, st); err != nil {
		return false, err
	}
	return true, r.o.Store.SaveCacheStatus(ctx, store.CacheStatus{PR: pr.Number, SHA: pr.HeadSHA, State: st.State,
		Description: st.Description, Build: newBuild})
}

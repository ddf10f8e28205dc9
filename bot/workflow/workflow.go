// Package workflow turns a comment's commands into refbot's actions
// (DESIGN.md §1): UPDATE, PLAN, STATUS, HELP, STOP. It sees GitHub, the CI
// provider, the S3 cache and the data repo through small interfaces, so its
// tests run it against the real MinIO and git http-backend, the loopback
// fake of GitHub and the fake of Travis.
package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/policy"
	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/internal/clock"
	"github.com/refbot/refbot/internal/failpoint"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// PullRequest is what a workflow reads of a pull request.
type PullRequest struct {
	Number  int
	Open    bool
	Merged  bool
	HeadSHA string
	BaseRef string
	Author  string
}

// Status is a commit status.
type Status struct {
	State       string // pending, success, failure, error
	Context     string
	Description string
	TargetURL   string
}

// GitHub is what workflows need of GitHub.
type GitHub interface {
	PullRequest(ctx context.Context, n int) (PullRequest, error)
	SetStatus(ctx context.Context, sha string, s Status) error
	CreateComment(ctx context.Context, pr int, body string) (int64, error)
	EditComment(ctx context.Context, id int64, body string) error
}

// Build is a CI build as the provider reports it.
type Build struct {
	ID       string
	Number   string
	State    string
	Commit   string
	URL      string
	Finished bool
	Passed   bool // every required job passed
}

// CI is the CI provider: Travis today, GitHub Actions later.
type CI interface {
	// NewestBuild returns the newest build of pr that tested sha, or an
	// error wrapping ErrNoBuild.
	NewestBuild(ctx context.Context, pr int, sha string) (Build, error)
	Build(ctx context.Context, id string) (Build, error)
	Restart(ctx context.Context, id string) error
	Cancel(ctx context.Context, id string) error
	// NewestBranchBuild returns the newest push build of branch that
	// tested sha, or an error wrapping ErrNoBuild.
	NewestBranchBuild(ctx context.Context, branch, sha string) (Build, error)
}

// ErrNoBuild: the CI provider has no build for the commit.
var ErrNoBuild = errors.New("no CI build")

// Policy is who may command refbot and the cooldowns.
type Policy interface {
	Allowed(ctx context.Context, user string) (*policy.Refusal, error)
	Take(ctx context.Context, pr int, verb string, comment int64) (*policy.Refusal, error)
}

// Config tunes the workflows.
type Config struct {
	Prefix           string        // the command prefix, e.g. "BUILDBOT:"
	BaseBranch       string        // the data repo's base branch
	StatusContext    string        // the commit status UPDATE sets; default "refbot/update"
	WorkDir          string        // downloads, per PR
	PollInterval     time.Duration // CI polling; default 30s
	PollTimeout      time.Duration // give up waiting for CI; default 2h
	LargeChangeShare float64       // UPDATE needs --all above this share; default 0.5
	PublicURL        string        // refbot's own pages, for status links (optional)
	// ClosedGrace is how long the data branch of a PR closed without
	// merging is kept (it may be reopened); default 7 days.
	ClosedGrace time.Duration
	// CacheContext is the context of the cache status; default
	// "s3-reference-data-cache".
	CacheContext string
	// DataWebURL is the data repo's web view (https://github.com/o/data),
	// for links to changed images in replies; empty means no links.
	DataWebURL string
}

// Jobs is the job queue, for STOP.
type Jobs interface {
	// CancelPR cancels the queued and running jobs of pr except the job of
	// comment keep, and returns their ids.
	CancelPR(ctx context.Context, pr int, keep int64) ([]int64, error)
	// ScheduleBranchDeletion deletes pr's data branch at at (see
	// Bot.DeleteClosedBranch).
	ScheduleBranchDeletion(ctx context.Context, pr int, at time.Time) error
	// NewerSupersedable returns the plain UPDATE comments (see Supersedes)
	// queued on pr after comment and not run yet, newest first.
	NewerSupersedable(ctx context.Context, pr int, comment int64) ([]intake.CommentWork, error)
}

// DataRepo is the data repository.
type DataRepo interface {
	publish.Repo
	// Overlaps returns the other data branches that change some of paths,
	// with the paths they share.
	Overlaps(ctx context.Context, self string, paths []string) (map[string][]string, error)
	// Branch reads a data branch's tip and trailers.
	Branch(ctx context.Context, branch string) (refdata.BranchInfo, error)
	Promote(ctx context.Context, branch string, dryRun bool) (*refdata.PromoteResult, error)
	DeleteBranch(ctx context.Context, branch string) (plumbing.Hash, error)
	Rebase(ctx context.Context, branch string) (*refdata.RebaseResult, error)
	PRBranches(ctx context.Context) ([]int, error)
	// Blobs reads file contents by blob id, for the replies' text diffs.
	Blobs(ctx context.Context, ids []plumbing.Hash, maxObject, maxPack int64) (map[plumbing.Hash][]byte, error)
}

// Deps are the outside systems a Bot works with.
type Deps struct {
	GitHub GitHub
	CI     CI
	Store  publish.Store
	Repo   DataRepo
	Policy Policy
	Jobs   Jobs
	// DB keeps the replies refbot posted (so a retried job edits its reply
	// instead of posting another) and the CI builds it restarted (so STOP
	// can cancel them); the tables are created if missing.
	DB     *sql.DB
	Logger *zap.Logger
}

// Bot runs the workflows.
type Bot struct {
	cfg    Config
	gh     GitHub
	ci     CI
	store  publish.Store
	repo   DataRepo
	policy Policy
	jobs   Jobs
	db     *sql.DB
	log    *zap.Logger
	sleep  func(ctx context.Context, d time.Duration) error
	// statusMu serialises the update statuses refbot posts and remembers:
	// a PR's job and another PR's job restating its overlaps must not
	// interleave. (One process works on the SQLite state; replicas on
	// PostgreSQL will need a row lock instead.)
	statusMu sync.Mutex
}

// New returns a Bot.
func New(ctx context.Context, cfg Config, d Deps) (*Bot, error) {
	if d.GitHub == nil || d.CI == nil || d.Store == nil || d.Repo == nil || d.Policy == nil || d.Jobs == nil || d.DB == nil {
		return nil, errors.New("workflow: every dependency is required")
	}
	log := d.Logger
	if cfg.Prefix == "" {
		cfg.Prefix = command.DefaultPrefix
	}
	if cfg.BaseBranch == "" {
		cfg.BaseBranch = "master"
	}
	if cfg.StatusContext == "" {
		cfg.StatusContext = "refbot/update"
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.PollTimeout <= 0 {
		// Under the queue's two-hour job timeout, so that a slow build
		// ends the job with an answer rather than a timed-out retry.
		cfg.PollTimeout = 90 * time.Minute
	}
	if cfg.LargeChangeShare <= 0 {
		cfg.LargeChangeShare = 0.5
	}
	if cfg.CacheContext == "" {
		cfg.CacheContext = "s3-reference-data-cache"
	}
	if cfg.ClosedGrace <= 0 {
		cfg.ClosedGrace = 7 * 24 * time.Hour
	}
	if log == nil {
		log = zap.NewNop()
	}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS refbot_reply (
			comment_id INTEGER NOT NULL, verb TEXT NOT NULL, reply_id INTEGER NOT NULL, PRIMARY KEY (comment_id, verb))`,
		`CREATE TABLE IF NOT EXISTS refbot_ci_restart (
			pr INTEGER NOT NULL, build_id TEXT NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (pr, build_id))`,
		`CREATE TABLE IF NOT EXISTS refbot_pending (
			pr INTEGER NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (pr, sha))`,
		`CREATE TABLE IF NOT EXISTS refbot_update_status (
			pr INTEGER PRIMARY KEY, sha TEXT NOT NULL, state TEXT NOT NULL, description TEXT NOT NULL,
			overlaps TEXT NOT NULL DEFAULT '')`,
		`CREATE TABLE IF NOT EXISTS refbot_update_view (
			reply_key TEXT NOT NULL, comment_id INTEGER NOT NULL, view TEXT NOT NULL, PRIMARY KEY (comment_id, reply_key))`,
	} {
		if _, err := d.DB.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("workflow: create tables: %w", err)
		}
	}
	return &Bot{cfg: cfg, gh: d.GitHub, ci: d.CI, store: d.Store, repo: d.Repo, policy: d.Policy, jobs: d.Jobs,
		db: d.DB, log: log, sleep: clock.Sleep}, nil
}

// Supersedes says whether a comment only asks for UPDATE: a newer such
// comment on the PR makes an older one still queued pointless.
func Supersedes(prefix string) func(intake.CommentWork) bool {
	return func(w intake.CommentWork) bool {
		res := command.Parse(w.Body, prefix)
		if len(res.Commands) == 0 || len(res.Problems) > 0 {
			return false
		}
		for _, c := range res.Commands {
			// Only a plain UPDATE: one with a sha, a variant or --all
			// asks for something a newer plain UPDATE may not cover.
			if c.Verb != command.Update || c.SHA != "" || c.Variant != "" || c.All {
				return false
			}
		}
		return true
	}
}

// NeedsLease says whether a comment's job must wait for the PR's other jobs:
// not when it only reads (HELP, STATUS) or stops them (STOP).
func NeedsLease(prefix string) func(intake.CommentWork) bool {
	return func(w intake.CommentWork) bool {
		for _, c := range command.Parse(w.Body, prefix).Commands {
			switch c.Verb {
			case command.Help, command.Status, command.Stop:
			default:
				return true
			}
		}
		return false
	}
}

// HandleComment runs the commands of one comment, in order. A command that
// cannot run gets a reply saying why; an error is returned only for what a
// retry may fix (an outage), and the job is then retried.
func (b *Bot) HandleComment(ctx context.Context, w intake.CommentWork) error {
	log := b.log.With(zap.Int("pr", w.PR), zap.Int64("comment", w.CommentID), zap.String("user", w.Author))
	res := command.Parse(w.Body, b.cfg.Prefix)
	if len(res.Problems) > 0 {
		if err := b.reply(ctx, w, "problems", renderProblems(b.cfg.Prefix, w.Author, res.Problems)); err != nil {
			return err
		}
	}
	for _, cmd := range res.Commands {
		log := log.With(zap.String("verb", string(cmd.Verb)))
		log.Info("command")
		if err := b.run(ctx, w, cmd); err != nil {
			log.Warn("command failed", zap.Error(err))
			return err
		}
	}
	return nil
}

// replyKey tells apart the replies to one comment's commands.
func replyKey(cmd command.Command) string { return fmt.Sprintf("%s:%d", cmd.Verb, cmd.Line) }

func (b *Bot) run(ctx context.Context, w intake.CommentWork, cmd command.Command) error {
	if cmd.Verb == command.Help {
		return b.reply(ctx, w, replyKey(cmd), renderHelp(b.cfg.Prefix))
	}
	if !w.Trusted {
		if ref, err := b.policy.Allowed(ctx, w.Author); err != nil {
			return err
		} else if ref != nil {
			return b.reply(ctx, w, replyKey(cmd), renderRefusal(cmd, w.Author, ref.Reason))
		}
	}
	pr, err := b.gh.PullRequest(ctx, w.PR)
	if err != nil {
		return err
	}
	switch cmd.Verb {
	case command.Status:
		return b.status(ctx, w, cmd, pr)
	case command.Website:
		return b.reply(ctx, w, replyKey(cmd), renderRefusal(cmd, w.Author, "WEBSITE is not available in this version of refbot yet"))
	case command.Stop:
		return b.stop(ctx, w, cmd, pr)
	}
	if !pr.Open {
		why := "this pull request is closed"
		if pr.Merged {
			why = "this pull request is merged; its data was promoted (or will be) to " + b.cfg.BaseBranch
		}
		return b.reply(ctx, w, replyKey(cmd), renderRefusal(cmd, w.Author, why))
	}
	// A newer plain UPDATE, still queued, will do what this one would:
	// say so and leave the work (and the cooldown) to it.
	if cmd.Verb == command.Update {
		by, err := b.supersededBy(ctx, w, cmd)
		if err != nil {
			return err
		}
		if by != nil {
			return b.reply(ctx, w, replyKey(cmd), render("superseded.md", map[string]any{"Author": w.Author, "By": by.Author, "ByURL": by.URL}))
		}
	}
	// UPDATE takes its cooldown only once it is about to change something
	// (a refused UPDATE must not keep the next one waiting).
	if !w.Trusted && cmd.Verb != command.Update {
		if ref, err := b.policy.Take(ctx, w.PR, string(cmd.Verb), w.CommentID); err != nil {
			return err
		} else if ref != nil {
			return b.reply(ctx, w, replyKey(cmd), renderRefusal(cmd, w.Author, ref.Reason))
		}
	}
	switch cmd.Verb {
	case command.Plan:
		return b.plan(ctx, w, cmd, pr)
	case command.Update:
		return b.update(ctx, w, cmd, pr)
	}
	return fmt.Errorf("verb %s has no workflow", cmd.Verb)
}

// GaveUp tells the commenter that refbot stopped trying their comment's
// commands (an outage outlasted the job's attempts). If GitHub itself is
// what is down, the reply fails too; that is logged.
func (b *Bot) GaveUp(ctx context.Context, w intake.CommentWork, attempts int, err error) {
	if ferr := b.finishPending(ctx, w.PR, "", "refbot gave up: "+err.Error()); ferr != nil {
		b.log.Error("finish pending statuses", zap.Int("pr", w.PR), zap.Error(ferr))
	}
	// Its CI restarts are done with: a new UPDATE may restart again.
	if _, derr := b.db.ExecContext(ctx, `DELETE FROM refbot_ci_restart WHERE pr = ?`, w.PR); derr != nil {
		b.log.Error("forget CI restarts", zap.Int("pr", w.PR), zap.Error(derr))
	}
	body := render("gaveup.md", map[string]any{"Author": w.Author, "Attempts": attempts, "Error": err.Error(), "Prefix": b.cfg.Prefix})
	if rerr := b.reply(ctx, w, "gave-up", body); rerr != nil {
		b.log.Error("report a failed comment", zap.Int("pr", w.PR), zap.Int64("comment", w.CommentID), zap.Error(err), zap.NamedError("reply", rerr))
	}
}

// supersededBy returns the newer plain UPDATE, queued on the PR by someone
// allowed to command, that makes w's plain UPDATE pointless; nil when there
// is none, or when w's UPDATE already got somewhere (it has a reply: this
// is a retry, and it finishes what it started).
func (b *Bot) supersededBy(ctx context.Context, w intake.CommentWork, cmd command.Command) (*intake.CommentWork, error) {
	if !Supersedes(b.cfg.Prefix)(w) {
		return nil, nil
	}
	var id int64
	err := b.db.QueryRowContext(ctx, `SELECT reply_id FROM refbot_reply WHERE comment_id = ? AND verb = ?`, w.CommentID, replyKey(cmd)).Scan(&id)
	if err == nil {
		return nil, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	newer, err := b.jobs.NewerSupersedable(ctx, w.PR, w.CommentID)
	if err != nil {
		return nil, err
	}
	for _, n := range newer {
		if n.Trusted {
			return &n, nil
		}
		ref, err := b.policy.Allowed(ctx, n.Author)
		if err != nil {
			return nil, err
		}
		if ref == nil {
			return &n, nil
		}
	}
	return nil, nil
}

// errHeadMoved: the PR's head is not the commit the command was about.
type errHeadMoved struct{ from, to string }

func (e *errHeadMoved) Error() string {
	return fmt.Sprintf("the head of the pull request moved from %s to %s", short(e.from), short(e.to))
}

func short(sha string) string { return sha[:min(len(sha), 7)] }

func (b *Bot) workDir(pr int) string { return filepath.Join(b.cfg.WorkDir, fmt.Sprintf("pr%d", pr)) }

// prepare finds the build UPDATE and PLAN use and checks the sha argument.
func (b *Bot) findBuild(ctx context.Context, cmd command.Command, pr PullRequest) (Build, string, error) {
	if cmd.SHA != "" && !strings.HasPrefix(pr.HeadSHA, cmd.SHA) {
		return Build{}, fmt.Sprintf("you asked for %s, but the head of this pull request is now %s; nothing was changed",
			cmd.SHA, short(pr.HeadSHA)), nil
	}
	build, err := b.ci.NewestBuild(ctx, pr.Number, pr.HeadSHA)
	if errors.Is(err, ErrNoBuild) {
		return Build{}, fmt.Sprintf("CI has no build of the head commit %s yet; try again when it has run", short(pr.HeadSHA)), nil
	}
	return build, "", err
}

// userError says whether err is about the build or the data (a reply
// explains it; retrying will not help) rather than an outage.
func userError(err error) bool {
	var moved *errHeadMoved
	var conflict *refdata.ConflictError
	return errors.As(err, &moved) || errors.As(err, &conflict) || s3cache.Unusable(err)
}

func (b *Bot) plan(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) error {
	build, refusal, err := b.findBuild(ctx, cmd, pr)
	if err != nil {
		return err
	}
	if refusal != "" {
		return b.reply(ctx, w, replyKey(cmd), renderRefusal(cmd, w.Author, refusal))
	}
	res, err := publish.Publish(ctx, b.store, b.repo, b.publishRequest(w, cmd, pr, build, true))
	if err != nil {
		if userError(err) {
			return b.reply(ctx, w, replyKey(cmd), renderRefusal(cmd, w.Author, err.Error()))
		}
		return err
	}
	v := planView(w, cmd, pr, build, res, b.cfg.LargeChangeShare)
	if v.Overlaps, err = b.overlaps(ctx, pr.Number, res); err != nil {
		return err
	}
	return b.reply(ctx, w, replyKey(cmd), renderPlan(v))
}

// overlaps lists the other PRs whose data branches change files this
// result changes.
func (b *Bot) overlaps(ctx context.Context, pr int, res *publish.Result) ([]overlap, error) {
	found, err := b.repo.Overlaps(ctx, refdata.PRBranch(pr), res.Update.FromBase)
	if err != nil {
		return nil, err
	}
	var out []overlap
	for branch, files := range found {
		n, _ := strconv.Atoi(strings.TrimPrefix(branch, "PR"))
		out = append(out, overlap{PR: n, Files: files})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PR < out[j].PR })
	return out, nil
}

func (b *Bot) publishRequest(w intake.CommentWork, cmd command.Command, pr PullRequest, build Build, dry bool) publish.Request {
	return publish.Request{
		Build:   build.ID,
		Want:    s3cache.Want{Source: s3cache.Source{PR: pr.Number}, Commit: pr.HeadSHA},
		Branch:  refdata.PRBranch(pr.Number),
		Variant: cmd.Variant,
		WorkDir: b.workDir(pr.Number),
		Subject: fmt.Sprintf("Update reference data for PR #%d from build %s", pr.Number, buildName(build)),
		Trailers: refdata.Trailers{PR: pr.Number, Build: build.ID, Commit: pr.HeadSHA,
			ApprovedBy: w.Author, Comment: w.URL},
		DryRun: dry,
	}
}

func buildName(b Build) string {
	if b.Number != "" && b.Number != b.ID {
		return "#" + b.Number + " (" + b.ID + ")"
	}
	return b.ID
}

func (b *Bot) update(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) error {
	key := replyKey(cmd)
	// An update refbot left pending on an older head is over: say so.
	if err := b.finishPending(ctx, pr.Number, pr.HeadSHA, "Abandoned: the head of the pull request moved"); err != nil {
		return err
	}
	build, refusal, err := b.findBuild(ctx, cmd, pr)
	if err != nil {
		return err
	}
	if refusal != "" {
		return b.reply(ctx, w, key, renderRefusal(cmd, w.Author, refusal))
	}
	status := func(state, desc string) error { return b.setStatus(ctx, pr.Number, pr.HeadSHA, state, desc) }
	// The reply first, the status last: a final status means refbot is done.
	fail := func(reason string) error {
		if err := b.reply(ctx, w, key, renderRefusal(cmd, w.Author, reason)); err != nil {
			return err
		}
		return status("failure", "Not updated: "+reason)
	}
	// The large-change guard looks before it leaps: a dry run reads only
	// the manifest and the trees. The real publish reuses the build it
	// checked.
	var checked *s3cache.Build
	if !cmd.All {
		plan, err := publish.Publish(ctx, b.store, b.repo, b.publishRequest(w, cmd, pr, build, true))
		if err != nil {
			if userError(err) {
				return fail(err.Error())
			}
			return err
		}
		checked = plan.Build
		if v := planView(w, cmd, pr, build, plan, b.cfg.LargeChangeShare); v.Large {
			return fail(fmt.Sprintf("this update would change or remove %d of %d files (%.0f%%, more than the %.0f%% refbot changes without confirmation); if that is intended, say `%s UPDATE --all`",
				v.ChangedOrRemoved, v.Before, 100*v.Share, 100*b.cfg.LargeChangeShare, b.cfg.Prefix))
		}
	}
	if !w.Trusted {
		if ref, err := b.policy.Take(ctx, w.PR, string(cmd.Verb), w.CommentID); err != nil {
			return err
		} else if ref != nil {
			return b.reply(ctx, w, key, renderRefusal(cmd, w.Author, ref.Reason))
		}
	}
	if err := status("pending", fmt.Sprintf("Updating reference data from build %s", buildName(build))); err != nil {
		return err
	}
	req := b.publishRequest(w, cmd, pr, build, false)
	req.Opened = checked
	req.BeforePush = func(ctx context.Context) error {
		failpoint.Hit("downloaded")
		now, err := b.gh.PullRequest(ctx, pr.Number)
		if err != nil {
			return err
		}
		if now.HeadSHA != pr.HeadSHA {
			return &errHeadMoved{from: pr.HeadSHA, to: now.HeadSHA}
		}
		return nil
	}
	res, err := publish.Publish(ctx, b.store, b.repo, req)
	if err != nil {
		if userError(err) {
			return fail(err.Error())
		}
		return err
	}
	failpoint.Hit("pushed")
	// The push is confirmed: now the reply, then the CI restart. A retried
	// job finds its push already there (nothing changed): it keeps the
	// summary of what the first attempt changed.
	view, err := b.updateView(ctx, w, cmd, pr, build, res, key)
	if err != nil {
		return err
	}
	var restarted bool
	if err := b.db.QueryRowContext(ctx, `SELECT 1 FROM refbot_ci_restart WHERE pr = ? AND build_id = ? AND sha = ?`,
		pr.Number, build.ID, pr.HeadSHA).Scan(new(int)); err == nil {
		restarted = true // by an earlier attempt of this job: do not restart it again
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if !restarted {
		view.CI = "restarting"
		if err := b.reply(ctx, w, key, renderUpdate(view)); err != nil {
			return err
		}
		if err := b.ci.Restart(ctx, build.ID); err != nil {
			return err
		}
		// Recorded once the restart is done: a failed restart is tried
		// again; a crash between the two costs one extra restart at most.
		if _, err := b.db.ExecContext(ctx, `INSERT INTO refbot_ci_restart (pr, build_id, sha) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING`, pr.Number, build.ID, pr.HeadSHA); err != nil {
			return err
		}
		failpoint.Hit("restarted")
		if err := status("pending", fmt.Sprintf("Data pushed; CI build %s restarted", buildName(build))); err != nil {
			return err
		}
	}
	view.CI = "running"
	if err := b.reply(ctx, w, key, renderUpdate(view)); err != nil {
		return err
	}
	final, err := b.waitForCI(ctx, build.ID)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		// CI took longer than refbot waits: an answer, not a retry.
		view.CI, view.CIBuild = "timeout", build
		if err := b.reply(ctx, w, key, renderUpdate(view)); err != nil {
			return err
		}
		// The restart stays remembered: the build may still run, and STOP
		// cancels it.
		return status("error", fmt.Sprintf("Data pushed; CI build %s did not finish within %s", buildName(build), b.cfg.PollTimeout))
	}
	if err != nil {
		return err
	}
	// The reply first, the status last: a final status means refbot is done.
	view.CIBuild = final
	state, desc := "success", fmt.Sprintf("Reference data updated; CI build %s passed", buildName(final))
	view.CI = "passed"
	if !final.Passed {
		state, desc = "failure", fmt.Sprintf("Reference data updated; CI build %s %s", buildName(final), final.State)
		view.CI = "failed"
	}
	// Other PRs that overlapped this one while it waited for CI are in its
	// remembered status already.
	others, err := b.rememberedOverlaps(ctx, pr.Number, pr.HeadSHA)
	if err != nil {
		return err
	}
	for _, o := range view.Overlaps {
		others = addPR(others, o.PR)
	}
	if err := b.reply(ctx, w, key, renderUpdate(view)); err != nil {
		return err
	}
	if err := b.tellOverlaps(ctx, pr.Number, view.Overlaps, others); err != nil {
		return err
	}
	if err := b.postStatus(ctx, pr.Number, pr.HeadSHA, state, desc, others); err != nil {
		return err
	}
	return b.restartDone(ctx, pr.Number, build.ID)
}

// restartDone forgets the CI restart of build once the job that made it is
// done. Kept until then, it spares a retried job (an outage after CI ended)
// a second restart; forgotten, it lets a new UPDATE restart the build again.
func (b *Bot) restartDone(ctx context.Context, pr int, build string) error {
	_, err := b.db.ExecContext(ctx, `DELETE FROM refbot_ci_restart WHERE pr = ? AND build_id = ?`, pr, build)
	return err
}

// tellOverlaps tells each overlapping PR that this one's data now changes
// some of its files too: by a comment, once per pair and set of files, and
// in its update status. A PR whose status named this one, and which is not
// among still (the PRs this one overlaps now), has the name taken out.
func (b *Bot) tellOverlaps(ctx context.Context, pr int, overlaps []overlap, still []int) error {
	if err := b.forgetOverlaps(ctx, pr, still...); err != nil {
		return err
	}
	for _, o := range overlaps {
		body := render("overlap-notice.md", map[string]any{"PR": pr, "Other": o.PR, "Files": o.Files})
		key := fmt.Sprintf("overlap:%d:%s", pr, strings.Join(o.Files, ","))
		if err := b.reply(ctx, intake.CommentWork{PR: o.PR, CommentID: -int64(o.PR)*1_000_000 - int64(pr)}, key, body); err != nil {
			return err
		}
		if err := b.restateOverlaps(ctx, o.PR, func(prs []int) []int { return addPR(prs, pr) }); err != nil {
			return err
		}
	}
	return nil
}

// updateView is the UPDATE reply's content. The first attempt that pushed
// saves it; a retry, whose push finds the data already there, reuses it.
func (b *Bot) updateView(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest, build Build, res *publish.Result, key string) (updateData, error) {
	v := updateView(w, cmd, pr, build, res)
	linkImages(&v.Changes, b.cfg.DataWebURL, v.Commit)
	if v.NoChange {
		var saved string
		err := b.db.QueryRowContext(ctx, `SELECT view FROM refbot_update_view WHERE comment_id = ? AND reply_key = ?`, w.CommentID, key).Scan(&saved)
		if err == nil {
			var old updateData
			if json.Unmarshal([]byte(saved), &old) == nil {
				return old, nil
			}
		} else if !errors.Is(err, sql.ErrNoRows) {
			return v, err
		}
	}
	if !v.NoChange {
		v.Diffs = b.textDiffs(ctx, res)
	}
	var err error
	if v.Overlaps, err = b.overlaps(ctx, pr.Number, res); err != nil {
		return v, err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return v, err
	}
	_, err = b.db.ExecContext(ctx, `INSERT INTO refbot_update_view (comment_id, reply_key, view) VALUES (?, ?, ?)
		ON CONFLICT (comment_id, reply_key) DO UPDATE SET view = excluded.view`, w.CommentID, key, string(raw))
	return v, err
}

// setStatus sets the update status on sha (see postStatus).
func (b *Bot) setStatus(ctx context.Context, pr int, sha, state, desc string) error {
	return b.postStatus(ctx, pr, sha, state, desc, nil)
}

// postStatus sets the update status on sha, its description ending with
// the other PRs whose data branches change the same files. It remembers the
// PR's last status, so that another PR's update or merge can restate it
// (restateOverlaps).
func (b *Bot) postStatus(ctx context.Context, pr int, sha, state, desc string, overlaps []int) error {
	b.statusMu.Lock()
	defer b.statusMu.Unlock()
	return b.postStatusLocked(ctx, pr, sha, state, desc, overlaps)
}

func (b *Bot) postStatusLocked(ctx context.Context, pr int, sha, state, desc string, overlaps []int) error {
	full := desc
	if len(overlaps) > 0 {
		refs := make([]string, len(overlaps))
		for i, n := range overlaps {
			refs[i] = fmt.Sprintf("#%d", n)
		}
		full += "; same files as " + strings.Join(refs, ", ")
	}
	if err := b.sendStatus(ctx, pr, sha, state, full); err != nil {
		return err
	}
	// A job's pending statuses after its first keep the overlaps remembered
	// meanwhile: they go into the job's final status.
	_, err := b.db.ExecContext(ctx, `INSERT INTO refbot_update_status (pr, sha, state, description, overlaps) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (pr) DO UPDATE SET sha = excluded.sha, state = excluded.state, description = excluded.description,
		overlaps = CASE WHEN excluded.state = 'pending' AND refbot_update_status.state = 'pending'
			AND refbot_update_status.sha = excluded.sha THEN refbot_update_status.overlaps ELSE excluded.overlaps END`, pr, sha, state, desc, joinPRs(overlaps))
	return err
}

// rememberedOverlaps returns the overlapping PRs remembered for pr's status
// on sha.
func (b *Bot) rememberedOverlaps(ctx context.Context, pr int, sha string) ([]int, error) {
	var list string
	err := b.db.QueryRowContext(ctx, `SELECT overlaps FROM refbot_update_status WHERE pr = ? AND sha = ?`, pr, sha).Scan(&list)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return parsePRs(list), err
}

// sendStatus posts the update status on sha and remembers which are
// pending, so that STOP, giving up or a moved head can finish them.
func (b *Bot) sendStatus(ctx context.Context, pr int, sha, state, desc string) error {
	if err := b.gh.SetStatus(ctx, sha, Status{State: state, Context: b.cfg.StatusContext, Description: desc, TargetURL: b.prURL(pr)}); err != nil {
		return err
	}
	var err error
	if state == "pending" {
		_, err = b.db.ExecContext(ctx, `INSERT INTO refbot_pending (pr, sha) VALUES (?, ?) ON CONFLICT DO NOTHING`, pr, sha)
	} else {
		_, err = b.db.ExecContext(ctx, `DELETE FROM refbot_pending WHERE pr = ? AND sha = ?`, pr, sha)
	}
	return err
}

// finishPending sets the pending update statuses of pr to error with desc,
// except on keep. The PR's remembered last status changes only if it is
// one of them.
func (b *Bot) finishPending(ctx context.Context, pr int, keep, desc string) error {
	rows, err := b.db.QueryContext(ctx, `SELECT sha FROM refbot_pending WHERE pr = ? AND sha != ?`, pr, keep)
	if err != nil {
		return err
	}
	var shas []string
	for rows.Next() {
		var sha string
		if err := rows.Scan(&sha); err != nil {
			rows.Close()
			return err
		}
		shas = append(shas, sha)
	}
	rows.Close()
	b.statusMu.Lock()
	defer b.statusMu.Unlock()
	for _, sha := range shas {
		if err := b.sendStatus(ctx, pr, sha, "error", desc); err != nil {
			return err
		}
		if _, err := b.db.ExecContext(ctx, `UPDATE refbot_update_status SET state = 'error', description = ?, overlaps = ''
			WHERE pr = ? AND sha = ?`, desc, pr, sha); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bot) waitForCI(ctx context.Context, id string) (Build, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PollTimeout)
	defer cancel()
	for {
		build, err := b.ci.Build(ctx, id)
		if err == nil && build.Finished {
			return build, nil
		}
		if err != nil {
			b.log.Warn("poll CI build", zap.String("build", id), zap.Error(err))
		}
		if err := b.sleep(ctx, b.cfg.PollInterval); err != nil {
			return Build{}, fmt.Errorf("wait for CI build %s: %w", id, err)
		}
	}
}

// stop cancels the PR's other jobs and the CI builds refbot restarted for
// it that are still running.
func (b *Bot) stop(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) error {
	jobs, err := b.jobs.CancelPR(ctx, pr.Number, w.CommentID)
	if err != nil {
		return err
	}
	rows, err := b.db.QueryContext(ctx, `SELECT build_id, sha FROM refbot_ci_restart WHERE pr = ?`, pr.Number)
	if err != nil {
		return err
	}
	type restart struct{ build, sha string }
	var restarts []restart
	for rows.Next() {
		var r restart
		if err := rows.Scan(&r.build, &r.sha); err != nil {
			rows.Close()
			return err
		}
		restarts = append(restarts, r)
	}
	rows.Close()
	var builds []string
	for _, r := range restarts {
		if err := b.ci.Cancel(ctx, r.build); err != nil {
			return fmt.Errorf("cancel CI build %s: %w", r.build, err)
		}
		builds = append(builds, r.build)
		if _, err := b.db.ExecContext(ctx, `DELETE FROM refbot_ci_restart WHERE pr = ? AND build_id = ?`, pr.Number, r.build); err != nil {
			return err
		}
	}
	if err := b.finishPending(ctx, pr.Number, "", "Stopped by @"+w.Author); err != nil {
		return err
	}
	return b.reply(ctx, w, replyKey(cmd), renderStop(w.Author, len(jobs), builds))
}

// status reports the PR's data branch, the newest CI build of its head and
// whether that build's artifacts are complete in S3.
func (b *Bot) status(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) error {
	v := statusView{PR: pr, Branch: refdata.PRBranch(pr.Number), BaseBranch: b.cfg.BaseBranch, URL: b.prURL(pr.Number)}
	var err error
	if v.Data, err = b.repo.Branch(ctx, v.Branch); err != nil {
		return err
	}
	build, err := b.ci.NewestBuild(ctx, pr.Number, pr.HeadSHA)
	switch {
	case errors.Is(err, ErrNoBuild):
	case err != nil:
		return err
	default:
		v.Build = &build
		_, oerr := b.store.Open(ctx, build.ID, s3cache.Want{Source: s3cache.Source{PR: pr.Number}, Commit: pr.HeadSHA})
		switch {
		case oerr == nil:
			v.Artifacts = "complete in the cache"
		case errors.Is(oerr, s3cache.ErrNotFound):
			v.Artifacts = "not in the cache: the build has not uploaded them (with `refbot upload`)"
		case userError(oerr):
			v.Artifacts = oerr.Error()
		default:
			return oerr
		}
	}
	return b.reply(ctx, w, replyKey(cmd), renderStatus(v))
}

func (b *Bot) prURL(pr int) string {
	if b.cfg.PublicURL == "" {
		return ""
	}
	return strings.TrimSuffix(b.cfg.PublicURL, "/") + fmt.Sprintf("/pr/%d", pr)
}

// reply posts refbot's answer to a comment's verb, or edits the answer it
// posted before (a retried job, or a reply updated as work progresses).
func (b *Bot) reply(ctx context.Context, w intake.CommentWork, verb, body string) error {
	var id int64
	err := b.db.QueryRowContext(ctx, `SELECT reply_id FROM refbot_reply WHERE comment_id = ? AND verb = ?`, w.CommentID, verb).Scan(&id)
	switch {
	case err == nil:
		return b.gh.EditComment(ctx, id, body)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	id, err = b.gh.CreateComment(ctx, w.PR, body)
	if err != nil {
		return err
	}
	_, err = b.db.ExecContext(ctx, `INSERT INTO refbot_reply (comment_id, verb, reply_id) VALUES (?, ?, ?)
		ON CONFLICT (comment_id, verb) DO UPDATE SET reply_id = excluded.reply_id`, w.CommentID, verb, id)
	return err
}

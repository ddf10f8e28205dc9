// Package workflow turns a comment's commands into refbot's actions
// (docs/design.md, "Flows"): UPDATE, PLAN, WEBSITE, STATUS, HELP, STOP, and
// what a merge or a close does. Each job is a short list of named steps over the
// state the store keeps, so that a retried or resumed job does the next
// missing step instead of repeating one; waiting for CI is a state of its
// own, re-checked by a snoozed job, never a sleeping worker.
//
// It sees GitHub, the CI provider, the S3 cache and the data repo through
// small interfaces, so its tests run it against the real MinIO and git
// http-backend, the loopback fake of GitHub and the fake of Travis.
package workflow

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/policy"
	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/refdata"
)

// PullRequest is what a workflow reads of a pull request.
type PullRequest struct {
	Number      int
	Open        bool
	Fork        bool   // the head is in another repository: its CI gets no secrets
	HeadRepo    string // the head's repository, owner/name ("" when deleted)
	Merged      bool
	HeadSHA     string
	BaseRef     string
	Author      string
	MergeCommit string
	UpdatedAt   time.Time
	ClosedAt    time.Time
}

// Status is a commit status.
type Status struct {
	State       string // pending, success, failure, error
	Context     string
	Description string
	TargetURL   string
}

// Comment is a comment on a pull request, as listed.
type Comment struct {
	ID        int64
	Author    string
	Body      string
	CreatedAt time.Time
}

// ForcePush is a force-push of a pull request's head, from its timeline.
type ForcePush struct {
	After string
	At    time.Time
}

// GitHub is what workflows need of GitHub.
type GitHub interface {
	PullRequest(ctx context.Context, n int) (PullRequest, error)
	SetStatus(ctx context.Context, sha string, s Status) error
	CreateComment(ctx context.Context, pr int, body string) (int64, error)
	EditComment(ctx context.Context, id int64, body string) error
	// Comments lists the PR's comments updated at or after since.
	Comments(ctx context.Context, pr int, since time.Time) ([]Comment, error)
	// ForcePushes lists the PR's force-pushes, oldest first.
	ForcePushes(ctx context.Context, pr int) ([]ForcePush, error)
	// PullRequestsByHead lists the open pull requests whose head is branch
	// of owner's repository (a fork's).
	PullRequestsByHead(ctx context.Context, owner, branch string) ([]PullRequest, error)
}

// Build is a CI build as the provider reports it.
type Build struct {
	ID       string
	Number   string
	State    string
	Commit   string
	URL      string
	Started  bool // it began running (and may have ended)
	Finished bool
	Passed   bool // every required job passed
	// StartedAt and FinishedAt are the provider's, zero when not yet.
	StartedAt, FinishedAt time.Time
	// JobsNotRun: some jobs of the build never ran (a stage skipped after
	// an earlier one failed, a cancelled job); their outputs are missing.
	JobsNotRun bool
	// Attempt counts the runs of the build where the provider does (a
	// GitHub Actions run_attempt); 0 where it does not (Travis).
	Attempt int
	// HeadRepo is the repository the build's commit came from, owner/name,
	// where the provider says (GitHub Actions); "" otherwise.
	HeadRepo string
}

// CI is the CI provider: Travis or GitHub Actions.
type CI interface {
	// NewestBuild returns the newest build of pr that tested sha, or an
	// error wrapping ErrNoBuild.
	NewestBuild(ctx context.Context, pr int, sha string) (Build, error)
	Build(ctx context.Context, id string) (Build, error)
	// Restart asks CI to run build id again. The provider may carry it out
	// later (Travis does): a final state read afterwards may still be the
	// old run's until the build is seen to have restarted.
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
	// Release gives a cooldown back that comment took but did not use.
	Release(ctx context.Context, pr int, verb string, comment int64) error
	// Decide, Hold, ReleaseSlot and Limits are the engine's for the verbs
	// that are queued and hold a result (WEBSITE).
	Decide(ctx context.Context, pr int, verb string, comment int64) (policy.Decision, error)
	Hold(ctx context.Context, verb string, pr int, comment int64, until time.Time) error
	ReleaseSlot(ctx context.Context, pr int, verb string, comment int64) error
	Limits(verb string) policy.Limits
}

// Config tunes the workflows.
type Config struct {
	Prefix        string // the command prefix, e.g. "BUILDBOT:"
	BaseBranch    string // the data repo's base branch
	StatusContext string // the commit status UPDATE sets; default "refbot/update"
	WorkDir       string // downloads, per PR
	PollInterval  time.Duration
	// CITimeout is how long refbot follows a CI build it restarted before
	// it says the build did not finish; default 6h. Nothing is held while
	// it waits.
	CITimeout time.Duration
	// RestartGrace is how long a restarted build may keep showing its old
	// state before refbot asks CI once more; default 10m.
	RestartGrace     time.Duration
	LargeChangeShare float64 // UPDATE needs --all above this share; default 0.5
	PublicURL        string  // refbot's own pages, for status links (optional)
	// Thumbnails: UPDATE's and PLAN's replies show the first changed
	// images, served by refbot's pages at PublicURL. SignLink, when the
	// pages are private, returns the query that lets anyone holding a
	// thumbnail's link fetch it (GitHub's image proxy). DataRoot is the
	// data's folder in the data repo, as in its configuration.
	Thumbnails bool
	SignLink   func(target string) string
	DataRoot   string
	// ClosedGrace is how long the data branch of a PR closed without
	// merging is kept (it may be reopened); default 7 days.
	ClosedGrace time.Duration
	// MergeWait is how long a merge waits for the base branch's post-merge
	// build when it must take the data from it; default 6h.
	MergeWait time.Duration
	// CacheContext is the context of the cache status; default
	// "s3-reference-data-cache".
	CacheContext string
	// DataWebURL is the data repo's web view (https://github.com/o/data),
	// for links to changed images in replies; empty means no links.
	DataWebURL string
	// BotLogin is refbot's own login; when set, only its comments are
	// taken for its replies when looking one up after a crash.
	BotLogin string
	// UnprivilegedReplies is the least time between two answers to the
	// same person who may not command refbot; default 1h.
	UnprivilegedReplies time.Duration
	// OutputsFromS3Only: CI must upload outputs to S3 itself (ci.outputs
	// s3), which a fork's CI cannot; replies and statuses say so.
	OutputsFromS3Only bool
}

// Jobs is the job queue.
type Jobs interface {
	// CancelPR cancels the queued and running jobs of pr except the job of
	// comment keep, and returns their ids.
	CancelPR(ctx context.Context, pr int, keep int64) ([]int64, error)
	// ScheduleBranchDeletion deletes pr's data branch at at (see
	// Bot.DeleteClosedBranch).
	ScheduleBranchDeletion(ctx context.Context, pr int, at time.Time) error
	// ScheduleCIWait runs Bot.WaitCI for update after after.
	ScheduleCIWait(ctx context.Context, pr int, update int64, after time.Duration) error
	// NewerSupersedable returns the plain UPDATE comments (see Supersedes)
	// queued on pr, not run yet and written after comment (at after),
	// newest first.
	NewerSupersedable(ctx context.Context, pr int, comment int64, after time.Time) ([]intake.CommentWork, error)
	// WakeCIWaits runs pr's snoozed CI waits now, and WakeMergeWaits the
	// merges waiting for a post-merge build; both return how many.
	WakeCIWaits(ctx context.Context, pr int) (int, error)
	WakeMergeWaits(ctx context.Context) (int, error)
	// ScheduleWebsite runs Bot.RunWebsite for WEBSITE request id at at.
	ScheduleWebsite(ctx context.Context, pr int, id int64, at time.Time) error
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
	// BaseAt returns the base branch's tip as it was at t.
	BaseAt(ctx context.Context, t time.Time) (plumbing.Hash, error)
	// Variants lists the variant folders in the data of branch (of the
	// base branch when branch does not exist).
	Variants(ctx context.Context, branch string) ([]string, error)
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
	// State is refbot's own state: the replies it posted, each UPDATE's
	// and merge's progress, the heads it saw.
	State  *store.Store
	Logger *zap.Logger
	// Outputs, when CI may keep outputs outside S3 (GitHub Actions'
	// artifacts), brings them in; nil when CI uploads to S3 itself.
	Outputs Outputs
	// Checks writes check runs; nil unless refbot runs as a GitHub App.
	Checks Checks
	// Site is what WEBSITE works with; nil when it is not set up.
	Site *Site
	// Metrics count how UPDATEs and merges end; nil for none.
	Metrics *Metrics
}

// Bot runs the workflows.
type Bot struct {
	cfg    Config
	gh     GitHub
	ci     CI
	cache  publish.Store
	repo   DataRepo
	policy Policy
	jobs   Jobs
	out    Outputs
	checks Checks
	site   *Site
	st     *store.Store
	log    *zap.Logger
	now    func() time.Time
	met    *Metrics
}

// New returns a Bot.
func New(cfg Config, d Deps) (*Bot, error) {
	if d.GitHub == nil || d.CI == nil || d.Store == nil || d.Repo == nil || d.Policy == nil || d.Jobs == nil || d.State == nil {
		return nil, errors.New("workflow: every dependency is required")
	}
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = command.DefaultPrefix
	}
	if cfg.BaseBranch == "" {
		cfg.BaseBranch = "master"
	}
	if cfg.StatusContext == "" {
		cfg.StatusContext = "refbot/update"
	}
	if cfg.CacheContext == "" {
		cfg.CacheContext = "s3-reference-data-cache"
	}
	if cfg.LargeChangeShare <= 0 {
		cfg.LargeChangeShare = 0.5
	}
	def(&cfg.PollInterval, 30*time.Second)
	def(&cfg.CITimeout, 6*time.Hour)
	def(&cfg.RestartGrace, 5*time.Minute)
	def(&cfg.ClosedGrace, 7*24*time.Hour)
	def(&cfg.MergeWait, 6*time.Hour)
	def(&cfg.UnprivilegedReplies, time.Hour)
	log := d.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Bot{cfg: cfg, gh: d.GitHub, ci: d.CI, cache: d.Store, repo: d.Repo, policy: d.Policy, jobs: d.Jobs,
		out: d.Outputs, checks: d.Checks, site: d.Site, st: d.State, log: log, now: time.Now, met: d.Metrics}, nil
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

// quick are the verbs that change no data: they never wait for the PR's
// other jobs, nor behind long jobs in the queue.
func quick(v command.Verb) bool {
	switch v {
	case command.Help, command.Status, command.Stop, command.Plan:
		return true
	}
	return false
}

// NeedsLease says whether a comment's job must wait for the PR's other jobs:
// not when it only reads (HELP, STATUS, PLAN) or stops them (STOP).
func NeedsLease(prefix string) func(intake.CommentWork) bool {
	return func(w intake.CommentWork) bool {
		for _, c := range command.Parse(w.Body, prefix).Commands {
			if !quick(c.Verb) {
				return true
			}
		}
		return false
	}
}

// QueueFor says which queue a comment's job goes to: quickQueue when all
// its commands are quick (a comment with none goes there too: it is only
// answered), else slowQueue.
func QueueFor(prefix, quickQueue, slowQueue string) func(intake.CommentWork) string {
	return func(w intake.CommentWork) string {
		for _, c := range command.Parse(w.Body, prefix).Commands {
			if !quick(c.Verb) {
				return slowQueue
			}
		}
		return quickQueue
	}
}

// commands returns a comment's commands without repeats: the same command
// written twice runs once.
func commands(res command.Result) []command.Command {
	var out []command.Command
	seen := map[string]bool{}
	for _, c := range res.Commands {
		k := fmt.Sprintf("%s %s %v %s", c.Verb, c.SHA, c.All, c.Variant)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, c)
	}
	return out
}

// HandleComment runs the commands of one comment, in order. A command that
// cannot run gets a reply saying why; an error is returned only for what a
// retry may fix (an outage), and the job is then retried. A command that
// finished is not run again when a later one of the same comment failed.
func (b *Bot) HandleComment(ctx context.Context, w intake.CommentWork) error {
	log := b.logc(ctx).With(zap.Int("pr", w.PR), zap.Int64("comment", w.CommentID), zap.String("user", w.Author))
	res := command.Parse(w.Body, b.cfg.Prefix)
	cmds := commands(res)
	// Someone who may not command refbot gets at most a rare answer: they
	// cannot use refbot to spend its GitHub write quota.
	if !w.Trusted {
		ref, err := b.policy.Allowed(ctx, w.Author)
		if err != nil {
			return outage("check the commenter's permission", err)
		}
		if ref != nil {
			return b.answerUnprivileged(ctx, w, res, cmds, ref.Reason)
		}
	}
	if len(res.Problems) > 0 {
		if err := b.reply(ctx, w, "problems", renderProblems(b.cfg.Prefix, w.Author, res.Problems)); err != nil {
			return err
		}
	}
	for _, cmd := range cmds {
		key := replyKey(cmd)
		if done, err := b.st.CommandDone(ctx, w.CommentID, key); err != nil {
			return err
		} else if done {
			continue
		}
		log := log.With(zap.String("verb", string(cmd.Verb)))
		log.Info("command")
		if err := b.run(ctx, w, cmd); err != nil {
			log.Warn("command failed", zap.Error(err))
			return err
		}
		if err := b.st.MarkCommandDone(ctx, w.CommentID, key); err != nil {
			return err
		}
	}
	return nil
}

// answerUnprivileged answers a comment by someone who may not command
// refbot: once in a while (UnprivilegedReplies), with HELP if asked, else
// the refusal; otherwise not at all (logged).
func (b *Bot) answerUnprivileged(ctx context.Context, w intake.CommentWork, res command.Result, cmds []command.Command, why string) error {
	ok, err := b.st.TakeUnprivilegedReply(ctx, w.Author, w.CommentID, b.cfg.UnprivilegedReplies)
	if err != nil {
		return err
	}
	if !ok {
		b.logc(ctx).Info("not answering a comment by someone who may not command refbot (answered recently)",
			zap.Int("pr", w.PR), zap.Int64("comment", w.CommentID), zap.String("user", w.Author))
		return nil
	}
	for _, c := range cmds {
		if c.Verb == command.Help {
			return b.reply(ctx, w, replyKey(c), renderHelp(b.cfg.Prefix))
		}
	}
	if len(cmds) > 0 {
		return b.reply(ctx, w, replyKey(cmds[0]), renderRefusal(cmds[0], w.Author, why))
	}
	return b.reply(ctx, w, "problems", renderProblems(b.cfg.Prefix, w.Author, res.Problems))
}

// replyKey tells apart the replies to one comment's commands.
func replyKey(cmd command.Command) string { return fmt.Sprintf("%s:%d", cmd.Verb, cmd.Line) }

func (b *Bot) run(ctx context.Context, w intake.CommentWork, cmd command.Command) error {
	if cmd.Verb == command.Help {
		return b.reply(ctx, w, replyKey(cmd), renderHelp(b.cfg.Prefix))
	}
	pr, err := b.gh.PullRequest(ctx, w.PR)
	if err != nil {
		return outage("read the pull request", err)
	}
	switch cmd.Verb {
	case command.Status:
		return b.status(ctx, w, cmd, pr)
	case command.Website:
		return b.website(ctx, w, cmd, pr)
	case command.Stop:
		return b.stop(ctx, w, cmd, pr)
	}
	switch cmd.Verb {
	case command.Plan:
		if !pr.Open {
			return b.reply(ctx, w, replyKey(cmd), renderRefusal(cmd, w.Author, "this pull request is closed"))
		}
		if !w.Trusted {
			if ref, err := b.policy.Take(ctx, w.PR, string(cmd.Verb), w.CommentID); err != nil {
				return err
			} else if ref != nil {
				return b.reply(ctx, w, replyKey(cmd), renderRefusal(cmd, w.Author, ref.Reason))
			}
		}
		return b.plan(ctx, w, cmd, pr)
	case command.Update:
		// An UPDATE that pushed already goes on whatever the PR became
		// since: it checks the PR's state itself before it starts.
		return b.update(ctx, w, cmd, pr)
	}
	return fmt.Errorf("verb %s has no workflow", cmd.Verb)
}

// supersededBy returns the newer plain UPDATE, queued on the PR by someone
// allowed to command, that makes w's plain UPDATE pointless; nil when there
// is none.
func (b *Bot) supersededBy(ctx context.Context, w intake.CommentWork) (*intake.CommentWork, error) {
	if !Supersedes(b.cfg.Prefix)(w) {
		return nil, nil
	}
	newer, err := b.jobs.NewerSupersedable(ctx, w.PR, w.CommentID, w.CreatedAt)
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

func short(sha string) string { return sha[:min(len(sha), 7)] }

func (b *Bot) workDir(pr int) string { return filepath.Join(b.cfg.WorkDir, fmt.Sprintf("pr%d", pr)) }

func (b *Bot) prURL(pr int) string {
	if b.cfg.PublicURL == "" {
		return ""
	}
	return strings.TrimSuffix(b.cfg.PublicURL, "/") + fmt.Sprintf("/pr/%d", pr)
}

func buildName(b Build) string {
	name := b.ID
	if b.Number != "" && b.Number != b.ID {
		name = "#" + b.Number + " (" + b.ID + ")"
	}
	if b.Attempt > 1 {
		name += fmt.Sprintf(" attempt %d", b.Attempt)
	}
	return name
}

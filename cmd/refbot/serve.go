package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/refbot/refbot/bot/api"
	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/health"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/metrics"
	"github.com/refbot/refbot/bot/pages"
	"github.com/refbot/refbot/bot/policy"
	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/reconcile"
	"github.com/refbot/refbot/bot/server"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/bot/upkeep"
	"github.com/refbot/refbot/bot/webauth"
	"github.com/refbot/refbot/bot/workflow"
	"github.com/refbot/refbot/config"
	"github.com/refbot/refbot/internal/failpoint"
	"github.com/refbot/refbot/refdata"
)

func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run refbot: the webhook, the job queue and the workflows",
		Long: `Run refbot as a service: answer GitHub's webhooks at POST /webhook, record
each delivery in the database before answering, and run the commands it
finds as jobs. Stops on SIGINT or SIGTERM: first the intake, then the jobs
(running ones finish, or are retried after a restart).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := configFile(cmd, "")
			if err != nil {
				return err
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
}

func newLogger(c config.Log, w zapcore.WriteSyncer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder = zapcore.NewJSONEncoder(enc)
	if c.Format == "console" {
		encoder = zapcore.NewConsoleEncoder(enc)
	}
	return zap.New(zapcore.NewCore(encoder, w, level)), nil
}

// serve wires refbot's parts together and runs them until ctx ends.
func serve(ctx context.Context, cfg *config.Config, logOut io.Writer) error {
	log, err := newLogger(cfg.Log, zapcore.AddSync(logOut))
	if err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	defer log.Sync()
	secrets, err := cfg.GitHub.WebhookSecret.Resolve()
	if err != nil || len(secrets) == 0 {
		return fmt.Errorf("github.webhook_secret: refbot will not run without a webhook secret (it would accept anyone's commands): %v", err)
	}
	reg := prometheus.NewRegistry()
	mets, err := metrics.Register(reg)
	if err != nil {
		return err
	}

	p, err := openParts(ctx, cfg, *mets)
	if err != nil {
		return err
	}
	cache, repo := p.store, p.repo
	gh, err := p.github(ctx, reg)
	if err != nil {
		return err
	}
	auth, err := pagesAccess(ctx, cfg, gh, log.Named("pages"))
	if err != nil {
		return err
	}
	ci, err := p.ci(ctx)
	if err != nil {
		return err
	}
	// refbot's own login: its comments are ignored as commands, and only
	// they are taken for its replies after a crash.
	botLogin := cfg.GitHub.BotLogin
	if botLogin == "" {
		if botLogin, err = gh.Login(ctx); err != nil {
			return fmt.Errorf("github.bot_login is not set, and asking GitHub who refbot is failed (set it, or check the credentials with refbot doctor): %w", err)
		}
		log.Info("refbot's login, from GitHub", zap.String("login", botLogin))
	}
	outputs, err := p.outputs(ctx, filepath.Join(cfg.StateDir, "work", "artifacts"), log.Named("artifacts"))
	if err != nil {
		return err
	}
	site, err := p.site(ctx, ci)
	if err != nil {
		return err
	}
	hasCommand := func(body string) bool { return !command.Parse(body, cfg.GitHub.CommandPrefix).Empty() }

	// One refbot serve per SQLite database: a second would take the first
	// one's running jobs for its own. Replicas share PostgreSQL by design.
	st, err := store.Open(ctx, cfg.Database, store.Options{Exclusive: true})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w (stop the other refbot serve first, or give this one another database)", err)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	prefix := cfg.GitHub.CommandPrefix
	// Check runs are for Apps only.
	var checks workflow.Checks
	if gh.IsApp() {
		checks = gh
	}
	// The queue runs the workflow's handlers, and the workflow cancels the
	// queue's jobs (STOP): the handlers are bound once both exist; so are
	// the reconciler and the CI events, which set cache statuses alike.
	var bot *workflow.Bot
	var rec *reconcile.Reconciler
	var keep *upkeep.Upkeep
	// A replica the others took over (it was silent too long) stops at
	// once: its running jobs may be running elsewhere by now.
	ctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	q, err := queue.Open(ctx, queue.Config{
		Store:          st,
		Workers:        cfg.Jobs.Workers,
		BaseBranch:     cfg.DataRepo.BaseBranch,
		Logger:         log.Named("queue"),
		ReconcileEvery: time.Duration(cfg.Server.ReconcileInterval),
		JobTimeout:     time.Duration(cfg.Jobs.Timeout),
		KeepFinished:   time.Duration(cfg.Jobs.KeepFinished),
		OnLost:         lost,
		Handlers: queue.Handlers{
			Comment: func(ctx context.Context, w intake.CommentWork) error { return bot.HandleComment(ctx, w) },
			PRClosed: func(ctx context.Context, w intake.PullRequestClosed) (time.Duration, error) {
				return bot.HandleClosed(ctx, w)
			},
			DeleteBranch: func(ctx context.Context, pr int) (time.Duration, error) { return bot.DeleteClosedBranch(ctx, pr) },
			CIWait:       func(ctx context.Context, pr int, u int64) (time.Duration, error) { return bot.WaitCI(ctx, pr, u) },
			Website:      func(ctx context.Context, pr int, id int64) (time.Duration, error) { return bot.RunWebsite(ctx, pr, id) },
			CIEvent: func(ctx context.Context, ev intake.CIEvent) error {
				return bot.HandleCIEvent(ctx, ev, rec.SetCacheStatus)
			},
			QueueFor:   workflow.QueueFor(prefix, queue.Commands, queue.Updates),
			NeedsLease: workflow.NeedsLease(prefix),
			Supersedes: workflow.Supersedes(prefix),
			GaveUp: func(ctx context.Context, w intake.CommentWork, attempts int, err error) {
				bot.GaveUp(ctx, w, attempts, err)
			},
			MergeGaveUp: func(ctx context.Context, w intake.PullRequestClosed, attempts int, err error) {
				bot.MergeGaveUp(ctx, w, attempts, err)
			},
			CIWaitGaveUp: func(ctx context.Context, pr int, u int64, attempts int, err error) {
				bot.CIWaitGaveUp(ctx, pr, u, attempts, err)
			},
			DeleteGaveUp: func(ctx context.Context, pr int, attempts int, err error) { bot.DeleteGaveUp(ctx, pr, attempts, err) },
			WebsiteGaveUp: func(ctx context.Context, pr int, id int64, attempts int, err error) {
				bot.WebsiteGaveUp(ctx, pr, id, attempts, err)
			},
			// The reconciler's passes: a periodic job that the leading
			// replica queues. The database's upkeep follows a pass that
			// succeeded: after a long stop the pass catches up first,
			// against records the upkeep has not yet dropped.
			Reconcile: func(ctx context.Context) error {
				if err := rec.RunPass(ctx); err != nil {
					return err
				}
				if _, err := keep.PruneRecords(ctx); err != nil {
					log.Warn("upkeep", zap.Error(err))
				}
				return nil
			},
		},
	})
	if err != nil {
		return err
	}
	defer q.Close()
	keep, err = upkeep.New(upkeep.Options{Store: st, WorkDir: filepath.Join(cfg.StateDir, "work"),
		KeepFinished: time.Duration(cfg.Jobs.KeepFinished), KeepWorkFolders: time.Duration(cfg.Jobs.KeepWorkFolders),
		Cache: repo, CacheMaxBytes: int64(cfg.DataRepo.CacheMaxBytes),
		Holder: q.Replica() + "/upkeep", Logger: log.Named("upkeep")})
	if err != nil {
		return err
	}
	pc := policyConfig(cfg.Policy)
	pc.Metrics = mets.Policy
	pol := policy.New(pc, gh, st, nil)
	bot, err = workflow.New(workflow.Config{
		Prefix: prefix, BaseBranch: cfg.DataRepo.BaseBranch,
		WorkDir:      filepath.Join(cfg.StateDir, "work"),
		PollInterval: time.Duration(cfg.CI.PollInterval), CITimeout: time.Duration(cfg.CI.WaitTimeout),
		RestartGrace: time.Duration(cfg.CI.RestartGrace),
		MergeWait:    time.Duration(cfg.CI.WaitTimeout), LargeChangeShare: cfg.Policy.LargeChangeShare,
		PublicURL: cfg.Server.PublicURL, ClosedGrace: time.Duration(cfg.DataRepo.ClosedGrace),
		DataWebURL: cfg.DataRepo.DataWebURL(), CacheContext: cfg.GitHub.StatusContext, BotLogin: botLogin,
		OutputsFromS3Only: cfg.CI.Outputs == config.OutputsS3,
		Thumbnails:        cfg.Pages.Thumbnails, DataRoot: cfg.DataRepo.DataRoot,
		SignLink: signLink(func() *webauth.Auth { return auth }),
	}, workflow.Deps{
		GitHub: workflow.GitHubClient{Client: gh}, CI: ci, Outputs: outputs, Checks: checks,
		Store: cache, Repo: repo, Policy: pol, Jobs: q, State: st, Logger: log.Named("workflow"), Site: site,
		Metrics: mets.Workflow,
	})
	if err != nil {
		return err
	}
	var ciWorkflow func(string) bool
	if cfg.CI.Provider == config.ProviderGitHubActions {
		ciWorkflow = func(path string) bool { return slices.Contains(cfg.CI.Workflows, filepath.Base(path)) }
	}
	visibility, watchVisibility := followVisibility(cfg, auth, gh.RepoPrivate, visibilityEvery, log.Named("pages"))
	hook, err := intake.New(intake.Options{
		Secrets: secrets, Repo: cfg.GitHub.Repo, BotLogin: botLogin,
		HasCommand: hasCommand, CIWorkflow: ciWorkflow, Visibility: visibility,
		Recorder: q, Logger: log.Named("intake"), Metrics: mets.Intake,
	})
	if err != nil {
		return err
	}
	var apiHandler http.Handler
	if cfg.Server.APIToken.IsSet() {
		token, err := cfg.Server.APIToken.Resolve()
		if err != nil {
			return fmt.Errorf("server.api_token: %w", err)
		}
		if apiHandler, err = api.New(api.Options{Token: token, Repo: cfg.GitHub.Repo, Prefix: cfg.GitHub.CommandPrefix, Recorder: q}); err != nil {
			return err
		}
	}
	reviewer, err := newReviewer(cfg, st, cache, repo, log.Named("review"))
	if err != nil {
		return err
	}
	pageOpts := pages.Options{Repo: cfg.GitHub.Repo, BaseBranch: cfg.DataRepo.BaseBranch, Branches: repo, Jobs: q,
		Store: st, User: webauth.User, Reviewer: reviewer,
		Head:   func(ctx context.Context, pr int) (string, error) { return newestHead(ctx, st, pr) },
		Logger: log.Named("pages"), Known: st.KnowsPR}
	if site != nil {
		pageOpts.Website = func(ctx context.Context) (workflow.WebsiteOverview, error) { return bot.WebsiteOverview(ctx, pol) }
		pageOpts.Websites = func(ctx context.Context, pr int) ([]store.Website, error) { return st.RecentWebsites(ctx, pr, 10) }
	}
	prPages := pages.New(pageOpts)
	// Ready when the database answers and the outside systems did at
	// their last check; the checks run in the background (docs/operations.md).
	readiness, err := health.New(health.Options{
		Checks:   []health.Check{health.GitHub(gh, botLogin), health.S3(cache), health.DataRepo(repo)},
		Database: q.Ping, Metrics: mets.Health, Logger: log.Named("health"),
	})
	if err != nil {
		return err
	}
	if err := metrics.RegisterReaders(reg, metrics.Sources{Jobs: q.JobStats, LastReconcile: st.LastPass, Ready: readiness.Ready}); err != nil {
		return err
	}
	srv, err := server.New(server.Options{Listen: cfg.Server.Listen, Webhook: hook, Ready: readiness.Ready, Gatherer: reg, Logger: log,
		API: apiHandler, Pages: pagesHandler(auth, prPages)})
	if err != nil {
		return err
	}
	rec = reconcile.New(reconcile.Options{
		Repo: cfg.GitHub.Repo, BotLogin: botLogin, GitHub: gh, Recorder: q, Store: st,
		HasCommand:   hasCommand,
		DataBranches: func(ctx context.Context) (map[int]bool, error) { return prBranches(ctx, repo) },
		Interval:     time.Duration(cfg.Server.ReconcileInterval), Logger: log.Named("reconcile"), Metrics: mets.Reconcile,
		CacheStatus: func(ctx context.Context, pr ghclient.PRSummary, hasBranch bool) (ghclient.Status, string, error) {
			st, build, err := bot.CacheStatus(ctx, pr.Number, pr.HeadSHA, pr.IsFork, hasBranch)
			return ghclient.Status(st), build, err
		},
	})
	if err := q.Start(ctx); err != nil {
		return err
	}
	// The background loops end with serve, also when the server fails
	// to run: their waits below come after bg is cancelled.
	bg, stopBackground := context.WithCancel(ctx)
	checked := make(chan struct{})
	go func() { defer close(checked); readiness.Run(bg) }()
	defer func() { <-checked }()
	// Each replica's own disk: its work folders and its data repo clone.
	kept := make(chan struct{})
	go func() { defer close(kept); keep.Run(bg, time.Duration(cfg.Server.ReconcileInterval)) }()
	defer func() { <-kept }()
	if watchVisibility != nil {
		watched := make(chan struct{})
		go func() { defer close(watched); watchVisibility(bg) }()
		defer func() { <-watched }()
	}
	defer stopBackground()
	log.Info("refbot serving", zap.String("listen", srv.Addr()), zap.String("repo", cfg.GitHub.Repo),
		zap.String("database", st.Name()), zap.String("replica", q.Replica()))
	err = srv.Run(ctx) // returns after ctx ends and the intake has stopped
	// The crash tests shorten it (failpoint builds only).
	finish := failpoint.Duration("stop-timeout", queue.StopTimeout)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err, finish = cause, 0 // taken over: running jobs are cancelled, not finished
	}
	log.Info("stopping: intake closed, letting running jobs finish")
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finish)
	defer cancel()
	if qerr := q.Stop(stopCtx); errors.Is(qerr, queue.ErrInterrupted) {
		log.Warn("running jobs interrupted at the stop deadline; they run again at the next start", zap.Duration("waited", finish))
	} else if qerr != nil {
		err = errors.Join(err, qerr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}

// prBranches returns the PR numbers that have a data branch PR<n>.
func prBranches(ctx context.Context, repo *refdata.Repo) (map[int]bool, error) {
	prs, err := repo.PRBranches(ctx)
	out := map[int]bool{}
	for _, n := range prs {
		out[n] = true
	}
	return out, err
}

// policyConfig is the policy engine's part of the configuration: who may
// command, and every verb's limits with their defaults.
func policyConfig(p config.Policy) policy.Config {
	pc := policy.Config{AllowedUsers: p.AllowedUsers, AllowedTeams: p.AllowedTeams, Verbs: map[string]policy.Limits{}}
	for verb, l := range p.AllLimits() {
		pl := policy.Limits{Cooldown: l.Cooldown, MaxPerDay: l.MaxPerDay, RefuseWhenCapped: l.WhenCapped == config.WhenCappedRefuse,
			Hold: l.Hold, Slots: l.Slots}
		for _, w := range l.Blackout {
			pl.Blackout = append(pl.Blackout, policy.Window(w))
		}
		pc.Verbs[verb] = pl
	}
	return pc
}

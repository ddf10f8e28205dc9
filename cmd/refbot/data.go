package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/metrics"
	"github.com/refbot/refbot/bot/policy"
	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/bot/workflow"
	"github.com/refbot/refbot/config"
	"github.com/refbot/refbot/internal/clock"
	"github.com/refbot/refbot/internal/failpoint"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis"
)

// exitRefused: refbot would not do it (a conflict, a build that is not
// complete or not the PR's, a lease lost to another push); nothing changed.
const exitRefused = 3

// parts are the clients the maintenance commands use, built from the
// configuration as serve builds them.
type parts struct {
	cfg     *config.Config
	store   *s3cache.Store
	repo    *refdata.Repo
	gh      *ghclient.Client // made by github, once
	metrics metrics.Set      // serve's; none for the other commands
}

func loadParts(cmd *cobra.Command) (*parts, error) {
	path, err := configFile(cmd, "")
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return openParts(cmd.Context(), cfg, metrics.Set{})
}

// openParts opens the S3 cache and the data repo that cfg names; their
// requests, and the CI's, are timed in m's metrics.
func openParts(ctx context.Context, cfg *config.Config, m metrics.Set) (*parts, error) {
	s3opts, err := s3Options(cfg.S3)
	if err != nil {
		return nil, err
	}
	s3opts.Metrics = m.S3
	store, err := s3cache.New(ctx, s3opts)
	if err != nil {
		return nil, err
	}
	p := &parts{cfg: cfg, store: store, metrics: m}
	if p.repo, err = p.openDataRepo(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// openDataRepo opens the data repo, pushing with data_repo.token, or with
// the GitHub App's installation token (renewed before it expires) when
// refbot runs as an App installed on the data repo too.
func (p *parts) openDataRepo(ctx context.Context) (*refdata.Repo, error) {
	cfg := p.cfg
	token, err := cfg.DataRepo.Token.Resolve()
	if err != nil && !errors.Is(err, config.ErrSecretNotSet) {
		return nil, fmt.Errorf("data_repo.token: %w", err)
	}
	var source func(context.Context) (string, error)
	if cfg.AppPushes() {
		source = func(ctx context.Context) (string, error) {
			gh, err := p.github(ctx, nil)
			if err != nil {
				return "", err
			}
			return gh.InstallationToken(ctx)
		}
	}
	return refdata.Open(refdata.Options{
		URL: cfg.DataRepo.URL, Token: token, TokenSource: source, CacheDir: cfg.DataRepo.CacheDir,
		BaseBranch: cfg.DataRepo.BaseBranch, DataRoot: cfg.DataRepo.DataRoot, Protect: cfg.DataRepo.Protect,
		KeepBackups: cfg.DataRepo.KeepBackups, KeepArchives: cfg.DataRepo.KeepArchives,
		KeepArchivesFor: time.Duration(cfg.DataRepo.KeepArchivesFor),
		AuthorName:      cfg.DataRepo.AuthorName, AuthorEmail: cfg.DataRepo.AuthorEmail,
		Timeouts: refdata.Timeouts{Stall: time.Duration(cfg.DataRepo.StallTimeout)},
		Metrics:  p.metrics.Git,
	})
}

// github opens the GitHub client, once: the data repo's token source and
// the CI provider share it (and its App token). reg, if set on the first
// call, gets its metrics.
func (p *parts) github(ctx context.Context, reg prometheus.Registerer) (*ghclient.Client, error) {
	if p.gh != nil {
		return p.gh, nil
	}
	var also []string
	if p.cfg.AppPushes() {
		_, name, _ := strings.Cut(p.cfg.DataRepo.GitHubRepo, "/")
		also = []string{name}
	}
	opts, err := githubOptions(p.cfg.GitHub, p.cfg.GitHub.Repo, resolveSecret, also...)
	if err != nil {
		return nil, err
	}
	opts.Registerer = reg
	gh, err := ghclient.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	p.gh = gh
	return gh, nil
}

// githubOptions are the GitHub client's options for repo from the github
// section, its secrets read by resolve (key names the secret); an App's
// installation tokens also reach the repositories also names.
func githubOptions(c config.GitHub, repo string, resolve func(key string, s config.Secret) (string, error), also ...string) (ghclient.Options, error) {
	opts := ghclient.Options{APIURL: c.APIURL, GraphQLURL: c.GraphQLURL, Repo: repo,
		// The soak (failpoint builds only) writes faster than GitHub allows.
		MutationInterval: failpoint.Duration("github-write-interval", 0)}
	if c.App != nil {
		key, err := resolve("github.app.private_key", c.App.PrivateKey)
		if err != nil {
			return opts, err
		}
		opts.App = &ghclient.App{ID: c.App.ID, InstallationID: c.App.InstallationID, PrivateKey: []byte(key), Repositories: also}
		return opts, nil
	}
	token, err := resolve("github.token", c.Token)
	opts.Token = token
	return opts, err
}

// resolveSecret reads a secret, its errors naming the key.
func resolveSecret(key string, s config.Secret) (string, error) {
	v, err := s.Resolve()
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return v, nil
}

// ci opens the CI provider; GitHub Actions is asked through the GitHub
// client.
func (p *parts) ci(ctx context.Context) (workflow.CI, error) {
	c := p.cfg.CI
	if c.Provider == config.ProviderGitHubActions {
		gh, err := p.github(ctx, nil)
		if err != nil {
			return nil, err
		}
		return workflow.ActionsCI{Client: gh, Workflows: c.Workflows, RequiredJobs: c.RequiredJobs,
			FailedOnly: c.Rerun == config.RerunFailed}, nil
	}
	token, err := c.Token.Resolve()
	if err != nil && !errors.Is(err, config.ErrSecretNotSet) {
		return nil, fmt.Errorf("ci.token: %w", err)
	}
	tc, err := travis.New(c.APIURL, token, nil, travis.WithMetrics(p.metrics.CI))
	if err != nil {
		return nil, err
	}
	return workflow.TravisCI{Client: tc, Repo: c.Repo, RequiredJobs: c.RequiredJobs}, nil
}

// site is what WEBSITE works with, or nil when the configuration has no
// website section. ci is the CI provider (p.ci), which runs the docs
// build too.
func (p *parts) site(ctx context.Context, ci workflow.CI) (*workflow.Site, error) {
	w := p.cfg.Website
	if w == nil {
		return nil, nil
	}
	switch c := ci.(type) {
	case workflow.TravisCI:
		c.DocsEnv = w.Env
		ci = c
	case workflow.ActionsCI:
		c.DocsWorkflow = w.Workflow
		ci = c
	}
	docs, ok := ci.(workflow.DocsCI)
	if !ok {
		return nil, fmt.Errorf("website: the CI provider %s cannot run docs builds", p.cfg.CI.Provider)
	}
	o, err := s3Options(p.cfg.S3)
	if err != nil {
		return nil, err
	}
	o.Bucket, o.Prefix, o.Kind = w.UploadBucket(p.cfg.S3), w.UploadPrefix(p.cfg.S3), s3cache.KindWebsite
	o.Metrics = p.metrics.S3
	builds, err := s3cache.New(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("website: %w", err)
	}
	cfg := p.cfg
	return &workflow.Site{CI: docs, Builds: builds, Branch: w.Branch, Timeout: time.Duration(w.Timeout),
		StopCommand: w.StopCommand, StopTimeout: time.Duration(w.StopTimeout),
		StopEnv: withoutVariables(os.Environ(), append(p.cfg.SecretVariables(), refbotSecretVariables...)),
		Preview: func(slot int) (s3cache.Preview, string) {
			bucket, prefix, url := w.PreviewAt(cfg.S3, slot)
			return s3cache.Preview{Bucket: bucket, Prefix: prefix}, url
		}}, nil
}

// outputs is how refbot takes outputs CI kept outside S3 (GitHub Actions'
// artifacts), or nil when CI uploads to S3 itself (ci.outputs s3).
func (p *parts) outputs(ctx context.Context, workDir string, log *zap.Logger) (workflow.Outputs, error) {
	c := p.cfg.CI
	if c.Provider != config.ProviderGitHubActions || c.Outputs == config.OutputsS3 {
		return nil, nil
	}
	gh, err := p.github(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &workflow.ArtifactOutputs{GitHub: gh, Store: p.store, Repo: p.cfg.GitHub.Repo, Name: c.Artifact,
		Either: c.Outputs == config.OutputsEither, WorkDir: workDir, Logger: log}, nil
}

// refused marks the errors that mean "refbot would not", for exit code 3.
func refused(err error) error {
	var conflict *refdata.ConflictError
	if errors.Is(err, refdata.ErrLeaseLost) || errors.As(err, &conflict) || errors.Is(err, refdata.ErrNoBranch) || errors.Is(err, errBusy) ||
		errors.Is(err, refdata.ErrExists) || s3cache.Unusable(err) || errors.Is(err, workflow.ErrNoBuild) || workflow.NoOutputs(err) {
		return &exitError{code: exitRefused, err: err}
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type changeJSON struct {
	Action string `json:"action"`
	Path   string `json:"path"`
}

func changesJSON(cs []refdata.Change) []changeJSON {
	out := make([]changeJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, changeJSON{Action: string(c.Action), Path: c.Path})
	}
	return out
}

func newUpdateCmd() *cobra.Command {
	var (
		pr                     int
		branch, build, variant string
		dryRun, asJSON, noCI   bool
	)
	cmd := &cobra.Command{
		Use:   "update (--pr N [--build ID] | --branch NAME --build ID)",
		Short: "Force an update of a data branch from a CI build, as UPDATE does",
		Long: `Take a CI build's outputs from S3 into a data branch, by the code path
BUILDBOT: UPDATE uses. With --pr, the branch is PR<N> and the build defaults
to the newest CI build of the PR's head (asked of GitHub and the CI); with
--branch (the base branch, say, for a forced rebuild of master), --build is
required and its SOURCE must name that branch. Afterwards the build is
restarted so that it runs against the new data, unless --no-restart.

Exit codes: 0 done (or nothing to change), 1 failed, 2 wrong command line,
3 refused (the build is incomplete or not this PR's, another push won the
race); nothing changed on 2 and 3.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (pr > 0) == (branch != "") {
				return usageErrorf("give --pr N or --branch NAME")
			}
			if n := refdata.PRBranchNumber(branch); n > 0 {
				return usageErrorf("%s is the data branch of pull request #%d: use --pr %d", branch, n, n)
			}
			if branch != "" && build == "" {
				return usageErrorf("--branch needs --build ID")
			}
			ctx := cmd.Context()
			p, err := loadParts(cmd)
			if err != nil {
				return err
			}
			ci, err := p.ci(ctx)
			if err != nil {
				return err
			}
			outputs, err := p.outputs(ctx, filepath.Join(p.cfg.StateDir, "work", "cli", "artifacts"), zap.NewNop())
			if err != nil {
				return err
			}
			req := publish.Request{Build: build, DryRun: dryRun, WorkDir: filepath.Join(p.cfg.StateDir, "work", "cli")}
			if variant != "" {
				req.Variants = []string{variant}
			}
			if pr > 0 {
				gh, err := p.github(ctx, nil)
				if err != nil {
					return err
				}
				head, err := gh.PullRequest(ctx, pr)
				if err != nil {
					return err
				}
				if build == "" {
					b, err := ci.NewestBuild(ctx, pr, head.HeadSHA)
					if err != nil {
						return refused(err)
					}
					req.Build = b.ID
				}
				if outputs != nil {
					// A fork's run keeps its outputs as an artifact:
					// taken into S3 first, checked as refbot serve does.
					b, err := ci.Build(ctx, req.Build)
					if err != nil {
						return err
					}
					if err := outputs.Fetch(ctx, b, s3cache.Source{PR: pr}, head.HeadSHA); err != nil {
						return refused(err)
					}
				}
				req.Want = s3cache.Want{Source: s3cache.Source{PR: pr}, Commit: head.HeadSHA}
				req.Branch = refdata.PRBranch(pr)
				req.Subject = fmt.Sprintf("Update reference data for PR #%d from build %s (forced from the command line)", pr, req.Build)
				req.Trailers = refdata.Trailers{PR: pr, Build: req.Build, Commit: head.HeadSHA}
			} else {
				req.Want = s3cache.Want{Source: s3cache.Source{Branch: branch}}
				req.Branch = branch
				req.Subject = fmt.Sprintf("Reference data of %s from build %s (forced from the command line)", branch, build)
				req.Trailers = refdata.Trailers{Build: build}
			}
			start := time.Now()
			if !asJSON {
				progress := newProgressReporter(cmd.ErrOrStderr())
				defer progress.Close()
				req.Progress = progress.report
			}
			// The same leases as refbot serve's jobs: a PR's, or the base
			// branch's for a rebuild of it.
			lease := store.PRLease(pr)
			if branch != "" {
				lease = store.BaseLease(branch)
			}
			var res *publish.Result
			if err := p.withLeases(cmd, []string{lease}, dryRun, func() error {
				var err error
				res, err = publish.Publish(ctx, p.store, p.repo, req)
				return err
			}); err != nil {
				return refused(err)
			}
			restarted := false
			if !dryRun && !noCI {
				if err := ci.Restart(ctx, req.Build); err != nil {
					return fmt.Errorf("data pushed, but restarting build %s failed: %w", req.Build, err)
				}
				restarted = true
			}
			out := cmd.OutOrStdout()
			u := res.Update
			downloaded := 0
			var names []string
			for _, vr := range res.Variants {
				downloaded += vr.Download.Fetched
				if vr.Variant != "" {
					names = append(names, vr.Variant)
				}
			}
			if asJSON {
				type variantJSON struct {
					Variant    string `json:"variant"`
					Downloaded int    `json:"downloaded"`
				}
				vs := []variantJSON{}
				for _, vr := range res.Variants {
					vs = append(vs, variantJSON{Variant: vr.Variant, Downloaded: vr.Download.Fetched})
				}
				return printJSON(out, map[string]any{"branch": req.Branch, "build": req.Build, "dry_run": dryRun,
					"restarted": restarted, "commit": u.Commit.String(), "no_change": u.NoChange,
					"changes": changesJSON(u.Changes), "variants": vs})
			}
			name := "data"
			if len(names) > 0 {
				name = "variants " + strings.Join(names, ", ")
			}
			switch {
			case u.NoChange:
				fmt.Fprintf(out, "%s: %s already holds build %s's %s; nothing to push\n", req.Branch, req.Branch, req.Build, name)
			case dryRun:
				fmt.Fprintf(out, "%s: would commit build %s's %s: %d changed files (dry run: nothing pushed)\n", req.Branch, req.Build, name, len(u.Changes))
			default:
				fmt.Fprintf(out, "%s: now %s, build %s's %s: %d changed files, %d downloaded, %s pushed\n",
					req.Branch, u.Commit.String()[:12], req.Build, name, len(u.Changes), downloaded, humanBytes(u.Bytes))
			}
			for _, c := range u.Changes {
				fmt.Fprintf(out, "  %-8s %s\n", c.Action, c.Path)
			}
			if restarted {
				fmt.Fprintf(out, "restarted build %s (%.1fs)\n", req.Build, time.Since(start).Seconds())
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&pr, "pr", 0, "the pull request")
	fl.StringVar(&branch, "branch", "", "a branch of the data repo, e.g. master (needs --build)")
	fl.StringVar(&build, "build", "", "the CI build id (default: the newest build of the PR's head)")
	fl.StringVar(&variant, "variant", "", "only this variant of a matrix build")
	fl.BoolVar(&dryRun, "dry-run", false, "print what would change; download and push nothing")
	fl.BoolVar(&noCI, "no-restart", false, "do not restart the CI build afterwards")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newPromoteCmd() *cobra.Command {
	var (
		pr             int
		dryRun, asJSON bool
		keep           bool
	)
	cmd := &cobra.Command{
		Use:   "promote --pr N",
		Short: "Apply a PR's data branch to the base branch, as a merge does",
		Long: `Apply PR<N>'s one commit to the base branch of the data repo: its change
against the base it was built on, applied to the current base (a
fast-forward when the base has not moved). Then PR<N> is deleted, kept under
refs/refbot/archive/, unless --keep. Exit code 3 when files it changes also
changed on the base (they are listed) or the branch does not exist.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pr <= 0 {
				return usageErrorf("--pr N is required")
			}
			p, err := loadParts(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			branch := refdata.PRBranch(pr)
			var res *refdata.PromoteResult
			deleted := false
			err = p.withLeases(cmd, []string{store.PRLease(pr), store.BaseLease(p.cfg.DataRepo.BaseBranch)}, dryRun, func() error {
				var err error
				if res, err = p.repo.Promote(ctx, branch, dryRun); err != nil {
					return err
				}
				if dryRun {
					return nil
				}
				if !keep {
					if _, err := p.repo.DeleteBranch(ctx, branch); err != nil {
						return fmt.Errorf("promoted, but deleting %s failed: %w", branch, err)
					}
					deleted = true
				}
				return nil
			})
			if err != nil {
				return refused(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, map[string]any{"branch": branch, "base": res.Base, "commit": res.Commit.String(),
					"no_change": res.NoChange, "dry_run": dryRun, "deleted": deleted,
					"changes": changesJSON(res.Changes)})
			}
			how := "its change applied to the current base"
			if res.NoChange {
				how = "the base already held its change"
			}
			verb := "promoted"
			if dryRun {
				verb = "would promote (dry run)"
			}
			fmt.Fprintf(out, "%s %s onto %s as %s (%s), %d changed files\n", verb, branch, res.Base, res.Commit.String()[:12], how, len(res.Changes))
			if deleted {
				fmt.Fprintf(out, "deleted %s; kept under refs/refbot/archive/%s/\n", branch, branch)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&pr, "pr", 0, "the pull request")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would happen; change nothing")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the PR's data branch")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newSnapshotCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "snapshot NAME",
		Short: "Copy the base branch of the data repo to a new branch NAME (at a release, say)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadParts(cmd)
			if err != nil {
				return err
			}
			tip, err := p.repo.Snapshot(cmd.Context(), args[0])
			if err != nil {
				return refused(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "branch %s = %s at %s\n", args[0], p.repo.BaseBranch(), tip.String()[:12])
			return nil
		},
	}
}

// dataBranches reads every PR<n> data branch and the build it came from.
func dataBranches(ctx context.Context, repo *refdata.Repo) (map[string]refdata.BranchInfo, error) {
	prs, err := repo.PRBranches(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]refdata.BranchInfo{}
	for _, n := range prs {
		info, err := repo.Branch(ctx, refdata.PRBranch(n))
		if err != nil {
			return nil, err
		}
		out[refdata.PRBranch(n)] = info
	}
	return out, nil
}

func newPinCmd() *cobra.Command {
	var reason string
	var remove bool
	cmd := &cobra.Command{
		Use:   "pin BUILD",
		Short: "Keep a build in S3 whatever s3.retention says (--remove to let prune take it again)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadParts(cmd)
			if err != nil {
				return err
			}
			id, out := args[0], cmd.OutOrStdout()
			if remove {
				if err := p.store.Unpin(cmd.Context(), id); err != nil {
					return err
				}
				fmt.Fprintf(out, "build %s is no longer pinned\n", id)
				return nil
			}
			if err := p.store.Pin(cmd.Context(), id, reason); err != nil {
				return refused(err)
			}
			fmt.Fprintf(out, "build %s is pinned: prune keeps it\n", id)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "pinned with refbot pin", "why, kept in the build's PINNED file")
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the pin")
	return cmd
}

func newPruneCmd() *cobra.Command {
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete old builds from S3, keeping the newest per PR and branch (s3.retention)",
		Long: `Delete all but the newest builds of each PR and branch, as s3.retention says.
A pinned build is never deleted, nor one that a data branch PR<n> was made
from (its Refbot-Build trailer), nor a build whose SOURCE cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loadParts(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			branches, err := dataBranches(ctx, p.repo)
			if err != nil {
				return err
			}
			inUse := map[string]string{}
			for name, info := range branches {
				if b := info.Trailers["Refbot-Build"]; b != "" {
					inUse[b] = name
				}
			}
			// The builds open PRs' cache statuses point at, from serve's
			// database (read-only: serve may be running).
			cached, err := cachedBuilds(ctx, p.cfg.Database)
			if err != nil {
				return err
			}
			for b := range cached {
				if inUse[b] == "" {
					inUse[b] = "a cache status"
				}
			}
			res, err := p.store.Prune(ctx, s3cache.Retention{PerPR: p.cfg.S3.Retention.PerPR, PerBranch: p.cfg.S3.Retention.PerBranch},
				func(b s3cache.BuildInfo) bool { return inUse[b.ID] != "" }, dryRun)
			if err != nil {
				return err
			}
			ids := func(bs []s3cache.BuildInfo) []string {
				out := []string{}
				for _, b := range bs {
					out = append(out, b.ID)
				}
				return out
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, map[string]any{"dry_run": dryRun, "deleted": ids(res.Deleted), "kept": ids(res.Kept), "skipped": ids(res.Skipped)})
			}
			verb := "deleted"
			if dryRun {
				verb = "would delete (dry run)"
			}
			for _, b := range res.Deleted {
				fmt.Fprintf(out, "%s build %s (%s)\n", verb, b.ID, describeSource(b.Source))
			}
			fmt.Fprintf(out, "%d builds %s, %d kept (%d in use by data branches), %d without a readable SOURCE left alone\n",
				len(res.Deleted), verb, len(res.Kept), len(inUse), len(res.Skipped))
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be deleted; delete nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newStatusCmd() *cobra.Command {
	var (
		pr      int
		asJSON  bool
		website bool
	)
	cmd := &cobra.Command{
		Use:   "status [--pr N] [--website]",
		Short: "The data branches and the builds they came from, and where WEBSITE stands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loadParts(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if website {
				return printWebsite(cmd, p.cfg, asJSON)
			}
			branches := map[string]refdata.BranchInfo{}
			if pr > 0 {
				info, err := p.repo.Branch(ctx, refdata.PRBranch(pr))
				if err != nil {
					return err
				}
				branches[refdata.PRBranch(pr)] = info
			} else if branches, err = dataBranches(ctx, p.repo); err != nil {
				return err
			}
			type row struct {
				Branch   string `json:"branch"`
				Exists   bool   `json:"exists"`
				Tip      string `json:"tip,omitempty"`
				Build    string `json:"build,omitempty"`
				Commit   string `json:"commit,omitempty"`
				Approved string `json:"approved_by,omitempty"`
				Cached   string `json:"build_in_cache,omitempty"`
			}
			var rows []row
			for name, info := range branches {
				r := row{Branch: name, Exists: info.Exists}
				if info.Exists {
					r.Tip, r.Build, r.Commit, r.Approved = info.Tip.String(), info.Trailers["Refbot-Build"], info.Trailers["Refbot-Commit"], info.Trailers["Refbot-Approved-By"]
					if r.Build != "" {
						r.Cached = "yes"
						if _, err := p.store.Open(ctx, r.Build, s3cache.Want{Source: s3cache.Source{PR: refdata.PRBranchNumber(name)}}); err != nil {
							r.Cached = "no: " + err.Error()
						}
					}
				}
				rows = append(rows, r)
			}
			sort.Slice(rows, func(i, j int) bool {
				return refdata.PRBranchNumber(rows[i].Branch) < refdata.PRBranchNumber(rows[j].Branch)
			})
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(out, "no data branches")
			}
			for _, r := range rows {
				if !r.Exists {
					fmt.Fprintf(out, "%s: no data branch (CI compares with %s)\n", r.Branch, p.repo.BaseBranch())
					continue
				}
				fmt.Fprintf(out, "%s: %s, build %s of %s, approved by %s; build in the cache: %s\n",
					r.Branch, r.Tip[:12], r.Build, shortSHA(r.Commit), r.Approved, r.Cached)
			}
			if p.cfg.Website == nil || pr > 0 {
				return nil
			}
			fmt.Fprintln(out)
			return printWebsite(cmd, p.cfg, false)
		},
	}
	cmd.Flags().IntVar(&pr, "pr", 0, "only this pull request")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&website, "website", false, "only where WEBSITE stands: the previews, the queued and running requests, today's count")
	return cmd
}

// printWebsite prints where WEBSITE stands, from refbot's database (read
// only: refbot serve may be running).
func printWebsite(cmd *cobra.Command, cfg *config.Config, asJSON bool) error {
	out := cmd.OutOrStdout()
	if cfg.Website == nil {
		return usageErrorf("WEBSITE is not set up: the configuration has no website section")
	}
	var ov workflow.WebsiteOverview
	if _, err := os.Stat(cfg.Database); err == nil || store.IsPostgres(cfg.Database) {
		st, err := store.Open(cmd.Context(), cfg.Database, store.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		pol := policy.New(policyConfig(cfg.Policy), nil, st, nil)
		if ov, err = workflow.ReadWebsiteOverview(cmd.Context(), st, pol, func(slot int) string {
			_, _, url := cfg.Website.PreviewAt(cfg.S3, slot)
			return url
		}); err != nil {
			return fmt.Errorf("read WEBSITE's state: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if asJSON {
		return printJSON(out, ov)
	}
	count := fmt.Sprint(ov.Today)
	if ov.MaxPerDay > 0 {
		count += fmt.Sprintf(" of %d", ov.MaxPerDay)
	}
	fmt.Fprintf(out, "WEBSITE: %s docs builds today (%s, UTC)\n", count, cmp.Or(ov.Day, "no database yet"))
	for _, sl := range ov.Previews {
		switch {
		case sl.PR == 0:
			fmt.Fprintf(out, "  preview %d %s: nothing published yet\n", sl.Slot, sl.URL)
		case sl.Step != store.WebsitePublished:
			fmt.Fprintf(out, "  preview %d %s: taken by #%d (%s; the site before it is still shown) until %s\n", sl.Slot, sl.URL, sl.PR,
				sl.Step, sl.HeldUntil.UTC().Format("2006-01-02 15:04 UTC"))
		default:
			fmt.Fprintf(out, "  preview %d %s: #%d at %s, docs build %s, held until %s\n", sl.Slot, sl.URL, sl.PR, shortSHA(sl.Head),
				sl.Build, sl.HeldUntil.UTC().Format("2006-01-02 15:04 UTC"))
		}
	}
	for _, w := range ov.Queued {
		fmt.Fprintf(out, "  queued: #%d at %s, asked by %s, starts at %s: %s\n", w.PR, shortSHA(w.Head), w.Author,
			w.Until.UTC().Format("2006-01-02 15:04 UTC"), strings.NewReplacer("`", "", "\\", "").Replace(w.Reason))
	}
	for _, w := range ov.Running {
		fmt.Fprintf(out, "  running: #%d at %s, %s", w.PR, shortSHA(w.Head), w.Step)
		if w.Build != "" {
			fmt.Fprintf(out, ", docs build %s", w.Build)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func shortSHA(s string) string { return s[:min(len(s), 12)] }

// cachedBuilds reads the builds the cache statuses point at from refbot's
// database; none when there is no database yet.
func cachedBuilds(ctx context.Context, path string) (map[string]bool, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !store.IsPostgres(path) {
		return nil, nil
	}
	st, err := store.Open(ctx, path, store.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	builds, err := st.CachedBuilds(ctx)
	if err != nil && (strings.Contains(err.Error(), "no such table") || strings.Contains(err.Error(), "does not exist")) {
		return nil, nil // refbot serve has not run yet
	}
	return builds, err
}

// leaseWait is how long a CLI command waits for refbot serve's jobs to let
// go of what it needs.
const leaseWait = 10 * time.Minute

// cliLease is how long a CLI command's lease lasts unless renewed: it is
// renewed while the command runs, so a command killed midway keeps serve's
// jobs waiting for at most this long.
const cliLease = 5 * time.Minute

// withLeases runs f holding leases in refbot's database, as refbot serve's
// jobs do, so that a forced update or promotion never interleaves with
// theirs. Without a database (refbot serve never ran here) there is
// nothing to wait for. A dry run takes none.
func (p *parts) withLeases(cmd *cobra.Command, leases []string, dryRun bool, f func() error) error {
	ctx := cmd.Context()
	if dryRun {
		return f()
	}
	if _, err := os.Stat(p.cfg.Database); errors.Is(err, os.ErrNotExist) && !store.IsPostgres(p.cfg.Database) {
		return f()
	}
	st, err := store.Open(ctx, p.cfg.Database, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	holder := fmt.Sprintf("cli-%d-%d", os.Getpid(), time.Now().UnixNano())
	deadline := time.Now().Add(leaseWait)
	for said := false; ; {
		ok, err := st.TakeLeases(ctx, leases, holder, cliLease)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if !said {
			fmt.Fprintf(cmd.ErrOrStderr(), "waiting for refbot's running jobs to let go of %s…\n", strings.Join(leases, ", "))
			said = true
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still held after %s: %w", strings.Join(leases, ", "), leaseWait, errBusy)
		}
		if err := clock.Sleep(ctx, 2*time.Second); err != nil {
			return err
		}
	}
	defer st.ReleaseLeases(context.WithoutCancel(ctx), leases, holder)
	renewCtx, stopRenewing := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		for clock.Sleep(renewCtx, cliLease/3) == nil {
			if ok, err := st.TakeLeases(renewCtx, leases, holder, cliLease); !ok && renewCtx.Err() == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: could not renew the lease of %s (%v): refbot serve may act on it too\n",
					strings.Join(leases, ", "), err)
			}
		}
	}()
	defer func() { stopRenewing(); <-renewed }()
	return f()
}

// errBusy: refbot serve kept what a command needs for too long.
var errBusy = errors.New("refbot is busy with it")

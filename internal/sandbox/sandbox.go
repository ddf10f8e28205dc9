// Package sandbox sets up everything refbot talks to on loopback (MinIO, a
// git server holding the data repo, the fake GitHub with an open PR, the
// fake Travis with a build of it) and runs the refbot binary against them.
// `make demo` and the crash tests of `refbot serve` use it.
package sandbox

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis/travistest"
)

// The sandbox's project.
const (
	Repo          = "demo-org/demo-project"
	PR            = 42
	Maintainer    = "maintainer"
	WebhookSecret = "demo-webhook-secret"
	APIToken      = "demo-api-token"
	Bucket        = "demo-ci-data"
)

// Sandbox is a running set of refbot's outside systems.
type Sandbox struct {
	Work    string // the sandbox's folder
	MinIO   *testenv.MinIOServer
	Store   *s3cache.Store // the CI bucket on MinIO, to look at what refbot left
	Git     *testenv.GitServer
	Bare    string // the data repo on the git server
	GitHub  *fakegithub.Server
	Travis  *travistest.Server
	Head    string // the PR's head commit
	BuildID int64  // the Travis build of the head
	Config  string // refbot's configuration file
	Listen  string // where refbot serves
	Env     []string
	// The PRs opened in the sandbox, and those whose opening GitHub
	// delivered to refbot already.
	prs       []int
	announced map[int]bool
	// actions: the GitHub Actions project (see Options); App is refbot's
	// GitHub App then.
	actions bool
	App     fakegithub.App
	// Artifacts are the ids of the artifacts the fork's runs uploaded.
	Artifacts []int64
	// websiteHold: Options.WebsiteHold.
	websiteHold time.Duration
	// pages: Options.Pages.
	pages string
	// webhookSecret and apiToken: Options.Credentials, or WebhookSecret
	// and APIToken; stopCommand: Options.StopCommand.
	webhookSecret, apiToken string
	stopCommand             []string
	// closedGrace, jobTimeout: Options.ClosedGrace, Options.JobTimeout.
	closedGrace, jobTimeout time.Duration
	// reconcileInterval, extraConfig, cacheMaxBytes:
	// Options.ReconcileInterval, Options.ExtraConfig,
	// Options.CacheMaxBytes.
	reconcileInterval time.Duration
	extraConfig       string
	cacheMaxBytes     string
}

// Options choose the sandbox's project.
type Options struct {
	// Actions: the project runs GitHub Actions, refbot is a GitHub App
	// installed on the project and the data repo (pushing with the App's
	// token), and the PR comes from a fork, whose run keeps its outputs as
	// a workflow artifact (see actions.go). Otherwise: Travis, a personal
	// token, and a same-repo PR whose build uploads to S3.
	Actions bool
	// WebsiteHold is WEBSITE's hold, when not its default (2h): the tests
	// wait for a hold to end.
	WebsiteHold time.Duration
	// Data is the data repo's master; nil: DemoData.
	Data map[string]string
	// Pages is the configuration's pages section, as YAML indented under
	// "pages:" ("": the defaults).
	Pages string
	// Credentials, when set, replace the credentials the Travis project's
	// outside systems accept and refbot is given (an empty field keeps
	// the sandbox's own); the canary test gives each a value it can look
	// for.
	Credentials *Credentials
	// StopCommand is the configuration's website.stop_command (nil: none).
	StopCommand []string
	// ClosedGrace is data_repo.closed_grace, when not its default (7
	// days): the tests wait for a closed PR's grace period to end.
	ClosedGrace time.Duration
	// JobTimeout is jobs.timeout, when not its default (1h): the tests
	// make a rate limit outlast a job's deadline.
	JobTimeout time.Duration
	// ReconcileInterval is server.reconcile_interval, when not its default
	// (5m): the soak runs the periodic upkeep often.
	ReconcileInterval time.Duration
	// ExtraConfig is YAML appended to the configuration: sections the
	// sandbox does not write otherwise (the soak's policy and retention).
	ExtraConfig string
	// CacheMaxBytes is data_repo.cache_max_bytes ("1MiB"), when not its
	// default: the soak makes refbot trim its clone of the data repo.
	CacheMaxBytes string
}

// Credentials are the secrets refbot holds in the Travis project: MinIO,
// the fake GitHub, the git server and the fake Travis accept exactly
// these, and deliveries and API calls are signed with them.
type Credentials struct {
	GitHubToken              string
	WebhookSecret            string
	S3AccessKey, S3SecretKey string
	DataToken                string
	TravisToken              string
	APIToken                 string
}

// Start starts everything under work for a Travis project. The MinIO
// server is stopped by testenv.Stop (or testenv.Run); Close stops the rest.
func Start(ctx context.Context, work string) (*Sandbox, error) {
	return StartWith(ctx, work, Options{})
}

// StartWith starts everything under work for the project o describes.
func StartWith(ctx context.Context, work string, o Options) (*Sandbox, error) {
	s := &Sandbox{Work: work, actions: o.Actions, websiteHold: o.WebsiteHold, pages: o.Pages,
		webhookSecret: WebhookSecret, apiToken: APIToken, stopCommand: o.StopCommand, closedGrace: o.ClosedGrace, jobTimeout: o.JobTimeout,
		reconcileInterval: o.ReconcileInterval, extraConfig: o.ExtraConfig, cacheMaxBytes: o.CacheMaxBytes}
	var creds Credentials
	if o.Credentials != nil {
		creds = *o.Credentials
	}
	if creds.WebhookSecret != "" {
		s.webhookSecret = creds.WebhookSecret
	}
	if creds.APIToken != "" {
		s.apiToken = creds.APIToken
	}
	var err error
	if s.MinIO, err = testenv.StartMinIOAs(work, creds.S3AccessKey, creds.S3SecretKey); err != nil {
		return nil, err
	}
	if s.Store, err = s3cache.New(ctx, s3cache.Options{Bucket: Bucket, Prefix: "builds", Endpoint: s.MinIO.Endpoint, PathStyle: true,
		Region: s.MinIO.Region, AccessKeyID: s.MinIO.AccessKey, SecretAccessKey: s.MinIO.SecretKey}); err != nil {
		return nil, err
	}
	if err := s.Store.EnsureBucket(ctx); err != nil {
		return nil, err
	}
	if s.Git, err = testenv.StartGitServer(filepath.Join(work, "git")); err != nil {
		return nil, err
	}
	os.MkdirAll(s.Git.Root, 0o755)
	data := o.Data
	if data == nil {
		data = DemoData
	}
	if s.Bare, err = s.Git.SeedRepo("data.git", data); err != nil {
		return nil, err
	}
	if creds.DataToken != "" {
		s.Git.Token = creds.DataToken
	}
	if s.GitHub, err = fakegithub.Start(fakegithub.Options{Repo: Repo, Token: creds.GitHubToken}); err != nil {
		return nil, err
	}
	s.Head = randomSHA()
	s.GitHub.AddCommit(s.Head)
	s.GitHub.SetPermission(Maintainer, "write")
	pr := fakegithub.PR{Number: PR, HeadSHA: s.Head, BaseRef: "master", Author: "contributor", Title: "Make the plots prettier",
		CreatedAt: openedAt()}
	if o.Actions {
		pr.HeadRepo, pr.HeadRef = ForkRepo, ForkBranch
	}
	s.GitHub.AddPR(pr)
	if err := s.startWebsite(ctx); err != nil {
		return nil, err
	}
	s.prs, s.announced = []int{PR}, map[int]bool{}
	if o.Actions {
		if err := s.startActions(); err != nil {
			return nil, err
		}
		return s, nil
	}
	s.Travis = travistest.Start()
	if creds.TravisToken != "" {
		s.Travis.Token = creds.TravisToken
	}
	s.Travis.AddRepo(Repo)
	s.Travis.SetAdvanceOnPoll(true)
	b := s.Travis.AddBuild(travistest.Build{Repo: Repo, PullRequestNumber: PR, CommitSHA: s.Head, State: "failed", Outcome: "passed"})
	s.BuildID = b.ID

	s.Config = filepath.Join(work, "refbot.yaml")
	if err := s.newListenAddr(); err != nil {
		return nil, err
	}
	s.Env = append(os.Environ(),
		"DEMO_GITHUB_TOKEN="+s.GitHub.Token(), "DEMO_WEBHOOK_SECRET="+s.webhookSecret,
		"DEMO_S3_KEY="+s.MinIO.AccessKey, "DEMO_S3_SECRET="+s.MinIO.SecretKey,
		"DEMO_DATA_TOKEN="+s.Git.Token, "DEMO_TRAVIS_TOKEN="+s.Travis.Token, "DEMO_API_TOKEN="+s.apiToken)
	return s, nil
}

// Close stops the git server, the fakes and the sandbox's MinIO.
func (s *Sandbox) Close() {
	if s.Travis != nil {
		s.Travis.Close()
	}
	s.GitHub.Close()
	s.Git.Close()
	s.MinIO.Stop()
}

// URL is refbot's base URL.
func (s *Sandbox) URL() string { return "http://" + s.Listen }

// Refbot is a running `refbot serve`.
type Refbot struct {
	Cmd  *exec.Cmd
	Log  string
	done chan error
}

// Serve starts `refbot serve` (bin is the binary) with extra environment
// variables, logging to a file in the sandbox, and waits until it is ready
// or has exited.
func (s *Sandbox) Serve(ctx context.Context, bin string, extraEnv ...string) (*Refbot, error) {
	for tries := 1; ; tries++ {
		r, err := s.serve(ctx, bin, extraEnv...)
		if err == nil {
			return r, s.announce(ctx)
		}
		// The port was free when the sandbox chose it; since then any
		// outgoing connection on the machine may have taken it as its own.
		if !strings.Contains(err.Error(), "address already in use") || tries == 3 {
			return r, err
		}
		if err := s.newListenAddr(); err != nil {
			return nil, err
		}
	}
}

// openedAt is when the sandbox's PRs were opened: a while ago, as on a
// real project, where a maintainer reviews a build's outputs minutes or
// days after the push that made them.
func openedAt() time.Time { return time.Now().Add(-10 * time.Minute).Truncate(time.Second) }

// announce delivers the "opened" event of each PR refbot has not been told
// of: refbot learns a PR's head from such events, and an UPDATE goes ahead
// only on a head refbot saw before the comment (docs/design.md, "Approval
// bound to what was reviewed").
func (s *Sandbox) announce(ctx context.Context) error {
	for _, n := range s.prs {
		if s.announced[n] {
			continue
		}
		if p, ok := s.GitHub.PR(n); !ok || p.State != "open" {
			continue
		}
		d, err := s.GitHub.Deliver(ctx, s.URL()+"/webhook", s.webhookSecret, "pull_request", s.GitHub.PullRequestPayload(n, "opened", "contributor"))
		if err != nil {
			return fmt.Errorf("deliver the opening of #%d: %w", n, err)
		}
		if d.Status != http.StatusOK {
			return fmt.Errorf("deliver the opening of #%d: refbot answered %d %s", n, d.Status, d.Body)
		}
		s.announced[n] = true
	}
	return nil
}

// newListenAddr chooses a free port for refbot and writes the config.
func (s *Sandbox) newListenAddr() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.Listen = l.Addr().String()
	l.Close()
	return os.WriteFile(s.Config, []byte(s.configYAML()), 0o600)
}

func (s *Sandbox) serve(ctx context.Context, bin string, extraEnv ...string) (*Refbot, error) {
	logf, err := os.CreateTemp(s.Work, "refbot-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", s.Config)
	cmd.Env, cmd.Stdout, cmd.Stderr = append(s.Env, extraEnv...), logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	r := &Refbot{Cmd: cmd, Log: logf.Name(), done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait(); logf.Close() }()
	for {
		resp, err := http.Get(s.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		select {
		case err := <-r.done:
			log, _ := os.ReadFile(r.Log)
			return nil, fmt.Errorf("refbot serve exited before it was ready: %v\n%s", err, log)
		case <-ctx.Done():
			r.Kill()
			return nil, fmt.Errorf("refbot serve did not become ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Wait waits for the process to end and returns its exit error.
func (r *Refbot) Wait(ctx context.Context) error {
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop asks refbot to stop (SIGTERM) and waits.
func (r *Refbot) Stop(ctx context.Context) error {
	r.Cmd.Process.Signal(os.Interrupt)
	return r.Wait(ctx)
}

// Kill kills refbot at once.
func (r *Refbot) Kill() { r.Cmd.Process.Kill() }

// Upload runs `refbot upload` for the PR's build, as CI would, with the
// given files (path → content) as the test outputs.
func (s *Sandbox) Upload(ctx context.Context, bin string, files map[string]string) (string, error) {
	return s.upload(ctx, bin, PR, s.BuildID, s.Head, files)
}

// AddPR opens another pull request n, with a failed Travis build of its
// head whose outputs CI uploaded (files), as Start does for PR; it returns
// the build.
func (s *Sandbox) AddPR(ctx context.Context, bin string, n int, files map[string]string) (travistest.Build, error) {
	head := randomSHA()
	s.GitHub.AddCommit(head)
	s.GitHub.AddPR(fakegithub.PR{Number: n, HeadSHA: head, BaseRef: "master", Author: "contributor", Title: fmt.Sprintf("Change %d", n),
		CreatedAt: openedAt()})
	s.prs = append(s.prs, n)
	b := s.Travis.AddBuild(travistest.Build{Repo: Repo, PullRequestNumber: n, CommitSHA: head, State: "failed", Outcome: "passed"})
	_, err := s.upload(ctx, bin, n, b.ID, head, files)
	return b, err
}

func (s *Sandbox) upload(ctx context.Context, bin string, pr int, build int64, head string, files map[string]string) (string, error) {
	dir, err := os.MkdirTemp(s.Work, "test-output-")
	if err != nil {
		return "", err
	}
	if err := testenv.WriteFiles(dir, files); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, "upload", "--config", s.Config,
		"--build", fmt.Sprint(build), "--source", fmt.Sprint(pr), "--commit", head, dir)
	cmd.Env = s.Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("refbot upload: %w: %s", err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Comment has the maintainer comment body on the PR and GitHub deliver it.
func (s *Sandbox) Comment(ctx context.Context, body string) (fakegithub.Delivery, error) {
	return s.CommentOn(ctx, PR, body)
}

// CommentOn has the maintainer comment body on pull request pr and GitHub
// deliver it.
func (s *Sandbox) CommentOn(ctx context.Context, pr int, body string) (fakegithub.Delivery, error) {
	payload := s.GitHub.Comment(pr, Maintainer, body)
	return s.GitHub.Deliver(ctx, s.URL()+"/webhook", s.webhookSecret, "issue_comment", payload)
}

// Merge has the maintainer merge pull request pr and GitHub deliver it.
func (s *Sandbox) Merge(ctx context.Context, pr int) (fakegithub.Delivery, error) {
	s.GitHub.Merge(pr, Maintainer)
	payload := s.GitHub.PullRequestPayload(pr, "closed", Maintainer)
	return s.GitHub.Deliver(ctx, s.URL()+"/webhook", s.webhookSecret, "pull_request", payload)
}

// Replies returns refbot's comments on the PR.
func (s *Sandbox) Replies() []fakegithub.Comment { return s.RepliesOn(PR) }

// RepliesOn returns refbot's comments on pull request pr.
func (s *Sandbox) RepliesOn(pr int) []fakegithub.Comment {
	var out []fakegithub.Comment
	for _, c := range s.GitHub.Comments(pr) {
		if c.User != Maintainer {
			out = append(out, c)
		}
	}
	return out
}

// UpdateStatus returns the newest refbot/update status of the head.
func (s *Sandbox) UpdateStatus() (fakegithub.Status, bool) { return s.Status(s.Head, "refbot/update") }

// Status returns the newest status of context on sha.
func (s *Sandbox) Status(sha, context string) (fakegithub.Status, bool) {
	sts := s.GitHub.Statuses(sha)
	for i := len(sts) - 1; i >= 0; i-- {
		if sts[i].Context == context {
			return sts[i], true
		}
	}
	return fakegithub.Status{}, false
}

// DemoOutputs is what the project's tests produced in the demo: one plot
// changed (a real PNG, which the review page compares pixel by pixel), one
// new (a real PNG too), one number in a table changed, the rest the same.
var DemoOutputs = map[string]string{
	"plots/line.png":    linePlot(true),
	"plots/scatter.png": "\x89PNG old scatter plot",
	"plots/hist.png":    histPlot(),
	"tables/stats.json": "{\n  \"mean\": 1.02,\n  \"median\": 0.9,\n  \"n\": 100\n}\n",
	"tables/counts.csv": "bin,count\n0,12\n1,30\n2,41\n3,17\n",
}

// DemoData is the data repo's master before the demo: the reference data.
var DemoData = map[string]string{
	"README.md":              "Reference data of demo-project.\n",
	"data/plots/line.png":    linePlot(false),
	"data/plots/scatter.png": "\x89PNG old scatter plot",
	"data/tables/stats.json": "{\n  \"mean\": 1.0,\n  \"median\": 0.9,\n  \"n\": 100\n}\n",
	"data/tables/counts.csv": "bin,count\n0,12\n1,30\n2,41\n3,17\n",
}

func (s *Sandbox) configYAML() string {
	github, dataRepo, ci := `  token: {env: DEMO_GITHUB_TOKEN}
  bot_login: refbot
`, `  token: {env: DEMO_DATA_TOKEN}
`, fmt.Sprintf(`  provider: travis
  api_url: %s
  token: {env: DEMO_TRAVIS_TOKEN}
  poll_interval: 200ms
  restart_grace: 10s
`, s.travisURL())
	if s.actions {
		github, dataRepo, ci = s.actionsConfig()
	}
	if s.closedGrace > 0 {
		dataRepo += fmt.Sprintf("  closed_grace: %s\n", s.closedGrace)
	}
	if s.cacheMaxBytes != "" {
		dataRepo += fmt.Sprintf("  cache_max_bytes: %s\n", s.cacheMaxBytes)
	}
	return fmt.Sprintf(`# Written by internal/sandbox: every endpoint is a loopback server or fake.
github:
  api_url: %s
  graphql_url: %s
  repo: %s
  webhook_secret: {env: DEMO_WEBHOOK_SECRET}
%ss3:
  endpoint: %s
  region: %s
  bucket: %s
  prefix: builds
  path_style: true
  access_key_id: {env: DEMO_S3_KEY}
  secret_access_key: {env: DEMO_S3_SECRET}
data_repo:
  url: %s
%sci:
%sserver:
  listen: %s
  public_url: http://%s
  api_token: {env: DEMO_API_TOKEN}
%sstate_dir: %s
log:
  level: info
  format: console
%s`, s.GitHub.APIURL(), s.GitHub.GraphQLURL(), Repo, github, s.MinIO.Endpoint, s.MinIO.Region, Bucket,
		s.Git.URL("data.git"), dataRepo, ci, s.Listen, s.Listen, s.reconcileConfig(), filepath.Join(s.Work, "state"),
		s.websiteConfig()+s.pagesConfig()+s.jobsConfig()+s.extraConfig)
}

// reconcileConfig is server.reconcile_interval (Options.ReconcileInterval).
func (s *Sandbox) reconcileConfig() string {
	if s.reconcileInterval <= 0 {
		return ""
	}
	return fmt.Sprintf("  reconcile_interval: %s\n", s.reconcileInterval)
}

// jobsConfig is the configuration's jobs section (Options.JobTimeout).
func (s *Sandbox) jobsConfig() string {
	if s.jobTimeout <= 0 {
		return ""
	}
	return fmt.Sprintf("jobs:\n  timeout: %s\n", s.jobTimeout)
}

// pagesConfig is the configuration's pages section (Options.Pages).
func (s *Sandbox) pagesConfig() string {
	if s.pages == "" {
		return ""
	}
	return "pages:\n" + s.pages
}

// travisURL is the fake Travis's address ("" in the Actions sandbox).
func (s *Sandbox) travisURL() string {
	if s.Travis == nil {
		return ""
	}
	return s.Travis.URL
}

func randomSHA() string {
	var b [24]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
	}
	return fmt.Sprintf("%x", b[:20])
}

// WaitUpdateDone waits until the head's update status is final and returns
// it; if ctx ends first, the error carries refbot's log.
func (s *Sandbox) WaitUpdateDone(ctx context.Context, rb *Refbot) (fakegithub.Status, error) {
	for {
		if st, ok := s.UpdateStatus(); ok && st.State != "pending" {
			return st, nil
		}
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(rb.Log)
			return fakegithub.Status{}, fmt.Errorf("no final update status: %w\n%s", ctx.Err(), log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

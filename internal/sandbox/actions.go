package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
)

// The GitHub Actions project's parts (Options.Actions).
const (
	// DataRepo is the data repo on GitHub: the App is installed on it too
	// and refbot pushes there with the App's installation token.
	DataRepo = "demo-org/demo-data"
	// ForkRepo and ForkBranch are where the PR's head comes from.
	ForkRepo   = "contributor/demo-project"
	ForkBranch = "prettier-plots"
	// Workflow is the project's test workflow.
	Workflow = ".github/workflows/test.yaml"
	// Artifact is the name the workflow uploads its outputs under.
	Artifact = "refbot-outputs"
)

// startActions sets up the Actions project: refbot's App, installed on the
// project and the data repo; the git server taking exactly the App's
// installation tokens for the data repo; the test workflow, and a run of
// the fork's head that is queued (ForkCI plays the fork's CI).
func (s *Sandbox) startActions() error {
	var err error
	if s.App, err = s.GitHub.AddApp("refbot"); err != nil {
		return err
	}
	s.GitHub.AddRepo(DataRepo)
	s.Git.Authorize(func(user, password string) bool {
		return user == "x-access-token" && s.GitHub.TokenAllows(password, DataRepo)
	})
	s.GitHub.AddWorkflow(Workflow, "test")
	run := s.GitHub.AddRun(fakegithub.Run{WorkflowPath: Workflow, PR: PR})
	s.BuildID = run.ID
	// GitHub carries re-runs out a little after it accepts them.
	s.GitHub.SetRerunLag(2)
	if err := os.WriteFile(filepath.Join(s.Work, "app.pem"), s.App.PrivateKey, 0o600); err != nil {
		return err
	}
	s.Config = filepath.Join(s.Work, "refbot.yaml")
	if err := s.newListenAddr(); err != nil {
		return err
	}
	s.Env = append(os.Environ(),
		"DEMO_WEBHOOK_SECRET="+WebhookSecret,
		"DEMO_S3_KEY="+s.MinIO.AccessKey, "DEMO_S3_SECRET="+s.MinIO.SecretKey, "DEMO_API_TOKEN="+APIToken)
	return nil
}

// actionsConfig is what the configuration of the Actions project has of
// its own in the github, data_repo and ci sections.
func (s *Sandbox) actionsConfig() (github, dataRepo, ci string) {
	github = fmt.Sprintf(`  app:
    id: %d
    installation_id: %d
    private_key: {file: app.pem}
  # No bot_login: refbot asks GitHub (the App's slug + "[bot]").
`, s.App.ID, s.App.InstallationID)
	dataRepo = fmt.Sprintf(`  # No token: refbot pushes with the App's installation token.
  github_repo: %s
`, DataRepo)
	ci = `  provider: github-actions
  workflows: [test.yaml]
  outputs: either
  # Long: workflow_run deliveries wake refbot, polling is the safety net.
  poll_interval: 1m
  restart_grace: 10s
`
	return github, dataRepo, ci
}

// ForkCI plays the fork's CI for the run's current attempt, as the
// fork-friendly example workflow does: the tests write files; `refbot
// upload --artifact` (bin), with the environment GitHub Actions gives a
// pull_request run and no secret, lays them out; actions/upload-artifact
// zips and uploads the folder; the run ends with conclusion; and GitHub
// tells refbot (workflow_run completed). It returns refbot's answer to the
// delivery.
func (s *Sandbox) ForkCI(ctx context.Context, bin string, files map[string]string, conclusion string) (fakegithub.Delivery, error) {
	if err := s.ForkRun(ctx, bin, files, conclusion); err != nil {
		return fakegithub.Delivery{}, err
	}
	return s.deliverRun(ctx, s.BuildID, "completed")
}

// ForkRun is ForkCI without GitHub telling refbot: a delivery lost, or
// refbot not running.
func (s *Sandbox) ForkRun(ctx context.Context, bin string, files map[string]string, conclusion string) error {
	run, ok := s.GitHub.Run(s.BuildID)
	if !ok {
		return fmt.Errorf("no run %d", s.BuildID)
	}
	s.GitHub.StartRun(run.ID)
	run, _ = s.GitHub.Run(run.ID)
	dir, err := os.MkdirTemp(s.Work, "test-output-")
	if err != nil {
		return err
	}
	if err := testenv.WriteFiles(dir, files); err != nil {
		return err
	}
	event := filepath.Join(s.Work, "event.json")
	if err := os.WriteFile(event, s.GitHub.PullRequestPayload(PR, "opened", "contributor"), 0o600); err != nil {
		return err
	}
	out := filepath.Join(dir + "-artifact")
	cmd := exec.CommandContext(ctx, bin, "upload", "--artifact", out, dir)
	// What a fork's pull_request run has: GitHub's variables, no secret.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.Work,
		"GITHUB_ACTIONS=true", "GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH=" + event,
		"GITHUB_REPOSITORY=" + Repo, "GITHUB_RUN_ID=" + strconv.FormatInt(run.ID, 10),
		"GITHUB_RUN_ATTEMPT=" + strconv.Itoa(run.Attempt), "GITHUB_SHA=" + randomSHA(),
		"GITHUB_REF=refs/pull/" + strconv.Itoa(PR) + "/merge"}
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("refbot upload --artifact: %w: %s", err, msg)
	}
	zipped, err := testenv.ZipFolder(out, nil)
	if err != nil {
		return err
	}
	s.Artifacts = append(s.Artifacts, s.GitHub.AddArtifact(run.ID, Artifact, zipped).ID)
	s.GitHub.CompleteRun(run.ID, fakegithub.Job{Name: "test", Conclusion: conclusion})
	return nil
}

func (s *Sandbox) deliverRun(ctx context.Context, id int64, action string) (fakegithub.Delivery, error) {
	d, err := s.GitHub.Deliver(ctx, s.URL()+"/webhook", WebhookSecret, "workflow_run", s.GitHub.WorkflowRunPayload(id, action))
	if err == nil && d.Status != http.StatusOK {
		err = fmt.Errorf("refbot answered workflow_run %s with %d %s", action, d.Status, d.Body)
	}
	return d, err
}

// FollowReruns plays GitHub Actions carrying out the re-runs refbot asks
// for, until ctx ends: each re-run of the PR's run runs the fork's CI again
// (ForkCI, with files), and passes. It returns how many it ran.
func (s *Sandbox) FollowReruns(ctx context.Context, bin string, files map[string]string) (int, error) {
	done := 0
	for {
		if n := len(s.GitHub.Reruns(s.BuildID)); n > done {
			done = n
			if _, err := s.ForkCI(ctx, bin, files, "success"); err != nil {
				return done, err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return done, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
)

// WEBSITE in the sandbox: the preview is a folder of its own bucket that
// MinIO serves to anyone, as S3's static website hosting would.
const (
	PreviewBucket = "demo-preview"
	PreviewPrefix = "preview"
	DocsWorkflow  = ".github/workflows/docs.yaml"
)

// DemoSite is the project's documentation as its docs build makes it.
var DemoSite = map[string]string{
	"index.html":         "<!doctype html><title>demo-project</title><h1>demo-project</h1><p>Prettier plots, documented.</p>",
	"_static/style.css":  "h1 { font-family: sans-serif; }\n",
	"api/plotting.html":  "<!doctype html><title>plotting</title><h1>plotting</h1>",
	"images/line.svg":    "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
	"search/index.json":  "{\"pages\": 3}\n",
	"changelog/v1.html":  "<!doctype html><h1>v1</h1>",
	"tutorial/plot.html": "<!doctype html><h1>Plotting, step by step</h1>",
}

// startWebsite serves the preview bucket and, on GitHub Actions, adds the
// docs workflow with its workflow_dispatch trigger.
func (s *Sandbox) startWebsite(ctx context.Context) error {
	if err := s.Store.ServePublicly(ctx, s3cache.Preview{Bucket: PreviewBucket, Prefix: PreviewPrefix}); err != nil {
		return err
	}
	if s.actions {
		s.GitHub.AddWorkflow(DocsWorkflow, "docs")
		s.GitHub.SetDispatchable(DocsWorkflow, fakegithub.DispatchTrigger{
			Inputs:  []fakegithub.WorkflowInput{{Name: "pr", Required: true}, {Name: "sha", Required: true}, {Name: "request", Required: true}},
			RunName: "refbot WEBSITE #${{ inputs.pr }} (${{ inputs.request }})",
		})
	}
	return nil
}

// websiteConfig is the configuration's website section.
func (s *Sandbox) websiteConfig() string {
	docs := "  env: {DOCS: \"1\"}\n"
	if s.actions {
		docs = "  workflow: docs.yaml\n"
	}
	if len(s.stopCommand) > 0 {
		argv, _ := json.Marshal(s.stopCommand) // a YAML flow sequence
		docs += fmt.Sprintf("  stop_command: %s\n", argv)
	}
	policy := ""
	if s.websiteHold > 0 {
		policy = fmt.Sprintf("policy:\n  verbs:\n    WEBSITE: {hold: %s}\n", s.websiteHold)
	}
	return fmt.Sprintf(`website:
%s  preview:
    bucket: %s
    prefix: %s
    url: %s
%s`, docs, PreviewBucket, PreviewPrefix, s.PreviewURL(), policy)
}

// PreviewURL is the address readers open the preview at.
func (s *Sandbox) PreviewURL() string {
	return fmt.Sprintf("%s/%s/%s/index.html", s.MinIO.Endpoint, PreviewBucket, PreviewPrefix)
}

// WebsiteStatus returns the newest refbot/website status of sha.
func (s *Sandbox) WebsiteStatus(sha string) (fakegithub.Status, bool) {
	return s.Status(sha, "refbot/website")
}

// DocsBuild is the project's CI running the docs build refbot asked for:
// it waits for the request (the n-th one: a Travis build request or a
// workflow_dispatch), then, as the docs job would, checks out the head it
// names, "builds" files and uploads them with `refbot upload --kind
// website`, and passes. It returns the build's id.
func (s *Sandbox) DocsBuild(ctx context.Context, bin string, n int, files map[string]string) (string, error) {
	var build string
	var env map[string]string
	for {
		var ok bool
		if s.actions {
			build, env, ok = s.dispatched(n)
		} else {
			build, env, ok = s.requested(n)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("refbot did not ask for docs build %d: %w", n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	dir, err := os.MkdirTemp(s.Work, "site-")
	if err != nil {
		return "", err
	}
	if err := testenv.WriteFiles(dir, files); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, "upload", "--kind", "website", "--config", s.Config, "--build", build, dir)
	cmd.Env = append(s.Env, "REFBOT_WEBSITE_PR="+env["REFBOT_WEBSITE_PR"], "REFBOT_WEBSITE_SHA="+env["REFBOT_WEBSITE_SHA"])
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("refbot upload --kind website: %w: %s", err, out)
	}
	if s.actions {
		var id int64
		fmt.Sscan(build, &id)
		s.GitHub.CompleteRun(id)
	} else {
		var id int64
		fmt.Sscan(build, &id)
		s.Travis.SetState(id, "passed")
		s.Travis.SetAdvanceOnPoll(true)
	}
	return build, nil
}

// requested returns the build Travis made of refbot's n-th build request
// (made now, running) and the variables it gave it.
func (s *Sandbox) requested(n int) (string, map[string]string, bool) {
	trs := s.Travis.Triggers()
	if len(trs) < n {
		return "", nil, false
	}
	tr := trs[n-1]
	// The docs job passes when it has uploaded, not before: the build
	// stays where the sandbox puts it.
	s.Travis.SetAdvanceOnPoll(false)
	b := s.Travis.CarryOutRequest(tr.ID)
	s.Travis.SetState(b.ID, "started")
	env := map[string]string{}
	if c, ok := tr.Config["env"].(map[string]any); ok {
		if global, ok := c["global"].([]any); ok {
			for _, v := range global {
				k, val, _ := strings.Cut(fmt.Sprint(v), "=")
				env[k] = strings.Trim(val, `'"`)
			}
		}
	}
	return fmt.Sprint(b.ID), env, true
}

// dispatched returns the run of refbot's n-th workflow_dispatch (started
// now) and its inputs, as the docs workflow maps them to variables.
func (s *Sandbox) dispatched(n int) (string, map[string]string, bool) {
	ds := s.GitHub.Dispatches()
	if len(ds) < n {
		return "", nil, false
	}
	d := ds[n-1]
	s.GitHub.StartRun(d.RunID)
	return fmt.Sprint(d.RunID), map[string]string{"REFBOT_WEBSITE_PR": d.Inputs["pr"], "REFBOT_WEBSITE_SHA": d.Inputs["sha"]}, true
}

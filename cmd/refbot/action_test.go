package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
)

// The files under test, relative to this package's folder.
const (
	actionYAML   = "../../action.yml"
	actionScript = "../../action/run.sh"
	examplesDir  = "../../examples"
)

// releaseVersion is the version of the release the tests build and serve.
const releaseVersion = "1.2.3"

// actionFile is action.yml, read strictly: a key GitHub would not know
// fails the test.
type actionFile struct {
	Name        string                  `yaml:"name"`
	Description string                  `yaml:"description"`
	Author      string                  `yaml:"author"`
	Inputs      map[string]actionInput  `yaml:"inputs"`
	Outputs     map[string]actionOutput `yaml:"outputs"`
	Runs        struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

type actionInput struct {
	Description string `yaml:"description"`
	Required    bool   `yaml:"required"`
	Default     string `yaml:"default"`
}

type actionOutput struct {
	Description string `yaml:"description"`
	Value       string `yaml:"value"`
}

type actionStep struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	If    string            `yaml:"if"`
	Shell string            `yaml:"shell"`
	Run   string            `yaml:"run"`
	Uses  string            `yaml:"uses"`
	Env   map[string]string `yaml:"env"`
	With  map[string]any    `yaml:"with"`
}

func readAction(t *testing.T) actionFile {
	t.Helper()
	src, err := os.ReadFile(actionYAML)
	if err != nil {
		t.Fatal(err)
	}
	var a actionFile
	if err := yaml.UnmarshalWithOptions(src, &a, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", actionYAML, err)
	}
	return a
}

// steps returns the action's step that runs run.sh and the one that
// uploads the artifact.
func (a actionFile) steps(t *testing.T) (script, upload actionStep) {
	t.Helper()
	if a.Runs.Using != "composite" || len(a.Runs.Steps) != 2 {
		t.Fatalf("action.yml runs %q with %d steps, want a composite of 2", a.Runs.Using, len(a.Runs.Steps))
	}
	return a.Runs.Steps[0], a.Runs.Steps[1]
}

// expression is a whole-value ${{ … }}, the only form action.yml uses.
var expression = regexp.MustCompile(`^\$\{\{\s*(.*?)\s*\}\}$`)

// evaluate resolves value as GitHub would for the contexts action.yml
// uses: inputs.NAME and github.event.PATH (absent or null: ""). Anything
// else fails the test, so that a new kind of expression gets a test first.
func evaluate(t *testing.T, value string, inputs map[string]string, event map[string]any) string {
	t.Helper()
	m := expression.FindStringSubmatch(value)
	if m == nil {
		if strings.Contains(value, "${{") {
			t.Fatalf("expression %q: only whole-value expressions are evaluated here", value)
		}
		return value
	}
	switch expr := m[1]; {
	case strings.HasPrefix(expr, "inputs."):
		v, ok := inputs[strings.TrimPrefix(expr, "inputs.")]
		if !ok {
			t.Fatalf("%s: no such input", expr)
		}
		return v
	case strings.HasPrefix(expr, "github.event."):
		var v any = event
		for _, key := range strings.Split(strings.TrimPrefix(expr, "github.event."), ".") {
			obj, _ := v.(map[string]any)
			v = obj[key]
		}
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	default:
		t.Fatalf("expression %q: not evaluated by this test", expr)
		return ""
	}
}

// scriptInputs are the INPUT_* variables run.sh reads.
func scriptInputs(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(actionScript)
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`\bINPUT_[A-Z0-9_]+`).FindAllString(string(src), -1)
	slices.Sort(names)
	return slices.Compact(names)
}

// inputVariable is the variable action.yml passes input name in.
func inputVariable(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// TestActionFile checks action.yml against its script: every input the
// script reads is declared and passed to it under its own name, every
// declared input is used, and the artifact step uploads what the script
// prepared, only when it prepared something.
func TestActionFile(t *testing.T) {
	a := readAction(t)
	script, upload := a.steps(t)
	if script.ID != "refbot" || script.Shell != "bash" || !strings.Contains(script.Run, "$GITHUB_ACTION_PATH/action/run.sh") {
		t.Errorf("the first step is %+v, want id refbot running action/run.sh with bash", script)
	}
	used := map[string]bool{}
	for _, v := range scriptInputs(t) {
		expr, ok := script.Env[v]
		if !ok {
			t.Errorf("run.sh reads %s, which action.yml does not pass", v)
			continue
		}
		var name string
		if m := expression.FindStringSubmatch(expr); m != nil {
			name, _ = strings.CutPrefix(m[1], "inputs.")
		}
		if name == "" || inputVariable(name) != v {
			t.Errorf("action.yml passes %s as %q, want ${{ inputs.%s }}", v, expr,
				strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(v, "INPUT_"), "_", "-")))
			continue
		}
		if _, ok := a.Inputs[name]; !ok {
			t.Errorf("run.sh reads input %s, which action.yml does not declare", name)
		}
		used[name] = true
	}
	for v := range script.Env {
		if strings.HasPrefix(v, "INPUT_") && !slices.Contains(scriptInputs(t), v) {
			t.Errorf("action.yml passes %s, which run.sh never reads", v)
		}
	}
	wantUpload := actionStep{
		If:   "steps.refbot.outputs.artifact-path != ''",
		Uses: "actions/upload-artifact@v4",
		With: map[string]any{
			"name":                 "${{ steps.refbot.outputs.artifact-name }}",
			"path":                 "${{ steps.refbot.outputs.artifact-path }}",
			"retention-days":       "${{ inputs.retention-days }}",
			"if-no-files-found":    "error",
			"include-hidden-files": false,
			"overwrite":            true,
		},
	}
	if diff := cmp.Diff(wantUpload, upload); diff != "" {
		t.Errorf("the upload step (-want +got):\n%s", diff)
	}
	used["retention-days"] = true
	for name, in := range a.Inputs {
		if !used[name] {
			t.Errorf("input %s is declared but never used", name)
		}
		if in.Description == "" {
			t.Errorf("input %s has no description", name)
		}
		if in.Required && in.Default != "" {
			t.Errorf("input %s is required and has a default", name)
		}
	}
	for name, out := range a.Outputs {
		if want := "${{ steps.refbot.outputs." + name + " }}"; out.Value != want {
			t.Errorf("output %s = %q, want %q", name, out.Value, want)
		}
	}
	// A workflow that leaves kind out hands test outputs to refbot, as
	// before the input existed.
	if got := a.Inputs["kind"].Default; got != kindOutputs {
		t.Errorf("input kind defaults to %q, want %q", got, kindOutputs)
	}
}

// release is a refbot release as the action downloads it: the archive of
// this package built by go build, with checksums.txt beside it, served
// from a loopback server.
type release struct {
	url     string // the download-url input for it
	archive string // its archive's name
	sum     string // its archive's sha256
}

// runnerPlatform returns RUNNER_OS and RUNNER_ARCH of a runner like this
// machine.
func runnerPlatform(t *testing.T) (osName, arch string) {
	t.Helper()
	osName = map[string]string{"linux": "Linux", "darwin": "macOS"}[runtime.GOOS]
	arch = map[string]string{"amd64": "X64", "arm64": "ARM64"}[runtime.GOARCH]
	if osName == "" || arch == "" {
		t.Fatalf("no GitHub runner is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	return osName, arch
}

// buildRefbot builds this package as a release binary of releaseVersion.
func buildRefbot(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "refbot")
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+releaseVersion, "-o", out, ".")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// serveRelease serves bin as the release archive named archive under
// /v{version}/, under /bad/v{version}/ with a checksums.txt that lists
// another sum for it, and under /other/v{version}/ with one that does not
// list it.
func serveRelease(t *testing.T, bin []byte, archive string) (good, bad release) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{{"README.md", 0o644, []byte("# refbot\n")}, {"refbot", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	other := sha256.Sum256([]byte("another archive"))
	root := t.TempDir()
	dir := "v" + releaseVersion + "/"
	if err := testenv.WriteFiles(root, map[string]string{
		dir + archive:                    buf.String(),
		dir + "checksums.txt":            fmt.Sprintf("%x  refbot_%s_other.tar.gz\n%x  %s\n", other, releaseVersion, sum, archive),
		"bad/" + dir + archive:           buf.String(),
		"bad/" + dir + "checksums.txt":   fmt.Sprintf("%x  %s\n", other, archive),
		"other/" + dir + archive:         buf.String(),
		"other/" + dir + "checksums.txt": fmt.Sprintf("%x  refbot_%s_other.tar.gz\n", other, releaseVersion),
	}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	t.Cleanup(srv.Close)
	pattern := "/v{version}/refbot_{version}_{os}_{arch}.tar.gz"
	good = release{url: srv.URL + pattern, archive: archive, sum: hex.EncodeToString(sum[:])}
	bad = release{url: srv.URL + "/bad" + pattern, archive: archive, sum: good.sum}
	return good, bad
}

// actionRun is one run of the action's script step.
type actionRun struct {
	err     error
	stdout  string
	stderr  string
	outputs map[string]string // what it wrote to $GITHUB_OUTPUT
	temp    string            // $RUNNER_TEMP
}

// runAction runs the action's script step as GitHub Actions runs a
// composite action's bash step: the step's env evaluated from with (and
// the inputs' defaults) and the event payload, over the runner's own
// variables (runner, GitHub's defaults for the event, secrets the
// workflow put in the step's env), with bash --noprofile --norc -eo
// pipefail.
func runAction(t *testing.T, a actionFile, with map[string]string, runner map[string]string, event map[string]any) actionRun {
	t.Helper()
	script, _ := a.steps(t)
	inputs := map[string]string{}
	for name, in := range a.Inputs {
		v, ok := with[name]
		if !ok {
			if in.Required {
				t.Fatalf("input %s is required", name)
			}
			v = in.Default
		}
		inputs[name] = v
	}
	for name := range with {
		if _, ok := a.Inputs[name]; !ok {
			t.Fatalf("unexpected input %s", name)
		}
	}
	r := actionRun{temp: t.TempDir()}
	work := t.TempDir()
	if err := testenv.WriteFiles(filepath.Join(work, "test-output"), map[string]string{
		"plots/a.png": "\x89PNG...", "result.json": `{"ok": true}`,
	}); err != nil {
		t.Fatal(err)
	}
	payload := writeFile(t, "event.json", mustJSON(t, event))
	outputFile := filepath.Join(t.TempDir(), "output")
	if err := os.WriteFile(outputFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	repoRoot, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	osName, arch := runnerPlatform(t)
	env := map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": t.TempDir(), "CI": "true",
		"GITHUB_ACTIONS": "true", "GITHUB_ACTION_PATH": repoRoot, "GITHUB_WORKSPACE": work,
		"GITHUB_EVENT_PATH": payload, "GITHUB_OUTPUT": outputFile,
		"RUNNER_OS": osName, "RUNNER_ARCH": arch, "RUNNER_TEMP": r.temp,
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	for k, v := range runner {
		env[k] = v
	}
	for k, v := range script.Env {
		env[k] = evaluate(t, v, inputs, event)
	}
	scriptFile := writeFile(t, "step.sh", script.Run)
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", scriptFile)
	cmd.Dir = work
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r.err = cmd.Run()
	r.stdout, r.stderr = stdout.String(), stderr.String()
	out, err := os.ReadFile(outputFile)
	if err != nil {
		t.Fatal(err)
	}
	r.outputs = map[string]string{}
	for line := range strings.Lines(string(out)) {
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		if !ok {
			t.Fatalf("$GITHUB_OUTPUT line %q is not NAME=VALUE", line)
		}
		r.outputs[k] = v
	}
	return r
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pullRequestPayload is a pull_request event's payload for PR 12 of
// octo-org/octo-repo, from headRepo at head.
func pullRequestPayload(headRepo, head string) map[string]any {
	return map[string]any{
		"action": "synchronize", "number": 12,
		"pull_request": map[string]any{
			"number": 12,
			"head":   map[string]any{"sha": head, "ref": "feature", "repo": map[string]any{"full_name": headRepo}},
			"base":   map[string]any{"sha": pushedSHA, "ref": "main", "repo": map[string]any{"full_name": "octo-org/octo-repo"}},
		},
		"repository": map[string]any{"full_name": "octo-org/octo-repo"},
	}
}

// TestAction runs the action's script as GitHub Actions would, with the
// refbot release it downloads built from this package, against MinIO: a
// same-repo PR and a push upload to S3, a fork's PR (and a build without
// S3 credentials) prepares the artifact instead, and a release that does
// not match its checksum is never run. With kind website, the docs build
// refbot dispatched uploads its site to the docs builds' folder for the PR
// and head in REFBOT_WEBSITE_PR and _SHA, and what a site cannot be (an
// artifact, a variant, an upload without credentials) is refused before
// refbot is installed.
func TestAction(t *testing.T) {
	a := readAction(t)
	mc := testenv.MinIO(t)
	bucket, sitesBucket := mc.BucketName(t), mc.BucketName(t)
	ctx := context.Background()
	store := bucketStore(ctx, t, mc, bucket, "ci")
	bucketStore(ctx, t, mc, sitesBucket, "")
	// Where the sites go: the docs builds' folder beside the test builds'
	// ("ci-website"), in the test builds' bucket or their own.
	siteStores := map[string]*s3cache.Store{
		bucket:      kindStore(ctx, t, mc, bucket, "ci-website", s3cache.KindWebsite),
		sitesBucket: kindStore(ctx, t, mc, sitesBucket, "ci-website", s3cache.KindWebsite),
	}
	osName, arch := runnerPlatform(t)
	goos := map[string]string{"Linux": "linux", "macOS": "darwin"}[osName]
	goarch := map[string]string{"X64": "amd64", "ARM64": "arm64"}[arch]
	rel, badRel := serveRelease(t, buildRefbot(t), fmt.Sprintf("refbot_%s_%s_%s.tar.gz", releaseVersion, goos, goarch))

	s3Inputs := func(more map[string]string) map[string]string {
		with := map[string]string{"version": releaseVersion, "download-url": rel.url, "path": "test-output",
			"bucket": bucket, "prefix": "ci", "endpoint": mc.Endpoint, "path-style": "true"}
		for k, v := range more {
			with[k] = v
		}
		return with
	}
	credentials := map[string]string{"AWS_ACCESS_KEY_ID": mc.AccessKey, "AWS_SECRET_ACCESS_KEY": mc.SecretKey}
	// runner is GitHub's default variables for run id of event, with the
	// secrets the workflow gave the step (or "" for one it lacks).
	runner := func(id, attempt, event string, secrets map[string]string, more ...string) map[string]string {
		env := map[string]string{
			"GITHUB_RUN_ID": id, "GITHUB_RUN_ATTEMPT": attempt, "GITHUB_REPOSITORY": "octo-org/octo-repo",
			"GITHUB_EVENT_NAME": event, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
		}
		for k, v := range secrets {
			env[k] = v
		}
		for i := 0; i+1 < len(more); i += 2 {
			env[more[i]] = more[i+1]
		}
		return env
	}
	prRef := []string{"GITHUB_SHA", mergeSHA, "GITHUB_REF", "refs/pull/12/merge", "GITHUB_REF_NAME", "12/merge"}
	pushRef := []string{"GITHUB_SHA", pushedSHA, "GITHUB_REF", "refs/heads/main", "GITHUB_REF_NAME", "main", "GITHUB_REF_TYPE", "branch"}
	samePR := pullRequestPayload("octo-org/octo-repo", headSHA)
	forkPR := pullRequestPayload("fork-owner/octo-repo", headSHA)
	// The docs build refbot dispatched on main for PR 12 at headSHA: the
	// run's own commit is main's, and the step's env has the PR and head.
	docsRun := []string{"GITHUB_SHA", pushedSHA, "GITHUB_REF", "refs/heads/main", "GITHUB_REF_NAME", "main", "GITHUB_REF_TYPE", "branch",
		websitePREnv, "12", websiteSHAEnv, headSHA, "REFBOT_S3_PREFIX", "ci"}
	dispatch := map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{"pr": "12", "sha": headSHA, "request": "refbot-website-7"}}
	siteInputs := func(more map[string]string) map[string]string {
		with := s3Inputs(map[string]string{"kind": "website", "prefix": ""})
		maps.Copy(with, more)
		return with
	}

	type inS3 struct {
		Source  s3cache.Source
		Commit  string
		Attempt int
		Repo    string
	}
	tests := []struct {
		name       string
		with       map[string]string
		runner     map[string]string
		event      map[string]any
		build      string
		s3         *inS3             // the build in S3; nil: none
		site       *inS3             // the site in siteBucket's docs builds' folder; nil: none
		siteBucket string            // bucket or sitesBucket
		artifact   map[string]string // the artifact folder's files; nil: none
		outputs    map[string]string
		fails      string // the step fails, its stderr mentioning this
		unrun      bool   // and it fails before refbot is installed or run
	}{
		{
			name:    "same-repo PR",
			with:    s3Inputs(nil),
			runner:  runner("5101", "3", "pull_request", credentials, prRef...),
			event:   samePR,
			build:   "5101",
			s3:      &inS3{Source: s3cache.Source{PR: 12}, Commit: headSHA, Attempt: 3, Repo: "octo-org/octo-repo"},
			outputs: map[string]string{"mode": "s3", "artifact-path": "", "artifact-name": ""},
		},
		{
			name:    "push",
			with:    s3Inputs(map[string]string{"mode": "s3", "checksum-sha256": strings.ToUpper(rel.sum)}),
			runner:  runner("5102", "1", "push", credentials, pushRef...),
			event:   map[string]any{"ref": "refs/heads/main", "after": pushedSHA},
			build:   "5102",
			s3:      &inS3{Source: s3cache.Source{Branch: "main"}, Commit: pushedSHA, Attempt: 1, Repo: "octo-org/octo-repo"},
			outputs: map[string]string{"mode": "s3", "artifact-path": "", "artifact-name": ""},
		},
		{
			// The credentials are there (pull_request_target would give
			// them): a fork's PR prepares an artifact all the same.
			name:     "fork PR",
			with:     s3Inputs(map[string]string{"variant": "py3.12"}),
			runner:   runner("5103", "1", "pull_request", credentials, prRef...),
			event:    forkPR,
			build:    "5103",
			artifact: map[string]string{"MANIFEST.py3.12.json": "", "data/py3.12/plots/a.png": "\x89PNG...", "data/py3.12/result.json": `{"ok": true}`},
			outputs:  map[string]string{"mode": "artifact", "artifact-name": "refbot-outputs-py3.12"},
		},
		{
			name:     "no credentials",
			with:     s3Inputs(map[string]string{"artifact-name": "outputs"}),
			runner:   runner("5104", "2", "pull_request", nil, prRef...),
			event:    samePR,
			build:    "5104",
			artifact: map[string]string{"MANIFEST.json": "", "data/plots/a.png": "\x89PNG...", "data/result.json": `{"ok": true}`},
			outputs:  map[string]string{"mode": "artifact", "artifact-name": "outputs"},
		},
		{
			name:   "mode s3 on a fork",
			with:   s3Inputs(map[string]string{"mode": "s3"}),
			runner: runner("5105", "1", "pull_request", nil, prRef...),
			event:  forkPR,
			build:  "5105",
			fails:  "mode: artifact",
		},
		{
			name:   "wrong pinned checksum",
			with:   s3Inputs(map[string]string{"checksum-sha256": strings.Repeat("0", 64)}),
			runner: runner("5106", "1", "pull_request", credentials, prRef...),
			event:  samePR,
			build:  "5106",
			fails:  "has sha256 " + rel.sum + ", want " + strings.Repeat("0", 64) + ": not installing it",
			unrun:  true,
		},
		{
			name:   "wrong checksums.txt",
			with:   s3Inputs(map[string]string{"download-url": badRel.url}),
			runner: runner("5107", "1", "pull_request", credentials, prRef...),
			event:  samePR,
			build:  "5107",
			fails:  "has sha256 " + rel.sum,
			unrun:  true,
		},
		{
			name:   "checksums.txt without the archive",
			with:   s3Inputs(map[string]string{"download-url": strings.Replace(rel.url, "/v{version}/", "/other/v{version}/", 1)}),
			runner: runner("5108", "1", "pull_request", credentials, prRef...),
			event:  samePR,
			build:  "5108",
			fails:  "lists no sha256 for " + rel.archive,
			unrun:  true,
		},
		{
			name:   "a tag",
			with:   s3Inputs(nil),
			runner: runner("5109", "1", "push", credentials, "GITHUB_SHA", pushedSHA, "GITHUB_REF", "refs/tags/v1", "GITHUB_REF_NAME", "v1", "GITHUB_REF_TYPE", "tag"),
			event:  map[string]any{"ref": "refs/tags/v1"},
			build:  "5109",
			fails:  `push of tag "v1"`,
		},
		{
			name:       "website",
			with:       siteInputs(nil),
			runner:     runner("5110", "2", "workflow_dispatch", credentials, docsRun...),
			event:      dispatch,
			build:      "5110",
			site:       &inS3{Source: s3cache.Source{PR: 12}, Commit: headSHA, Attempt: 2, Repo: "octo-org/octo-repo"},
			siteBucket: bucket,
			outputs:    map[string]string{"mode": "s3", "artifact-path": "", "artifact-name": ""},
		},
		{
			// No bucket input: refbot's own default for a site, not the
			// test builds' bucket the action would pass for outputs.
			name:       "website, the sites' bucket from the env",
			with:       siteInputs(map[string]string{"bucket": ""}),
			runner:     runner("5111", "1", "workflow_dispatch", credentials, append(docsRun, "REFBOT_S3_BUCKET", bucket, "REFBOT_WEBSITE_S3_BUCKET", sitesBucket)...),
			event:      dispatch,
			build:      "5111",
			site:       &inS3{Source: s3cache.Source{PR: 12}, Commit: headSHA, Attempt: 1, Repo: "octo-org/octo-repo"},
			siteBucket: sitesBucket,
			outputs:    map[string]string{"mode": "s3", "artifact-path": "", "artifact-name": ""},
		},
		{
			name:   "website as an artifact",
			with:   siteInputs(map[string]string{"mode": "artifact"}),
			runner: runner("5112", "1", "workflow_dispatch", nil, docsRun...),
			event:  dispatch,
			build:  "5112",
			fails:  "kind website with mode artifact: refbot takes a docs build's site from S3 only",
			unrun:  true,
		},
		{
			name:   "website with a variant",
			with:   siteInputs(map[string]string{"variant": "py3.12"}),
			runner: runner("5113", "1", "workflow_dispatch", credentials, docsRun...),
			event:  dispatch,
			build:  "5113",
			fails:  "a site has no variants",
			unrun:  true,
		},
		{
			// No fallback to an artifact, as outputs have.
			name:   "website without credentials",
			with:   siteInputs(nil),
			runner: runner("5114", "1", "workflow_dispatch", nil, docsRun...),
			event:  dispatch,
			build:  "5114",
			fails:  "kind website: the step has no S3 credentials (AWS_ACCESS_KEY_ID)",
			unrun:  true,
		},
		{
			// refbot itself refuses: the run's own source is main.
			name:   "website without the PR",
			with:   siteInputs(nil),
			runner: runner("5115", "1", "workflow_dispatch", credentials, append(docsRun, websitePREnv, "")...),
			event:  dispatch,
			build:  "5115",
			fails:  "no PR: set REFBOT_WEBSITE_PR to the PR's number",
		},
		{
			name:   "an unknown kind",
			with:   s3Inputs(map[string]string{"kind": "docs"}),
			runner: runner("5116", "1", "pull_request", credentials, prRef...),
			event:  samePR,
			build:  "5116",
			fails:  "kind 'docs': use outputs",
			unrun:  true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runAction(t, a, tc.with, tc.runner, tc.event)
			installed := filepath.Join(r.temp, "refbot-"+releaseVersion, "refbot")
			if tc.fails != "" {
				if r.err == nil || !strings.Contains(r.stderr, tc.fails) {
					t.Fatalf("the step: %v, stderr %q; want a failure mentioning %q", r.err, r.stderr, tc.fails)
				}
				if tc.unrun {
					if strings.Contains(r.stdout, "refbot "+releaseVersion) {
						t.Errorf("the release ran although its checksum is wrong: %s", r.stdout)
					}
					if _, err := os.Stat(installed); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("the release was installed at %s (Stat: %v)", installed, err)
					}
				}
				if len(r.outputs) != 0 {
					t.Errorf("a failed step wrote outputs %v", r.outputs)
				}
			} else {
				if r.err != nil {
					t.Fatalf("the step: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
				}
				// The installed release ran, not some other refbot.
				if !strings.Contains(r.stdout, "refbot "+releaseVersion+" (") {
					t.Errorf("the step did not run refbot %s: %s", releaseVersion, r.stdout)
				}
				outputs := maps.Clone(r.outputs)
				path := outputs["artifact-path"]
				if tc.artifact != nil {
					delete(outputs, "artifact-path")
				}
				if diff := cmp.Diff(tc.outputs, outputs); diff != "" {
					t.Errorf("the step's outputs (-want +got):\n%s", diff)
				}
				if tc.artifact != nil {
					checkArtifact(t, path, r.temp, tc.build, tc.artifact)
				}
			}

			// check compares the build in a store with want (nil: none).
			check := func(what string, store *s3cache.Store, want *inS3) {
				t.Helper()
				if want == nil {
					if _, err := store.Open(ctx, tc.build, s3cache.Want{}); !errors.Is(err, s3cache.ErrNotFound) {
						t.Errorf("%s %s in %s (Open: %v), want none", what, tc.build, store, err)
					}
					return
				}
				b, err := store.Open(ctx, tc.build, s3cache.Want{Source: want.Source, Commit: want.Commit})
				if err != nil {
					t.Fatalf("%s %s: %v", what, tc.build, err)
				}
				m := b.Manifests[""]
				got := inS3{Source: b.Source, Commit: m.Commit, Attempt: m.Attempt, Repo: m.Repo}
				if diff := cmp.Diff(*want, got); diff != "" {
					t.Errorf("%s %s in %s (-want +got):\n%s", what, tc.build, store, diff)
				}
				if m.Provider != providerActions || len(m.Files) != 2 {
					t.Errorf("the manifest names provider %q and %d files", m.Provider, len(m.Files))
				}
			}
			check("build", store, tc.s3)
			for b, sites := range siteStores {
				want := tc.site
				if b != tc.siteBucket {
					want = nil
				}
				check("site", sites, want)
			}
		})
	}
}

// checkArtifact checks the folder the action would upload: under the
// runner's temp folder, holding want (a manifest's content is checked for
// its build, not compared).
func checkArtifact(t *testing.T, path, temp, build string, want map[string]string) {
	t.Helper()
	if rel, err := filepath.Rel(temp, path); err != nil || !filepath.IsLocal(rel) {
		t.Errorf("artifact-path %q is not under RUNNER_TEMP %s", path, temp)
	}
	got := map[string]string{}
	err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		rel = filepath.ToSlash(rel)
		body, err := os.ReadFile(p)
		if strings.HasPrefix(rel, "MANIFEST") {
			var m s3cache.Manifest
			if err := json.Unmarshal(body, &m); err != nil || m.Build != build || m.Commit != headSHA {
				t.Errorf("%s: build %q commit %q (%v), want build %s commit %s", rel, m.Build, m.Commit, err, build, headSHA)
			}
			body = nil
		}
		got[rel] = string(body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the artifact folder (-want +got):\n%s", diff)
	}
}

// exampleWorkflow is the part of an example workflow the tests read.
type exampleWorkflow struct {
	RunName     string            `yaml:"run-name"`
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Defaults    struct {
		Run struct {
			Shell string `yaml:"shell"`
		} `yaml:"run"`
	} `yaml:"defaults"`
	Jobs map[string]workflowJob `yaml:"jobs"`
}

type workflowJob struct {
	Needs       any            `yaml:"needs"` // a job's name or a list of them
	Permissions any            `yaml:"permissions"`
	Steps       []workflowStep `yaml:"steps"`
}

type workflowStep struct {
	Name  string            `yaml:"name"`
	Uses  string            `yaml:"uses"`
	If    string            `yaml:"if"`
	Run   string            `yaml:"run"`
	Shell string            `yaml:"shell"`
	With  map[string]any    `yaml:"with"`
	Env   map[string]string `yaml:"env"`
}

// mentionsSecrets says whether the step reads the secrets context.
func (s workflowStep) mentionsSecrets() bool {
	text := s.If + s.Run + fmt.Sprint(s.With)
	for _, v := range s.Env {
		text += v
	}
	return strings.Contains(text, "secrets.")
}

// readWorkflow reads an example workflow.
func readWorkflow(t *testing.T, file string) (exampleWorkflow, []byte) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(examplesDir, file))
	if err != nil {
		t.Fatal(err)
	}
	var w exampleWorkflow
	if err := yaml.Unmarshal(src, &w); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return w, src
}

// checkScripts fails the test for a run: script with an expression in it:
// GitHub pastes an expression's value into the script before the shell
// reads it, so a PR's title or a dispatch input would run as code. Values
// reach scripts through env.
func checkScripts(t *testing.T, file string, w exampleWorkflow) {
	t.Helper()
	for name, job := range w.Jobs {
		for i, step := range job.Steps {
			if strings.Contains(step.Run, "${{") {
				t.Errorf("%s: job %s, step %d (%s) puts an expression into its script: pass it through env", file, name, i, step.Name)
			}
		}
	}
}

// checkRefbotStep checks the inputs a step gives refbot's action: declared
// ones, its required ones among them.
func checkRefbotStep(t *testing.T, a actionFile, step workflowStep) {
	t.Helper()
	for name := range step.With {
		if _, ok := a.Inputs[name]; !ok {
			t.Errorf("the refbot step gives input %s, which action.yml does not declare", name)
		}
	}
	for name, in := range a.Inputs {
		if _, ok := step.With[name]; in.Required && !ok {
			t.Errorf("the refbot step leaves out required input %s", name)
		}
	}
}

// TestExampleWorkflows reads the example workflows: valid YAML, no
// expression inside a script, run on pull requests, using this action with
// inputs it declares (its required ones among them) in the mode each
// example is for, and the fork's example without a secret. The docs
// workflow is checked as WEBSITE needs it (checkDocsWorkflow), and every
// example workflow is read by one of these.
func TestExampleWorkflows(t *testing.T) {
	a := readAction(t)
	tests := []struct {
		file    string
		mode    string
		secrets bool
	}{
		{"github-actions-same-repo.yaml", "s3", true},
		{"github-actions-fork.yaml", "artifact", false},
	}
	checked := map[string]bool{docsWorkflowFile: true}
	for _, tc := range tests {
		checked[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			w, src := readWorkflow(t, tc.file)
			checkScripts(t, tc.file, w)
			if _, ok := w.On["pull_request"]; !ok {
				t.Errorf("%s does not run on pull_request: on = %v", tc.file, w.On)
			}
			if _, ok := w.On["pull_request_target"]; ok {
				t.Errorf("%s runs a PR's code with the repository's secrets (pull_request_target)", tc.file)
			}
			if got := strings.Contains(string(src), "secrets."); got != tc.secrets {
				t.Errorf("%s uses secrets: %v, want %v", tc.file, got, tc.secrets)
			}
			uses := 0
			for _, job := range w.Jobs {
				for _, step := range job.Steps {
					if !strings.HasPrefix(step.Uses, "refbot/refbot@") {
						continue
					}
					uses++
					if step.If != "${{ !cancelled() }}" {
						t.Errorf("the refbot step runs if %q: a failing build's outputs would be lost", step.If)
					}
					checkRefbotStep(t, a, step)
					if mode := fmt.Sprint(step.With["mode"]); mode != tc.mode {
						t.Errorf("the refbot step's mode is %s, want %s", mode, tc.mode)
					}
					if kind, ok := step.With["kind"]; ok && kind != kindOutputs {
						t.Errorf("the refbot step's kind is %v, want test outputs", kind)
					}
					if tc.secrets {
						for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
							if !strings.Contains(step.Env[k], "secrets.") {
								t.Errorf("the refbot step's %s = %q, want a secret", k, step.Env[k])
							}
						}
					}
				}
			}
			if uses != 1 {
				t.Errorf("%s uses refbot's action %d times, want 1", tc.file, uses)
			}
		})
	}
	t.Run(docsWorkflowFile, func(t *testing.T) { checkDocsWorkflow(t, a) })

	files, err := filepath.Glob(filepath.Join(examplesDir, "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := filepath.Base(f); !checked[name] && name != "travis.yml" {
			t.Errorf("examples/%s is checked by no test", name)
		}
	}
}

// The docs workflow for WEBSITE and its run-name: refbot finds a run it
// dispatched by the request marker in its display title after a crash
// (bot/workflow's FindDocsBuild).
const (
	docsWorkflowFile = "docs.yaml"
	docsRunName      = "refbot WEBSITE #${{ inputs.pr }} (${{ inputs.request }})"
)

// dispatchInput is an input of a workflow_dispatch trigger.
type dispatchInput struct {
	Description string `yaml:"description"`
	Required    bool   `yaml:"required"`
	Type        string `yaml:"type"`
}

// checkDocsWorkflow checks the docs workflow against what refbot asks of it
// (docs/design.md, "WEBSITE"): dispatched with the inputs pr, sha and
// request and named with the request's marker; a job without secrets that
// checks out the PR's head, refuses a head other than sha (the check runs
// for real), builds the site and hands it on as an artifact; and a job that
// holds the S3 credentials, runs none of the PR's code, and uploads that
// site with this action's kind website for the PR and head of the inputs.
func checkDocsWorkflow(t *testing.T, a actionFile) {
	w, src := readWorkflow(t, docsWorkflowFile)
	checkScripts(t, docsWorkflowFile, w)
	var trigger struct {
		On struct {
			WorkflowDispatch struct {
				Inputs map[string]dispatchInput `yaml:"inputs"`
			} `yaml:"workflow_dispatch"`
		} `yaml:"on"`
	}
	if err := yaml.Unmarshal(src, &trigger); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(w.On)); !slices.Equal(got, []string{"workflow_dispatch"}) {
		t.Errorf("the docs workflow runs on %v, want workflow_dispatch only", got)
	}
	inputs := trigger.On.WorkflowDispatch.Inputs
	for name, in := range inputs {
		if in.Description == "" {
			t.Errorf("input %s has no description", name)
		}
		in.Description = ""
		inputs[name] = in
	}
	wantInputs := map[string]dispatchInput{
		"pr": {Required: true, Type: "string"}, "sha": {Required: true, Type: "string"}, "request": {Required: true, Type: "string"},
	}
	if diff := cmp.Diff(wantInputs, inputs); diff != "" {
		t.Errorf("the workflow_dispatch inputs (-want +got):\n%s", diff)
	}
	if w.RunName != docsRunName {
		t.Errorf("run-name is %q, want %q: refbot finds the run by the marker in it", w.RunName, docsRunName)
	}
	if diff := cmp.Diff(map[string]string{"contents": "read"}, w.Permissions); diff != "" {
		t.Errorf("the workflow's permissions (-want +got):\n%s", diff)
	}
	if w.Defaults.Run.Shell != "bash" {
		t.Errorf("the scripts' default shell is %q, want bash: they use [[ ]]", w.Defaults.Run.Shell)
	}

	// The job that runs the PR's code (it checks it out) and the one that
	// uploads the site.
	var buildJob, uploadJob string
	refbotSteps := 0
	for name, job := range w.Jobs {
		if job.Permissions != nil {
			t.Errorf("job %s sets permissions of its own: %v", name, job.Permissions)
		}
		for _, step := range job.Steps {
			switch {
			case strings.HasPrefix(step.Uses, "actions/checkout@"):
				if buildJob != "" && buildJob != name {
					t.Errorf("jobs %s and %s both check out code", buildJob, name)
				}
				buildJob = name
			case strings.HasPrefix(step.Uses, "refbot/refbot@"):
				uploadJob = name
				refbotSteps++
			}
		}
	}
	if buildJob == "" || uploadJob == "" || buildJob == uploadJob || refbotSteps != 1 {
		t.Fatalf("the docs build is in job %q, the upload in job %q (%d refbot steps): want two jobs, one refbot step", buildJob, uploadJob, refbotSteps)
	}

	build := w.Jobs[buildJob].Steps
	checkout := slices.IndexFunc(build, func(s workflowStep) bool { return strings.HasPrefix(s.Uses, "actions/checkout@") })
	wantCheckout := map[string]any{"ref": "refs/pull/${{ inputs.pr }}/head", "persist-credentials": false}
	if diff := cmp.Diff(wantCheckout, build[checkout].With); diff != "" {
		t.Errorf("the checkout of the PR's head (-want +got):\n%s", diff)
	}
	if checkout+1 == len(build) || !strings.Contains(build[checkout+1].Run, "git rev-parse HEAD") ||
		!slices.Contains(slices.Collect(maps.Values(build[checkout+1].Env)), "${{ inputs.sha }}") {
		t.Fatalf("the step after the checkout does not compare HEAD with the input sha (through env)")
	}
	for i, step := range build {
		if step.mentionsSecrets() {
			t.Errorf("job %s, which runs the PR's code, reads a secret in step %d (%s)", buildJob, i, step.Name)
		}
		if i < checkout && step.Uses != "" {
			t.Errorf("job %s runs %s before the checkout: only checks of the inputs go there", buildJob, step.Uses)
		}
	}
	artifact := slices.IndexFunc(build, func(s workflowStep) bool { return strings.HasPrefix(s.Uses, "actions/upload-artifact@") })
	if artifact < 0 {
		t.Fatalf("job %s does not hand on the site with actions/upload-artifact", buildJob)
	}
	if p, hidden := build[artifact].With["path"], build[artifact].With["include-hidden-files"]; p != "docs/_build/html" || hidden != true {
		t.Errorf("job %s hands on %v (include-hidden-files %v), want the whole of docs/_build/html", buildJob, p, hidden)
	}

	upload := w.Jobs[uploadJob]
	if needs := fmt.Sprint(upload.Needs); needs != buildJob && needs != "["+buildJob+"]" {
		t.Errorf("job %s needs %v, want %s: it uploads the site that job built, and only when it passed", uploadJob, upload.Needs, buildJob)
	}
	var download, refbot workflowStep
	for _, step := range upload.Steps {
		switch {
		case step.Run != "" || step.Uses == "" || strings.HasPrefix(step.Uses, "actions/checkout@"):
			t.Errorf("job %s, which holds the S3 credentials, runs %q: it must run none of the PR's code", uploadJob, step.Run+step.Uses)
		case strings.HasPrefix(step.Uses, "actions/download-artifact@"):
			download = step
		case strings.HasPrefix(step.Uses, "refbot/refbot@"):
			refbot = step
		}
	}
	if download.With["name"] != build[artifact].With["name"] || download.With["path"] != refbot.With["path"] {
		t.Errorf("job %s downloads artifact %v into %v and uploads %v; job %s made artifact %v",
			uploadJob, download.With["name"], download.With["path"], refbot.With["path"], buildJob, build[artifact].With["name"])
	}
	checkRefbotStep(t, a, refbot)
	if refbot.With["kind"] != kindWebsite || refbot.With["mode"] != "s3" || refbot.If != "" {
		t.Errorf("the refbot step has kind %v, mode %v, if %q; want kind website, mode s3, and no condition",
			refbot.With["kind"], refbot.With["mode"], refbot.If)
	}
	wantEnv := map[string]string{
		websitePREnv: "${{ inputs.pr }}", websiteSHAEnv: "${{ inputs.sha }}",
		"AWS_ACCESS_KEY_ID": "${{ secrets.REFBOT_AWS_ACCESS_KEY_ID }}", "AWS_SECRET_ACCESS_KEY": "${{ secrets.REFBOT_AWS_SECRET_ACCESS_KEY }}",
	}
	if diff := cmp.Diff(wantEnv, refbot.Env); diff != "" {
		t.Errorf("the refbot step's env (-want +got):\n%s", diff)
	}

	// The checks of the request and of the head, run for real on a
	// checkout whose HEAD is the PR's head, after an older one.
	repo := t.TempDir()
	testenv.Git(t, repo, "init", "--quiet")
	testenv.Git(t, repo, "commit", "--quiet", "--allow-empty", "-m", "docs: first draft")
	old := testenv.Git(t, repo, "rev-parse", "HEAD")
	testenv.Git(t, repo, "commit", "--quiet", "--allow-empty", "-m", "docs: second draft")
	head := testenv.Git(t, repo, "rev-parse", "HEAD")
	dispatched := func(pr, sha string) map[string]string {
		return map[string]string{"pr": pr, "sha": sha, "request": "refbot-website-7"}
	}
	for _, tc := range []struct {
		name   string
		inputs map[string]string
		fails  string // the step (of the request's checks, or the head's) that fails; "" none
	}{
		{"the head asked for", dispatched("12", head), ""},
		{"a head pushed since", dispatched("12", old), "head"},
		{"a PR that is a ref", dispatched("12/head:refs/heads/main", head), "request"},
		{"a short sha", dispatched("12", head[:12]), "request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failed := ""
			for i, step := range build[:checkout+2] {
				if i == checkout {
					continue
				}
				out, err := runWorkflowStep(t, step, w.Defaults.Run.Shell, tc.inputs, repo)
				if err != nil {
					failed = map[bool]string{true: "head", false: "request"}[i > checkout]
					if !strings.Contains(out, "::error title=refbot::") {
						t.Errorf("step %d (%s) failed without an error annotation: %s", i, step.Name, out)
					}
					break
				}
			}
			if failed != tc.fails {
				t.Errorf("the failing check: %q, want %q", failed, tc.fails)
			}
		})
	}
}

// runWorkflowStep runs a run: step as GitHub Actions would, its env
// evaluated with the dispatch's inputs, in dir, and returns its output.
func runWorkflowStep(t *testing.T, step workflowStep, defaultShell string, inputs map[string]string, dir string) (string, error) {
	t.Helper()
	shell := step.Shell
	if shell == "" {
		shell = defaultShell
	}
	if shell != "bash" {
		t.Fatalf("step %s: shell %q is not run by this test", step.Name, shell)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", writeFile(t, "step.sh", step.Run))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GITHUB_ACTIONS=true"}
	for k, v := range step.Env {
		cmd.Env = append(cmd.Env, k+"="+evaluate(t, v, inputs, nil))
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// travisPhases are the phases of a Travis job that the test runs, in
// their order.
type travisPhases struct {
	BeforeInstall []string `yaml:"before_install"`
	Install       []string `yaml:"install"`
	BeforeScript  []string `yaml:"before_script"`
	Script        []string `yaml:"script"`
}

// over returns p with the phases it does not set taken from top: a job of
// jobs.include inherits the file's top-level phases.
func (p travisPhases) over(top travisPhases) travisPhases {
	or := func(own, inherited []string) []string {
		if own == nil {
			return inherited
		}
		return own
	}
	return travisPhases{
		BeforeInstall: or(p.BeforeInstall, top.BeforeInstall), Install: or(p.Install, top.Install),
		BeforeScript: or(p.BeforeScript, top.BeforeScript), Script: or(p.Script, top.Script),
	}
}

type travisStage struct {
	Name string `yaml:"name"`
	If   string `yaml:"if"`
}

// travisFile is the part of a .travis.yml the test runs.
type travisFile struct {
	Env struct {
		Global []string `yaml:"global"`
	} `yaml:"env"`
	Stages []travisStage `yaml:"stages"`
	Phases travisPhases  `yaml:",inline"`
	Jobs   struct {
		Include []travisJob `yaml:"include"`
	} `yaml:"jobs"`
}

// travisJob is a job of a build: one of jobs.include, or the one the
// file's top-level keys make.
type travisJob struct {
	Stage  string       `yaml:"stage"`
	Name   string       `yaml:"name"`
	Phases travisPhases `yaml:",inline"`
}

// jobs returns the jobs Travis runs for a build whose configuration has
// env (env.global, what the build request added to it, and the
// repository's settings): the top-level keys make a job of the first
// stage ("test" without stages) and each of jobs.include a job of its
// stage, inheriting the phases it does not set; a stage whose condition is
// false runs none.
func (f travisFile) jobs(t *testing.T, env []string) []travisJob {
	t.Helper()
	stages := f.Stages
	if len(stages) == 0 {
		stages = []travisStage{{Name: "test"}}
	}
	runs := map[string]bool{}
	for _, s := range stages {
		runs[s.Name] = travisCondition(t, s.If, env)
	}
	all := []travisJob{{Stage: stages[0].Name, Name: "top level", Phases: f.Phases}}
	for i, j := range f.Jobs.Include {
		if _, ok := runs[j.Stage]; !ok {
			t.Fatalf("jobs.include[%d] is in stage %q, which stages does not list (this test reads only listed stages)", i, j.Stage)
		}
		j.Phases = j.Phases.over(f.Phases)
		all = append(all, j)
	}
	var jobs []travisJob
	for _, j := range all {
		if runs[j.Stage] {
			jobs = append(jobs, j)
		}
	}
	return jobs
}

var travisEnvCondition = regexp.MustCompile(`^env\(([A-Za-z_][A-Za-z0-9_]*)\) IS (present|blank)$`)

// travisCondition evaluates a condition as Travis would for a build whose
// configuration has env, for the forms the example uses; any other fails
// the test, so that a new form gets a test first.
func travisCondition(t *testing.T, cond string, env []string) bool {
	t.Helper()
	if cond == "" {
		return true
	}
	m := travisEnvCondition.FindStringSubmatch(cond)
	if m == nil {
		t.Fatalf("condition %q: not evaluated by this test", cond)
	}
	value := ""
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == m[1] {
			value = v
		}
	}
	return (value != "") == (m[2] == "present")
}

// travisScript is a job's build script as Travis runs it, in one bash
// session: env exported, then before_install, install and before_script
// (a failure errors the job: exit 2) and script (every command runs; a
// failure fails the job: exit 1).
func travisScript(job travisJob, env []string) string {
	var b strings.Builder
	b.WriteString("status=0\n")
	for _, kv := range env {
		fmt.Fprintf(&b, "export %s\n", kv)
	}
	for _, c := range slices.Concat(job.Phases.BeforeInstall, job.Phases.Install, job.Phases.BeforeScript) {
		fmt.Fprintf(&b, "eval %s || exit 2\n", shellQuote(c))
	}
	for _, c := range job.Phases.Script {
		fmt.Fprintf(&b, "eval %s || status=1\n", shellQuote(c))
	}
	b.WriteString("exit $status\n")
	return b.String()
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// travisProject makes the project's repository as GitHub serves it to a
// Travis build: main, and PR 12's head at refs/pull/12/head, which has
// moved from old to head. It returns its URL and the commits (base is
// main's).
func travisProject(t *testing.T) (url, base, old, head string) {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "project.git")
	testenv.Git(t, "", "init", "--quiet", "--bare", bare)
	work := t.TempDir()
	testenv.Git(t, work, "init", "--quiet")
	commit := func(msg string) string {
		testenv.Git(t, work, "commit", "--quiet", "--allow-empty", "-m", msg)
		return testenv.Git(t, work, "rev-parse", "HEAD")
	}
	base, old, head = commit("the project"), commit("docs: first draft"), commit("docs: second draft")
	testenv.Git(t, work, "push", "--quiet", bare, base+":refs/heads/main", head+":refs/pull/12/head")
	return "file://" + bare, base, old, head
}

// TestTravisExample runs the Travis example as Travis would: the jobs of
// the stages whose conditions hold for the build, each in a fresh clone of
// the project's main, as one bash session (travisScript) with `make` a
// stand-in (`make test` writes the outputs from the reference data and
// fails, `make docs` writes a site that names the commit it was built
// from), the release served from loopback, the data repository a local
// one, against MinIO. A PR build runs the tests and uploads their outputs
// under the PR's head; a fork's PR build (no credentials) skips the
// upload. A docs build that refbot asked for runs the docs job only, which
// uploads the site of the PR head refbot named, and refuses (errors) when
// the PR's head has moved since.
func TestTravisExample(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(examplesDir, "travis.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var tf travisFile
	if err := yaml.Unmarshal(src, &tf); err != nil {
		t.Fatalf("travis.yml: %v", err)
	}
	mc := testenv.MinIO(t)
	bucket := mc.BucketName(t)
	ctx := context.Background()
	outputs := bucketStore(ctx, t, mc, bucket, "refbot")
	sites := kindStore(ctx, t, mc, bucket, "refbot-website", s3cache.KindWebsite)
	// Travis's machines are linux/amd64; this machine's build stands in.
	rel, _ := serveRelease(t, buildRefbot(t), fmt.Sprintf("refbot_%s_linux_amd64.tar.gz", releaseVersion))
	releases := strings.TrimSuffix(rel.url, "/v{version}/refbot_{version}_{os}_{arch}.tar.gz")
	project, base, prOld, prHead := travisProject(t)
	dataRepo := filepath.Join(t.TempDir(), "data.git")
	testenv.Git(t, "", "init", "--quiet", "--bare", dataRepo)
	data := testenv.Tree(t, map[string]string{"data/ref.json": `{"ref": true}`})
	testenv.Git(t, data, "init", "--quiet")
	testenv.Git(t, data, "add", "-A")
	testenv.Git(t, data, "commit", "--quiet", "-m", "reference data")
	testenv.Git(t, data, "push", "--quiet", dataRepo, "HEAD:refs/heads/master")

	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "make"), []byte(`#!/bin/sh
case "$1" in
test)
	mkdir -p test-output && cp reference-data/data/ref.json test-output/ && echo '{}' >test-output/result.json
	exit 1 ;;
docs)
	mkdir -p docs/_build/html && git rev-parse HEAD >docs/_build/html/index.html ;;
*)
	echo "make: no rule for $1" >&2
	exit 2 ;;
esac
`), 0o755); err != nil {
		t.Fatal(err)
	}
	// The test's release server, bucket and data repository, in place of
	// the example's.
	overrides := []string{"REFBOT_RELEASES=" + shellQuote(releases), "REFBOT_VERSION=" + releaseVersion,
		"REFBOT_S3_BUCKET=" + bucket, "DATA_REPO=" + shellQuote("file://"+dataRepo)}
	credentials := []string{"AWS_ACCESS_KEY_ID=" + mc.AccessKey, "AWS_SECRET_ACCESS_KEY=" + mc.SecretKey}
	// A docs build: Travis's variables for a build request on main, and what
	// refbot's request added to env.global.
	docsBuild := func(id string) []string {
		return []string{"TRAVIS_BUILD_ID=" + id, "TRAVIS_PULL_REQUEST=false", "TRAVIS_EVENT_TYPE=api", "TRAVIS_COMMIT=" + base}
	}
	docsRequest := func(sha string) []string {
		return []string{websitePREnv + "=12", websiteSHAEnv + "=" + sha, "REFBOT_WEBSITE_REQUEST=refbot-website-7"}
	}

	tests := []struct {
		name     string
		travis   []string // what Travis sets
		request  []string // what the build request added to env.global
		settings []string // the repository's settings
		build    string
		stages   []string // the stages whose jobs run
		exit     int      // the build's: 0 passed, 1 failed, 2 errored
		says     string
		outputs  bool   // the test outputs are in S3, for PR 12 at headSHA
		site     string // the site is in S3, for PR 12 at this head; "": none
	}{
		{
			name:     "PR build",
			travis:   []string{"TRAVIS_BUILD_ID=9101", "TRAVIS_PULL_REQUEST=12", "TRAVIS_PULL_REQUEST_SHA=" + headSHA, "TRAVIS_COMMIT=" + mergeSHA, "TRAVIS_EVENT_TYPE=pull_request"},
			settings: credentials,
			build:    "9101",
			stages:   []string{"test"},
			exit:     1, // its tests fail
			says:     "uploaded build 9101 for PR #12",
			outputs:  true,
		},
		{
			name:   "fork PR build",
			travis: []string{"TRAVIS_BUILD_ID=9102", "TRAVIS_PULL_REQUEST=13", "TRAVIS_PULL_REQUEST_SHA=" + headSHA, "TRAVIS_COMMIT=" + mergeSHA, "TRAVIS_EVENT_TYPE=pull_request"},
			build:  "9102",
			stages: []string{"test"},
			exit:   1,
			says:   "refbot: no S3 credentials (a pull request from a fork?): outputs not uploaded",
		},
		{
			name:     "docs build",
			travis:   docsBuild("9103"),
			request:  docsRequest(prHead),
			settings: credentials,
			build:    "9103",
			stages:   []string{"docs"},
			says:     "uploaded website build 9103 for PR #12",
			site:     prHead,
		},
		{
			name:     "docs build of a head pushed over",
			travis:   docsBuild("9104"),
			request:  docsRequest(prOld),
			settings: credentials,
			build:    "9104",
			stages:   []string{"docs"},
			exit:     2,
			says:     "head is now " + prHead + ", not " + prOld + " that WEBSITE was asked for",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jobs := tf.jobs(t, slices.Concat(tf.Env.Global, tc.request, tc.settings))
			var stages []string
			for _, j := range jobs {
				stages = append(stages, j.Stage)
			}
			if diff := cmp.Diff(tc.stages, stages); diff != "" {
				t.Fatalf("the stages whose jobs run (-want +got):\n%s", diff)
			}
			exit := 0
			var log strings.Builder
			for _, job := range jobs {
				dir := filepath.Join(t.TempDir(), "octo-repo")
				testenv.Git(t, "", "clone", "--quiet", "--branch", "main", project, dir)
				script := writeFile(t, "travis.sh", travisScript(job, slices.Concat(tf.Env.Global, tc.request, overrides)))
				cmd := exec.Command("bash", script)
				cmd.Dir = dir
				cmd.Env = slices.Concat([]string{
					"PATH=" + bin + string(filepath.ListSeparator) + os.Getenv("PATH"), "HOME=" + t.TempDir(),
					"CI=true", "TRAVIS=true", "TRAVIS_REPO_SLUG=octo-org/octo-repo", "TRAVIS_BRANCH=main",
					"REFBOT_S3_ENDPOINT=" + mc.Endpoint, "REFBOT_S3_PATH_STYLE=true", "AWS_EC2_METADATA_DISABLED=true",
					"GIT_CONFIG_NOSYSTEM=1",
				}, tc.travis, tc.settings)
				out, err := cmd.CombinedOutput()
				fmt.Fprintf(&log, "job %q:\n%s", job.Name, out)
				var exitErr *exec.ExitError
				switch {
				case errors.As(err, &exitErr):
					exit = max(exit, exitErr.ExitCode())
				case err != nil:
					t.Fatal(err)
				}
			}
			if exit != tc.exit {
				t.Errorf("the build ended with exit %d, want %d:\n%s", exit, tc.exit, log.String())
			}
			if !strings.Contains(log.String(), tc.says) || !strings.Contains(log.String(), "refbot "+releaseVersion+" (") {
				t.Errorf("the build's log does not say %q and refbot's version:\n%s", tc.says, log.String())
			}

			// The PR and its head, not Travis's merge commit.
			if _, err := outputs.Open(ctx, tc.build, s3cache.Want{Source: s3cache.Source{PR: 12}, Commit: headSHA}); tc.outputs && err != nil {
				t.Errorf("the test outputs: %v", err)
			} else if !tc.outputs && !errors.Is(err, s3cache.ErrNotFound) {
				t.Errorf("test outputs of build %s in S3 (Open: %v), want none", tc.build, err)
			}
			if tc.site == "" {
				if _, err := sites.Open(ctx, tc.build, s3cache.Want{}); !errors.Is(err, s3cache.ErrNotFound) {
					t.Errorf("a site of build %s in S3 (Open: %v), want none", tc.build, err)
				}
				return
			}
			// The PR and the head refbot named, not the branch the build ran
			// on; built from that head.
			b, err := sites.Open(ctx, tc.build, s3cache.Want{Source: s3cache.Source{PR: 12}, Commit: tc.site})
			if err != nil {
				t.Fatalf("the site: %v", err)
			}
			m := b.Manifests[""]
			if m.Provider != providerTravis || m.Repo != "octo-org/octo-repo" {
				t.Errorf("the site's manifest names provider %q, repo %q", m.Provider, m.Repo)
			}
			dir := t.TempDir()
			if _, err := sites.Download(ctx, m, dir, s3cache.DownloadOptions{}); err != nil {
				t.Fatal(err)
			}
			if index, err := os.ReadFile(filepath.Join(dir, "index.html")); err != nil || string(index) != tc.site+"\n" {
				t.Errorf("the site's index.html = %q (%v), want the commit it was built from, %s", index, err, tc.site)
			}
		})
	}
}

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
// not match its checksum is never run.
func TestAction(t *testing.T) {
	a := readAction(t)
	mc := testenv.MinIO(t)
	bucket := mc.BucketName(t)
	ctx := context.Background()
	store := bucketStore(ctx, t, mc, bucket, "ci")
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

	type inS3 struct {
		Source  s3cache.Source
		Commit  string
		Attempt int
		Repo    string
	}
	tests := []struct {
		name     string
		with     map[string]string
		runner   map[string]string
		event    map[string]any
		build    string
		s3       *inS3             // the build in S3; nil: none
		artifact map[string]string // the artifact folder's files; nil: none
		outputs  map[string]string
		fails    string // the step fails, its stderr mentioning this
		unrun    bool   // and it fails before refbot is installed or run
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

			if tc.s3 == nil {
				if _, err := store.Open(ctx, tc.build, s3cache.Want{}); !errors.Is(err, s3cache.ErrNotFound) {
					t.Errorf("build %s in S3 (Open: %v), want none", tc.build, err)
				}
				return
			}
			b, err := store.Open(ctx, tc.build, s3cache.Want{Source: tc.s3.Source, Commit: tc.s3.Commit})
			if err != nil {
				t.Fatal(err)
			}
			m := b.Manifests[""]
			got := inS3{Source: b.Source, Commit: m.Commit, Attempt: m.Attempt, Repo: m.Repo}
			if diff := cmp.Diff(*tc.s3, got); diff != "" {
				t.Errorf("build %s in S3 (-want +got):\n%s", tc.build, diff)
			}
			if m.Provider != providerActions || len(m.Files) != 2 {
				t.Errorf("the manifest names provider %q and %d files", m.Provider, len(m.Files))
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

// exampleWorkflow is the part of an example workflow the test reads.
type exampleWorkflow struct {
	On   map[string]any `yaml:"on"`
	Jobs map[string]struct {
		Steps []struct {
			Uses string            `yaml:"uses"`
			If   string            `yaml:"if"`
			With map[string]any    `yaml:"with"`
			Env  map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestExampleWorkflows reads the example workflows: valid YAML, run on
// pull requests, using this action with inputs it declares (its required
// ones among them) in the mode each example is for, and the fork's
// example without a secret.
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
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(examplesDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var w exampleWorkflow
			if err := yaml.Unmarshal(src, &w); err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
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
					if mode := fmt.Sprint(step.With["mode"]); mode != tc.mode {
						t.Errorf("the refbot step's mode is %s, want %s", mode, tc.mode)
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
}

// travisFile is the part of a .travis.yml the test runs.
type travisFile struct {
	Env struct {
		Global []string `yaml:"global"`
	} `yaml:"env"`
	BeforeInstall []string `yaml:"before_install"`
	Script        []string `yaml:"script"`
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// TestTravisExample runs the Travis example as Travis would, in one bash
// session: its global env, before_install (any failure ends the build)
// and script (every command runs; a failure marks the build failed), with
// `make test` a stand-in that writes the outputs and fails, the release
// served from loopback, against MinIO. A PR build uploads its outputs under
// the PR's head; a fork's PR build (no credentials) skips the upload.
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
	store := bucketStore(ctx, t, mc, bucket, "refbot")
	// Travis's machines are linux/amd64; this machine's build stands in.
	rel, _ := serveRelease(t, buildRefbot(t), fmt.Sprintf("refbot_%s_linux_amd64.tar.gz", releaseVersion))
	releases := strings.TrimSuffix(rel.url, "/v{version}/refbot_{version}_{os}_{arch}.tar.gz")

	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "make"), []byte("#!/bin/sh\n"+
		"mkdir -p test-output && echo '{}' >test-output/result.json && exit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	script.WriteString("status=0\n")
	for _, kv := range tf.Env.Global {
		fmt.Fprintf(&script, "export %s\n", kv)
	}
	// The test's release server and bucket, in place of the example's.
	fmt.Fprintf(&script, "export REFBOT_RELEASES=%s REFBOT_VERSION=%s REFBOT_S3_BUCKET=%s\n", shellQuote(releases), releaseVersion, bucket)
	for _, c := range tf.BeforeInstall {
		fmt.Fprintf(&script, "eval %s || exit 1\n", shellQuote(c))
	}
	for _, c := range tf.Script {
		fmt.Fprintf(&script, "eval %s || status=1\n", shellQuote(c))
	}
	script.WriteString("exit $status\n")
	scriptFile := writeFile(t, "travis.sh", script.String())

	tests := []struct {
		name   string
		env    []string
		build  string
		upload bool
		says   string
	}{
		{
			name:   "PR build",
			env:    []string{"TRAVIS_BUILD_ID=9101", "TRAVIS_PULL_REQUEST=12", "TRAVIS_PULL_REQUEST_SHA=" + headSHA, "TRAVIS_COMMIT=" + mergeSHA, "AWS_ACCESS_KEY_ID=" + mc.AccessKey, "AWS_SECRET_ACCESS_KEY=" + mc.SecretKey},
			build:  "9101",
			upload: true,
			says:   "uploaded build 9101 for PR #12",
		},
		{
			name:  "fork PR build",
			env:   []string{"TRAVIS_BUILD_ID=9102", "TRAVIS_PULL_REQUEST=13", "TRAVIS_PULL_REQUEST_SHA=" + headSHA, "TRAVIS_COMMIT=" + mergeSHA},
			build: "9102",
			says:  "refbot: no S3 credentials (a pull request from a fork?): outputs not uploaded",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("bash", scriptFile)
			cmd.Dir = t.TempDir()
			cmd.Env = append([]string{
				"PATH=" + bin + string(filepath.ListSeparator) + os.Getenv("PATH"), "HOME=" + t.TempDir(),
				"CI=true", "TRAVIS=true", "TRAVIS_REPO_SLUG=octo-org/octo-repo", "TRAVIS_BRANCH=main",
				"REFBOT_S3_ENDPOINT=" + mc.Endpoint, "REFBOT_S3_PATH_STYLE=true", "AWS_EC2_METADATA_DISABLED=true",
			}, tc.env...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("the build ended with %v, want the failure of its tests (exit 1):\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.says) || !strings.Contains(string(out), "refbot "+releaseVersion+" (") {
				t.Errorf("the build's log does not say %q and refbot's version:\n%s", tc.says, out)
			}
			if !tc.upload {
				if _, err := store.Open(ctx, tc.build, s3cache.Want{}); !errors.Is(err, s3cache.ErrNotFound) {
					t.Errorf("build %s in S3 (Open: %v), want none", tc.build, err)
				}
				return
			}
			// The PR and its head, not Travis's merge commit.
			if _, err := store.Open(ctx, tc.build, s3cache.Want{Source: s3cache.Source{PR: 12}, Commit: headSHA}); err != nil {
				t.Error(err)
			}
		})
	}
}

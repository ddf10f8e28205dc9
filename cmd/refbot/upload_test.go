package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
)

// asMainEnv, set in a child's environment, makes this test binary run as
// the refbot command, so that a script under test can call `refbot`.
const asMainEnv = "REFBOT_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) != "" {
		main() // exits
	}
	os.Exit(testenv.Run(m))
}

// TestUpload runs `refbot upload` as a project's CI would, against MinIO,
// and reads the build back through s3cache.
func TestUpload(t *testing.T) {
	outsideCI(t)
	mc := testenv.MinIO(t)
	bucket := mc.BucketName(t)
	t.Setenv("AWS_ACCESS_KEY_ID", mc.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", mc.SecretKey)
	t.Setenv("REFBOT_S3_ENDPOINT", mc.Endpoint)
	t.Setenv("REFBOT_S3_PATH_STYLE", "true")
	t.Setenv(configEnv, "")
	ctx := context.Background()
	store := bucketStore(ctx, t, mc, bucket, "ci")
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "plots"), 0o755)
	os.WriteFile(filepath.Join(out, "plots", "a.png"), []byte("\x89PNG..."), 0o644)
	os.WriteFile(filepath.Join(out, "result.json"), []byte(`{"ok":true}`), 0o644)
	sha := strings.Repeat("c", 40)

	code, stdout, stderr := run(t, "upload", "--bucket", bucket, "--prefix", "ci", "--build", "4242", "--source", "17", "--commit", sha, out)
	if code != exitOK {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	if !strings.Contains(stdout, "uploaded build 4242 for PR #17: 2 files") {
		t.Errorf("stdout = %q", stdout)
	}
	b, err := store.Open(ctx, "4242", s3cache.Want{Source: s3cache.Source{PR: 17}, Commit: sha})
	if err != nil {
		t.Fatalf("the uploaded build does not open: %v", err)
	}
	if n := len(b.Manifests[""].Files); n != 2 {
		t.Errorf("manifest lists %d files, want 2", n)
	}

	code, stdout, _ = run(t, "upload", "--bucket", bucket, "--prefix", "ci", "--build", "4243", "--source", "master", "--variant", "linux", "--json", out)
	var res map[string]any
	if code != exitOK || json.Unmarshal([]byte(stdout), &res) != nil || res["variant"] != "linux" || res["files"] != 2.0 {
		t.Errorf("--json: exit %d, output %q", code, stdout)
	}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no build", []string{"upload", "--bucket", bucket, "--source", "1", out}, exitUsage, "no --build: give it, or run in GitHub Actions or Travis"},
		{"no source", []string{"upload", "--bucket", bucket, "--build", "1", out}, exitUsage, "no --source"},
		{"no folder", []string{"upload", "--bucket", bucket, "--build", "1", "--source", "1"}, exitUsage, "accepts 1 arg"},
		{"bad source", []string{"upload", "--bucket", bucket, "--build", "1", "--source", "a b", out}, exitUsage, "--source"},
		{"no bucket", []string{"upload", "--build", "1", "--source", "1", out}, exitUsage, "no S3 bucket"},
		{"missing folder", []string{"upload", "--bucket", bucket, "--build", "1", "--source", "1", filepath.Join(out, "nope")}, exitFailure, "no such file"},
		{"unsafe build id", []string{"upload", "--bucket", bucket, "--build", "../x", "--source", "1", out}, exitFailure, "build id"},
		{"source false", []string{"upload", "--bucket", bucket, "--build", "1", "--source", "false", out}, exitUsage,
			`push builds; the source of a push build is its branch: --source "$TRAVIS_BRANCH"`},
		{"source refs/heads", []string{"upload", "--bucket", bucket, "--build", "1", "--source", "refs/heads/main", out}, exitUsage,
			"give the plain branch name: --source main"},
		{"source refs/pull", []string{"upload", "--bucket", bucket, "--build", "1", "--source", "refs/pull/12/merge", out}, exitUsage,
			"give the PR number: --source 12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, tc.code, tc.want)
			}
		})
	}
	root, err := s3cache.New(ctx, s3cache.Options{Bucket: bucket, Endpoint: mc.Endpoint, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Open(ctx, "1", s3cache.Want{}); !errors.Is(err, s3cache.ErrNotFound) {
		t.Errorf("a refused upload left build 1 in S3 (Open: %v)", err)
	}
}

// outsideCI clears the variables by which `refbot upload` knows it runs in
// GitHub Actions or on Travis, as this test's own CI may set them.
func outsideCI(t *testing.T) {
	t.Helper()
	t.Setenv("GITHUB_ACTIONS", "")
	t.Setenv("TRAVIS", "")
}

// setEnv sets env for the rest of the test.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// withoutAWSCredentials leaves the AWS SDK's default chain nothing to find:
// no AWS_* variables, empty shared files, and no instance metadata service
// (so nothing is tried off this machine).
func withoutAWSCredentials(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", writeFile(t, "config", ""))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", writeFile(t, "credentials", ""))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// TestUploadWithoutCredentials is the CI of a pull request from a fork:
// no secrets, so no S3 credentials. upload says so, and why, before
// uploading anything.
func TestUploadWithoutCredentials(t *testing.T) {
	outsideCI(t)
	mc := testenv.MinIO(t)
	bucket := mc.BucketName(t)
	ctx := context.Background()
	store := bucketStore(ctx, t, mc, bucket, "")
	withoutAWSCredentials(t)
	t.Setenv("REFBOT_S3_ENDPOINT", mc.Endpoint)
	t.Setenv("REFBOT_S3_PATH_STYLE", "true")
	t.Setenv(configEnv, "")
	out := testenv.Tree(t, map[string]string{"result.json": "{}"})

	code, _, stderr := run(t, "upload", "--bucket", bucket, "--build", "8", "--source", "12", "--commit", strings.Repeat("c", 40), out)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	for _, want := range []string{"no S3 credentials", "Nothing was uploaded", "pull request from\na fork", "no secrets",
		"refbot upload --artifact OUT DIR", "mode: artifact", "AWS_ACCESS_KEY_ID"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	if _, err := store.Open(ctx, "8", s3cache.Want{Source: s3cache.Source{PR: 12}}); !errors.Is(err, s3cache.ErrNotFound) {
		t.Errorf("build 8 in S3 after the refusal (Open: %v)", err)
	}
}

// readmeRecipe returns the README's CI recipe: the first sh block that runs
// `refbot upload`.
func readmeRecipe(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for line := range strings.Lines(string(readme)) {
		switch {
		case !in && line == "```sh\n":
			in, block = true, nil
		case in && line == "```\n":
			if recipe := strings.Join(block, ""); strings.Contains(recipe, "refbot upload") {
				return recipe
			}
			in = false
		case in:
			block = append(block, line)
		}
	}
	t.Fatal("README.md has no ```sh block with `refbot upload`")
	return ""
}

// TestREADMEUploadRecipe runs the README's CI recipe with bash, as written,
// in a PR build's and a push build's Travis environment, against MinIO,
// and checks what it put in S3.
func TestREADMEUploadRecipe(t *testing.T) {
	recipe := readmeRecipe(t)
	m := regexp.MustCompile(`--bucket (\S+)`).FindStringSubmatch(recipe)
	if m == nil {
		t.Fatalf("the recipe names no --bucket:\n%s", recipe)
	}
	bucket := m[1]
	mc := testenv.MinIO(t)
	ctx := context.Background()
	store := bucketStore(ctx, t, mc, bucket, "")
	// `refbot` on the recipe's PATH is this test binary, running main.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "refbot")); err != nil {
		t.Fatal(err)
	}
	// What a CI machine has: the project's checkout with the tests' outputs,
	// the S3 credentials and endpoint among its secret settings, and
	// nothing else of this test's environment.
	work := t.TempDir()
	if err := testenv.WriteFiles(filepath.Join(work, "test-output"), map[string]string{"plots/a.png": "\x89PNG...", "result.json": "{}"}); err != nil {
		t.Fatal(err)
	}
	ciEnv := []string{
		"PATH=" + bin + string(filepath.ListSeparator) + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		asMainEnv + "=1",
		"AWS_ACCESS_KEY_ID=" + mc.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + mc.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"REFBOT_S3_ENDPOINT=" + mc.Endpoint,
		"REFBOT_S3_PATH_STYLE=true",
		"TRAVIS=true",
		"TRAVIS_REPO_SLUG=octo-org/octo-repo",
	}
	var (
		head   = strings.Repeat("a", 40) // the PR's head
		merged = strings.Repeat("b", 40) // Travis's merge of it into master
		pushed = strings.Repeat("d", 40)
	)
	tests := []struct {
		name   string
		travis []string
		build  string
		want   s3cache.Source
		commit string
	}{
		{
			name: "PR build",
			travis: []string{"TRAVIS_EVENT_TYPE=pull_request", "TRAVIS_BUILD_ID=9001", "TRAVIS_PULL_REQUEST=12",
				"TRAVIS_PULL_REQUEST_SHA=" + head, "TRAVIS_PULL_REQUEST_BRANCH=feature", "TRAVIS_COMMIT=" + merged, "TRAVIS_BRANCH=master"},
			build: "9001", want: s3cache.Source{PR: 12}, commit: head,
		},
		{
			name: "push build",
			travis: []string{"TRAVIS_EVENT_TYPE=push", "TRAVIS_BUILD_ID=9002", "TRAVIS_PULL_REQUEST=false",
				"TRAVIS_PULL_REQUEST_SHA=", "TRAVIS_PULL_REQUEST_BRANCH=", "TRAVIS_COMMIT=" + pushed, "TRAVIS_BRANCH=master"},
			build: "9002", want: s3cache.Source{Branch: "master"}, commit: pushed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(ctx, "bash", "-eu", "-c", recipe)
			cmd.Dir = work
			cmd.Env = append(append([]string(nil), ciEnv...), tc.travis...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the recipe failed: %v\n%s", err, out)
			}
			b, err := store.Open(ctx, tc.build, s3cache.Want{Source: tc.want})
			if err != nil {
				t.Fatal(err)
			}
			type provenance struct {
				Source s3cache.Source
				Commit string
			}
			want := provenance{tc.want, tc.commit}
			got := provenance{b.Source, b.Manifests[""].Commit}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("build %s in S3 (-want +got):\n%s", tc.build, diff)
			}
		})
	}
}

// bucketStore is the S3 cache of bucket (under prefix) on mc, the bucket
// created.
func bucketStore(ctx context.Context, t *testing.T, mc *testenv.MinIOServer, bucket, prefix string) *s3cache.Store {
	t.Helper()
	store, err := s3cache.New(ctx, s3cache.Options{Bucket: bucket, Prefix: prefix, Endpoint: mc.Endpoint, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	return store
}

// TestUploadFacts runs `refbot upload --artifact` in-process in CI
// environments, with and without flags, and reads which build, source,
// commit and attempt the prepared manifest records, or how the command
// refused.
func TestUploadFacts(t *testing.T) {
	withoutAWSCredentials(t) // an artifact needs none
	outputs := testenv.Tree(t, map[string]string{"plots/a.png": "\x89PNG...", "result.json": "{}"})
	event := prEvent(t, headSHA)
	actionsPR := actionsEnv("pull_request", map[string]string{"GITHUB_EVENT_PATH": event, "GITHUB_SHA": mergeSHA,
		"GITHUB_REF": "refs/pull/12/merge", "GITHUB_REF_NAME": "12/merge"})
	actionsPush := actionsEnv("push", map[string]string{"GITHUB_SHA": pushedSHA, "GITHUB_REF": "refs/heads/main",
		"GITHUB_REF_NAME": "main", "GITHUB_REF_TYPE": "branch"})
	actionsTag := actionsEnv("push", map[string]string{"GITHUB_SHA": pushedSHA, "GITHUB_REF": "refs/tags/v1.0",
		"GITHUB_REF_NAME": "v1.0", "GITHUB_REF_TYPE": "tag"})
	type facts struct {
		Build    string
		Attempt  int
		PR       int
		Branch   string
		Commit   string
		Repo     string
		Provider string
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want facts
		code int    // when not exitOK
		err  string // stderr mentions it
	}{
		{
			name: "actions PR",
			env:  actionsPR,
			want: facts{Build: "7001", Attempt: 2, PR: 12, Commit: headSHA, Repo: "octo-org/octo-repo", Provider: "github-actions"},
		},
		{
			name: "actions push",
			env:  actionsPush,
			want: facts{Build: "7001", Attempt: 2, Branch: "main", Commit: pushedSHA, Repo: "octo-org/octo-repo", Provider: "github-actions"},
		},
		{
			name: "flags win",
			env:  actionsPR,
			args: []string{"--build", "8000", "--attempt", "5", "--source", "12", "--commit", pushedSHA, "--repo", "a/b", "--provider", "x"},
			want: facts{Build: "8000", Attempt: 5, PR: 12, Commit: pushedSHA, Repo: "a/b", Provider: "x"},
		},
		{
			name: "another build has no attempt of this run",
			env:  actionsPR,
			args: []string{"--build", "8000"},
			want: facts{Build: "8000", PR: 12, Commit: headSHA, Repo: "octo-org/octo-repo", Provider: "github-actions"},
		},
		{
			name: "outside CI, flags only",
			env:  map[string]string{},
			args: []string{"--build", "55", "--source", "feature/x"},
			want: facts{Build: "55", Branch: "feature/x"},
		},
		{
			name: "a tag with flags",
			env:  actionsTag,
			args: []string{"--source", "main"},
			want: facts{Build: "7001", Attempt: 2, Branch: "main", Repo: "octo-org/octo-repo", Provider: "github-actions"},
		},
		{
			name: "source disagrees",
			env:  actionsPR,
			args: []string{"--source", "13"},
			code: exitUsage,
			err:  "--source 13 disagrees with GitHub Actions: pull_request.number in $GITHUB_EVENT_PATH says this build is for PR #12",
		},
		{
			name: "branch disagrees",
			env:  travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "false", "TRAVIS_COMMIT": pushedSHA}),
			args: []string{"--source", "master"},
			code: exitUsage,
			err:  "--source master disagrees with Travis: TRAVIS_BRANCH says this build is for branch main",
		},
		{
			name: "the merge commit",
			env:  actionsPR,
			args: []string{"--commit", mergeSHA},
			code: exitUsage,
			err:  "is the merge commit GitHub Actions tested (GITHUB_SHA), not the PR's head " + headSHA,
		},
		{
			name: "a tag",
			env:  actionsTag,
			code: exitUsage,
			err:  `push of tag "v1.0"; refbot keeps the outputs of pull requests and branches only`,
		},
		{
			name: "outside CI, no flags",
			env:  map[string]string{},
			code: exitUsage,
			err:  "no --build: give it, or run in GitHub Actions or Travis",
		},
		{
			name: "a broken CI environment",
			env:  actionsEnv("pull_request", nil),
			code: exitFailure,
			err:  "read the CI's environment: GITHUB_EVENT_PATH is not set",
		},
		{
			name: "a broken CI environment, every flag given",
			env:  actionsEnv("pull_request", nil),
			args: []string{"--build", "7001", "--source", "12"},
			want: facts{Build: "7001", PR: 12},
		},
		{
			name: "travis has no artifacts",
			env:  travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "false", "TRAVIS_COMMIT": pushedSHA}),
			code: exitUsage,
			err:  "--artifact: Travis has no workflow artifacts",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outsideCI(t)
			setEnv(t, tc.env)
			out := filepath.Join(t.TempDir(), "artifact")
			code, stdout, stderr := run(t, append(append([]string{"upload", "--artifact", out}, tc.args...), outputs)...)
			if tc.code != exitOK {
				if code != tc.code || !strings.Contains(stderr, tc.err) {
					t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, tc.code, tc.err)
				}
				if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a refused upload made %s (Stat: %v)", out, err)
				}
				return
			}
			if code != exitOK {
				t.Fatalf("exit %d, stderr: %s", code, stderr)
			}
			if !strings.Contains(stdout, "prepared build "+tc.want.Build) || !strings.Contains(stdout, out) {
				t.Errorf("stdout = %q", stdout)
			}
			var m s3cache.Manifest
			readJSON(t, filepath.Join(out, "MANIFEST.json"), &m)
			got := facts{Build: m.Build, Attempt: m.Attempt, PR: m.PR, Branch: m.Branch, Commit: m.Commit, Repo: m.Repo, Provider: m.Provider}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("the manifest's facts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUploadArtifact prepares a variant's artifact folder and checks what
// it holds: the layout actions/upload-artifact zips and refbot ingests.
func TestUploadArtifact(t *testing.T) {
	outsideCI(t)
	withoutAWSCredentials(t)
	setEnv(t, actionsEnv("pull_request", map[string]string{"GITHUB_EVENT_PATH": prEvent(t, headSHA), "GITHUB_SHA": mergeSHA}))
	outputs := testenv.Tree(t, map[string]string{"plots/a.png": "\x89PNG...", "result.json": "{}"})
	out := t.TempDir() // empty: accepted

	code, stdout, stderr := run(t, "upload", "--artifact", out, "--variant", "py3.12", "--json", outputs)
	if code != exitOK {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json printed %q: %v", stdout, err)
	}
	wantRes := map[string]any{"build": "7001", "attempt": 2.0, "source": "12", "variant": "py3.12", "commit": headSHA,
		"files": 2.0, "bytes": float64(len("\x89PNG...") + len("{}")), "location": out, "kind": "outputs"}
	if diff := cmp.Diff(wantRes, res); diff != "" {
		t.Errorf("--json (-want +got):\n%s", diff)
	}
	var files []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	want := []string{"MANIFEST.py3.12.json", "data/py3.12/plots/a.png", "data/py3.12/result.json"}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("the artifact folder (-want +got):\n%s", diff)
	}

	t.Run("hidden name", func(t *testing.T) {
		hidden := testenv.Tree(t, map[string]string{"result.json": "{}", "cache/.stamp": "x"})
		out := filepath.Join(t.TempDir(), "artifact")
		code, _, stderr := run(t, "upload", "--artifact", out, hidden)
		if code != exitFailure || !strings.Contains(stderr, "cache/.stamp in "+hidden+": actions/upload-artifact leaves out names starting with '.'") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused artifact made %s (Stat: %v)", out, err)
		}
	})
}

// TestUploadFromCIEnv uploads to S3 with no build facts on the command
// line, from a GitHub Actions PR build's environment and a Travis push
// build's, and reads back what S3 holds.
func TestUploadFromCIEnv(t *testing.T) {
	mc := testenv.MinIO(t)
	bucket := mc.BucketName(t)
	ctx := context.Background()
	store := bucketStore(ctx, t, mc, bucket, "")
	outputs := testenv.Tree(t, map[string]string{"result.json": "{}"})
	tests := []struct {
		name    string
		env     map[string]string
		build   string
		source  s3cache.Source
		commit  string
		attempt int
	}{
		{
			name:  "actions PR",
			env:   actionsEnv("pull_request", map[string]string{"GITHUB_EVENT_PATH": prEvent(t, headSHA), "GITHUB_SHA": mergeSHA}),
			build: "7001", source: s3cache.Source{PR: 12}, commit: headSHA, attempt: 2,
		},
		{
			name:  "travis push",
			env:   travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "false", "TRAVIS_COMMIT": pushedSHA}),
			build: "9001", source: s3cache.Source{Branch: "main"}, commit: pushedSHA,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outsideCI(t)
			setEnv(t, tc.env)
			t.Setenv("AWS_ACCESS_KEY_ID", mc.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", mc.SecretKey)
			t.Setenv("REFBOT_S3_ENDPOINT", mc.Endpoint)
			t.Setenv("REFBOT_S3_PATH_STYLE", "true")
			t.Setenv(configEnv, "")
			code, _, stderr := run(t, "upload", "--bucket", bucket, outputs)
			if code != exitOK {
				t.Fatalf("exit %d, stderr: %s", code, stderr)
			}
			b, err := store.Open(ctx, tc.build, s3cache.Want{Source: tc.source, Commit: tc.commit})
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Manifests[""].Attempt; got != tc.attempt {
				t.Errorf("the manifest's attempt is %d, want %d", got, tc.attempt)
			}
		})
	}
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	body, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// websiteCI is a docs build's environment: the CI's (a build of branch
// main, at pushedSHA) and what refbot sets on the build it asks for.
func websiteCI(ci map[string]string) map[string]string {
	env := map[string]string{websitePREnv: "12", websiteSHAEnv: headSHA, "REFBOT_WEBSITE_REQUEST": "refbot-website-5"}
	for k, v := range ci {
		env[k] = v
	}
	return env
}

// TestUploadWebsite runs `refbot upload --kind website` as the docs build
// refbot asked for would, on Travis and on GitHub Actions, against MinIO:
// the site is recorded for the PR and head refbot named, not for the
// branch the build ran on, in the docs builds' folder.
func TestUploadWebsite(t *testing.T) {
	mc := testenv.MinIO(t)
	bucket, sitesBucket := mc.BucketName(t), mc.BucketName(t)
	ctx := context.Background()
	bucketStore(ctx, t, mc, bucket, "")
	bucketStore(ctx, t, mc, sitesBucket, "")
	site := testenv.Tree(t, map[string]string{"index.html": "<h1>docs</h1>", "_static/site.css": "body {}"})
	travisDocs := travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "false", "TRAVIS_COMMIT": pushedSHA, "TRAVIS_EVENT_TYPE": "api"})
	actionsDocs := actionsEnv("workflow_dispatch", map[string]string{"GITHUB_SHA": pushedSHA, "GITHUB_REF": "refs/heads/main",
		"GITHUB_REF_NAME": "main", "GITHUB_REF_TYPE": "branch"})
	config := writeFile(t, "refbot.yaml", `github:
  repo: octo-org/octo-repo
  token: {env: REFBOT_TEST_GITHUB_TOKEN}
s3:
  bucket: `+bucket+`
  prefix: ci
  endpoint: `+mc.Endpoint+`
  path_style: true
data_repo:
  url: https://git.example.org/data.git
website:
  s3_bucket: `+sitesBucket+`
  s3_prefix: docs/builds
  preview: {bucket: `+sitesBucket+`, prefix: preview, url: "https://preview.example.org/"}
`)
	type manifest struct {
		Kind, Build, Commit, Repo, Provider string
		PR, Attempt                         int
	}
	tests := []struct {
		name           string
		env            map[string]string
		args           []string
		bucket, prefix string // where the site is expected
		want           manifest
	}{
		{
			name:   "travis",
			env:    websiteCI(travisDocs),
			bucket: bucket, prefix: "ci-website",
			want: manifest{Kind: "website", Build: "9001", Commit: headSHA, Repo: "octo-org/octo-repo", Provider: "travis", PR: 12},
		},
		{
			name:   "actions, the site's own bucket and folder",
			env:    websiteCI(with(actionsDocs, map[string]string{"REFBOT_WEBSITE_S3_BUCKET": sitesBucket, "REFBOT_WEBSITE_S3_PREFIX": "sites"})),
			bucket: sitesBucket, prefix: "sites",
			want: manifest{Kind: "website", Build: "7001", Commit: headSHA, Repo: "octo-org/octo-repo", Provider: "github-actions", PR: 12, Attempt: 2},
		},
		{
			name:   "flags agreeing with refbot's variables",
			env:    websiteCI(travisDocs),
			args:   []string{"--source", "12", "--commit", headSHA, "--build", "9050", "--prefix", "ci-docs"},
			bucket: bucket, prefix: "ci-docs",
			want: manifest{Kind: "website", Build: "9050", Commit: headSHA, Repo: "octo-org/octo-repo", Provider: "travis", PR: 12},
		},
		{
			name:   "outside CI, every fact a flag",
			env:    map[string]string{},
			args:   []string{"--source", "31", "--commit", pushedSHA, "--build", "77"},
			bucket: bucket, prefix: "ci-website",
			want: manifest{Kind: "website", Build: "77", Commit: pushedSHA, PR: 31},
		},
		{
			name:   "the configuration file's website section",
			env:    websiteCI(with(travisDocs, map[string]string{configEnv: config})),
			bucket: sitesBucket, prefix: "docs/builds",
			want: manifest{Kind: "website", Build: "9001", Commit: headSHA, Repo: "octo-org/octo-repo", Provider: "travis", PR: 12},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outsideCI(t)
			t.Setenv("AWS_ACCESS_KEY_ID", mc.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", mc.SecretKey)
			t.Setenv("REFBOT_S3_ENDPOINT", mc.Endpoint)
			t.Setenv("REFBOT_S3_PATH_STYLE", "true")
			t.Setenv("REFBOT_S3_BUCKET", bucket)
			t.Setenv("REFBOT_S3_PREFIX", "ci")
			t.Setenv(configEnv, "")
			setEnv(t, tc.env)
			code, stdout, stderr := run(t, append(append([]string{"upload", "--kind", "website"}, tc.args...), site)...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr: %s", code, stderr)
			}
			for _, says := range []string{"uploaded website build " + tc.want.Build, fmt.Sprintf("for PR #%d: 2 files", tc.want.PR)} {
				if !strings.Contains(stdout, says) {
					t.Errorf("stdout = %q, want it to say %q", stdout, says)
				}
			}
			sites := kindStore(ctx, t, mc, tc.bucket, tc.prefix, s3cache.KindWebsite)
			b, err := sites.Open(ctx, tc.want.Build, s3cache.Want{Source: s3cache.Source{PR: tc.want.PR}, Commit: tc.want.Commit})
			if err != nil {
				t.Fatalf("the site does not open as a website build of %s/%s: %v", tc.bucket, tc.prefix, err)
			}
			m := b.Manifests[""]
			got := manifest{Kind: m.Kind, Build: m.Build, Commit: m.Commit, Repo: m.Repo, Provider: m.Provider, PR: m.PR, Attempt: m.Attempt}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("the manifest (-want +got):\n%s", diff)
			}
			// Not among the test builds, nor readable as test outputs.
			tests := kindStore(ctx, t, mc, bucket, "ci", s3cache.KindOutputs)
			if _, err := tests.Open(ctx, tc.want.Build, s3cache.Want{Source: s3cache.Source{PR: tc.want.PR}}); !errors.Is(err, s3cache.ErrNotFound) {
				t.Errorf("the test builds' folder has build %s (Open: %v)", tc.want.Build, err)
			}
			outputs := kindStore(ctx, t, mc, tc.bucket, tc.prefix, s3cache.KindOutputs)
			if _, err := outputs.Open(ctx, tc.want.Build, s3cache.Want{Source: s3cache.Source{PR: tc.want.PR}}); !errors.Is(err, s3cache.ErrProvenance) {
				t.Errorf("the site opens as test outputs (Open: %v)", err)
			}
		})
	}
}

// TestUploadWebsiteRefusals: what `refbot upload --kind website` refuses,
// before anything is uploaded.
func TestUploadWebsiteRefusals(t *testing.T) {
	mc := testenv.MinIO(t)
	bucket := mc.BucketName(t)
	ctx := context.Background()
	bucketStore(ctx, t, mc, bucket, "")
	site := testenv.Tree(t, map[string]string{"index.html": "<h1>docs</h1>"})
	travisDocs := travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "false", "TRAVIS_COMMIT": pushedSHA})
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no PR", without(websiteCI(travisDocs), websitePREnv), nil,
			"no PR: set REFBOT_WEBSITE_PR to the PR's number"},
		{"no head", without(websiteCI(travisDocs), websiteSHAEnv), nil,
			"no head commit: set REFBOT_WEBSITE_SHA to the PR's head sha"},
		{"neither, on a PR build", without(without(travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "12",
			"TRAVIS_PULL_REQUEST_SHA": headSHA, "TRAVIS_COMMIT": mergeSHA}), websitePREnv), websiteSHAEnv), nil,
			"no PR: set REFBOT_WEBSITE_PR"},
		{"a PR that is not a number", with(websiteCI(travisDocs), map[string]string{websitePREnv: "12a"}), nil,
			`REFBOT_WEBSITE_PR="12a" is not a PR number`},
		{"a short sha", with(websiteCI(travisDocs), map[string]string{websiteSHAEnv: "abc1234"}), nil,
			`REFBOT_WEBSITE_SHA="abc1234" is not a full commit sha`},
		{"a branch as source", without(websiteCI(travisDocs), websitePREnv), []string{"--source", "main"},
			"--source main: a website build is for a pull request"},
		{"another PR", websiteCI(travisDocs), []string{"--source", "13"},
			"--source 13 disagrees with REFBOT_WEBSITE_PR=12"},
		{"another head", websiteCI(travisDocs), []string{"--commit", pushedSHA},
			"--commit " + pushedSHA + " disagrees with REFBOT_WEBSITE_SHA=" + headSHA},
		{"a variant", websiteCI(travisDocs), []string{"--variant", "linux"}, "--kind website --variant linux: a site has no variants"},
		{"an artifact", websiteCI(travisDocs), []string{"--artifact", filepath.Join(t.TempDir(), "a")}, "--kind website --artifact"},
		{"an unknown kind", websiteCI(travisDocs), []string{"--kind", "docs"}, `--kind "docs": give outputs`},
		{"inside the test builds' folder", with(websiteCI(travisDocs), map[string]string{"REFBOT_WEBSITE_S3_PREFIX": "ci/site"}), nil,
			"the site would go to s3://" + bucket + "/ci/site, and the test builds are in s3://" + bucket + "/ci"},
		{"the test builds' whole bucket", with(websiteCI(travisDocs), map[string]string{"REFBOT_S3_PREFIX": ""}), nil,
			"the test builds are in s3://" + bucket + ": a site needs a folder of its own"},
		{"no build outside CI", map[string]string{websitePREnv: "12", websiteSHAEnv: headSHA}, nil, "no --build"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outsideCI(t)
			t.Setenv("AWS_ACCESS_KEY_ID", mc.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", mc.SecretKey)
			t.Setenv("REFBOT_S3_ENDPOINT", mc.Endpoint)
			t.Setenv("REFBOT_S3_PATH_STYLE", "true")
			t.Setenv("REFBOT_S3_BUCKET", bucket)
			t.Setenv("REFBOT_S3_PREFIX", "ci")
			for _, k := range []string{websitePREnv, websiteSHAEnv, "REFBOT_WEBSITE_S3_BUCKET", "REFBOT_WEBSITE_S3_PREFIX"} {
				t.Setenv(k, "")
			}
			t.Setenv(configEnv, "")
			setEnv(t, tc.env)
			args := append([]string{"upload"}, tc.args...)
			if !slices.Contains(tc.args, "--kind") {
				args = append(args, "--kind", "website")
			}
			code, _, stderr := run(t, append(args, site)...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, exitUsage, tc.want)
			}
		})
	}
	var objects []string
	root := kindStore(ctx, t, mc, bucket, "", s3cache.KindOutputs)
	builds, err := root.ListBuilds(ctx)
	for _, b := range builds {
		objects = append(objects, b.ID)
	}
	if err != nil || len(objects) != 0 {
		t.Errorf("refused uploads left %v in the bucket (%v)", objects, err)
	}
}

// kindStore is the store of kind under prefix of bucket on mc.
func kindStore(ctx context.Context, t *testing.T, mc *testenv.MinIOServer, bucket, prefix, kind string) *s3cache.Store {
	t.Helper()
	store, err := s3cache.New(ctx, s3cache.Options{Bucket: bucket, Prefix: prefix, Endpoint: mc.Endpoint, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey, Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// with returns env with more variables (or others' values).
func with(env, more map[string]string) map[string]string {
	out := maps.Clone(env)
	maps.Copy(out, more)
	return out
}

// without returns env with name set to "" (unset, as far as refbot reads it).
func without(env map[string]string, name string) map[string]string {
	return with(env, map[string]string{name: ""})
}

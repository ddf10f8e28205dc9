package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const examplePath = "../deploy/refbot.example.yaml"

// minimal is the smallest file Load accepts.
const minimal = `
github:
  repo: octo-org/octo-repo
  token: {env: REFBOT_TEST_GITHUB_TOKEN}
s3:
  bucket: artifacts
data_repo:
  url: https://git.example.org/octo-org/data.git
`

// inS3 returns minimal with lines added to its s3 section.
func inS3(lines string) string {
	return strings.Replace(minimal, "  bucket: artifacts\n", "  bucket: artifacts\n"+lines, 1)
}

// inGitHub returns minimal with lines added to its github section, from
// line 5 on.
func inGitHub(lines string) string {
	return strings.Replace(minimal, "  token: {env: REFBOT_TEST_GITHUB_TOKEN}\n", "  token: {env: REFBOT_TEST_GITHUB_TOKEN}\n"+lines, 1)
}

// writeConfig writes src as config.yaml in a new folder and returns its path.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadProblems loads src and returns its problems, one line each, with the
// temporary folder left out of the file name.
func loadProblems(t *testing.T, src string) []string {
	t.Helper()
	path := writeConfig(t, src)
	_, err := Load(path)
	if err == nil {
		return nil
	}
	var problems Problems
	if !errors.As(err, &problems) {
		t.Fatalf("Load: %v, want Problems", err)
	}
	return strings.Split(strings.ReplaceAll(problems.Error(), filepath.Dir(path)+string(filepath.Separator), ""), "\n")
}

var ignoreSource = cmpopts.IgnoreUnexported(Config{})

func TestLoadExample(t *testing.T) {
	got, err := Load(examplePath)
	if err != nil {
		t.Fatalf("Load(%s):\n%v", examplePath, err)
	}
	want := &Config{
		GitHub: GitHub{
			APIURL:     "https://api.github.com/",
			GraphQLURL: "https://api.github.com/graphql",
			Repo:       "example-org/example-project",
			App: &App{
				ID:             123456,
				InstallationID: 45678901,
				PrivateKey:     Secret{File: "/run/secrets/refbot/github-app.pem"},
			},
			WebhookSecret: Secrets{{Env: "REFBOT_WEBHOOK_SECRET"}},
			BotLogin:      "example-refbot[bot]",
			StatusContext: "s3-reference-data-cache",
			CommandPrefix: "BUILDBOT:",
		},
		S3: S3{
			Region:          "eu-west-1",
			Bucket:          "example-project-ci-artifacts",
			Prefix:          "reference-data",
			AccessKeyID:     Secret{Env: "REFBOT_S3_ACCESS_KEY_ID"},
			SecretAccessKey: Secret{Env: "REFBOT_S3_SECRET_ACCESS_KEY"},
			Concurrency:     16,
			MaxFileBytes:    512 * MiB,
			MaxBuildBytes:   10 * GiB,
			MaxFiles:        200_000,
			Retention:       Retention{PerPR: 5, PerBranch: 20},
			StallTimeout:    Duration(time.Minute),
		},
		DataRepo: DataRepo{
			URL:             "https://github.com/example-org/example-project-data.git",
			GitHubRepo:      "example-org/example-project-data",
			BaseBranch:      "master",
			DataRoot:        "data",
			CacheDir:        "/var/lib/refbot/data-repo",
			KeepBackups:     5,
			CacheMaxBytes:   GiB,
			KeepArchives:    1000,
			KeepArchivesFor: Duration(90 * 24 * time.Hour),
			AuthorName:      "refbot",
			AuthorEmail:     "refbot@example.org",
			ClosedGrace:     Duration(7 * 24 * time.Hour),
			StallTimeout:    Duration(2 * time.Minute),
		},
		CI: CI{
			Provider:     "github-actions",
			APIURL:       "https://api.travis-ci.com", // the default, unused by Actions
			Repo:         "example-org/example-project",
			Workflows:    []string{"test.yaml"},
			Rerun:        RerunAll,
			Artifact:     "refbot-outputs",
			PollInterval: Duration(time.Minute),
			WaitTimeout:  Duration(6 * time.Hour),
			RestartGrace: Duration(5 * time.Minute),
			Outputs:      OutputsEither,
		},
		Server: Server{
			Listen:            "127.0.0.1:8080",
			PublicURL:         "https://refbot.example.org",
			APIToken:          Secret{File: "/run/secrets/refbot/api-token"},
			ReconcileInterval: Duration(5 * time.Minute),
		},
		StateDir: "/var/lib/refbot",
		Database: "/var/lib/refbot/refbot.db",
		Log:      Log{Level: "info", Format: "json"},
		Policy: Policy{
			AllowedUsers: []string{"alice", "bob"},
			Cooldowns: map[string]Duration{
				"UPDATE": Duration(10 * time.Minute),
			},
			Verbs: map[string]VerbPolicy{
				"WEBSITE": {
					Cooldown:   new(Duration(30 * time.Minute)),
					MaxPerDay:  new(4),
					WhenCapped: WhenCappedQueue,
					Hold:       new(Duration(2 * time.Hour)),
					Slots:      new(1),
					Blackout:   []Window{{Start: time.Hour, End: 3 * time.Hour}},
				},
			},
			LargeChangeShare: 0.5,
		},
		Jobs: Jobs{Workers: map[string]int{"commands": 4, "updates": 2, "merges": 2, "ci": 4}, Timeout: Duration(time.Hour),
			KeepFinished: Duration(7 * 24 * time.Hour), KeepWorkFolders: Duration(24 * time.Hour)},
		Website: &Website{
			Workflow:    "docs.yaml",
			Preview:     Preview{Bucket: "example-docs-preview", Prefix: "preview", URL: "https://preview.example.org/"},
			Timeout:     Duration(2 * time.Hour),
			StopTimeout: Duration(time.Minute),
		},
		Pages: Pages{
			Access:        PagesAuto,
			OAuth:         PagesOAuth{WebURL: "https://github.com"},
			CacheDir:      "/var/lib/refbot/review-cache",
			CacheMaxBytes: GiB,
			Thumbnails:    true,
		},
	}
	if diff := cmp.Diff(want, got, ignoreSource); diff != "" {
		t.Errorf("Load(%s) mismatch (-want +got):\n%s", examplePath, diff)
	}
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(writeConfig(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.GitHub.Repo = "octo-org/octo-repo"
	want.GitHub.Token = Secret{Env: "REFBOT_TEST_GITHUB_TOKEN"}
	want.S3.Bucket = "artifacts"
	want.DataRepo.URL = "https://git.example.org/octo-org/data.git"
	want.DataRepo.CacheDir = "/var/lib/refbot/data-repo"
	want.CI.Repo = "octo-org/octo-repo"
	want.CI.Outputs = OutputsS3
	want.Database = "/var/lib/refbot/refbot.db"
	want.Policy.Cooldowns = map[string]Duration{"UPDATE": Duration(10 * time.Minute)}
	want.Jobs.Workers = map[string]int{"commands": 4, "updates": 2, "merges": 2, "ci": 4}
	want.Pages.CacheDir = "/var/lib/refbot/review-cache"
	want.Pages.OAuth.WebURL = "https://github.com"
	if diff := cmp.Diff(want, got, ignoreSource); diff != "" {
		t.Errorf("Load(minimal) mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadNormalizes(t *testing.T) {
	tests := []struct {
		name string
		src  string
		get  func(*Config) any
		want any
	}{
		{
			name: "enterprise api_url without slash",
			src:  strings.Replace(minimal, "github:\n", "github:\n  api_url: https://ghe.example.org/api/v3\n", 1),
			get:  func(c *Config) any { return c.GitHub.APIURL },
			want: "https://ghe.example.org/api/v3/",
		},
		{
			name: "s3 prefix loses its trailing slash",
			src:  inS3("  prefix: ci/builds/\n"),
			get:  func(c *Config) any { return c.S3.Prefix },
			want: "ci/builds",
		},
		{
			name: "state_dir moves the derived paths",
			src:  minimal + "state_dir: /srv/refbot\n",
			get:  func(c *Config) any { return []string{c.Database, c.DataRepo.CacheDir} },
			want: []string{"/srv/refbot/refbot.db", "/srv/refbot/data-repo"},
		},
		{
			name: "cooldowns keep the defaults of verbs not listed",
			src:  minimal + "policy:\n  cooldowns:\n    WEBSITE: 1h\n",
			get: func(c *Config) any {
				return []time.Duration{c.Policy.Cooldown("update"), c.Policy.Cooldown("WEBSITE"), c.Policy.Cooldown("PLAN")}
			},
			want: []time.Duration{10 * time.Minute, time.Hour, 0},
		},
		{
			name: "a cooldown of 0 turns it off",
			src:  minimal + "policy:\n  cooldowns:\n    UPDATE: 0s\n",
			get:  func(c *Config) any { return c.Policy.Cooldown("UPDATE") },
			want: time.Duration(0),
		},
		{
			name: "sizes as plain bytes",
			src:  inS3("  max_file_bytes: 1048576\n"),
			get:  func(c *Config) any { return c.S3.MaxFileBytes },
			want: MiB,
		},
		{
			name: "relative secret file is next to the config",
			src:  minimal + "server:\n  api_token: {file: secrets/api-token}\n",
			get:  func(c *Config) any { return filepath.Base(filepath.Dir(c.Server.APIToken.File)) },
			want: "secrets",
		},
		{
			name: "webhook_secret as one secret",
			src:  inGitHub("  webhook_secret: {env: REFBOT_WEBHOOK_SECRET}\n"),
			get:  func(c *Config) any { return c.GitHub.WebhookSecret },
			want: Secrets{{Env: "REFBOT_WEBHOOK_SECRET"}},
		},
		{
			name: "webhook_secret as a list of two, in order",
			src:  inGitHub("  webhook_secret:\n    - {env: REFBOT_WEBHOOK_SECRET_NEW}\n    - file: /run/secrets/webhook-old\n"),
			get:  func(c *Config) any { return c.GitHub.WebhookSecret },
			want: Secrets{{Env: "REFBOT_WEBHOOK_SECRET_NEW"}, {File: "/run/secrets/webhook-old"}},
		},
		{
			name: "data_root . gets the default protect",
			src:  minimal + "  data_root: .\n",
			get:  func(c *Config) any { return c.DataRepo.Protect },
			want: DefaultProtect,
		},
		{
			name: "an explicit protect list is kept as it is",
			src:  minimal + "  data_root: .\n  protect: [README.md, docs/]\n",
			get:  func(c *Config) any { return c.DataRepo.Protect },
			want: []string{"README.md", "docs/"},
		},
		{
			name: "an empty protect list protects nothing",
			src:  minimal + "  data_root: .\n  protect: []\n",
			get:  func(c *Config) any { return c.DataRepo.Protect },
			want: []string{},
		},
		{
			name: "protect is left empty with another data_root",
			src:  minimal,
			get:  func(c *Config) any { return c.DataRepo.Protect },
			want: []string(nil),
		},
		{
			name: "jobs.workers keeps the defaults of queues not listed",
			src:  minimal + "jobs:\n  workers:\n    updates: 1\n    ci: 16\n",
			get:  func(c *Config) any { return c.Jobs.Workers },
			want: map[string]int{"commands": 4, "updates": 1, "merges": 2, "ci": 16},
		},
		{
			name: "ci.wait_timeout equal to poll_interval",
			src:  minimal + "ci:\n  poll_interval: 2m\n  wait_timeout: 2m\n",
			get:  func(c *Config) any { return time.Duration(c.CI.WaitTimeout) },
			want: 2 * time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeConfig(t, tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tt.get(cfg)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown top-level key",
			src:  minimal + "sate_dir: /srv/refbot\n",
			want: []string{`config.yaml:9:1: unknown key "sate_dir" (did you mean "state_dir"?)`},
		},
		{
			name: "unknown nested key",
			src: `github:
  repo: octo-org/octo-repo
  token: {env: REFBOT_TEST_GITHUB_TOKEN}
s3:
  bucket: artifacts
  retention:
    per_prr: 3
data_repo:
  url: https://git.example.org/octo-org/data.git
`,
			want: []string{`config.yaml:7:5: s3.retention: unknown key "per_prr" (did you mean "per_pr"?)`},
		},
		{
			name: "several unknown keys, one without a near match",
			src:  minimal + "  bukcet: other\nlog:\n  colour: true\n",
			want: []string{
				`config.yaml:9:3: data_repo: unknown key "bukcet"; known keys are author_email, author_name, base_branch, cache_dir, cache_max_bytes, closed_grace, data_root, github_repo, keep_archives, keep_archives_for, keep_backups, protect, stall_timeout, token, url, web_url`,
				`config.yaml:11:3: log: unknown key "colour"; known keys are format, level`,
			},
		},
		{
			name: "unknown key reached through an alias",
			src:  minimal + "server: &srv\n  listen: :9000\nlog: *srv\n",
			want: []string{`config.yaml:10:3: unknown key "listen"`},
		},
		{
			name: "inline secret",
			src:  strings.Replace(minimal, "{env: REFBOT_TEST_GITHUB_TOKEN}", "ghp_0123456789abcdef", 1),
			want: []string{`config.yaml:4:10: github.token: secrets cannot be written inline; use {env: VAR} or {file: PATH}`},
		},
		{
			name: "inline secret in a nested section",
			src:  strings.Replace(minimal, "  token: {env: REFBOT_TEST_GITHUB_TOKEN}\n", "  app:\n    id: 1\n    installation_id: 2\n    private_key: \"-----BEGIN RSA PRIVATE KEY-----\"\n", 1),
			want: []string{`config.yaml:7:18: github.app.private_key: secrets cannot be written inline; use {env: VAR} or {file: PATH}`},
		},
		{
			name: "secret with env and file",
			src:  strings.Replace(minimal, "{env: REFBOT_TEST_GITHUB_TOKEN}", "{env: A, file: /b}", 1),
			want: []string{`config.yaml:4:10: github.token: give env or file, not both`},
		},
		{
			name: "secret with a misspelt key",
			src:  strings.Replace(minimal, "{env: REFBOT_TEST_GITHUB_TOKEN}", "{evn: A}", 1),
			want: []string{`config.yaml:4:11: github.token: unknown key "evn" in a secret (did you mean "env"?)`},
		},
		{
			name: "secret with a key that is neither env nor file",
			src:  strings.Replace(minimal, "{env: REFBOT_TEST_GITHUB_TOKEN}", "{env: A, value: x}", 1),
			want: []string{`config.yaml:4:19: github.token: unknown key in a secret; a secret has one key, env or file: {env: VAR} or {file: PATH}`},
		},
		{
			name: "credential pasted as a variable name",
			src:  strings.Replace(minimal, "REFBOT_TEST_GITHUB_TOKEN", "ghp_0123456789abcdef", 1),
			want: []string{`config.yaml:4:10: github.token: env looks like a credential, not the name of a variable; remove it from the file, revoke it, and name the variable that holds it instead`},
		},
		{
			name: "missing required keys are all reported",
			src:  "# nothing yet\n",
			want: []string{
				`config.yaml: github.repo: required: the project's repository on GitHub, as owner/name`,
				`config.yaml: github: give token ({env: VAR} with a personal access token) or app (a GitHub App installation) so refbot can call GitHub`,
				`config.yaml: s3.bucket: required: the bucket that CI uploads artifacts to`,
				`config.yaml: data_repo.url: required: the https URL of the git repository that holds the reference data`,
			},
		},
		{
			name: "incomplete app",
			src:  strings.Replace(minimal, "  token: {env: REFBOT_TEST_GITHUB_TOKEN}\n", "  app:\n    id: 1\n", 1),
			want: []string{
				`config.yaml: github.app.installation_id: required: the installation ID, the number at the end of the installation's settings URL`,
				`config.yaml: github.app.private_key: required: the App's private key as {file: PATH} or {env: VAR}`,
			},
		},
		{
			name: "token and app",
			src:  strings.Replace(minimal, "github:\n", "github:\n  app: {id: 1, installation_id: 2, private_key: {file: /k.pem}}\n", 1),
			want: []string{`config.yaml:2:1: github: give token or app, not both`},
		},
		{
			name: "bad duration",
			src:  minimal + "policy:\n  cooldowns:\n    UPDATE: 10 minutes\n",
			want: []string{`config.yaml:11:13: policy.cooldowns.UPDATE: "10 minutes" is not a duration; write it like "90s", "10m" or "1h30m"`},
		},
		{
			name: "duration without a unit",
			src:  minimal + "policy:\n  cooldowns:\n    UPDATE: 600\n",
			want: []string{`config.yaml:11:13: policy.cooldowns.UPDATE: 600 has no unit; write a duration like "90s", "10m" or "1h30m"`},
		},
		{
			name: "negative duration",
			src:  minimal + "policy:\n  cooldowns:\n    UPDATE: -1m\n",
			want: []string{`config.yaml:11:5: policy.cooldowns.UPDATE: must not be negative; 0 turns the cooldown off`},
		},
		{
			name: "cooldown of an unknown verb",
			src:  minimal + "policy:\n  cooldowns:\n    UPDTE: 1m\n    website: 1m\n",
			want: []string{
				`config.yaml:11:5: policy.cooldowns.UPDTE: unknown verb "UPDTE"; verbs are UPDATE, PLAN, WEBSITE, STOP, STATUS, HELP`,
				`config.yaml:12:5: policy.cooldowns.website: write the verb in capitals: WEBSITE`,
			},
		},
		{
			name: "bad size",
			src:  inS3("  max_file_bytes: 5 XB\n  max_build_bytes: lots\n"),
			want: []string{
				`config.yaml:7:19: s3.max_file_bytes: "5 XB" has an unknown unit; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB`,
				`config.yaml:8:20: s3.max_build_bytes: "lots" is not a size; write a whole number of bytes, or one with a unit like "512MiB" or "10GB"`,
			},
		},
		{
			name: "file limit above build limit",
			src:  inS3("  max_file_bytes: 2GiB\n  max_build_bytes: 1GiB\n"),
			want: []string{`config.yaml:7:3: s3.max_file_bytes: 2GiB is more than s3.max_build_bytes (1GiB); a file cannot be larger than its build`},
		},
		{
			name: "stall timeouts below a second",
			src:  inS3("  stall_timeout: 100ms\n") + "  stall_timeout: 0s\n",
			want: []string{
				`config.yaml:7:3: s3.stall_timeout: must be at least 1s, not 100ms (default 1m)`,
				`config.yaml:10:3: data_repo.stall_timeout: must be at least 1s, not 0s (default 2m)`,
			},
		},
		{
			name: "no files allowed",
			src:  inS3("  max_files: 0\n"),
			want: []string{`config.yaml:7:3: s3.max_files: must be at least 1, not 0`},
		},
		{
			name: "data_root with ..",
			src:  minimal + "  data_root: data/../../etc\n",
			want: []string{`config.yaml:9:3: data_repo.data_root: must not contain ..: the data root is a folder inside the data repo`},
		},
		{
			name: "data_root inside .git",
			src:  minimal + "  data_root: .git/hooks\n",
			want: []string{`config.yaml:9:3: data_repo.data_root: must not be inside .git`},
		},
		{
			name: "data repo URL with credentials",
			src:  strings.Replace(minimal, "https://git.example.org", "https://refbot:hunter2@git.example.org", 1),
			want: []string{`config.yaml:8:3: data_repo.url: remove the user name and password from the URL; give the token as data_repo.token: {env: VAR}`},
		},
		{
			name: "data repo URL over ssh",
			src:  strings.Replace(minimal, "https://git.example.org/", "ssh://git.example.org/", 1),
			want: []string{`config.yaml:8:3: data_repo.url: must be an http:// or https:// URL with a host, like https://host/path`},
		},
		{
			name: "github-actions needs its workflows",
			src:  minimal + "ci:\n  provider: github-actions\n",
			want: []string{`config.yaml: ci.workflows: required with github-actions: the workflow files whose runs test the project, e.g. [test.yaml]`},
		},
		{
			name: "github-actions keys that do not fit",
			src: minimal + "ci:\n  provider: github-actions\n  token: {env: X}\n  workflows: [test.yaml, ci/x.yml, build]\n" +
				"  rerun: some\n  outputs: ftp\n",
			want: []string{
				`config.yaml:11:3: ci.token: does not apply to github-actions: refbot asks GitHub's API with github.token or github.app; remove it`,
				`config.yaml:12:26: ci.workflows[1]: "ci/x.yml" is not a workflow file name; give the name in .github/workflows, like test.yaml`,
				`config.yaml:12:36: ci.workflows[2]: "build" is not a workflow file name; give the name in .github/workflows, like test.yaml`,
				`config.yaml:13:3: ci.rerun: "some": use all (the whole run) or failed (its failed jobs)`,
				`config.yaml:14:3: ci.outputs: "ftp": use s3, artifacts or either`,
			},
		},
		{
			name: "travis has no artifacts",
			src:  minimal + "ci:\n  provider: travis\n  outputs: artifacts\n  workflows: [test.yaml]\n",
			want: []string{
				`config.yaml:11:3: ci.outputs: artifacts needs ci.provider github-actions (Travis has no artifacts refbot can read); use s3`,
				`config.yaml:12:3: ci.workflows: only applies to ci.provider github-actions; remove it`,
			},
		},
		{
			name: "the App pushes only to its owner's data repo",
			src: strings.Replace(strings.Replace(minimal, "  token: {env: REFBOT_TEST_GITHUB_TOKEN}\n",
				"  app: {id: 1, installation_id: 2, private_key: {env: K}}\n", 1),
				"https://git.example.org/octo-org/data.git", "https://github.com/other-org/data.git", 1),
			want: []string{`config.yaml: data_repo.github_repo: other-org/data is not octo-org/octo-repo's: the App's installation token reaches only octo-org's repositories; give data_repo.token (a token that may push there) instead`},
		},
		{
			name: "repo written as a URL",
			src:  strings.Replace(minimal, "repo: octo-org/octo-repo", "repo: https://github.com/octo-org/octo-repo", 1),
			want: []string{`config.yaml:3:3: github.repo: write the repository as owner/name, not as a URL`},
		},
		{
			name: "value of the wrong type",
			src:  inS3("  concurrency: many\n"),
			want: []string{`config.yaml:7:16: s3.concurrency: want a whole number here, not "many"`},
		},
		{
			name: "list where a section belongs",
			src:  minimal + "log: [debug]\n",
			want: []string{`config.yaml:9:6: log: want a section of keys here, not a list`},
		},
		{
			name: "syntax error",
			src:  minimal + "policy:\n  allowed_users: [alice\n",
			want: []string{`config.yaml:10:18: sequence end token ']' not found`},
		},
		{
			name: "several documents",
			src:  minimal + "---\n" + minimal,
			want: []string{`config.yaml: holds several YAML documents; a config file is one`},
		},
		{
			name: "webhook_secret as an empty list",
			src:  inGitHub("  webhook_secret: []\n"),
			want: []string{`config.yaml:5:19: github.webhook_secret: empty list: give at least one secret, as {env: VAR} or {file: PATH}`},
		},
		{
			name: "inline secret inside the webhook_secret list",
			src:  inGitHub("  webhook_secret:\n    - {env: REFBOT_WEBHOOK_SECRET}\n    - hunter2\n"),
			want: []string{`config.yaml:7:7: github.webhook_secret[1]: secrets cannot be written inline; use {env: VAR} or {file: PATH}`},
		},
		{
			name: "every bad entry of the webhook_secret list is reported",
			src:  inGitHub("  webhook_secret: [hunter2, ~, {evn: A}, [hunter2]]\n"),
			want: []string{
				`config.yaml:5:20: github.webhook_secret[0]: secrets cannot be written inline; use {env: VAR} or {file: PATH}`,
				`config.yaml:5:29: github.webhook_secret[1]: empty entry: give each secret of the list as {env: VAR} or {file: PATH}`,
				`config.yaml:5:33: github.webhook_secret[2]: unknown key "evn" in a secret (did you mean "env"?)`,
				`config.yaml:5:42: github.webhook_secret[3]: a secret is written {env: VAR} or {file: PATH}`,
			},
		},
		{
			name: "alias inside the webhook_secret list",
			src:  "server:\n  api_token: &token {env: REFBOT_API_TOKEN}\n" + inGitHub("  webhook_secret: [*token]\n"),
			want: []string{`config.yaml:7:20: github.webhook_secret[0]: an alias cannot be an entry of a list of secrets; write it as {env: VAR} or {file: PATH}`},
		},
		{
			name: "entry of the webhook_secret list with env and file",
			src:  inGitHub("  webhook_secret:\n    - env: REFBOT_WEBHOOK_SECRET\n      file: /run/secrets/webhook\n"),
			want: []string{`config.yaml:6:7: github.webhook_secret[0]: give env or file, not both`},
		},
		{
			name: "secret written as the key of a secret",
			src:  inGitHub("  webhook_secret: {hunter2}\n"),
			want: []string{`config.yaml:5:19: github.webhook_secret: secrets cannot be written inline; use {env: VAR} or {file: PATH}`},
		},
		{
			name: "credential written as the key of a secret",
			src:  inGitHub("  webhook_secret: {ghp_0123456789abcdef: x}\n"),
			want: []string{`config.yaml:5:19: github.webhook_secret: secrets cannot be written inline; use {env: VAR} or {file: PATH}`},
		},
		{
			name: "protect with another data_root",
			src:  minimal + "  data_root: data\n  protect: [README*]\n",
			want: []string{`config.yaml:10:3: data_repo.protect: only applies with data_root: "." (the data at the top of the data repo); with data_root "data" nothing outside it is touched anyway, so remove protect`},
		},
		{
			name: "protect with a bad data_root says only what is wrong with data_root",
			src:  minimal + "  data_root: ./\n  protect: [README*]\n",
			want: []string{`config.yaml:9:3: data_repo.data_root: write it as "."`},
		},
		{
			name: "bad protect patterns",
			src:  minimal + "  data_root: .\n  protect: [a/b, \"[\", \"\", /LICENSE, README*]\n",
			want: []string{
				`config.yaml:10:13: data_repo.protect[0]: "a/b" is a path, but only top-level names can be protected; write "a/" to protect the whole folder`,
				`config.yaml:10:18: data_repo.protect[1]: "[" is not a valid pattern (syntax error in pattern); a pattern matches one top-level name with *, ? and [abc], like README*`,
				`config.yaml:10:23: data_repo.protect[2]: must not be empty; write a top-level name or pattern like README* or .github/`,
				`config.yaml:10:27: data_repo.protect[3]: write it without the leading /, like "LICENSE"`,
			},
		},
		{
			name: "jobs.workers with an unknown queue and counts out of range",
			src:  minimal + "jobs:\n  workers:\n    update: 2\n    bulk: 1\n    merges: 0\n    ci: 1000\n",
			want: []string{
				`config.yaml:11:5: jobs.workers.update: unknown queue "update" (did you mean "updates"?)`,
				`config.yaml:12:5: jobs.workers.bulk: unknown queue "bulk"; the queues are ci, commands, merges, updates`,
				`config.yaml:13:5: jobs.workers.merges: must be 1 to 256 workers, not 0 (default 2)`,
				`config.yaml:14:5: jobs.workers.ci: must be 1 to 256 workers, not 1000 (default 4)`,
			},
		},
		{
			name: "jobs.timeout below a second",
			src:  minimal + "jobs:\n  timeout: 500ms\n",
			want: []string{`config.yaml:10:3: jobs.timeout: must be at least 1s (default 1h)`},
		},
		{
			name: "ci.wait_timeout below poll_interval",
			src:  minimal + "ci:\n  poll_interval: 1m\n  wait_timeout: 30s\n",
			want: []string{`config.yaml:11:3: ci.wait_timeout: 30s is less than ci.poll_interval (1m): refbot would give up on a build before checking it once; make it at least 1m (default 6h)`},
		},
		{
			name: "ci.wait_timeout of 0",
			src:  minimal + "ci:\n  wait_timeout: 0s\n",
			want: []string{`config.yaml:10:3: ci.wait_timeout: must be more than 0 (default 6h)`},
		},
		{
			name: "problems of every kind at once, in file order",
			src: `github:
  repo: octo-org/octo-repo
  token: hunter2
s3:
  bukcet: artifacts
  concurrency: 0
data_repo:
  url: https://git.example.org/octo-org/data.git
policy:
  allowed_users: ["@alice"]
  large_change_share: 2
`,
			want: []string{
				`config.yaml:3:10: github.token: secrets cannot be written inline; use {env: VAR} or {file: PATH}`,
				`config.yaml:5:3: s3: unknown key "bukcet" (did you mean "bucket"?)`,
				`config.yaml:6:3: s3.concurrency: must be at least 1, not 0`,
				`config.yaml:10:19: policy.allowed_users[0]: write the login without @, like "alice"`,
				`config.yaml:11:3: policy.large_change_share: must be more than 0 and at most 1 (the share of the data an UPDATE may change), not 2`,
				`config.yaml: s3.bucket: required: the bucket that CI uploads artifacts to`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadProblems(t, tt.src)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
			for _, secret := range []string{"hunter2", "ghp_0123456789abcdef", "BEGIN RSA"} {
				for _, line := range got {
					if strings.Contains(line, secret) {
						t.Errorf("problem shows the secret %q: %s", secret, line)
					}
				}
			}
		})
	}
}

func TestLoadUnreadableFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing file) = %v, want an error wrapping os.ErrNotExist", err)
	}
}

func TestValidateCodeBuiltConfig(t *testing.T) {
	cfg := Default()
	cfg.GitHub.Repo = "octo-org/octo-repo"
	cfg.GitHub.Token = Secret{Env: "GITHUB_TOKEN"}
	cfg.S3.Bucket = "artifacts"
	cfg.DataRepo.URL = "https://git.example.org/data.git"
	cfg.DataRepo.CacheDir = "/tmp/refbot/data-repo"
	cfg.CI.Repo = cfg.GitHub.Repo
	cfg.Database = "/tmp/refbot/refbot.db"
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}

	cfg.S3.Bucket = "s3://artifacts/ci"
	want := `s3.bucket: "s3://artifacts/ci" is not a bucket name; write the name alone and put a folder in s3.prefix`
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
}

func TestCheckDataRoot(t *testing.T) {
	tests := []struct {
		name string
		root string
		want string
	}{
		{name: "plain folder", root: "data", want: ""},
		{name: "nested folder", root: "tests/reference", want: ""},
		{name: "empty", root: "", want: "required: the folder of the data inside the data repo, e.g. data"},
		{name: "parent", root: "../data", want: "must not contain ..: the data root is a folder inside the data repo"},
		{name: "absolute", root: "/data", want: "must be relative to the top of the data repo, like data"},
		{name: "top of the repo", root: ".", want: ""}, // with data_repo.protect
		{name: "trailing slash", root: "data/", want: `write it as "data"`},
		{name: "dot segment", root: "./data", want: `write it as "data"`},
		{name: "git folder", root: ".git", want: "must not be inside .git"},
		{name: "git folder in capitals", root: "x/.GIT/y", want: "must not be inside .git"},
		{name: "backslash", root: `data\ref`, want: `separate folders with /, not \`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, checkDataRoot(tt.root)); diff != "" {
				t.Errorf("checkDataRoot(%q) mismatch (-want +got):\n%s", tt.root, diff)
			}
		})
	}
}

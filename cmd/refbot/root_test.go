package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const exampleConfig = "../../deploy/refbot.example.yaml"

// exampleSecrets are the variables the example refers to.
var exampleSecrets = []string{
	"REFBOT_WEBHOOK_SECRET", "REFBOT_S3_ACCESS_KEY_ID", "REFBOT_S3_SECRET_ACCESS_KEY",
	"REFBOT_DATA_REPO_TOKEN", "REFBOT_TRAVIS_TOKEN",
}

const brokenConfig = `github:
  repo: octo-org/octo-repo
  token: ghp_inline
s3:
  bukcet: artifacts
data_repo:
  url: https://git.example.org/data.git
  data_root: ../data
`

// run runs refbot in-process with args and returns its exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = execute(context.Background(), newRootCmd(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigCheck(t *testing.T) {
	broken := writeFile(t, "broken.yaml", brokenConfig)
	// A file with secrets that resolve: the example's variables, set below.
	secretFile := writeFile(t, "api-token", "token\n")
	withSecrets := writeFile(t, "with-secrets.yaml", `github:
  repo: octo-org/octo-repo
  token: {env: REFBOT_TEST_GITHUB_TOKEN}
s3:
  bucket: artifacts
data_repo:
  url: https://git.example.org/data.git
server:
  api_token: {file: `+secretFile+`}
`)

	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout []string // lines that must be in stdout
		wantStderr []string // lines that must be in stderr, in order; nil: stderr empty
	}{
		{
			name:       "example is ok",
			args:       []string{"config", "check", exampleConfig},
			wantCode:   exitOK,
			wantStdout: []string{exampleConfig + ": ok", "  github     example-org/example-project at https://api.github.com/, as app 123456, installation 45678901"},
		},
		{
			name:       "file from --config",
			args:       []string{"--config", exampleConfig, "config", "check"},
			wantCode:   exitOK,
			wantStdout: []string{exampleConfig + ": ok"},
		},
		{
			name:       "file from REFBOT_CONFIG",
			args:       []string{"config", "check"},
			env:        map[string]string{"REFBOT_CONFIG": exampleConfig},
			wantCode:   exitOK,
			wantStdout: []string{exampleConfig + ": ok"},
		},
		{
			name:     "broken file lists every problem",
			args:     []string{"config", "check", broken},
			wantCode: exitFailure,
			wantStderr: []string{
				broken + ":3:10: github.token: secrets cannot be written inline; use {env: VAR} or {file: PATH}",
				broken + `:5:3: s3: unknown key "bukcet" (did you mean "bucket"?)`,
				broken + ":8:3: data_repo.data_root: must not contain ..: the data root is a folder inside the data repo",
				broken + ": s3.bucket: required: the bucket that CI uploads artifacts to",
			},
		},
		{
			name:       "secrets that resolve",
			args:       []string{"config", "check", "--secrets", withSecrets},
			env:        map[string]string{"REFBOT_TEST_GITHUB_TOKEN": "t0ken"},
			wantCode:   exitOK,
			wantStdout: []string{withSecrets + ": ok", "  secrets    all readable"},
		},
		{
			name:       "secret missing",
			args:       []string{"config", "check", "--secrets", withSecrets},
			wantCode:   exitFailure,
			wantStderr: []string{withSecrets + ":3:3: github.token: environment variable REFBOT_TEST_GITHUB_TOKEN is not set"},
		},
		{
			name:       "file missing",
			args:       []string{"config", "check", "/nonexistent/refbot.yaml"},
			wantCode:   exitFailure,
			wantStderr: []string{"refbot: read config: open /nonexistent/refbot.yaml: no such file or directory"},
		},
		{
			name:       "no file given",
			args:       []string{"config", "check"},
			wantCode:   exitUsage,
			wantStderr: []string{"refbot: no configuration file: give one with --config or $REFBOT_CONFIG", "Run 'refbot config check --help' for usage."},
		},
		{
			name:       "two files",
			args:       []string{"config", "check", "a.yaml", "b.yaml"},
			wantCode:   exitUsage,
			wantStderr: []string{"refbot: accepts at most 1 arg(s), received 2", "Run 'refbot config check --help' for usage."},
		},
		{
			name:       "unknown flag",
			args:       []string{"config", "check", "--secret", exampleConfig},
			wantCode:   exitUsage,
			wantStderr: []string{"refbot: unknown flag: --secret", "Run 'refbot config check --help' for usage."},
		},
		{
			name:       "unknown subcommand",
			args:       []string{"config", "chek"},
			wantCode:   exitUsage,
			wantStderr: []string{`refbot: unknown command "chek" for "refbot config" (did you mean check?)`, "Run 'refbot config --help' for usage."},
		},
		{
			name:       "unknown command",
			args:       []string{"uplaod"},
			wantCode:   exitUsage,
			wantStderr: []string{`refbot: unknown command "uplaod" for "refbot" (did you mean upload?)`, "Run 'refbot --help' for usage."},
		},
		{
			name:       "help",
			args:       []string{"--help"},
			wantCode:   exitOK,
			wantStdout: []string{"  config      Work with refbot's configuration file"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REFBOT_CONFIG", "")
			for _, name := range append(exampleSecrets, "REFBOT_TEST_GITHUB_TOKEN") {
				t.Setenv(name, "")
				os.Unsetenv(name)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := run(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, line := range tt.wantStdout {
				if !strings.Contains(stdout, line+"\n") {
					t.Errorf("stdout lacks %q:\n%s", line, stdout)
				}
			}
			var gotStderr []string
			if stderr != "" {
				gotStderr = strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			}
			if diff := cmp.Diff(tt.wantStderr, gotStderr); diff != "" {
				t.Errorf("stderr mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

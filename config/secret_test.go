package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
)

const secretValue = "s3cr3t-value"

func TestSecretResolve(t *testing.T) {
	dir := t.TempDir()
	writeFile := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	withNewline := writeFile("with-newline", secretValue+"\n")
	withCRLF := writeFile("with-crlf", secretValue+"\r\n")
	empty := writeFile("empty", "\n")
	missing := filepath.Join(dir, "missing")
	t.Setenv("REFBOT_TEST_SET", secretValue)
	t.Setenv("REFBOT_TEST_EMPTY", "")

	tests := []struct {
		name    string
		secret  Secret
		want    string
		wantErr string // empty: no error
	}{
		{name: "env", secret: Secret{Env: "REFBOT_TEST_SET"}, want: secretValue},
		{name: "env not set", secret: Secret{Env: "REFBOT_TEST_UNSET"}, wantErr: "environment variable REFBOT_TEST_UNSET is not set"},
		{name: "env empty", secret: Secret{Env: "REFBOT_TEST_EMPTY"}, wantErr: "environment variable REFBOT_TEST_EMPTY is empty"},
		// A name in mixed case may be a secret pasted in: not repeated.
		{name: "env not set, named like a secret", secret: Secret{Env: "nQmd6RUGX6TqB8IhG5pnfp3Uaz"},
			wantErr: "environment variable named there (its name is not in upper case, so it is not repeated in case it is a secret pasted in) is not set"},
		{name: "file drops its trailing newline", secret: Secret{File: withNewline}, want: secretValue},
		{name: "file drops a trailing CRLF", secret: Secret{File: withCRLF}, want: secretValue},
		{name: "file empty", secret: Secret{File: empty}, wantErr: "secret file " + empty + " is empty"},
		{name: "file missing", secret: Secret{File: missing}, wantErr: "read secret: open " + missing + ": no such file or directory"},
		{name: "unset", secret: Secret{}, wantErr: ErrSecretNotSet.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.secret.Resolve()
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("Resolve() error mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSecretNeverShowsItsValue(t *testing.T) {
	t.Setenv("REFBOT_TEST_GITHUB_TOKEN", secretValue)
	t.Setenv("REFBOT_TEST_WEBHOOK_NEW", secretValue+"-new")
	tests := []struct {
		name   string
		src    string
		secret func(*Config) any // the secret, with Resolve and String
		want   []string          // its values
		refs   []string          // how MarshalYAML writes it
	}{
		{
			name:   "one secret",
			src:    minimal,
			secret: func(c *Config) any { return c.GitHub.Token },
			want:   []string{secretValue},
			refs:   []string{"token:\n    env: REFBOT_TEST_GITHUB_TOKEN\n"},
		},
		{
			name:   "a list of two",
			src:    inGitHub("  webhook_secret:\n    - {env: REFBOT_TEST_WEBHOOK_NEW}\n    - {file: webhook-old}\n"),
			secret: func(c *Config) any { return c.GitHub.WebhookSecret },
			want:   []string{secretValue + "-new", secretValue + "-old"},
			refs:   []string{"webhook_secret:\n  - env: REFBOT_TEST_WEBHOOK_NEW\n  - file: /"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.src)
			if err := os.WriteFile(filepath.Join(filepath.Dir(path), "webhook-old"), []byte(secretValue+"-old\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			switch s := tt.secret(cfg).(type) {
			case Secret:
				v, err := s.Resolve()
				if err != nil {
					t.Fatal(err)
				}
				got = []string{v}
			case Secrets:
				if got, err = s.Resolve(); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Resolve() mismatch (-want +got):\n%s", diff)
			}
			marshalled, err := yaml.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			shown := map[string]string{
				"%v of the secret": fmt.Sprintf("%v", tt.secret(cfg)),
				"%v":               fmt.Sprintf("%v", cfg),
				"%+v":              fmt.Sprintf("%+v", *cfg),
				"%#v":              fmt.Sprintf("%#v", *cfg),
				"MarshalYAML":      string(marshalled),
			}
			for how, s := range shown {
				if strings.Contains(s, secretValue) {
					t.Errorf("%s shows the secret: %s", how, s)
				}
			}
			for _, ref := range tt.refs {
				if !strings.Contains(string(marshalled), ref) {
					t.Errorf("MarshalYAML does not keep the reference %q:\n%s", ref, marshalled)
				}
			}
		})
	}
}

// TestSecretProblemsNeverShowTheValue writes a secret's value where the
// reference to it belongs, in every way that comes to mind, and checks that
// no problem repeats it.
func TestSecretProblemsNeverShowTheValue(t *testing.T) {
	tests := []struct {
		name string
		src  string // the value of github.webhook_secret
	}{
		{name: "inline", src: " " + secretValue},
		{name: "inline, quoted and tagged", src: ` !!str "` + secretValue + `"`},
		{name: "inline in a list", src: " [{env: REFBOT_WEBHOOK_SECRET}, " + secretValue + "]"},
		{name: "inline in a block list", src: "\n    - {env: REFBOT_WEBHOOK_SECRET}\n    - " + secretValue},
		{name: "in a list in a list", src: " [[" + secretValue + "]]"},
		{name: "as the key of a secret", src: " {" + secretValue + "}"},
		{name: "as the key of a secret in a block list", src: "\n    - " + secretValue + ":"},
		{name: "as the key of a secret with a value", src: " {" + secretValue + ": x}"},
		{name: "as the name of a variable", src: " {env: " + secretValue + "}"},
		{name: "next to a variable", src: " [{env: REFBOT_WEBHOOK_SECRET, value: " + secretValue + "}]"},
		{name: "as env and file", src: " [{env: A, file: B}, " + secretValue + "]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadProblems(t, inGitHub("  webhook_secret:"+tt.src+"\n"))
			if len(got) == 0 {
				t.Fatal("Load accepted the file")
			}
			for _, line := range got {
				if strings.Contains(line, secretValue) {
					t.Errorf("problem shows the secret: %s", line)
				}
			}
		})
	}
}

func TestSecretRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		secret Secret
	}{
		{name: "env", secret: Secret{Env: "TOKEN"}},
		{name: "file", secret: Secret{File: "/run/secrets/token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := yaml.Marshal(map[string]Secret{"token": tt.secret})
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]Secret
			if err := yaml.Unmarshal(b, &got); err != nil {
				t.Fatalf("Unmarshal(%s): %v", b, err)
			}
			if diff := cmp.Diff(tt.secret, got["token"]); diff != "" {
				t.Errorf("round trip through %q mismatch (-want +got):\n%s", b, diff)
			}
		})
	}
}

func TestSecretOutsideLoad(t *testing.T) {
	// Without Load's context an unmarshaler returns its problem as the error.
	tests := []struct {
		name string
		dst  any
		src  string
		want string
	}{
		{
			name: "one secret",
			dst: &struct {
				Token Secret `yaml:"token"`
			}{},
			src:  "token: " + secretValue + "\n",
			want: "token: secrets cannot be written inline; use {env: VAR} or {file: PATH}",
		},
		{
			name: "in a list",
			dst: &struct {
				Token Secrets `yaml:"token"`
			}{},
			src:  "token: [{env: A}, " + secretValue + "]\n",
			want: "token[1]: secrets cannot be written inline; use {env: VAR} or {file: PATH}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := yaml.Unmarshal([]byte(tt.src), tt.dst)
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Unmarshal(inline) = %v, want a *Problem", err)
			}
			if err.Error() != tt.want && !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("Unmarshal(inline) = %q, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("Unmarshal(inline) shows the secret: %v", err)
			}
		})
	}
}

func TestCheckSecrets(t *testing.T) {
	t.Setenv("REFBOT_TEST_GITHUB_TOKEN", secretValue)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api-token"), []byte(secretValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := minimal + `  token: {env: REFBOT_TEST_UNSET_DATA_TOKEN}
server:
  api_token: {file: api-token}
ci:
  token: {file: travis-token}
`
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.CheckSecrets()
	var problems Problems
	if !errors.As(err, &problems) {
		t.Fatalf("CheckSecrets() = %v, want Problems", err)
	}
	got := strings.Split(strings.ReplaceAll(problems.Error(), dir+string(filepath.Separator), ""), "\n")
	want := []string{
		"config.yaml:9:3: data_repo.token: environment variable REFBOT_TEST_UNSET_DATA_TOKEN is not set",
		"config.yaml:13:3: ci.token: read secret: open travis-token: no such file or directory",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CheckSecrets() mismatch (-want +got):\n%s", diff)
	}
	if strings.Contains(problems.Error(), secretValue) {
		t.Errorf("CheckSecrets() shows a secret: %v", problems)
	}
}

func TestCheckSecretsWebhookSecret(t *testing.T) {
	t.Setenv("REFBOT_TEST_GITHUB_TOKEN", secretValue)
	t.Setenv("REFBOT_TEST_WEBHOOK_NEW", secretValue+"-new")
	t.Setenv("REFBOT_TEST_WEBHOOK_OLD", secretValue+"-old")
	tests := []struct {
		name string
		src  string
		want []string // nil: no problem
	}{
		{
			name: "one secret",
			src:  "  webhook_secret: {env: REFBOT_TEST_WEBHOOK_NEW}\n",
		},
		{
			name: "one secret that cannot be read",
			src:  "  webhook_secret: {env: REFBOT_TEST_WEBHOOK_UNSET}\n",
			want: []string{"config.yaml:5:3: github.webhook_secret: environment variable REFBOT_TEST_WEBHOOK_UNSET is not set"},
		},
		{
			name: "a list of two",
			src:  "  webhook_secret:\n    - {env: REFBOT_TEST_WEBHOOK_NEW}\n    - {env: REFBOT_TEST_WEBHOOK_OLD}\n",
		},
		{
			name: "the second of two cannot be read",
			src:  "  webhook_secret:\n    - {env: REFBOT_TEST_WEBHOOK_NEW}\n    - {env: REFBOT_TEST_WEBHOOK_UNSET}\n",
			want: []string{"config.yaml:7:7: github.webhook_secret[1]: environment variable REFBOT_TEST_WEBHOOK_UNSET is not set"},
		},
		{
			name: "neither of two can be read",
			src:  "  webhook_secret:\n    - file: webhook-new\n    - {env: REFBOT_TEST_WEBHOOK_UNSET}\n",
			want: []string{
				"config.yaml:6:7: github.webhook_secret[0]: read secret: open webhook-new: no such file or directory",
				"config.yaml:7:7: github.webhook_secret[1]: environment variable REFBOT_TEST_WEBHOOK_UNSET is not set",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, inGitHub(tt.src))
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.CheckSecrets()
			var got []string
			if err != nil {
				var problems Problems
				if !errors.As(err, &problems) {
					t.Fatalf("CheckSecrets() = %v, want Problems", err)
				}
				got = strings.Split(strings.ReplaceAll(problems.Error(), filepath.Dir(path)+string(filepath.Separator), ""), "\n")
				if strings.Contains(problems.Error(), secretValue) {
					t.Errorf("CheckSecrets() shows a secret: %v", problems)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CheckSecrets() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSecretsListsEverySecret keeps Config.secrets, which CheckSecrets relies
// on, in step with the struct: a new Secret field must be listed there.
func TestSecretsListsEverySecret(t *testing.T) {
	var want []string
	var find func(t reflect.Type, path string)
	find = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == reflect.TypeFor[Secret]() || t == reflect.TypeFor[Secrets]() {
			want = append(want, path)
			return
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for name, ft := range yamlFields(t) {
			find(ft, joinKey(path, name))
		}
	}
	find(reflect.TypeFor[Config](), "")
	slices.Sort(want)

	cfg := Default()
	cfg.GitHub.App = &App{}
	cfg.GitHub.WebhookSecret = Secrets{{Env: "W"}}
	var got []string
	for _, s := range cfg.secrets() {
		got = append(got, s.key)
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Config.secrets() misses or invents secrets (-want +got):\n%s", diff)
	}
}

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
	cfg, err := Load(writeConfig(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cfg.GitHub.Token.Resolve(); err != nil || got != secretValue {
		t.Fatalf("Resolve() = %q, %v; want the value", got, err)
	}
	marshalled, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]string{
		"String":      cfg.GitHub.Token.String(),
		"%v":          fmt.Sprintf("%v", cfg),
		"%+v":         fmt.Sprintf("%+v", *cfg),
		"%#v":         fmt.Sprintf("%#v", *cfg),
		"MarshalYAML": string(marshalled),
	}
	for how, s := range shown {
		if strings.Contains(s, secretValue) {
			t.Errorf("%s shows the secret: %s", how, s)
		}
	}
	if !strings.Contains(string(marshalled), "env: REFBOT_TEST_GITHUB_TOKEN") {
		t.Errorf("MarshalYAML does not keep the reference:\n%s", marshalled)
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
	var got struct {
		Token Secret `yaml:"token"`
	}
	err := yaml.Unmarshal([]byte("token: "+secretValue+"\n"), &got)
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("Unmarshal(inline) = %v, want a *Problem", err)
	}
	want := "token: secrets cannot be written inline; use {env: VAR} or {file: PATH}"
	if err.Error() != want && !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Unmarshal(inline) = %q, want %q", err, want)
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

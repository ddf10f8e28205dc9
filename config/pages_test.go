package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// withPages returns minimal with a pages section of lines; its first line
// is line 10 ("pages:" is line 9).
func withPages(lines string) string { return minimal + "pages:\n" + lines }

func TestPagesDefaults(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Pages
	}{
		{
			name: "none given",
			src:  minimal,
			want: Pages{Access: PagesAuto, OAuth: PagesOAuth{WebURL: "https://github.com"},
				CacheDir: "/var/lib/refbot/review-cache", CacheMaxBytes: GiB, Thumbnails: true},
		},
		{
			name: "GitHub Enterprise Server, another state folder",
			src: strings.Replace(minimal, "github:\n", "github:\n  api_url: https://ghe.example.org/api/v3\n", 1) +
				"state_dir: /srv/refbot\npages:\n  access: private\n  oauth: {client_id: Iv1.abc, client_secret: {env: CS}}\n" +
				"  thumbnails: false\n  cache_max_bytes: 200MiB\nserver:\n  public_url: https://refbot.example.org\n",
			want: Pages{Access: PagesPrivate,
				OAuth:    PagesOAuth{ClientID: "Iv1.abc", ClientSecret: Secret{Env: "CS"}, WebURL: "https://ghe.example.org"},
				CacheDir: "/srv/refbot/review-cache", CacheMaxBytes: 200 * MiB},
		},
		{
			name: "everything given",
			src: withPages("  access: public\n  oauth: {client_id: Ov23abc, client_secret: {file: /s/cs}, web_url: \"https://gh.example.org/\"}\n"+
				"  tokens: {file: /s/tokens}\n  session_key: {env: KEY}\n  cache_dir: /cache\n") +
				"server:\n  public_url: https://refbot.example.org\n",
			want: Pages{Access: PagesPublic,
				OAuth:  PagesOAuth{ClientID: "Ov23abc", ClientSecret: Secret{File: "/s/cs"}, WebURL: "https://gh.example.org"},
				Tokens: Secret{File: "/s/tokens"}, SessionKey: Secret{Env: "KEY"},
				CacheDir: "/cache", CacheMaxBytes: GiB, Thumbnails: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeConfig(t, tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg.Pages); diff != "" {
				t.Errorf("pages mismatch (-want +got):\n%s", diff)
			}
		})
	}
	cfg, err := Load(writeConfig(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.PagesKeyFile(); got != "/var/lib/refbot/pages-session.key" {
		t.Errorf("PagesKeyFile() = %q", got)
	}
}

func TestPagesProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "private, and nobody could read",
			src:  withPages("  access: private\n"),
			want: []string{`config.yaml:10:3: pages.access: is private, but neither pages.oauth.client_id (sign-in with GitHub) nor pages.tokens is set: nobody could read the pages`},
		},
		{
			name: "an unknown access",
			src:  withPages("  access: open\n"),
			want: []string{`config.yaml:10:3: pages.access: "open" is not auto, public or private`},
		},
		{
			name: "a client id without its secret or the public URL",
			src:  withPages("  oauth:\n    client_id: Ov23abc\n"),
			want: []string{
				`config.yaml: pages.oauth.client_secret: required with pages.oauth.client_id: a client secret of the App, as {file: PATH} or {env: VAR}`,
				`config.yaml: server.public_url: required with pages.oauth: GitHub sends people back to <public_url>/login/callback after they sign in`,
			},
		},
		{
			name: "a secret without a client id",
			src:  withPages("  oauth:\n    client_secret: {file: cs}\n"),
			want: []string{`config.yaml: pages.oauth.client_id: required with pages.oauth.client_secret: the client ID on the App's settings page`},
		},
		{
			name: "sign-in on a GitHub whose web address cannot be told",
			src: strings.Replace(minimal, "github:\n", "github:\n  api_url: https://gh-api.example.org/\n", 1) +
				"pages:\n  oauth: {client_id: Ov23abc, client_secret: {env: CS}}\nserver:\n  public_url: https://refbot.example.org\n",
			want: []string{`config.yaml: pages.oauth.web_url: required: GitHub's web address, where people sign in (it cannot be told from github.api_url)`},
		},
		{
			name: "a secret written inline, a small cache, a web URL with a password",
			src:  withPages("  tokens: abcdefghijklmnopqrstuvwxyz\n  cache_max_bytes: 1000\n  oauth: {web_url: \"https://u:p@github.example.org\"}\n"),
			want: []string{
				`config.yaml:10:11: pages.tokens: secrets cannot be written inline; use {env: VAR} or {file: PATH}`,
				`config.yaml:11:3: pages.cache_max_bytes: must be at least 1MiB, not 1000B`,
				`config.yaml:12:11: pages.oauth.web_url: remove the user name and password from the URL; secrets are given as {env: VAR} or {file: PATH} in their own keys`,
			},
		},
		{
			name: "a misspelt key",
			src:  withPages("  acess: private\n"),
			want: []string{`config.yaml:10:3: pages: unknown key "acess" (did you mean "access"?)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, loadProblems(t, tt.src)); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPagesReadTokens(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) Secret {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return Secret{File: p}
	}
	tests := []struct {
		name    string
		tokens  Secret
		want    []string
		wantErr string
	}{
		{name: "unset"},
		{
			name:   "one a line, comments and blank lines skipped",
			tokens: write("good", "# the docs team\nfirst-token-0123456789\n\n  second-token-0123456789  \r\n"),
			want:   []string{"first-token-0123456789", "second-token-0123456789"},
		},
		{name: "a short token", tokens: write("short", "first-token-0123456789\nshort\n"), wantErr: "line 2 is shorter than 16"},
		{name: "only comments", tokens: write("empty", "# nothing yet\n"), wantErr: "holds no token"},
		{name: "missing file", tokens: Secret{File: filepath.Join(dir, "missing")}, wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Pages{Tokens: tt.tokens}.ReadTokens()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadTokens() error %v, want one with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "first-token") || strings.Contains(err.Error(), "short\n") {
					t.Errorf("the error shows a token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tokens mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGitHubWebURL(t *testing.T) {
	for api, want := range map[string]string{
		"https://api.github.com/":           "https://github.com",
		"https://ghe.example.org/api/v3/":   "https://ghe.example.org",
		"http://127.0.0.1:4000/api/v3/":     "http://127.0.0.1:4000",
		"https://example.org/github/api/v3": "https://example.org/github",
		"https://gh-api.example.org/":       "",
		"not a url":                         "",
	} {
		if got := githubWebURL(api); got != want {
			t.Errorf("githubWebURL(%q) = %q, want %q", api, got, want)
		}
	}
}

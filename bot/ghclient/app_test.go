package ghclient

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/fakegithub"
)

func TestAppRepositories(t *testing.T) {
	for _, tt := range []struct {
		name    string
		extra   []string
		want    []string
		wantErr string
	}{
		{"none", nil, []string{"project"}, ""},
		{"a name", []string{"project-data"}, []string{"project", "project-data"}, ""},
		{"owner/name of the same owner", []string{"Refbot-Test/project-data"}, []string{"project", "project-data"}, ""},
		{"each once", []string{"project-data", "PROJECT", "refbot-test/project-data"}, []string{"project", "project-data"}, ""},
		{"another owner", []string{"someone/data"}, nil, "reaches only repositories of refbot-test"},
		{"empty", []string{""}, nil, "want a repository name"},
		{"a path", []string{"refbot-test/a/b"}, nil, "want a repository name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appRepositories("refbot-test", "project", tt.extra)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRejectsAppRepository(t *testing.T) {
	_, err := New(context.Background(), Options{Repo: "refbot-test/project", App: &App{ID: 1, InstallationID: 2, Repositories: []string{"someone/data"}}})
	if err == nil || !strings.Contains(err.Error(), `"someone/data"`) {
		t.Errorf("err = %v, want one naming the repository", err)
	}
}

func TestNotAnApp(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	if e.c.IsApp() {
		t.Error("IsApp with a token")
	}
	if _, err := e.c.InstallationToken(ctx); !errors.Is(err, ErrNotApp) {
		t.Errorf("InstallationToken with a token: %v, want ErrNotApp", err)
	}
	if _, _, err := e.c.AppInstallation(ctx); !errors.Is(err, ErrNotApp) {
		t.Errorf("AppInstallation with a token: %v, want ErrNotApp", err)
	}
	if n := e.gh.RequestCount(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

// TestAppTokenForTwoRepositories: one installation token reaches the code
// repository and the data repository, for git pushes to the latter.
func TestAppTokenForTwoRepositories(t *testing.T) {
	e := setupApp(t, func(o *Options) { o.App.Repositories = []string{"project-data"} })
	ctx := context.Background()
	e.gh.AddRepo("refbot-test/project-data")
	e.gh.AddRepo("refbot-test/other")
	e.gh.AddPR(fakegithub.PR{Number: 1})

	if !e.c.IsApp() {
		t.Error("IsApp false for an App")
	}
	tok, err := e.c.InstallationToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The same token serves API calls, and is not renewed while valid.
	if _, err := e.c.PullRequest(ctx, 1); err != nil {
		t.Fatal(err)
	}
	again, err := e.c.InstallationToken(ctx)
	if err != nil || again != tok {
		t.Errorf("second InstallationToken: %v; want the same token", err)
	}
	issued := e.gh.IssuedTokens()
	if len(issued) != 1 || issued[0].Token != tok {
		t.Fatalf("%d tokens issued, want the one returned", len(issued))
	}
	if diff := cmp.Diff([]string{"refbot-test/project", "refbot-test/project-data"}, issued[0].Repositories); diff != "" {
		t.Errorf("token asked for (-want +got):\n%s", diff)
	}
	for repo, want := range map[string]bool{"refbot-test/project": true, "refbot-test/project-data": true, "refbot-test/other": false} {
		if got := e.gh.TokenAllows(tok, repo); got != want {
			t.Errorf("TokenAllows(%s) = %v, want %v", repo, got, want)
		}
	}

	// Without Repositories the token reaches the code repository only.
	tok2, err := appClient(t, e.gh, e.app, nil).InstallationToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.gh.TokenAllows(tok2, "refbot-test/project-data") || !e.gh.TokenAllows(tok2, "refbot-test/project") {
		t.Error("a token asked for the code repository only reaches the data repository, or not the code repository")
	}

	// A repository the App is not installed on: GitHub refuses the token.
	bad := appClient(t, e.gh, e.app, func(o *Options) { o.App.Repositories = []string{"elsewhere"} })
	if _, err := bad.InstallationToken(ctx); err == nil {
		t.Error("token for a repository the App is not installed on: no error")
	}
}

func TestRepoPermissions(t *testing.T) {
	ctx := context.Background()
	t.Run("classic token", func(t *testing.T) {
		e := setup(t, nil)
		e.gh.SetPermission("refbot", fakegithub.PermWrite)
		e.gh.SetTokenScopes(e.gh.Token(), "repo", "read:org")
		perms, scopes, err := e.c.RepoPermissions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantPerms := map[string]bool{"admin": false, "maintain": false, "push": true, "triage": true, "pull": true}
		if diff := cmp.Diff(wantPerms, perms); diff != "" {
			t.Errorf("permissions (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"repo", "read:org"}, scopes); diff != "" {
			t.Errorf("scopes (-want +got):\n%s", diff)
		}
	})
	t.Run("classic token without scopes", func(t *testing.T) {
		e := setup(t, nil)
		e.gh.SetTokenScopes(e.gh.Token())
		_, scopes, err := e.c.RepoPermissions(ctx)
		if err != nil || scopes == nil || len(scopes) != 0 {
			t.Errorf("scopes = %#v, %v; want empty, not nil", scopes, err)
		}
	})
	t.Run("fine-grained token", func(t *testing.T) {
		e := setup(t, nil)
		e.gh.SetPermission("refbot", fakegithub.PermRead)
		perms, scopes, err := e.c.RepoPermissions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if scopes != nil || perms["push"] || !perms["pull"] {
			t.Errorf("permissions %v, scopes %#v; want pull only and no scopes", perms, scopes)
		}
	})
	t.Run("app", func(t *testing.T) {
		e := setupApp(t, nil)
		perms, scopes, err := e.c.RepoPermissions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if scopes != nil || !perms["push"] || perms["admin"] {
			t.Errorf("permissions %v, scopes %#v; want push, no admin, no scopes", perms, scopes)
		}
	})
}

func TestAppInstallation(t *testing.T) {
	e := setupApp(t, nil)
	ctx := context.Background()
	perms, events, err := e.c.AppInstallation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fakegithub.RefbotAppPermissions(), perms); diff != "" {
		t.Errorf("permissions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fakegithub.RefbotAppEvents(), events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	e.gh.SetAppPermission(e.app.InstallationID, "checks", "")
	perms, _, err = e.c.AppInstallation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := perms["checks"]; ok {
		t.Errorf("permissions after checks was removed: %v", perms)
	}
	// It asked as the App: no installation token was needed.
	if n := len(e.gh.IssuedTokens()); n != 0 {
		t.Errorf("%d installation tokens issued, want none", n)
	}
	// A repository the App is not installed on.
	elsewhere := appClient(t, e.gh, e.app, func(o *Options) { o.Repo = "refbot-test/elsewhere" })
	if _, _, err := elsewhere.AppInstallation(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("installation on a repository without the App: %v, want ErrNotFound", err)
	}
}

// TestLogin: refbot's own login is the token's user, or the App's bot
// account; a wrong App key is an error, not a guess.
func TestLogin(t *testing.T) {
	ctx := context.Background()
	e := setup(t, nil)
	if got, err := e.c.Login(ctx); err != nil || got != "refbot" {
		t.Errorf("Login with a token = %q, %v; want refbot", got, err)
	}
	a := setupApp(t, nil)
	if got, err := a.c.Login(ctx); err != nil || got != a.app.Slug+"[bot]" {
		t.Errorf("Login as an App = %q, %v; want %s[bot]", got, err, a.app.Slug)
	}
	other, err := a.gh.AddApp("other")
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := appClient(t, a.gh, a.app, func(o *Options) { o.App.PrivateKey = other.PrivateKey })
	if got, err := wrongKey.Login(ctx); err == nil {
		t.Errorf("Login with another App's key = %q, want an error", got)
	}
}

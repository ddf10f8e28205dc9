package ghclient

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/fakegithub"
)

// appEnv is a fake GitHub on the real clock (ghinstallation signs with
// it) with an App installed, and a client for the App.
type appEnv struct {
	gh  *fakegithub.Server
	app fakegithub.App
	c   *Client
}

func setupApp(t *testing.T, mod func(*Options)) *appEnv {
	t.Helper()
	gh := fakegithub.New(t)
	app, err := gh.AddApp("refbot-app")
	if err != nil {
		t.Fatal(err)
	}
	return &appEnv{gh: gh, app: app, c: appClient(t, gh, app, mod)}
}

func appClient(t *testing.T, gh *fakegithub.Server, app fakegithub.App, mod func(*Options)) *Client {
	t.Helper()
	opts := Options{
		APIURL: gh.APIURL(), GraphQLURL: gh.GraphQLURL(), Repo: gh.Repo(),
		App:              &App{ID: app.ID, InstallationID: app.InstallationID, PrivateKey: app.PrivateKey},
		MutationInterval: -1,
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckRuns(t *testing.T) {
	e := setupApp(t, nil)
	ctx := context.Background()
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadSHA: sha('a')})
	const name = "refbot/update"

	id, err := e.c.CreateCheckRun(ctx, CheckRun{Name: name, HeadSHA: sha('a'), Status: "in_progress", ExternalID: "job-1", DetailsURL: "https://refbot.example/job/1"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.c.CreateCheckRun(ctx, CheckRun{Name: name, HeadSHA: sha('a'), ExternalID: "job-2", Title: "Queued", Summary: "Waiting for CI."})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateCheckRun(ctx, CheckRun{Name: "other", HeadSHA: sha('a')}); err != nil {
		t.Fatal(err)
	}
	// Another App's check run of the same name is not refbot's.
	other, err := e.gh.AddApp("impostor")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appClient(t, e.gh, other, nil).CreateCheckRun(ctx, CheckRun{Name: name, HeadSHA: sha('a'), ExternalID: "job-1"}); err != nil {
		t.Fatal(err)
	}

	summary := "| variant | added | changed | removed |\n|---|---|---|---|\n| py312 | 3 | 1 | 0 |"
	if err := e.c.UpdateCheckRun(ctx, CheckRun{ID: id, Name: name, Conclusion: "success", Title: "Updated the reference data", Summary: summary, Text: "details"}); err != nil {
		t.Fatal(err)
	}

	got, err := e.c.CheckRunsFor(ctx, sha('a'), name)
	if err != nil {
		t.Fatal(err)
	}
	want := []CheckRun{
		{ID: second, Name: name, HeadSHA: sha('a'), Status: "queued", ExternalID: "job-2", Title: "Queued", Summary: "Waiting for CI."},
		{ID: id, Name: name, HeadSHA: sha('a'), Status: "completed", Conclusion: "success", ExternalID: "job-1", DetailsURL: "https://refbot.example/job/1",
			Title: "Updated the reference data", Summary: summary, Text: "details"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CheckRunsFor (-want +got):\n%s", diff)
	}
	if n := len(e.gh.CheckRuns(sha('a'))); n != 4 {
		t.Errorf("the fake holds %d check runs, want 4", n)
	}

	// An update without output keeps the output.
	if err := e.c.UpdateCheckRun(ctx, CheckRun{ID: second, Name: name, Status: "in_progress"}); err != nil {
		t.Fatal(err)
	}
	got, err = e.c.CheckRunsFor(ctx, sha('a'), name)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Status != "in_progress" || got[0].Summary != "Waiting for CI." {
		t.Errorf("after a status update: %+v", got[0])
	}

	// With a token, every App's check runs of the name are listed.
	tok := setupToken(t, e.gh)
	all, err := tok.CheckRunsFor(ctx, sha('a'), name)
	if err != nil || len(all) != 3 {
		t.Errorf("CheckRunsFor with a token: %d, %v; want 3", len(all), err)
	}
}

// setupToken is a client for gh with its personal access token.
func setupToken(t *testing.T, gh *fakegithub.Server) *Client {
	t.Helper()
	c, err := New(context.Background(), Options{APIURL: gh.APIURL(), GraphQLURL: gh.GraphQLURL(), Repo: gh.Repo(), Token: gh.Token(), MutationInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckRunLongOutput(t *testing.T) {
	e := setupApp(t, nil)
	ctx := context.Background()
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadSHA: sha('a')})
	long := strings.Repeat("é", maxCheckOutput+10)
	if _, err := e.c.CreateCheckRun(ctx, CheckRun{Name: "n", HeadSHA: sha('a'), Title: "t", Summary: long, Text: long}); err != nil {
		t.Fatal(err)
	}
	cr := e.gh.CheckRuns(sha('a'))[0]
	for _, s := range []string{cr.Summary, cr.Text} {
		if n := len([]rune(s)); n != maxCheckOutput || !strings.HasSuffix(s, "…") {
			t.Errorf("long output posted with %d characters", n)
		}
	}
}

func TestCheckRunRefusals(t *testing.T) {
	e := setupApp(t, nil)
	ctx := context.Background()
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadSHA: sha('a')})

	e.gh.ResetRequests()
	for _, tt := range []struct {
		name string
		do   func() error
	}{
		{"create without a name", func() error { _, err := e.c.CreateCheckRun(ctx, CheckRun{HeadSHA: sha('a')}); return err }},
		{"create without a sha", func() error { _, err := e.c.CreateCheckRun(ctx, CheckRun{Name: "n"}); return err }},
		{"output without a summary", func() error {
			_, err := e.c.CreateCheckRun(ctx, CheckRun{Name: "n", HeadSHA: sha('a'), Title: "t"})
			return err
		}},
		{"output without a title", func() error { return e.c.UpdateCheckRun(ctx, CheckRun{ID: 1, Name: "n", Text: "x"}) }},
		{"update without a name", func() error { return e.c.UpdateCheckRun(ctx, CheckRun{ID: 1}) }},
		{"update without an id", func() error { return e.c.UpdateCheckRun(ctx, CheckRun{Name: "n"}) }},
		{"list without a name", func() error { _, err := e.c.CheckRunsFor(ctx, sha('a'), ""); return err }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err == nil {
				t.Error("no error")
			}
		})
	}
	if n := e.gh.RequestCount(); n != 0 {
		t.Errorf("%d requests for refused check runs, want none", n)
	}

	if _, err := e.c.CreateCheckRun(ctx, CheckRun{Name: "n", HeadSHA: sha('f')}); !errors.Is(err, ErrInvalid) {
		t.Errorf("check run on an unknown commit: %v, want ErrInvalid", err)
	}
	if err := e.c.UpdateCheckRun(ctx, CheckRun{ID: 424242, Name: "n"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing check run: %v, want ErrNotFound", err)
	}
	// Only an App may write check runs.
	if _, err := setupToken(t, e.gh).CreateCheckRun(ctx, CheckRun{Name: "n", HeadSHA: sha('a')}); !errors.Is(err, ErrForbidden) {
		t.Errorf("check run with a token: %v, want ErrForbidden", err)
	}
}

// TestCreateCheckRunNotRetried: a check run GitHub created before failing
// is not created twice.
func TestCreateCheckRunNotRetried(t *testing.T) {
	e := setupApp(t, nil)
	ctx := context.Background()
	e.gh.AddPR(fakegithub.PR{Number: 1, HeadSHA: sha('a')})
	e.gh.Inject(fakegithub.Fault{Kind: fakegithub.ServerError, Status: 502, Method: "POST", Route: "/repos/{owner}/{repo}/check-runs", Applied: true})
	if _, err := e.c.CreateCheckRun(ctx, CheckRun{Name: "n", HeadSHA: sha('a'), ExternalID: "job-1"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	got, err := e.c.CheckRunsFor(ctx, sha('a'), "n")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ExternalID != "job-1" {
		t.Errorf("check runs after a failed create: %+v, want the one GitHub made", got)
	}
}

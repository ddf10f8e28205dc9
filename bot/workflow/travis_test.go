package workflow

import (
	"context"
	"fmt"
	"testing"

	"github.com/refbot/refbot/travis"
	"github.com/refbot/refbot/travis/travistest"
)

// TestRequiredJobs: with required jobs named, a build passes when they
// pass, whatever the others did; a required job that is missing fails it.
func TestRequiredJobs(t *testing.T) {
	tv := travistest.NewServer(t)
	tv.AddRepo("o/r")
	b := tv.AddBuild(travistest.Build{Repo: "o/r", PullRequestNumber: 1, State: "failed", Jobs: []travistest.Job{
		{Name: "linux", State: "passed"}, {Name: "macos", State: "passed"}, {Name: "docs", State: "failed"},
	}})
	tc, err := travis.New(tv.URL, tv.Token, tv.Client())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc2 := range []struct {
		required []string
		passed   bool
	}{
		{nil, false}, // every job counts: docs failed
		{[]string{"linux", "macos"}, true},
		{[]string{"linux", "docs"}, false},
		{[]string{"linux", "windows"}, false}, // windows never ran
	} {
		ci := TravisCI{Client: tc, Repo: "o/r", RequiredJobs: tc2.required}
		got, err := ci.Build(context.Background(), fmt.Sprint(b.ID))
		if err != nil {
			t.Fatal(err)
		}
		if got.Passed != tc2.passed {
			t.Errorf("required %v: passed = %v, want %v", tc2.required, got.Passed, tc2.passed)
		}
	}
}

package travis_test

import (
	"testing"

	"github.com/refbot/refbot/travis"
)

func TestBuildFinishedPassed(t *testing.T) {
	job := func(state string, allowFailure bool) travis.Job {
		return travis.Job{State: state, AllowFailure: allowFailure}
	}
	tests := []struct {
		name         string
		build        travis.Build
		wantFinished bool
		wantPassed   bool
	}{
		{name: "created", build: travis.Build{State: "created", Jobs: []travis.Job{job("created", false)}}},
		{name: "started", build: travis.Build{State: "started", Jobs: []travis.Job{job("passed", false), job("started", false)}}},
		{
			name:         "all passed",
			build:        travis.Build{State: "passed", Jobs: []travis.Job{job("passed", false), job("passed", false)}},
			wantFinished: true, wantPassed: true,
		},
		{
			name:         "allowed failure failed",
			build:        travis.Build{State: "passed", Jobs: []travis.Job{job("passed", false), job("failed", true)}},
			wantFinished: true, wantPassed: true,
		},
		{
			name:         "allowed failure errored",
			build:        travis.Build{State: "passed", Jobs: []travis.Job{job("passed", false), job("errored", true)}},
			wantFinished: true, wantPassed: true,
		},
		{
			name:         "required job failed",
			build:        travis.Build{State: "failed", Jobs: []travis.Job{job("failed", false), job("passed", false)}},
			wantFinished: true,
		},
		{
			name:         "required job errored",
			build:        travis.Build{State: "errored", Jobs: []travis.Job{job("passed", false), job("errored", false)}},
			wantFinished: true,
		},
		{
			name:         "canceled",
			build:        travis.Build{State: "canceled", Jobs: []travis.Job{job("passed", false), job("canceled", false)}},
			wantFinished: true,
		},
		{
			name:         "no job states, build passed",
			build:        travis.Build{State: "passed"},
			wantFinished: true, wantPassed: true,
		},
		{
			name:         "no job states, build failed",
			build:        travis.Build{State: "failed"},
			wantFinished: true,
		},
		{name: "unknown state", build: travis.Build{State: "booting"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.build.Finished(); got != tt.wantFinished {
				t.Errorf("Finished() = %v, want %v", got, tt.wantFinished)
			}
			if got := tt.build.Passed(); got != tt.wantPassed {
				t.Errorf("Passed() = %v, want %v", got, tt.wantPassed)
			}
		})
	}
}

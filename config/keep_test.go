package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestKeepPeriods: jobs.keep_finished and jobs.keep_work_folders default
// to a week and a day, take what the file says, and refuse less than a
// minute (0 would prune everything at once, not keep it for good).
func TestKeepPeriods(t *testing.T) {
	t.Setenv("REFBOT_TEST_GITHUB_TOKEN", "t")
	for _, tc := range []struct {
		name       string
		jobs       string
		finished   time.Duration
		workFolder time.Duration
		problems   []string
	}{
		{name: "defaults", finished: 7 * 24 * time.Hour, workFolder: 24 * time.Hour},
		{name: "set", jobs: "jobs:\n  keep_finished: 720h\n  keep_work_folders: 2h\n", finished: 720 * time.Hour, workFolder: 2 * time.Hour},
		{name: "too short", jobs: "jobs:\n  keep_finished: 30s\n  keep_work_folders: 0s\n", problems: []string{
			"config.yaml:10:3: jobs.keep_finished: must be at least 1m (default 168h)",
			"config.yaml:11:3: jobs.keep_work_folders: must be at least 1m (default 24h)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := minimal + tc.jobs
			if tc.problems != nil {
				if diff := cmp.Diff(tc.problems, loadProblems(t, src)); diff != "" {
					t.Errorf("problems (-want +got):\n%s", diff)
				}
				return
			}
			cfg, err := Load(writeConfig(t, src))
			if err != nil {
				t.Fatal(err)
			}
			got := []time.Duration{time.Duration(cfg.Jobs.KeepFinished), time.Duration(cfg.Jobs.KeepWorkFolders)}
			if diff := cmp.Diff([]time.Duration{tc.finished, tc.workFolder}, got); diff != "" {
				t.Errorf("keep_finished, keep_work_folders (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCacheMaxBytes: data_repo.cache_max_bytes defaults to 1GiB, takes a
// size, and refuses less than 1MiB.
func TestCacheMaxBytes(t *testing.T) {
	t.Setenv("REFBOT_TEST_GITHUB_TOKEN", "t")
	withMax := func(v string) string {
		return strings.Replace(minimal, "  url: https://git.example.org/octo-org/data.git\n",
			"  url: https://git.example.org/octo-org/data.git\n  cache_max_bytes: "+v+"\n", 1)
	}
	for _, tc := range []struct {
		src  string
		want ByteSize
	}{{minimal, GiB}, {withMax("4GiB"), 4 * GiB}} {
		cfg, err := Load(writeConfig(t, tc.src))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DataRepo.CacheMaxBytes != tc.want {
			t.Errorf("cache_max_bytes %d, want %d", cfg.DataRepo.CacheMaxBytes, tc.want)
		}
	}
	want := []string{"config.yaml:9:3: data_repo.cache_max_bytes: must be at least 1MiB (default 1GiB)"}
	if diff := cmp.Diff(want, loadProblems(t, withMax("100KiB"))); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

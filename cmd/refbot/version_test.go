package main

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVersionCommand(t *testing.T) {
	code, stdout, stderr := run(t, "version")
	if code != exitOK || stderr != "" {
		t.Fatalf("refbot version = %d, stderr %q", code, stderr)
	}
	if !strings.HasPrefix(stdout, "refbot ") || !strings.Contains(stdout, "(commit ") ||
		!strings.HasSuffix(stdout, " "+runtime.GOOS+"/"+runtime.GOARCH+")\n") {
		t.Errorf("refbot version printed %q, want \"refbot VERSION (commit ..., GO PLATFORM)\"", stdout)
	}

	code, stdout, stderr = run(t, "version", "--json")
	if code != exitOK || stderr != "" {
		t.Fatalf("refbot version --json = %d, stderr %q", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("refbot version --json printed %q: %v", stdout, err)
	}
	// Every key is there, known or not, so that a script can rely on them.
	for _, key := range []string{"version", "commit", "date", "modified", "go", "platform"} {
		if _, ok := got[key]; !ok {
			t.Errorf("refbot version --json lacks %q: %s", key, stdout)
		}
	}
	if got["go"] != runtime.Version() || got["platform"] != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("refbot version --json says go %v on %v, want %s on %s/%s", got["go"], got["platform"], runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
}

func TestReadBuildVersion(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	checkout := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/refbot/refbot", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: sha},
			{Key: "vcs.time", Value: "2026-02-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	// go install github.com/refbot/refbot/cmd/refbot@v0.3.0: Go records the
	// module's version and no VCS information.
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/refbot/refbot", Version: "v0.3.0"}}
	release := buildVersion{Version: "1.2.3", Commit: "fedcba9876543210fedcba9876543210fedcba98", Date: "2026-03-01T12:00:00Z"}
	on := " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	tests := []struct {
		name    string
		stamped buildVersion
		info    *debug.BuildInfo
		ok      bool
		want    string
	}{
		{name: "release build", stamped: release, info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, ok: true,
			want: "refbot 1.2.3 (commit fedcba987654 of 2026-03-01T12:00:00Z, go1.26.8" + on},
		{name: "stamps win over a checkout's", stamped: release, info: checkout, ok: true,
			want: "refbot 1.2.3 (commit fedcba987654 of 2026-03-01T12:00:00Z, modified, go1.26.8" + on},
		{name: "only the version stamped", stamped: buildVersion{Version: "1.2.3"}, info: checkout, ok: true,
			want: "refbot 1.2.3 (commit 0123456789ab of 2026-02-01T10:00:00Z, modified, go1.26.8" + on},
		{name: "go build in a checkout", info: checkout, ok: true,
			want: "refbot devel (commit 0123456789ab of 2026-02-01T10:00:00Z, modified, go1.26.8" + on},
		{name: "go install of a version", info: installed, ok: true,
			want: "refbot v0.3.0 (commit unknown, go1.26.8" + on},
		{name: "no build info", want: "refbot devel (commit unknown, go version unknown" + on},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readBuildVersion(tt.stamped, tt.info, tt.ok).String()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildVersionJSON(t *testing.T) {
	v := buildVersion{Version: "1.2.3", Commit: "fedcba9876543210fedcba9876543210fedcba98", Date: "2026-03-01T12:00:00Z",
		GoVer: "go1.26.8", Platform: "linux/arm64"}
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":"1.2.3","commit":"fedcba9876543210fedcba9876543210fedcba98","date":"2026-03-01T12:00:00Z","modified":false,"go":"go1.26.8","platform":"linux/arm64"}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

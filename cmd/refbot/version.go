package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version, commit and date are stamped in by a release build
// (scripts/release.sh, `make release`):
//
//	go build -ldflags "-X main.version=1.2.3 -X main.commit=<sha> -X main.date=2026-03-01T12:00:00Z" ./cmd/refbot
//
// date is the commit's date (UTC, RFC 3339), not the time of the build, so
// that two builds of one commit are identical. Each one left empty comes
// from the module's build information instead: `go install
// github.com/refbot/refbot/cmd/refbot@v1.2.3` records the version, and a
// build in a git checkout records the commit and its date.
var version, commit, date string

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print refbot's version, the commit it was built from and that commit's date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, ok := debug.ReadBuildInfo()
			v := readBuildVersion(buildVersion{Version: version, Commit: commit, Date: date}, info, ok)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), v)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// buildVersion says what a refbot binary is. Its JSON is what `refbot
// version --json` prints; an unknown commit or date is "".
type buildVersion struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`   // VCS revision
	Date     string `json:"date"`     // the commit's date, RFC 3339
	Modified bool   `json:"modified"` // built from a working tree with uncommitted changes
	GoVer    string `json:"go"`
	Platform string `json:"platform"` // GOOS/GOARCH
}

// readBuildVersion fills in what a release build did not stamp (each field
// of stamped that is empty) from what the Go toolchain recorded in the
// binary.
func readBuildVersion(stamped buildVersion, info *debug.BuildInfo, ok bool) buildVersion {
	v := stamped
	v.Platform = runtime.GOOS + "/" + runtime.GOARCH
	if ok && info != nil {
		v.GoVer = info.GoVersion
		if v.Version == "" && info.Main.Version != "(devel)" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if stamped.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if stamped.Date == "" {
					v.Date = s.Value
				}
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}

// String renders v as "refbot 1.2.3 (commit 0123456789ab of
// 2026-03-01T12:00:00Z, go1.26.8 linux/amd64)".
func (v buildVersion) String() string {
	commit := "commit unknown"
	if v.Commit != "" {
		commit = "commit " + v.Commit[:min(len(v.Commit), 12)]
	}
	if v.Date != "" {
		commit += " of " + v.Date
	}
	if v.Modified {
		commit += ", modified"
	}
	goVer := v.GoVer
	if goVer == "" {
		goVer = "go version unknown"
	}
	return fmt.Sprintf("refbot %s (%s, %s %s)", v.Version, commit, goVer, v.Platform)
}

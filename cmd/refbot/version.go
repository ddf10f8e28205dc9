package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set when building a release:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/refbot
//
// Without it, the version comes from the module's build information.
var version string

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print refbot's version and the commit it was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, ok := debug.ReadBuildInfo()
			_, err := fmt.Fprintln(cmd.OutOrStdout(), readBuildVersion(version, info, ok))
			return err
		},
	}
}

// buildVersion says what a refbot binary is.
type buildVersion struct {
	version  string
	commit   string // VCS revision, "" when unknown
	modified bool   // built from a working tree with uncommitted changes
	goVer    string
}

// readBuildVersion combines the -X version (preferred when set) with what
// the Go toolchain recorded in the binary.
func readBuildVersion(ldflagsVersion string, info *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{version: ldflagsVersion}
	if ok && info != nil {
		v.goVer = info.GoVersion
		if v.version == "" && info.Main.Version != "(devel)" {
			v.version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.commit = s.Value
			case "vcs.modified":
				v.modified = s.Value == "true"
			}
		}
	}
	if v.version == "" {
		v.version = "devel"
	}
	return v
}

// String renders v as "refbot v1.2.3 (commit 0123456789ab, go1.26.1)".
func (v buildVersion) String() string {
	commit := "unknown"
	if v.commit != "" {
		commit = v.commit[:min(len(v.commit), 12)]
	}
	if v.modified {
		commit += ", modified"
	}
	goVer := v.goVer
	if goVer == "" {
		goVer = "go version unknown"
	}
	return fmt.Sprintf("refbot %s (commit %s, %s)", v.version, commit, goVer)
}

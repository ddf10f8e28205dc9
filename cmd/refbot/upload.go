package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/refbot/refbot/config"
	"github.com/refbot/refbot/s3cache"
)

// s3Flags are the S3 settings a command can take from flags or environment
// variables when it runs without refbot's configuration file, as
// `refbot upload` does in a project's CI.
type s3Flags struct {
	bucket, prefix, endpoint, region string
	pathStyle                        bool
	concurrency                      int
}

func (f *s3Flags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.bucket, "bucket", os.Getenv("REFBOT_S3_BUCKET"), "S3 bucket (default $REFBOT_S3_BUCKET)")
	fl.StringVar(&f.prefix, "prefix", os.Getenv("REFBOT_S3_PREFIX"), "folder inside the bucket (default $REFBOT_S3_PREFIX)")
	fl.StringVar(&f.endpoint, "endpoint", os.Getenv("REFBOT_S3_ENDPOINT"), "S3 endpoint URL for MinIO and other S3-compatible stores (default $REFBOT_S3_ENDPOINT)")
	fl.StringVar(&f.region, "region", os.Getenv("REFBOT_S3_REGION"), "S3 region (default $REFBOT_S3_REGION, else us-east-1)")
	fl.BoolVar(&f.pathStyle, "path-style", os.Getenv("REFBOT_S3_PATH_STYLE") == "true", "path-style addressing (default $REFBOT_S3_PATH_STYLE)")
	fl.IntVar(&f.concurrency, "concurrency", 16, "parallel transfers")
}

// options merges the configuration file's s3 section (if a file is given)
// with the flags; flags given on the command line win.
func (f *s3Flags) options(cmd *cobra.Command) (s3cache.Options, error) {
	var o s3cache.Options
	if path, _ := configFile(cmd, ""); path != "" {
		cfg, err := config.Load(path)
		if err != nil {
			return o, err
		}
		if o, err = s3Options(cfg.S3); err != nil {
			return o, err
		}
	}
	set := func(name string, dst *string, v string) {
		if cmd.Flags().Changed(name) || (*dst == "" && v != "") {
			*dst = v
		}
	}
	set("bucket", &o.Bucket, f.bucket)
	set("prefix", &o.Prefix, f.prefix)
	set("endpoint", &o.Endpoint, f.endpoint)
	set("region", &o.Region, f.region)
	if cmd.Flags().Changed("path-style") || f.pathStyle {
		o.PathStyle = f.pathStyle
	}
	if cmd.Flags().Changed("concurrency") || o.Concurrency == 0 {
		o.Concurrency = f.concurrency
	}
	if o.Bucket == "" {
		return o, usageErrorf("no S3 bucket: give --bucket, $REFBOT_S3_BUCKET or a configuration file")
	}
	return o, nil
}

// s3Options turns the configuration's s3 section into store options,
// resolving its secrets.
func s3Options(c config.S3) (s3cache.Options, error) {
	o := s3cache.Options{
		Bucket: c.Bucket, Prefix: c.Prefix, Region: c.Region, Endpoint: c.Endpoint, PathStyle: c.PathStyle,
		Concurrency: c.Concurrency,
		Limits:      s3cache.Limits{MaxFileBytes: int64(c.MaxFileBytes), MaxBuildBytes: int64(c.MaxBuildBytes)},
	}
	if c.AccessKeyID.IsSet() {
		var err error
		if o.AccessKeyID, err = c.AccessKeyID.Resolve(); err != nil {
			return o, fmt.Errorf("s3.access_key_id: %w", err)
		}
		if o.SecretAccessKey, err = c.SecretAccessKey.Resolve(); err != nil {
			return o, fmt.Errorf("s3.secret_access_key: %w", err)
		}
	}
	return o, nil
}

func newUploadCmd() *cobra.Command {
	var (
		s3            s3Flags
		build, source string
		commit        string
		variant       string
		repo          string
		provider      string
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "upload --build ID --source PR|BRANCH [--commit SHA] [--variant NAME] DIR",
		Short: "Upload a CI build's test outputs to S3 (run by the project's CI)",
		Long: `Upload the files under DIR as the outputs of CI build ID: the data files in
parallel (multipart for large ones), then SOURCE, then MANIFEST.json last, so
that refbot only ever sees complete uploads. Uploading the same build again
(a restarted CI build) replaces it.

SOURCE is the PR number on a PR build and the branch name on a push build.
"false" (Travis's $TRAVIS_PULL_REQUEST on a push build) and git ref names
(refs/heads/..., refs/pull/...) are refused with exit code 2, before anything
is uploaded. On a PR build, --commit is the PR's head ($TRAVIS_PULL_REQUEST_SHA),
not the merge commit CI tested ($TRAVIS_COMMIT).

S3 settings come from the flags, from $REFBOT_S3_* variables, or from the
s3 section of refbot's configuration file (--config); credentials from the
configuration file or the AWS SDK's default chain (AWS_ACCESS_KEY_ID …).
Without any credentials it fails before uploading: CI gives the builds of a
pull request from a fork no secrets.`,
		Example: `  if [ "$TRAVIS_PULL_REQUEST" = false ]; then
      src=$TRAVIS_BRANCH sha=$TRAVIS_COMMIT
  else
      src=$TRAVIS_PULL_REQUEST sha=$TRAVIS_PULL_REQUEST_SHA
  fi
  refbot upload --bucket ci-data --build "$TRAVIS_BUILD_ID" --source "$src" --commit "$sha" test-output/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := parseSourceFlag(source)
			if err != nil {
				return err
			}
			opts, err := s3.options(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store, err := s3cache.New(ctx, opts)
			if err != nil {
				return err
			}
			if err := store.CheckCredentials(ctx); errors.Is(err, s3cache.ErrNoCredentials) {
				return fmt.Errorf("%w\n%s", err, noCredentialsHelp)
			} else if err != nil {
				return err
			}
			start := time.Now()
			lastReport := start
			m, err := store.Upload(ctx, s3cache.UploadRequest{
				Build: build, Source: src, Commit: commit, Variant: variant, Repo: repo, Provider: provider, Dir: args[0],
				Progress: func(files int, bytes int64) {
					if !asJSON && time.Since(lastReport) > 2*time.Second {
						lastReport = time.Now()
						fmt.Fprintf(cmd.ErrOrStderr(), "uploaded %d files, %s\n", files, humanBytes(bytes))
					}
				},
			})
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
					"build": m.Build, "source": src.String(), "variant": m.Variant, "commit": m.Commit,
					"files": len(m.Files), "bytes": m.TotalSize(), "location": fmt.Sprintf("%s/%s/", store, m.Build),
				})
			}
			what := "build " + m.Build
			if m.Variant != "" {
				what += " variant " + m.Variant
			}
			fmt.Fprintf(cmd.OutOrStdout(), "uploaded %s for %s: %d files, %s to %s/%s/ in %.1fs\n",
				what, describeSource(src), len(m.Files), humanBytes(m.TotalSize()), store, m.Build, time.Since(start).Seconds())
			return nil
		},
	}
	s3.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&build, "build", "", "the CI build id (required)")
	fl.StringVar(&source, "source", "", "the PR number or branch name the build is for (required)")
	fl.StringVar(&commit, "commit", "", "the commit the build tested (full sha)")
	fl.StringVar(&variant, "variant", "", "the matrix variant these files belong to (e.g. linux-py3.12)")
	fl.StringVar(&repo, "repo", "", "the project's owner/name, recorded in the manifest")
	fl.StringVar(&provider, "provider", "", "the CI provider, recorded in the manifest")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.MarkFlagRequired("build")
	cmd.MarkFlagRequired("source")
	return cmd
}

// noCredentialsHelp follows the error when `refbot upload` has no S3
// credentials at all.
const noCredentialsHelp = `Nothing was uploaded. The likely cause: this is the CI of a pull request from
a fork, and CI gives a fork's builds no secrets, so they cannot upload to S3.
Run the build from a branch of the main repository, or have a maintainer run
it there. Otherwise give the CI its S3 credentials: AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, or s3.access_key_id in the --config file.`

// parseSourceFlag reads --source, refusing what a CI variable holds when the
// recipe took the wrong one: SOURCE would name a branch no PR or push has.
func parseSourceFlag(flag string) (s3cache.Source, error) {
	text := strings.TrimSpace(flag)
	switch {
	case text == "false":
		return s3cache.Source{}, usageErrorf(`--source false: Travis sets TRAVIS_PULL_REQUEST=false on push builds; ` +
			`the source of a push build is its branch: --source "$TRAVIS_BRANCH"`)
	case strings.HasPrefix(text, "refs/heads/"):
		return s3cache.Source{}, usageErrorf("--source %s: give the plain branch name: --source %s",
			text, strings.TrimPrefix(text, "refs/heads/"))
	case strings.HasPrefix(text, "refs/pull/"):
		pr, _, _ := strings.Cut(strings.TrimPrefix(text, "refs/pull/"), "/")
		return s3cache.Source{}, usageErrorf("--source %s: give the PR number: --source %s", text, pr)
	}
	src, err := s3cache.ParseSource(text)
	if err != nil {
		return src, usageErrorf("--source: %v", err)
	}
	return src, nil
}

func describeSource(s s3cache.Source) string {
	if s.PR > 0 {
		return fmt.Sprintf("PR #%d", s.PR)
	}
	return "branch " + s.Branch
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

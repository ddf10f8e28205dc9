package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
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
// with the flags; flags given on the command line win. A website build
// (kind s3cache.KindWebsite) goes to the docs builds' bucket and folder:
// website.s3_bucket and website.s3_prefix in the file, else
// $REFBOT_WEBSITE_S3_BUCKET (default the test builds' bucket) and
// $REFBOT_WEBSITE_S3_PREFIX (default "<the test builds' folder>-website"),
// and never inside the test builds' folder.
func (f *s3Flags) options(cmd *cobra.Command, kind string) (s3cache.Options, error) {
	var o s3cache.Options
	// Where the test builds go, to keep a site out of their folder.
	tests := struct{ bucket, prefix string }{os.Getenv("REFBOT_S3_BUCKET"), os.Getenv("REFBOT_S3_PREFIX")}
	if path, _ := configFile(cmd, ""); path != "" {
		cfg, err := config.Load(path)
		if err != nil {
			return o, err
		}
		if o, err = s3Options(cfg.S3); err != nil {
			return o, err
		}
		tests.bucket, tests.prefix = cfg.S3.Bucket, cfg.S3.Prefix
		if kind == s3cache.KindWebsite {
			o.Bucket, o.Prefix = cfg.Website.UploadBucket(cfg.S3), cfg.Website.UploadPrefix(cfg.S3)
		}
	}
	bucket, prefix := f.bucket, f.prefix
	if kind == s3cache.KindWebsite {
		if v := os.Getenv("REFBOT_WEBSITE_S3_BUCKET"); v != "" && !cmd.Flags().Changed("bucket") {
			bucket = v
		}
		if !cmd.Flags().Changed("prefix") {
			prefix = os.Getenv("REFBOT_WEBSITE_S3_PREFIX")
			if prefix == "" {
				prefix = (*config.Website)(nil).UploadPrefix(config.S3{Prefix: f.prefix})
			}
		}
	}
	set := func(name string, dst *string, v string) {
		if cmd.Flags().Changed(name) || (*dst == "" && v != "") {
			*dst = v
		}
	}
	set("bucket", &o.Bucket, bucket)
	set("prefix", &o.Prefix, prefix)
	set("endpoint", &o.Endpoint, f.endpoint)
	set("region", &o.Region, f.region)
	if cmd.Flags().Changed("path-style") || f.pathStyle {
		o.PathStyle = f.pathStyle
	}
	if cmd.Flags().Changed("concurrency") || o.Concurrency == 0 {
		o.Concurrency = f.concurrency
	}
	o.Kind = kind
	if o.Bucket == "" {
		if kind == s3cache.KindWebsite {
			return o, usageErrorf("no S3 bucket: give --bucket, $REFBOT_WEBSITE_S3_BUCKET, $REFBOT_S3_BUCKET or a configuration file")
		}
		return o, usageErrorf("no S3 bucket: give --bucket, $REFBOT_S3_BUCKET or a configuration file")
	}
	if kind == s3cache.KindWebsite && o.Bucket == tests.bucket && overlappingFolders(o.Prefix, tests.prefix) {
		return o, usageErrorf("--kind website: the site would go to %s, and the test builds are in %s: "+
			"a site needs a folder of its own, outside theirs, which is pruned of what is not a test build; "+
			"give --prefix, $REFBOT_WEBSITE_S3_PREFIX or website.s3_prefix (or another bucket)",
			s3URL(o.Bucket, o.Prefix), s3URL(tests.bucket, tests.prefix))
	}
	return o, nil
}

// overlappingFolders says whether folder a of a bucket is b, inside it, or
// holds it: "" is the bucket's root.
func overlappingFolders(a, b string) bool {
	a, b = strings.Trim(a, "/"), strings.Trim(b, "/")
	in := func(x, y string) bool { return y == "" || x == y || strings.HasPrefix(x, y+"/") }
	return in(a, b) || in(b, a)
}

func s3URL(bucket, prefix string) string {
	if prefix = strings.Trim(prefix, "/"); prefix == "" {
		return "s3://" + bucket
	}
	return "s3://" + bucket + "/" + prefix
}

// s3Options turns the configuration's s3 section into store options,
// resolving its secrets.
func s3Options(c config.S3) (s3cache.Options, error) {
	o := s3cache.Options{
		Bucket: c.Bucket, Prefix: c.Prefix, Region: c.Region, Endpoint: c.Endpoint, PathStyle: c.PathStyle,
		Concurrency:  c.Concurrency,
		Limits:       s3cache.Limits{MaxFileBytes: int64(c.MaxFileBytes), MaxBuildBytes: int64(c.MaxBuildBytes), MaxFiles: c.MaxFiles},
		StallTimeout: time.Duration(c.StallTimeout),
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

// buildFlags are the facts of a build as `refbot upload` was given them;
// each one left out is read from the CI's environment (detectCI).
type buildFlags struct {
	build, source, commit, repo, provider string
	attempt                               int
}

func (f *buildFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.build, "build", "", "the CI build id (default $GITHUB_RUN_ID or $TRAVIS_BUILD_ID)")
	fl.StringVar(&f.source, "source", "", "the PR number or branch name the build is for (default: from the CI's environment)")
	fl.StringVar(&f.commit, "commit", "", "the commit the build tested, full sha; on a PR build the PR's head (default: from the CI's environment)")
	fl.IntVar(&f.attempt, "attempt", 0, "the attempt of the CI run (default $GITHUB_RUN_ATTEMPT)")
	fl.StringVar(&f.repo, "repo", "", "the project's owner/name, recorded in the manifest (default $GITHUB_REPOSITORY or $TRAVIS_REPO_SLUG)")
	fl.StringVar(&f.provider, "provider", "", "the CI provider, recorded in the manifest (default github-actions or travis, from the environment)")
}

// buildFacts are what an upload records about its build.
type buildFacts struct {
	Build    string
	Attempt  int
	Source   s3cache.Source
	Commit   string
	Repo     string
	Provider string
}

// resolve combines the flags with the CI's environment (env, nil outside a
// CI refbot knows): a flag given wins, except that a --source other than
// the one the CI names, or a --commit that is the CI's merge commit, is an
// error. Either would record the build under a PR or a head it does not
// belong to.
func (f *buildFlags) resolve(cmd *cobra.Command, env *ciBuild) (buildFacts, error) {
	facts := buildFacts{Build: f.build, Commit: f.commit, Repo: f.repo, Provider: f.provider}
	if cmd.Flags().Changed("attempt") {
		if f.attempt < 0 {
			return facts, usageErrorf("--attempt %d: give the CI run's attempt, 1 or more", f.attempt)
		}
		facts.Attempt = f.attempt
	}
	if f.source != "" {
		src, err := parseSourceFlag(f.source)
		if err != nil {
			return facts, err
		}
		facts.Source = src
	}
	if env == nil {
		for _, missing := range []struct{ flag, value string }{{"build", f.build}, {"source", f.source}} {
			if missing.value == "" {
				return facts, usageErrorf("no --%s: give it, or run in GitHub Actions or Travis, whose environment says it "+
					"(GITHUB_ACTIONS or TRAVIS is not \"true\" here)", missing.flag)
			}
		}
		return facts, nil
	}
	ci := describeProvider(env.Provider)
	switch {
	case f.source == "" && env.NoSource != nil:
		return facts, &exitError{code: exitUsage, err: env.NoSource}
	case f.source == "":
		if _, err := s3cache.ParseSource(env.Source.String()); err != nil {
			return facts, usageErrorf("%s from %s: %v", env.SourceFrom, ci, err)
		}
		facts.Source = env.Source
	case env.NoSource == nil && facts.Source != env.Source:
		return facts, usageErrorf("--source %s disagrees with %s: %s says this build is for %s; "+
			"leave --source out, or correct it", facts.Source, ci, env.SourceFrom, describeSource(env.Source))
	}
	if facts.Build == "" {
		facts.Build = env.Build
	}
	// The CI's attempt and commit belong to its own build of its own source.
	if !cmd.Flags().Changed("attempt") && facts.Build == env.Build {
		facts.Attempt = env.Attempt
	}
	if facts.Source == env.Source {
		switch {
		case facts.Commit == "":
			facts.Commit = env.Commit
		case env.MergeCommit != "" && strings.EqualFold(facts.Commit, env.MergeCommit):
			return facts, usageErrorf("--commit %s is the merge commit %s tested (%s), not the PR's head %s (%s): "+
				"leave --commit out", facts.Commit, ci, env.MergeFrom, env.Commit, env.CommitFrom)
		}
	}
	if facts.Repo == "" {
		facts.Repo = env.Repo
	}
	if facts.Provider == "" {
		facts.Provider = env.Provider
	}
	return facts, nil
}

// resolveWebsite is resolve for a docs build (--kind website). It is not a
// build of the PR: refbot asked CI for it on a branch of the project, and
// the CI's own source and commit are that branch's, so they are never used.
// The PR and its head come from $REFBOT_WEBSITE_PR and $REFBOT_WEBSITE_SHA,
// which refbot set on the build, or from --source and --commit (refused
// when they disagree with the variables); the build id, attempt, repo and
// provider are the CI's, as for test outputs.
func (f *buildFlags) resolveWebsite(cmd *cobra.Command, env *ciBuild, getenv func(string) string) (buildFacts, error) {
	facts := buildFacts{Build: f.build, Repo: f.repo, Provider: f.provider}
	if cmd.Flags().Changed("attempt") {
		if f.attempt < 0 {
			return facts, usageErrorf("--attempt %d: give the CI run's attempt, 1 or more", f.attempt)
		}
		facts.Attempt = f.attempt
	}
	envPR, envSHA := getenv(websitePREnv), getenv(websiteSHAEnv)
	switch {
	case f.source != "":
		src, err := parseSourceFlag(f.source)
		if err != nil {
			return facts, err
		}
		if src.PR == 0 {
			return facts, usageErrorf("--source %s: a website build is for a pull request: give its number", f.source)
		}
		if envPR != "" && envPR != src.String() {
			return facts, usageErrorf("--source %s disagrees with %s=%s, which refbot set for this docs build: leave --source out",
				f.source, websitePREnv, envPR)
		}
		facts.Source = src
	case envPR == "":
		return facts, usageErrorf("--kind website: no PR: set %s to the PR's number (refbot passes it to the docs build it asks for), "+
			"or give --source; the CI's own source is the branch the docs build ran on, not the PR", websitePREnv)
	default:
		pr, err := strconv.Atoi(envPR)
		if err != nil || pr <= 0 || strconv.Itoa(pr) != envPR {
			return facts, usageErrorf("%s=%q is not a PR number", websitePREnv, envPR)
		}
		facts.Source = s3cache.Source{PR: pr}
	}
	switch {
	case f.commit != "":
		if !shaPattern.MatchString(f.commit) {
			return facts, usageErrorf("--commit %q is not a full commit sha (40 lowercase hex digits)", f.commit)
		}
		if envSHA != "" && envSHA != f.commit {
			return facts, usageErrorf("--commit %s disagrees with %s=%s, which refbot set for this docs build: leave --commit out",
				f.commit, websiteSHAEnv, envSHA)
		}
		facts.Commit = f.commit
	case envSHA == "":
		return facts, usageErrorf("--kind website: no head commit: set %s to the PR's head sha that the site was built from "+
			"(refbot passes it to the docs build it asks for), or give --commit; the CI's own commit is the branch's, not the PR's", websiteSHAEnv)
	case !shaPattern.MatchString(envSHA):
		return facts, usageErrorf("%s=%q is not a full commit sha (40 lowercase hex digits)", websiteSHAEnv, envSHA)
	default:
		facts.Commit = envSHA
	}
	if env == nil {
		if facts.Build == "" {
			return facts, usageErrorf("no --build: give it, or run in GitHub Actions or Travis, whose environment says it " +
				"(GITHUB_ACTIONS or TRAVIS is not \"true\" here)")
		}
		return facts, nil
	}
	if facts.Build == "" {
		facts.Build = env.Build
	}
	if !cmd.Flags().Changed("attempt") && facts.Build == env.Build {
		facts.Attempt = env.Attempt
	}
	if facts.Repo == "" {
		facts.Repo = env.Repo
	}
	if facts.Provider == "" {
		facts.Provider = env.Provider
	}
	return facts, nil
}

// The variables refbot sets on a docs build it asks CI for (docs/design.md,
// "WEBSITE").
const (
	websitePREnv  = "REFBOT_WEBSITE_PR"
	websiteSHAEnv = "REFBOT_WEBSITE_SHA"
)

// The kinds `refbot upload --kind` takes.
const (
	kindOutputs = "outputs"
	kindWebsite = "website"
)

func newUploadCmd() *cobra.Command {
	var (
		s3       s3Flags
		facts    buildFlags
		variant  string
		artifact string
		kind     string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "upload [--build ID] [--source PR|BRANCH] [--commit SHA] [--variant NAME] [--artifact OUT] [--kind website] DIR",
		Short: "Hand a CI build's test outputs (or a docs build's site) to refbot: upload them to S3, or prepare a workflow artifact (run by the project's CI)",
		Long: `Upload the files under DIR as the outputs of CI build ID: the data files in
parallel (multipart for large ones), then SOURCE, then MANIFEST.json last, so
that refbot only ever sees complete uploads. Uploading the same build again
(a restarted CI build) replaces it.

SOURCE is the PR number on a PR build and the branch name on a push build.
"false" (Travis's $TRAVIS_PULL_REQUEST on a push build) and git ref names
(refs/heads/..., refs/pull/...) are refused with exit code 2, before anything
is uploaded. On a PR build, --commit is the PR's head, not the merge commit
CI tested.

In GitHub Actions (GITHUB_ACTIONS=true) and on Travis (TRAVIS=true) the flags
can be left out; they are read from the CI's environment:

                GitHub Actions                       Travis
  --build       $GITHUB_RUN_ID                       $TRAVIS_BUILD_ID
  --attempt     $GITHUB_RUN_ATTEMPT                  (none)
  --source      PR build: pull_request.number        $TRAVIS_PULL_REQUEST, or on a
                  in the event ($GITHUB_EVENT_PATH)    push build $TRAVIS_BRANCH
                push build: the branch ($GITHUB_REF)
  --commit      PR build: pull_request.head.sha      $TRAVIS_PULL_REQUEST_SHA, or on
                  in the event (not $GITHUB_SHA,       a push build $TRAVIS_COMMIT
                  GitHub's merge commit)
                push build: $GITHUB_SHA
  --repo        $GITHUB_REPOSITORY                   $TRAVIS_REPO_SLUG
  --provider    github-actions                       travis

Actions events other than pull_request, pull_request_target and a push to a
branch, and tag builds on either CI, have no source: upload refuses them
unless --source is given. A flag given wins, except that a --source other
than the CI's, or a --commit that is the CI's merge commit, is refused.

With --artifact OUT nothing goes to S3: OUT is made a folder holding
MANIFEST.json (MANIFEST.VARIANT.json with --variant) and data/..., ready for
actions/upload-artifact to upload as the artifact named in refbot's
ci.artifact setting (refbot-outputs, or refbot-outputs-VARIANT for a
variant). refbot fetches it through GitHub's API and takes the build's facts
from the API, not from the manifest. This is how the CI of a pull request
from a fork hands over its outputs: it needs no secrets.

S3 settings come from the flags, from $REFBOT_S3_* variables, or from the
s3 section of refbot's configuration file (--config); credentials from the
configuration file or the AWS SDK's default chain (AWS_ACCESS_KEY_ID …).
Without any credentials it fails before uploading: CI gives the builds of a
pull request from a fork no secrets, and those use --artifact.

With --kind website, DIR is a documentation site that the docs build refbot
asked for on BUILDBOT: WEBSITE has built; refbot publishes it as the PR's
preview. That build runs on a branch of the project, not on the PR, so the
CI's own source and commit are not the site's: the PR is $REFBOT_WEBSITE_PR
(or --source) and the head it was built from $REFBOT_WEBSITE_SHA (or
--commit), both set by refbot on the build, and upload refuses to run
without them. The build id, attempt, repo and provider come from the CI as
above. The site goes to the docs builds' folder: --bucket and --prefix,
else website.s3_bucket and website.s3_prefix of the --config file, else
$REFBOT_WEBSITE_S3_BUCKET (default $REFBOT_S3_BUCKET) and
$REFBOT_WEBSITE_S3_PREFIX (default "$REFBOT_S3_PREFIX-website"); never
inside the test builds' folder. A site has no variants and is not an
artifact.`,
		Example: `  # Travis, or GitHub Actions with S3 credentials among the secrets:
  refbot upload --bucket ci-data test-output/

  # GitHub Actions, a pull request from a fork (then actions/upload-artifact
  # with path: $RUNNER_TEMP/refbot-artifact, name: refbot-outputs):
  refbot upload --artifact "$RUNNER_TEMP/refbot-artifact" test-output/

  # Anywhere else, every fact given:
  refbot upload --bucket ci-data --build 4242 --source 17 --commit "$sha" test-output/

  # The docs build refbot asked for (REFBOT_WEBSITE_PR and _SHA set by refbot):
  refbot upload --kind website --bucket ci-data docs/_build/html/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			storeKind, err := uploadKind(kind, variant, artifact)
			if err != nil {
				return err
			}
			// An environment refbot cannot read (a container step without
			// the event payload) does not stop an upload whose flags say it
			// all. A docs build's PR is not the CI's: only its build id is.
			env, err := detectCI(os.Getenv)
			if err != nil && (facts.build == "" || (facts.source == "" && storeKind != s3cache.KindWebsite)) {
				return fmt.Errorf("read the CI's environment: %w", err)
			}
			var b buildFacts
			if storeKind == s3cache.KindWebsite {
				b, err = facts.resolveWebsite(cmd, env, os.Getenv)
			} else {
				b, err = facts.resolve(cmd, env)
			}
			if err != nil {
				return err
			}
			if artifact != "" {
				return prepareArtifact(cmd, b, variant, artifact, args[0], asJSON)
			}
			opts, err := s3.options(cmd, storeKind)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store, err := s3cache.New(ctx, opts)
			if err != nil {
				return err
			}
			if err := store.CheckCredentials(ctx); errors.Is(err, s3cache.ErrNoCredentials) {
				if storeKind == s3cache.KindWebsite {
					return fmt.Errorf("%w\n%s", err, noSiteCredentialsHelp)
				}
				return fmt.Errorf("%w\n%s", err, noCredentialsHelp)
			} else if err != nil {
				return err
			}
			start := time.Now()
			lastReport := start
			m, err := store.Upload(ctx, s3cache.UploadRequest{
				Build: b.Build, Attempt: b.Attempt, Source: b.Source, Commit: b.Commit, Variant: variant,
				Repo: b.Repo, Provider: b.Provider, Dir: args[0],
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
			location := fmt.Sprintf("%s/%s/", store, m.Build)
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(uploadResult(m, b.Source, location))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "uploaded %s for %s: %d files, %s to %s in %.1fs\n",
				describeBuild(m), describeSource(b.Source), len(m.Files), humanBytes(m.TotalSize()), location, time.Since(start).Seconds())
			return nil
		},
	}
	s3.register(cmd)
	facts.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&variant, "variant", "", "the matrix variant these files belong to (e.g. linux-py3.12)")
	fl.StringVar(&artifact, "artifact", "", "prepare folder `OUT` for actions/upload-artifact instead of uploading to S3")
	fl.StringVar(&kind, "kind", kindOutputs, "what DIR holds: "+kindOutputs+" (a CI build's test outputs) or "+kindWebsite+" (a docs build's site, for WEBSITE)")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// uploadKind reads --kind as the store's kind, refusing what a site cannot
// be: a variant, or an artifact (the docs build refbot asks for runs on the
// project's branch, with its secrets, and uploads to S3).
func uploadKind(kind, variant, artifact string) (string, error) {
	switch kind {
	case kindOutputs:
		return s3cache.KindOutputs, nil
	case kindWebsite:
		if variant != "" {
			return "", usageErrorf("--kind website --variant %s: a site has no variants", variant)
		}
		if artifact != "" {
			return "", usageErrorf("--kind website --artifact: a docs build runs on the project's branch, with its secrets: " +
				"upload the site to S3 (leave --artifact out)")
		}
		return s3cache.KindWebsite, nil
	}
	return "", usageErrorf("--kind %q: give %s (a CI build's test outputs, the default) or %s (a docs build's site)",
		kind, kindOutputs, kindWebsite)
}

// prepareArtifact is `refbot upload --artifact OUT DIR`.
func prepareArtifact(cmd *cobra.Command, b buildFacts, variant, out, dir string, asJSON bool) error {
	if b.Provider == providerTravis {
		return usageErrorf("--artifact: Travis has no workflow artifacts refbot can fetch; upload to S3")
	}
	if hidden, err := firstHiddenPath(dir); err != nil {
		return err
	} else if hidden != "" {
		return fmt.Errorf("--artifact: %s in %s: actions/upload-artifact leaves out names starting with '.', "+
			"and refbot would find the artifact incomplete; rename it, or remove it from the outputs", hidden, dir)
	}
	m, err := s3cache.PrepareArtifact(cmd.Context(), s3cache.PrepareRequest{
		Dir: dir, Out: out, Variant: variant, Build: b.Build, Attempt: b.Attempt, PR: b.Source.PR, Branch: b.Source.Branch,
		Commit: b.Commit, Repo: b.Repo, Provider: b.Provider,
	})
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(uploadResult(m, b.Source, out))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "prepared %s for %s: %d files, %s in %s; upload that folder with actions/upload-artifact\n",
		describeBuild(m), describeSource(b.Source), len(m.Files), humanBytes(m.TotalSize()), out)
	return nil
}

// firstHiddenPath returns the first path under dir, relative to it, with
// a name starting with '.', or "" if none has one.
func firstHiddenPath(dir string) (string, error) {
	var hidden string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			hidden, _ = filepath.Rel(dir, p)
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("upload folder: %w", err)
	}
	return filepath.ToSlash(hidden), nil
}

// uploadResult is what --json prints.
func uploadResult(m *s3cache.Manifest, src s3cache.Source, location string) map[string]any {
	kind := kindOutputs
	if m.Kind == s3cache.KindWebsite {
		kind = kindWebsite
	}
	return map[string]any{
		"build": m.Build, "attempt": m.Attempt, "source": src.String(), "variant": m.Variant, "commit": m.Commit,
		"files": len(m.Files), "bytes": m.TotalSize(), "location": location, "kind": kind,
	}
}

func describeBuild(m *s3cache.Manifest) string {
	what := "build " + m.Build
	if m.Kind == s3cache.KindWebsite {
		what = "website build " + m.Build
	}
	if m.Attempt > 0 {
		what += fmt.Sprintf(" (attempt %d)", m.Attempt)
	}
	if m.Variant != "" {
		what += " variant " + m.Variant
	}
	return what
}

// noCredentialsHelp follows the error when `refbot upload` has no S3
// credentials at all.
const noCredentialsHelp = `Nothing was uploaded. The likely cause: this is the CI of a pull request from
a fork, and CI gives a fork's builds no secrets, so they cannot upload to S3.
On GitHub Actions such a build hands its outputs to refbot as a workflow
artifact instead, which needs no secret: run refbot upload --artifact OUT DIR
and upload OUT with actions/upload-artifact, or use refbot's action with
mode: artifact (mode: auto picks it for a fork). If this build should upload
to S3, give the CI its S3 credentials: AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, or s3.access_key_id in the --config file.`

// noSiteCredentialsHelp follows the error when `refbot upload --kind
// website` has no S3 credentials.
const noSiteCredentialsHelp = `Nothing was uploaded. A docs build refbot asked for (WEBSITE) runs in the
project's own repository, which has its secrets even for a fork's pull
request: give the job that uploads the site its S3 credentials
(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or s3.access_key_id in the
--config file). examples/docs.yaml keeps them out of the job that runs the
pull request's code.`

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

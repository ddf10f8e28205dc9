package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Defaults. Every default of the configuration is here or in
// applyDerivedDefaults, which fills in the ones computed from other keys.
const (
	DefaultGitHubAPIURL     = "https://api.github.com/"
	DefaultGitHubGraphQLURL = "https://api.github.com/graphql"
	DefaultStatusContext    = "s3-reference-data-cache"
	DefaultCommandPrefix    = "BUILDBOT:"

	DefaultS3Region           = "us-east-1"
	DefaultS3Concurrency      = 16
	DefaultMaxFileBytes       = 512 * MiB
	DefaultMaxBuildBytes      = 10 * GiB
	DefaultMaxFiles           = 200_000
	DefaultRetentionPerPR     = 5
	DefaultRetentionPerBranch = 20
	// DefaultS3StallTimeout and DefaultDataRepoStallTimeout notice a
	// silent connection within minutes; the data repo's is longer, as a
	// git server may check a large push for a while before it answers.
	DefaultS3StallTimeout       = time.Minute
	DefaultDataRepoStallTimeout = 2 * time.Minute

	DefaultBaseBranch  = "master"
	DefaultDataRoot    = "data"
	DefaultKeepBackups = 5
	// DefaultDataRepoCacheMaxBytes leaves room for the trees of a few
	// thousand commits of a data repo of 50,000 files.
	DefaultDataRepoCacheMaxBytes = 1 * GiB
	// DefaultKeepArchives and DefaultKeepArchivesFor keep the last
	// thousand deleted data branches, for 90 days.
	DefaultKeepArchives    = 1000
	DefaultKeepArchivesFor = 90 * 24 * time.Hour
	DefaultAuthorName      = "refbot"
	DefaultAuthorEmail     = "refbot@localhost"

	DefaultCIProvider   = ProviderTravis
	DefaultTravisAPIURL = "https://api.travis-ci.com"
	DefaultArtifact     = "refbot-outputs"
	// DefaultReconcileInterval is how often missed events are looked for.
	DefaultReconcileInterval = 5 * time.Minute
	// DefaultClosedGrace keeps a closed PR's data branch a week.
	DefaultClosedGrace = 7 * 24 * time.Hour
	// DefaultJobTimeout bounds one run of a job.
	DefaultJobTimeout = time.Hour
	// DefaultKeepFinished keeps a week of finished jobs and records, as
	// refbot did before it was configurable; GitHub redelivers deliveries
	// up to three days old.
	DefaultKeepFinished = 7 * 24 * time.Hour
	// DefaultKeepWorkFolders keeps a closed PR's downloads a day, for a
	// reopening or a late merge.
	DefaultKeepWorkFolders = 24 * time.Hour
	// DefaultCIPollInterval is how often a restarted build is checked.
	DefaultCIPollInterval = 30 * time.Second
	// DefaultCIWaitTimeout is how long refbot follows a CI build.
	DefaultCIWaitTimeout = 6 * time.Hour
	// DefaultCIRestartGrace is how long a restarted build may show its old
	// run: Travis carries a restart out seconds, at most minutes, later.
	DefaultCIRestartGrace = 5 * time.Minute

	DefaultListen    = "127.0.0.1:8080"
	DefaultStateDir  = "/var/lib/refbot"
	DefaultLogLevel  = "info"
	DefaultLogFormat = "json"

	DefaultLargeChangeShare = 0.5

	// DefaultSlots is how many results of a verb with a hold are kept.
	DefaultSlots = 1
	// WEBSITE's defaults: its preview stays two hours before another PR's
	// may replace it, and the builder runs at most four times a UTC day.
	DefaultWebsiteHold      = 2 * time.Hour
	DefaultWebsiteMaxPerDay = 4

	// The derived defaults, relative to state_dir.
	defaultDatabaseName = "refbot.db"
	defaultCacheDirName = "data-repo"
)

// ListenEnv names the environment variable that gives server.listen when
// the file leaves it out. refbot's container image sets it to 0.0.0.0:8080,
// since a container's loopback cannot be reached from outside it.
const ListenEnv = "REFBOT_LISTEN"

// DefaultProtect are the top-level names refbot never touches when the data
// is at the top of the data repo (data_root: ".").
var DefaultProtect = []string{"README*", "LICENSE*", ".github/", ".gitattributes", ".gitignore"}

// DefaultWorkers are the workers of each job queue.
var DefaultWorkers = map[string]int{"commands": 4, "updates": 2, "merges": 2, "ci": 4}

// defaultCooldowns are merged into policy.cooldowns verb by verb: a file
// that sets WEBSITE keeps the UPDATE default.
var defaultCooldowns = map[string]Duration{
	"UPDATE": Duration(10 * time.Minute),
}

// defaultVerbLimits are the limits of the verbs that have more than a
// cooldown by default; every other verb has none but its cooldown.
// Policy.Limits merges what the file sets over them, key by key.
var defaultVerbLimits = map[string]VerbLimits{
	"WEBSITE": {MaxPerDay: DefaultWebsiteMaxPerDay, WhenCapped: WhenCappedQueue, Hold: DefaultWebsiteHold, Slots: DefaultSlots},
}

// Default returns a Config with every default set and nothing else: the
// required keys (github.repo, s3.bucket, data_repo.url) are empty. Load
// decodes the file over it, so a key the file leaves out keeps its default
// and a key it sets, even to 0, is what it says.
func Default() *Config {
	return &Config{
		GitHub: GitHub{
			APIURL:        DefaultGitHubAPIURL,
			GraphQLURL:    DefaultGitHubGraphQLURL,
			StatusContext: DefaultStatusContext,
			CommandPrefix: DefaultCommandPrefix,
		},
		S3: S3{
			Region:        DefaultS3Region,
			Concurrency:   DefaultS3Concurrency,
			MaxFileBytes:  DefaultMaxFileBytes,
			MaxBuildBytes: DefaultMaxBuildBytes,
			MaxFiles:      DefaultMaxFiles,
			StallTimeout:  Duration(DefaultS3StallTimeout),
			Retention: Retention{
				PerPR:     DefaultRetentionPerPR,
				PerBranch: DefaultRetentionPerBranch,
			},
		},
		DataRepo: DataRepo{
			BaseBranch:      DefaultBaseBranch,
			DataRoot:        DefaultDataRoot,
			KeepBackups:     DefaultKeepBackups,
			CacheMaxBytes:   DefaultDataRepoCacheMaxBytes,
			KeepArchives:    DefaultKeepArchives,
			KeepArchivesFor: Duration(DefaultKeepArchivesFor),
			ClosedGrace:     Duration(DefaultClosedGrace),
			AuthorName:      DefaultAuthorName,
			AuthorEmail:     DefaultAuthorEmail,
			StallTimeout:    Duration(DefaultDataRepoStallTimeout),
		},
		CI: CI{
			Provider:     DefaultCIProvider,
			APIURL:       DefaultTravisAPIURL,
			PollInterval: Duration(DefaultCIPollInterval),
			WaitTimeout:  Duration(DefaultCIWaitTimeout),
			RestartGrace: Duration(DefaultCIRestartGrace),
		},
		Server: Server{Listen: DefaultListen, ReconcileInterval: Duration(DefaultReconcileInterval)},
		Jobs: Jobs{Timeout: Duration(DefaultJobTimeout), KeepFinished: Duration(DefaultKeepFinished),
			KeepWorkFolders: Duration(DefaultKeepWorkFolders)},
		StateDir: DefaultStateDir,
		Log:      Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Policy:   Policy{LargeChangeShare: DefaultLargeChangeShare},
		Pages: Pages{
			Access:        DefaultPagesAccess,
			CacheMaxBytes: DefaultPagesCacheMaxBytes,
			Thumbnails:    DefaultPagesThumbnails,
		},
	}
}

// applyDerivedDefaults fills in the defaults that depend on other keys, once
// the file is decoded, and puts values in the one form the rest of refbot
// expects.
func (c *Config) applyDerivedDefaults() {
	if c.Database == "" && c.StateDir != "" {
		c.Database = filepath.Join(c.StateDir, defaultDatabaseName)
	}
	if c.DataRepo.CacheDir == "" && c.StateDir != "" {
		c.DataRepo.CacheDir = filepath.Join(c.StateDir, defaultCacheDirName)
	}
	if v := os.Getenv(ListenEnv); v != "" && !c.src.has("server.listen") {
		c.Server.Listen = v
	}
	if c.CI.Repo == "" {
		c.CI.Repo = c.GitHub.Repo
	}
	if c.CI.Outputs == "" {
		c.CI.Outputs = OutputsS3
		if c.CI.Provider == ProviderGitHubActions {
			c.CI.Outputs = OutputsEither
		}
	}
	if c.CI.Provider == ProviderGitHubActions {
		if c.CI.Rerun == "" {
			c.CI.Rerun = RerunAll
		}
		if c.CI.Artifact == "" {
			c.CI.Artifact = DefaultArtifact
		}
	}
	if c.DataRepo.GitHubRepo == "" {
		c.DataRepo.GitHubRepo = c.DataRepo.githubRepoFromURL()
	}
	if c.Policy.Cooldowns == nil {
		c.Policy.Cooldowns = map[string]Duration{}
	}
	for verb, d := range defaultCooldowns {
		// A cooldown in policy.verbs is the same setting in its long form.
		if _, ok := c.Policy.Cooldowns[verb]; !ok && c.Policy.Verbs[verb].Cooldown == nil {
			c.Policy.Cooldowns[verb] = d
		}
	}
	if c.Jobs.Workers == nil {
		c.Jobs.Workers = map[string]int{}
	}
	for q, n := range DefaultWorkers {
		if _, ok := c.Jobs.Workers[q]; !ok {
			c.Jobs.Workers[q] = n
		}
	}
	if c.DataRepo.DataRoot == "." && c.DataRepo.Protect == nil {
		c.DataRepo.Protect = slices.Clone(DefaultProtect)
	}
	// go-github resolves paths against the REST URL, which only works when
	// it ends with "/"; GitHub Enterprise URLs are often written without.
	if c.GitHub.APIURL != "" && !strings.HasSuffix(c.GitHub.APIURL, "/") {
		c.GitHub.APIURL += "/"
	}
	c.S3.Prefix = strings.TrimSuffix(c.S3.Prefix, "/")
	if c.Website != nil {
		c.Website.applyDefaults()
	}
	c.applyPagesDefaults()
}

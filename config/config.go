// Package config reads refbot's configuration: one YAML file, decoded
// strictly into one struct tree, with defaults filled in and every problem
// reported at once.
//
// Secrets are never written in the file: each is a reference to an
// environment variable or a file (see Secret), resolved when it is used.
package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Config is the whole configuration of refbot. The yaml tags are the keys of
// the file; see deploy/refbot.example.yaml for a documented example.
type Config struct {
	GitHub   GitHub   `yaml:"github"`
	S3       S3       `yaml:"s3"`
	DataRepo DataRepo `yaml:"data_repo"`
	CI       CI       `yaml:"ci"`
	Server   Server   `yaml:"server"`
	StateDir string   `yaml:"state_dir"` // jobs, caches and the database live here
	// Database holds refbot's state and job queue: a SQLite file (default
	// <state_dir>/refbot.db), which one refbot serve holds, or a
	// postgres:// URL without a password (PGPASSWORD or ~/.pgpass give
	// it), which several refbot serve replicas share.
	Database string `yaml:"database"`
	Log      Log    `yaml:"log"`
	Policy   Policy `yaml:"policy"`
	Jobs     Jobs   `yaml:"jobs"`
	// Website turns on BUILDBOT: WEBSITE (documentation previews); without
	// a website section it is off.
	Website *Website `yaml:"website"`
	// Pages says who may read refbot's own web pages (the pull requests,
	// the review of a build, the jobs) and where it caches what they show.
	Pages Pages `yaml:"pages"`

	src *source // nil for a Config built in code
}

// Jobs tunes the job queue.
type Jobs struct {
	// Workers is how many jobs of each queue run at once: commands (HELP,
	// STATUS, STOP, PLAN), updates, merges and ci (following CI builds). A
	// queue left out keeps its default.
	Workers map[string]int `yaml:"workers"`
	// Timeout bounds one run of a job: a run still going after it is
	// cancelled and counts as a failed attempt. A wait for a GitHub rate
	// limit that would outlast it does not count: the job is put off until
	// the limit resets.
	Timeout Duration `yaml:"timeout"`
	// KeepFinished is how long the record of what is over is kept: ended
	// jobs and their log lines, finished UPDATE, WEBSITE and merge
	// records, and webhook deliveries. The pages and refbot status show
	// them until then; a delivery GitHub redelivers later than this is
	// still not done twice (the comment it carries is remembered for
	// good).
	KeepFinished Duration `yaml:"keep_finished"`
	// KeepWorkFolders is how long the work folder of a PR that is no
	// longer open (downloads kept between its UPDATEs) stays after its
	// last use.
	KeepWorkFolders Duration `yaml:"keep_work_folders"`
}

// GitHub says which repository refbot serves and how it talks to GitHub.
type GitHub struct {
	APIURL     string `yaml:"api_url"`     // REST base URL; always ends with "/"
	GraphQLURL string `yaml:"graphql_url"` // GraphQL endpoint
	Repo       string `yaml:"repo"`        // "owner/name" of the project
	// Exactly one of Token and App authenticates refbot.
	Token Secret `yaml:"token"`
	App   *App   `yaml:"app"`
	// WebhookSecret checks each delivery's signature. To rotate it, list
	// the new secret and the old one; a delivery signed with either is
	// accepted (refbot never signs anything with it).
	WebhookSecret Secrets `yaml:"webhook_secret"`
	// BotLogin is refbot's own login, so it ignores its own comments; when
	// empty, the login is asked from GitHub.
	BotLogin      string `yaml:"bot_login"`
	StatusContext string `yaml:"status_context"` // context of the cache status
	CommandPrefix string `yaml:"command_prefix"` // the word that starts a command line in a comment
}

// App is a GitHub App installation that refbot authenticates as.
type App struct {
	ID             int64  `yaml:"id"`              // the App ID, on the App's settings page
	InstallationID int64  `yaml:"installation_id"` // the number at the end of the installation's settings URL
	PrivateKey     Secret `yaml:"private_key"`     // the App's private key, PEM
}

// S3 is where CI uploads the artifacts of each build.
type S3 struct {
	Endpoint  string `yaml:"endpoint"`   // empty for AWS; set for MinIO and other S3-compatible stores
	Region    string `yaml:"region"`     // the bucket's region
	Bucket    string `yaml:"bucket"`     // the bucket CI uploads each build's outputs to
	Prefix    string `yaml:"prefix"`     // folder inside the bucket, without leading or trailing "/"
	PathStyle bool   `yaml:"path_style"` // http://endpoint/bucket/key instead of http://bucket.endpoint/key
	// AccessKeyID and SecretAccessKey come together. When both are unset the
	// SDK's default chain (environment, shared files, instance role) applies.
	AccessKeyID     Secret    `yaml:"access_key_id"`
	SecretAccessKey Secret    `yaml:"secret_access_key"`
	Concurrency     int       `yaml:"concurrency"`     // parallel transfers per build
	MaxFileBytes    ByteSize  `yaml:"max_file_bytes"`  // the largest file of a build refbot takes
	MaxBuildBytes   ByteSize  `yaml:"max_build_bytes"` // the most a build's files may hold together
	MaxFiles        int       `yaml:"max_files"`       // the most files a build (or one variant) may hold
	Retention       Retention `yaml:"retention"`
	// StallTimeout ends a request to S3 whose connection has moved no
	// byte either way for that long; the request is then retried. A large
	// transfer that moves, however slowly, is never cut.
	StallTimeout Duration `yaml:"stall_timeout"`
}

// Retention bounds how many builds are kept in S3. Builds that an open PR's
// status or data branch points at are kept whatever these say.
type Retention struct {
	PerPR     int `yaml:"per_pr"`     // the newest builds kept of each PR
	PerBranch int `yaml:"per_branch"` // the newest builds kept of each branch
}

// DataRepo is the git repository that holds the reference data.
type DataRepo struct {
	URL string `yaml:"url"` // the data repo's http(s) URL, without credentials
	// WebURL is the data repo's web view, for links to changed images in
	// replies; derived from url for github.com, else optional.
	WebURL string `yaml:"web_url"`
	// GitHubRepo is the data repo on GitHub, owner/name; derived from url
	// for github.com. With github.app set and token unset, refbot pushes
	// with the App's installation token, which then must reach this
	// repository too (the App installed on it).
	GitHubRepo string `yaml:"github_repo"`
	// Token pushes to the data repo over https (write access to it); see
	// GitHubRepo for pushing as the GitHub App instead.
	Token      Secret `yaml:"token"`
	BaseBranch string `yaml:"base_branch"` // the data repo's main branch, which PR branches start from and merges go to
	// DataRoot is the folder of the data inside the repo; nothing outside
	// it is touched. "." is the top of the repo: then Protect lists the
	// top-level names refbot never touches there.
	DataRoot string   `yaml:"data_root"`
	Protect  []string `yaml:"protect"`
	CacheDir string   `yaml:"cache_dir"` // local clone; default under state_dir
	// CacheMaxBytes bounds the local clone, which keeps the trees and
	// commits of every operation: past it, the reconcile pass empties the
	// clone and fetches the branch tips back. Set it well above the size
	// of a fresh clone (the trees of the base and the open PRs' branches).
	CacheMaxBytes ByteSize `yaml:"cache_max_bytes"`
	KeepBackups   int      `yaml:"keep_backups"` // old tips kept under refs/refbot/backup/ per branch
	// KeepArchives is how many deleted data branches keep their archive
	// (refs/refbot/archive/<branch>/<time>, the tip they had) and their
	// backups, the most recently deleted first; 0 keeps every one. The
	// rest are deleted from the data repo when refbot next deletes a
	// branch, or by refbot prune-refs; their data goes with them once the
	// data repo's server collects its garbage.
	KeepArchives int `yaml:"keep_archives"`
	// KeepArchivesFor is how long after its deletion a data branch keeps
	// its archive and backups; "0s" keeps them for good. A deleted branch
	// goes when this or keep_archives says so.
	KeepArchivesFor Duration `yaml:"keep_archives_for"`
	// ClosedGrace is how long the data branch of a PR closed without
	// merging is kept, in case it is reopened.
	ClosedGrace Duration `yaml:"closed_grace"`
	AuthorName  string   `yaml:"author_name"`  // the name on refbot's commits
	AuthorEmail string   `yaml:"author_email"` // the email on refbot's commits
	// StallTimeout ends a fetch or push whose connection to the data
	// repo's server has moved no byte either way for that long (the
	// server's silence before it answers included); the job then fails
	// and is retried. A large push that moves, however slowly, is never
	// cut.
	StallTimeout Duration `yaml:"stall_timeout"`
}

// CI providers.
const (
	ProviderTravis        = "travis"
	ProviderGitHubActions = "github-actions"
)

// How a build's outputs reach refbot (ci.outputs).
const (
	// OutputsS3: CI uploads them to S3 itself (refbot upload); it needs
	// S3 credentials, which CI never gives a fork's pull requests.
	OutputsS3 = "s3"
	// OutputsArtifacts: CI uploads them as a workflow artifact and refbot
	// copies it into S3 (GitHub Actions only).
	OutputsArtifacts = "artifacts"
	// OutputsEither: S3 when CI uploaded there, else the artifact.
	OutputsEither = "either"
)

// What refbot re-runs of a workflow run after an UPDATE (ci.rerun).
const (
	RerunAll    = "all"
	RerunFailed = "failed"
)

// CI is the project's CI service, which refbot asks for builds and restarts.
type CI struct {
	Provider     string   `yaml:"provider"`      // travis or github-actions
	APIURL       string   `yaml:"api_url"`       // Travis's API; GitHub Actions is reached through github.api_url
	Repo         string   `yaml:"repo"`          // slug at the provider; default github.repo
	Token        Secret   `yaml:"token"`         // Travis's API token; GitHub Actions uses refbot's GitHub credentials
	RequiredJobs []string `yaml:"required_jobs"` // jobs that must pass for a build to count as passed; empty: all
	PollInterval Duration `yaml:"poll_interval"` // how often a restarted build is checked
	// WaitTimeout is how long refbot follows a build it restarted, or
	// waits for a post-merge build, before it says so and stops.
	WaitTimeout Duration `yaml:"wait_timeout"`
	// RestartGrace is how long a build refbot restarted may go on showing
	// its old run before refbot asks CI once more (the restart was lost).
	RestartGrace Duration `yaml:"restart_grace"`
	// Workflows are the workflow files (names in .github/workflows) whose
	// runs are the project's test builds; GitHub Actions only, required.
	Workflows []string `yaml:"workflows"`
	// Rerun says what an UPDATE re-runs: the whole run (all, the default)
	// or only its failed jobs (failed); GitHub Actions only.
	Rerun string `yaml:"rerun"`
	// Outputs says how a build's outputs reach refbot: s3, artifacts or
	// either (OutputsS3 …); artifacts need GitHub Actions. Default s3, and
	// either with GitHub Actions.
	Outputs string `yaml:"outputs"`
	// Artifact is the name of the workflow artifact that holds a build's
	// outputs; a matrix variant's is "<artifact>-<variant>". GitHub Actions
	// only; default refbot-outputs.
	Artifact string `yaml:"artifact"`
}

// Server is refbot's HTTP server: webhook, pages, metrics and API.
type Server struct {
	// Listen is host:port; when the file leaves it out, $REFBOT_LISTEN
	// (set in the container image) or else 127.0.0.1:8080.
	Listen    string `yaml:"listen"`
	PublicURL string `yaml:"public_url"` // how others reach the server, for status links; optional
	APIToken  Secret `yaml:"api_token"`  // bearer token of /api/v1; the API is off when unset
	// ReconcileInterval is how often refbot looks for comments and merges
	// its webhook missed (also once at start).
	ReconcileInterval Duration `yaml:"reconcile_interval"`
}

// Log configures the logger.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // json or console
}

// Policy says who may command refbot and how often.
type Policy struct {
	// AllowedUsers and AllowedTeams ("org/team") may command refbot, in
	// addition to everyone with write, maintain or admin permission.
	AllowedUsers []string `yaml:"allowed_users"`
	AllowedTeams []string `yaml:"allowed_teams"`
	// Cooldowns is the time between two runs of a verb on one PR, by verb
	// in capitals. A verb not listed keeps its default; 0 turns it off. It
	// is the short form of policy.verbs.<VERB>.cooldown.
	Cooldowns map[string]Duration `yaml:"cooldowns"`
	// Verbs are the limits of each verb, by verb in capitals, as in
	// policy.verbs.WEBSITE.hold. A limit left out keeps the verb's
	// default; one set, even to 0, is what it says.
	Verbs map[string]VerbPolicy `yaml:"verbs"`
	// LargeChangeShare is the share of the data (0 to 1) an UPDATE may
	// change or remove before it needs "UPDATE --all".
	LargeChangeShare float64 `yaml:"large_change_share"`
}

// Cooldown returns the cooldown of verb, matched case-insensitively, from
// either form; 0 when there is none.
func (p Policy) Cooldown(verb string) time.Duration {
	return p.Limits(verb).Cooldown
}

// Load reads the configuration file at path, fills in defaults and
// validates it. Problems with the file's content are returned together as
// Problems, each naming the file, line and key; a file that cannot be read is
// an ordinary error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return parse(path, dir, data)
}

// parse is Load without the file system: name is used in messages and dir
// is where relative secret files are.
func parse(name, dir string, data []byte) (*Config, error) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, Problems{yamlProblem(name, nil, err)}
	}
	if len(file.Docs) > 1 {
		return nil, Problems{{File: name, Msg: "holds several YAML documents; a config file is one"}}
	}

	cfg := Default()
	cfg.src = &source{file: name}
	st := &decodeState{file: name, dir: dir}
	var problems Problems
	// A file that is empty or only comments is a config of defaults; go-yaml
	// would decode it as null and zero the defaults.
	if len(file.Docs) == 1 && file.Docs[0].Body != nil && file.Docs[0].Body.Type() != ast.NullType {
		problems = cfg.src.walk(file.Docs[0].Body)
		var opts []yaml.DecodeOption
		if len(problems) == 0 {
			// walk has already reported every unknown key; strict decoding
			// stays on as a backstop for any it could not see (behind an
			// alias). When walk did find some, decoding goes on without it so
			// that the other problems are reported in the same run.
			opts = append(opts, yaml.Strict())
		}
		if err := yaml.UnmarshalContext(withDecodeState(context.Background(), st), data, cfg, opts...); err != nil {
			// A value of the wrong type leaves its section half decoded, so
			// validating now would only add noise.
			problems = append(problems, st.values...)
			problems = append(problems, yamlProblem(name, cfg.src, err))
			sortProblems(problems)
			return nil, problems
		}
		problems = append(problems, st.values...)
	}

	cfg.applyDerivedDefaults()
	if err := cfg.Validate(); err != nil {
		var invalid Problems
		if !errors.As(err, &invalid) {
			return nil, err
		}
		problems = append(problems, withoutEchoes(invalid, st.values)...)
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, problems
	}
	return cfg, nil
}

// withoutEchoes drops the validation problems that only repeat a value that
// failed to decode: an inline github.token leaves the token unset, and
// "give token or app" about github would say the same thing again.
func withoutEchoes(invalid, undecoded Problems) Problems {
	var kept Problems
	for _, p := range invalid {
		echo := slices.ContainsFunc(undecoded, func(u *Problem) bool {
			return u.Key == p.Key || strings.HasPrefix(u.Key, p.Key+".") // not a secret: configuration keys
		})
		if !echo {
			kept = append(kept, p)
		}
	}
	return kept
}

// sortProblems orders problems by line; problems without a line (missing
// keys) come last, in the order they were found.
func sortProblems(ps Problems) {
	slices.SortStableFunc(ps, func(a, b *Problem) int {
		switch {
		case a.Line == 0 && b.Line == 0:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		case a.Line != b.Line:
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
}

// yamlProblem turns an error of go-yaml into a Problem at its line. go-yaml
// names Go types and fields ("cannot unmarshal string into Go struct field
// S3.Concurrency of type int"); the message says it with the file's keys.
func yamlProblem(name string, src *source, err error) *Problem {
	p := &Problem{File: name, Msg: err.Error()}
	var yerr yaml.Error
	if !errors.As(err, &yerr) {
		return p
	}
	p.Msg = yerr.GetMessage()
	tk := yerr.GetToken()
	if tk == nil || tk.Position == nil {
		return p
	}
	p.Line, p.Column = tk.Position.Line, tk.Position.Column
	if src != nil {
		p.Key = src.keyAt(p.Line, p.Column)
	}
	var (
		terr *yaml.TypeError
		nerr *yaml.UnexpectedNodeTypeError
		uerr *yaml.UnknownFieldError
	)
	switch {
	case errors.As(err, &uerr):
		p.Msg = strings.Replace(p.Msg, "unknown field", "unknown key", 1)
	case errors.As(err, &terr):
		p.Msg = fmt.Sprintf("want %s here, not %s", describeType(terr.DstType.Kind()), describeValue(terr.DstType.Kind(), terr.SrcType.Kind(), tk.Value))
	case errors.As(err, &nerr):
		p.Msg = fmt.Sprintf("want %s here, not %s", describeNode(nerr.Expected), describeNode(nerr.Actual))
	}
	return p
}

// keyAt returns the key whose value starts at line:col, or "".
func (s *source) keyAt(line, col int) string {
	for key, pos := range s.values {
		if pos.Line == line && pos.Column == col {
			return key
		}
	}
	return ""
}

// describeType names what a value of kind k looks like in YAML.
func describeType(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "a section of keys"
	}
	return "a " + k.String()
}

// describeNode names what a YAML node of type t is.
func describeNode(t ast.NodeType) string {
	switch t {
	case ast.MappingType, ast.MappingValueType:
		return "a section of keys"
	case ast.SequenceType:
		return "a list"
	}
	return "a single value"
}

// describeValue names the value of kind src that was found where a value of
// kind dst was wanted. A scalar is quoted only where a scalar belongs: one
// found in place of a section may be a pasted secret.
func describeValue(dst, src reflect.Kind, text string) string {
	switch src {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a section of keys"
	}
	switch dst {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct, reflect.Pointer:
		return "a single value"
	}
	return strconv.Quote(text)
}

// DataWebURL returns the data repo's web view: web_url, or for a repository
// on github.com its address without ".git"; "" when unknown.
func (d DataRepo) DataWebURL() string {
	if d.WebURL != "" {
		return strings.TrimSuffix(d.WebURL, "/")
	}
	if rest, ok := strings.CutPrefix(d.URL, "https://github.com/"); ok {
		return "https://github.com/" + strings.TrimSuffix(strings.TrimSuffix(rest, "/"), ".git")
	}
	return ""
}

// githubRepoFromURL returns owner/name of a data repo URL on github.com, or
// "".
func (d DataRepo) githubRepoFromURL() string {
	web := d.DataWebURL()
	rest, ok := strings.CutPrefix(web, "https://github.com/")
	if !ok || strings.Count(rest, "/") != 1 {
		return ""
	}
	return rest
}

// AppPushes says whether refbot pushes to the data repo with the GitHub
// App's installation token: running as an App, with no data_repo.token,
// and the data repo known on GitHub.
func (c *Config) AppPushes() bool {
	return c.GitHub.App != nil && !c.DataRepo.Token.IsSet() && c.DataRepo.GitHubRepo != ""
}

package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks the whole configuration and returns every problem at once
// as Problems, or nil. It does not resolve secrets: see CheckSecrets. For a
// Config from Load, each problem points at the line of the key.
func (c *Config) Validate() error {
	ck := &checker{src: c.src}
	c.GitHub.check(ck)
	c.S3.check(ck)
	c.DataRepo.check(ck)
	c.CI.check(ck, c.GitHub.Repo)
	c.checkAppPushes(ck)
	c.Server.check(ck)
	ck.nonEmpty("state_dir", c.StateDir, "the folder where refbot keeps its state, e.g. "+DefaultStateDir)
	c.checkDatabase(ck)
	c.Log.check(ck)
	c.Policy.check(ck)
	c.Jobs.check(ck)
	c.checkWebsite(ck)
	c.checkPages(ck)
	if len(ck.problems) == 0 {
		return nil
	}
	return ck.problems
}

// CheckSecrets resolves every secret the configuration sets and reports, as
// Problems, each one that cannot be read. Messages name the variable or file,
// never a value.
func (c *Config) CheckSecrets() error {
	var problems Problems
	for _, s := range c.secrets() {
		if !s.secret.IsSet() {
			continue
		}
		if _, err := s.secret.Resolve(); err != nil {
			problems = append(problems, c.src.at(s.key, "%v", err))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sortProblems(problems)
	return problems
}

type namedSecret struct {
	key    string
	secret Secret
}

// secrets lists every Secret of the configuration with its key. A test
// checks that it misses none.
func (c *Config) secrets() []namedSecret {
	list := []namedSecret{
		{"github.token", c.GitHub.Token},
		{"s3.access_key_id", c.S3.AccessKeyID},
		{"s3.secret_access_key", c.S3.SecretAccessKey},
		{"data_repo.token", c.DataRepo.Token},
		{"ci.token", c.CI.Token},
		{"server.api_token", c.Server.APIToken},
		{"pages.oauth.client_secret", c.Pages.OAuth.ClientSecret},
		{"pages.tokens", c.Pages.Tokens},
		{"pages.session_key", c.Pages.SessionKey},
	}
	if c.GitHub.App != nil {
		list = append(list, namedSecret{"github.app.private_key", c.GitHub.App.PrivateKey})
	}
	for i, s := range c.GitHub.WebhookSecret {
		key := "github.webhook_secret"
		if len(c.GitHub.WebhookSecret) > 1 {
			key = fmt.Sprintf("%s[%d]", key, i)
		}
		list = append(list, namedSecret{key, s})
	}
	return list
}

// checker collects problems, placing each at its key when the Config came
// from a file.
type checker struct {
	src      *source
	problems Problems
}

func (ck *checker) add(key, format string, args ...any) {
	ck.problems = append(ck.problems, ck.src.at(key, format, args...))
}

func (ck *checker) nonEmpty(key, value, what string) bool {
	if strings.TrimSpace(value) == "" {
		ck.add(key, "required: %s", what)
		return false
	}
	return true
}

func (ck *checker) atLeast(key string, value, lowest int) {
	if value < lowest {
		ck.add(key, "must be at least %d, not %d", lowest, value)
	}
}

// url checks an http(s) URL. Credentials in it are refused, and the message
// says where they go instead; the URL itself is not repeated, since it may
// hold a password.
func (ck *checker) url(key, value, credentialsGo string) {
	u, err := url.Parse(value)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the URL
		}
		ck.add(key, "not a valid URL (%v); write it like https://host/path", err)
		return
	}
	if u.User != nil {
		ck.add(key, "remove the user name and password from the URL; %s", credentialsGo)
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		ck.add(key, "must be an http:// or https:// URL with a host, like https://host/path")
	}
}

const secretsGoElsewhere = "secrets are given as {env: VAR} or {file: PATH} in their own keys"

var (
	// GitHub logins: letters, digits and single hyphens; apps end in "[bot]".
	loginPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?(\[bot\])?$`)
	repoPattern  = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+$`)
	teamPattern  = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// checkRepo checks an "owner/name" slug.
func (ck *checker) checkRepo(key, value string) {
	switch {
	case strings.Contains(value, "://"):
		ck.add(key, "write the repository as owner/name, not as a URL")
	case strings.HasSuffix(value, ".git"):
		ck.add(key, "write the repository as owner/name, without .git")
	case !repoPattern.MatchString(value) || strings.HasSuffix(value, "/.") || strings.HasSuffix(value, "/.."):
		ck.add(key, "%q is not owner/name, like octo-org/octo-repo", value)
	}
}

func (g *GitHub) check(ck *checker) {
	ck.url("github.api_url", g.APIURL, secretsGoElsewhere)
	ck.url("github.graphql_url", g.GraphQLURL, secretsGoElsewhere)
	if ck.nonEmpty("github.repo", g.Repo, "the project's repository on GitHub, as owner/name") {
		ck.checkRepo("github.repo", g.Repo)
	}
	switch {
	case g.Token.IsSet() && g.App != nil:
		ck.add("github", "give token or app, not both")
	case !g.Token.IsSet() && g.App == nil:
		ck.add("github", "give token ({env: VAR} with a personal access token) or app (a GitHub App installation) so refbot can call GitHub")
	case g.App != nil:
		if g.App.ID <= 0 {
			ck.add("github.app.id", "required: the App ID from the GitHub App's settings page")
		}
		if g.App.InstallationID <= 0 {
			ck.add("github.app.installation_id", "required: the installation ID, the number at the end of the installation's settings URL")
		}
		if !g.App.PrivateKey.IsSet() {
			ck.add("github.app.private_key", "required: the App's private key as {file: PATH} or {env: VAR}")
		}
	}
	if g.BotLogin != "" && !loginPattern.MatchString(g.BotLogin) {
		ck.add("github.bot_login", "%q is not a GitHub login", g.BotLogin)
	}
	ck.nonEmpty("github.status_context", g.StatusContext, "the context of the cache status, e.g. "+DefaultStatusContext)
	if ck.nonEmpty("github.command_prefix", g.CommandPrefix, "the word that starts a command line, e.g. "+DefaultCommandPrefix) &&
		strings.ContainsAny(g.CommandPrefix, "\r\n") {
		ck.add("github.command_prefix", "must be on one line")
	}
}

func (s *S3) check(ck *checker) {
	if s.Endpoint != "" {
		ck.url("s3.endpoint", s.Endpoint, "use s3.access_key_id and s3.secret_access_key")
	}
	ck.nonEmpty("s3.region", s.Region, "the bucket's region, e.g. "+DefaultS3Region)
	if ck.nonEmpty("s3.bucket", s.Bucket, "the bucket that CI uploads artifacts to") {
		if strings.ContainsAny(s.Bucket, "/: ") {
			ck.add("s3.bucket", "%q is not a bucket name; write the name alone and put a folder in s3.prefix", s.Bucket)
		}
	}
	if s.Prefix != "" {
		switch {
		case strings.HasPrefix(s.Prefix, "/"):
			ck.add("s3.prefix", "must not start with /; write it like %q", strings.TrimLeft(s.Prefix, "/"))
		case slices.Contains(strings.Split(s.Prefix, "/"), ".."),
			slices.Contains(strings.Split(s.Prefix, "/"), "."),
			strings.Contains(s.Prefix, "//"):
			ck.add("s3.prefix", "must be folder names separated by single /, without . or ..")
		}
	}
	switch {
	case s.AccessKeyID.IsSet() && !s.SecretAccessKey.IsSet():
		ck.add("s3.secret_access_key", "required with s3.access_key_id; or remove both to use the SDK's default credentials")
	case !s.AccessKeyID.IsSet() && s.SecretAccessKey.IsSet():
		ck.add("s3.access_key_id", "required with s3.secret_access_key; or remove both to use the SDK's default credentials")
	}
	ck.atLeast("s3.concurrency", s.Concurrency, 1)
	if s.Concurrency > 1024 {
		ck.add("s3.concurrency", "must be at most 1024, not %d", s.Concurrency)
	}
	if s.MaxFileBytes <= 0 {
		ck.add("s3.max_file_bytes", "must be more than 0")
	}
	if s.MaxBuildBytes <= 0 {
		ck.add("s3.max_build_bytes", "must be more than 0")
	}
	if s.MaxFileBytes > s.MaxBuildBytes && s.MaxBuildBytes > 0 {
		ck.add("s3.max_file_bytes", "%v is more than s3.max_build_bytes (%v); a file cannot be larger than its build", s.MaxFileBytes, s.MaxBuildBytes)
	}
	ck.atLeast("s3.max_files", s.MaxFiles, 1)
	ck.atLeast("s3.retention.per_pr", s.Retention.PerPR, 1)
	ck.atLeast("s3.retention.per_branch", s.Retention.PerBranch, 1)
	checkStallTimeout(ck, "s3.stall_timeout", s.StallTimeout, DefaultS3StallTimeout)
}

// checkStallTimeout checks a stall_timeout: under a second, connections
// would be cut while a server merely takes its time.
func checkStallTimeout(ck *checker, key string, d Duration, def time.Duration) {
	if d < Duration(time.Second) {
		ck.add(key, "must be at least 1s, not %s (default %s)", shortDuration(time.Duration(d)), shortDuration(def))
	}
}

func (d *DataRepo) check(ck *checker) {
	if ck.nonEmpty("data_repo.url", d.URL, "the https URL of the git repository that holds the reference data") {
		ck.url("data_repo.url", d.URL, "give the token as data_repo.token: {env: VAR}")
	}
	if ck.nonEmpty("data_repo.base_branch", d.BaseBranch, "the data repo's main branch, e.g. "+DefaultBaseBranch) {
		if msg := checkBranchName(d.BaseBranch); msg != "" {
			ck.add("data_repo.base_branch", "%s", msg)
		}
	}
	if msg := checkDataRoot(d.DataRoot); msg != "" {
		ck.add("data_repo.data_root", "%s", msg)
	} else if d.DataRoot != "." && len(d.Protect) > 0 {
		ck.add("data_repo.protect", `only applies with data_root: "." (the data at the top of the data repo); with data_root %q nothing outside it is touched anyway, so remove protect`, d.DataRoot)
	}
	for i, p := range d.Protect {
		if msg := checkProtect(p); msg != "" {
			ck.add(fmt.Sprintf("data_repo.protect[%d]", i), "%s", msg)
		}
	}
	if d.GitHubRepo != "" {
		ck.checkRepo("data_repo.github_repo", d.GitHubRepo)
	}
	ck.nonEmpty("data_repo.cache_dir", d.CacheDir, "the folder of refbot's clone of the data repo")
	checkStallTimeout(ck, "data_repo.stall_timeout", d.StallTimeout, DefaultDataRepoStallTimeout)
	ck.atLeast("data_repo.keep_backups", d.KeepBackups, 1)
	if d.CacheMaxBytes < MiB {
		ck.add("data_repo.cache_max_bytes", "must be at least 1MiB (default %s)", DefaultDataRepoCacheMaxBytes)
	}
	ck.atLeast("data_repo.keep_archives", d.KeepArchives, 0)
	if d.KeepArchivesFor < 0 {
		ck.add("data_repo.keep_archives_for", "must not be negative (\"0s\" keeps archives for good; default %s)", shortDuration(DefaultKeepArchivesFor))
	}
	if ck.nonEmpty("data_repo.author_name", d.AuthorName, "the name on refbot's commits") &&
		strings.ContainsAny(d.AuthorName, "<>\r\n") {
		ck.add("data_repo.author_name", "must be one line without < or >")
	}
	if ck.nonEmpty("data_repo.author_email", d.AuthorEmail, "the email on refbot's commits") {
		local, domain, ok := strings.Cut(d.AuthorEmail, "@")
		if !ok || local == "" || domain == "" || strings.ContainsAny(d.AuthorEmail, "<> \t\r\n") {
			ck.add("data_repo.author_email", "%q is not an email address like refbot@example.org", d.AuthorEmail)
		}
	}
}

// checkDataRoot returns what is wrong with data_root, or "". The data root
// is the only part of the data repo refbot writes, so it must be a plain
// folder inside the repository.
func checkDataRoot(root string) string {
	parts := strings.Split(root, "/")
	switch {
	case root == "":
		return "required: the folder of the data inside the data repo, e.g. " + DefaultDataRoot
	case strings.Contains(root, `\`):
		return "separate folders with /, not \\"
	case path.IsAbs(root):
		return "must be relative to the top of the data repo, like " + strings.TrimLeft(root, "/")
	case slices.Contains(parts, ".."):
		return "must not contain ..: the data root is a folder inside the data repo"
	case path.Clean(root) != root:
		return fmt.Sprintf("write it as %q", path.Clean(root))
	case slices.ContainsFunc(parts, func(p string) bool { return strings.EqualFold(p, ".git") }):
		return "must not be inside .git"
	}
	return ""
}

// checkProtect returns what is wrong with an entry of data_repo.protect, or
// "": it must be what refdata accepts, a path.Match pattern for one
// top-level name, with a trailing "/" for a folder.
func checkProtect(p string) string {
	name := strings.TrimSuffix(p, "/")
	switch {
	case strings.TrimSpace(strings.Trim(name, "/")) == "":
		return "must not be empty; write a top-level name or pattern like README* or .github/"
	case strings.HasPrefix(name, "/"):
		return fmt.Sprintf("write it without the leading /, like %q", strings.TrimLeft(p, "/"))
	case strings.Contains(name, "/"):
		top, _, _ := strings.Cut(name, "/")
		return fmt.Sprintf("%q is a path, but only top-level names can be protected; write %q to protect the whole folder", p, top+"/")
	}
	if _, err := path.Match(name, name); err != nil {
		return fmt.Sprintf("%q is not a valid pattern (%v); a pattern matches one top-level name with *, ? and [abc], like README*", p, err)
	}
	return ""
}

// checkBranchName returns what is wrong with a branch name, or "", following
// the rules of git check-ref-format that a user is likely to break.
func checkBranchName(name string) string {
	switch {
	case strings.HasPrefix(name, "refs/"):
		return fmt.Sprintf("write the branch name alone, like %q", strings.TrimPrefix(strings.TrimPrefix(name, "refs/"), "heads/"))
	case strings.HasPrefix(name, "-"), strings.HasPrefix(name, "/"), strings.HasSuffix(name, "/"),
		strings.HasSuffix(name, "."), strings.HasSuffix(name, ".lock"),
		strings.Contains(name, ".."), strings.Contains(name, "//"), strings.Contains(name, "@{"),
		strings.ContainsAny(name, " ~^:?*[\\\t\r\n"):
		return fmt.Sprintf("%q is not a valid git branch name", name)
	}
	return ""
}

// check checks the CI section; githubRepo is the default of ci.repo, whose
// absence is reported under github.repo.
func (c *CI) check(ck *checker, githubRepo string) {
	providers := ProviderTravis + " or " + ProviderGitHubActions
	switch c.Provider {
	case ProviderTravis:
		ck.url("ci.api_url", c.APIURL, "give the token as ci.token: {env: VAR}")
		for _, key := range []string{"workflows", "rerun", "artifact"} {
			if ck.src.has("ci." + key) {
				ck.add("ci."+key, "only applies to ci.provider %s; remove it", ProviderGitHubActions)
			}
		}
		if c.Outputs != OutputsS3 && c.Outputs != "" {
			ck.add("ci.outputs", "%s needs ci.provider %s (Travis has no artifacts refbot can read); use %s", c.Outputs, ProviderGitHubActions, OutputsS3)
		}
	case ProviderGitHubActions:
		// Actions is asked through GitHub's API, with github's credentials.
		for _, key := range []string{"api_url", "token"} {
			if ck.src.has("ci." + key) {
				ck.add("ci."+key, "does not apply to %s: refbot asks GitHub's API with github.token or github.app; remove it", ProviderGitHubActions)
			}
		}
		if len(c.Workflows) == 0 {
			ck.add("ci.workflows", "required with %s: the workflow files whose runs test the project, e.g. [test.yaml]", ProviderGitHubActions)
		}
		for i, w := range c.Workflows {
			if w == "" || strings.ContainsAny(w, "/\\ ") || !(strings.HasSuffix(w, ".yml") || strings.HasSuffix(w, ".yaml")) {
				ck.add(fmt.Sprintf("ci.workflows[%d]", i), "%q is not a workflow file name; give the name in .github/workflows, like test.yaml", w)
			}
		}
		if c.Rerun != RerunAll && c.Rerun != RerunFailed {
			ck.add("ci.rerun", "%q: use %s (the whole run) or %s (its failed jobs)", c.Rerun, RerunAll, RerunFailed)
		}
		if c.Artifact == "" || strings.ContainsAny(c.Artifact, "/\\\":<>|*?\r\n") {
			ck.add("ci.artifact", "%q is not an artifact name", c.Artifact)
		}
		switch c.Outputs {
		case OutputsS3, OutputsArtifacts, OutputsEither:
		default:
			ck.add("ci.outputs", "%q: use %s, %s or %s", c.Outputs, OutputsS3, OutputsArtifacts, OutputsEither)
		}
	case "":
		ck.add("ci.provider", "required: the CI service; use %s", providers)
	default:
		ck.add("ci.provider", "unknown provider %q; use %s", c.Provider, providers)
	}
	switch {
	case c.Repo == githubRepo:
		// Checked, or reported missing, as github.repo.
	case c.Repo != "":
		ck.checkRepo("ci.repo", c.Repo)
	default:
		ck.add("ci.repo", "required: the repository's slug at the CI provider, owner/name")
	}
	if c.PollInterval <= 0 {
		ck.add("ci.poll_interval", "must be more than 0 (e.g. 30s)")
	}
	switch {
	case c.WaitTimeout <= 0:
		ck.add("ci.wait_timeout", "must be more than 0 (default %s)", shortDuration(DefaultCIWaitTimeout))
	case c.WaitTimeout < c.PollInterval:
		ck.add("ci.wait_timeout", "%s is less than ci.poll_interval (%s): refbot would give up on a build before checking it once; make it at least %s (default %s)",
			shortDuration(time.Duration(c.WaitTimeout)), shortDuration(time.Duration(c.PollInterval)), shortDuration(time.Duration(c.PollInterval)), shortDuration(DefaultCIWaitTimeout))
	}
	if c.RestartGrace <= 0 {
		ck.add("ci.restart_grace", "must be more than 0 (default %s)", shortDuration(DefaultCIRestartGrace))
	}
	seen := map[string]bool{}
	for i, job := range c.RequiredJobs {
		key := fmt.Sprintf("ci.required_jobs[%d]", i)
		switch {
		case strings.TrimSpace(job) == "":
			ck.add(key, "must not be empty")
		case seen[job]:
			ck.add(key, "%q is listed twice", job)
		}
		seen[job] = true
	}
}

func (s *Server) check(ck *checker) {
	if ck.nonEmpty("server.listen", s.Listen, "host:port to listen on, e.g. "+DefaultListen) {
		_, port, err := net.SplitHostPort(s.Listen)
		if err == nil {
			_, err = strconv.ParseUint(port, 10, 16)
		}
		if err != nil {
			from := ""
			if !ck.src.has("server.listen") && os.Getenv(ListenEnv) != "" {
				from = " (from $" + ListenEnv + ")"
			}
			ck.add("server.listen", "%q%s is not host:port, like %s or :8080", s.Listen, from, DefaultListen)
		}
	}
	if s.PublicURL != "" {
		ck.url("server.public_url", s.PublicURL, secretsGoElsewhere)
	}
}

// checkDatabase accepts a SQLite file, or a PostgreSQL URL without a password.
func (c *Config) checkDatabase(ck *checker) {
	if !ck.nonEmpty("database", c.Database, "the path of refbot's SQLite database") {
		return
	}
	if !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return
	}
	u, err := url.Parse(c.Database)
	if err != nil {
		ck.add("database", "not a valid PostgreSQL URL")
		return
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		ck.add("database", "remove the password from the URL; PostgreSQL reads it from PGPASSWORD or a .pgpass file")
	}
}

// maxWorkers is the most workers jobs.workers may give one queue.
const maxWorkers = 256

func (j *Jobs) check(ck *checker) {
	queues := slices.Sorted(maps.Keys(DefaultWorkers))
	for _, q := range slices.Sorted(maps.Keys(j.Workers)) {
		key := "jobs.workers." + q
		if _, ok := DefaultWorkers[q]; !ok {
			if guess := closest(q, queues); guess != "" {
				ck.add(key, "unknown queue %q (did you mean %q?)", q, guess)
			} else {
				ck.add(key, "unknown queue %q; the queues are %s", q, strings.Join(queues, ", "))
			}
			continue
		}
		if n := j.Workers[q]; n < 1 || n > maxWorkers {
			ck.add(key, "must be 1 to %d workers, not %d (default %d)", maxWorkers, n, DefaultWorkers[q])
		}
	}
	if j.Timeout < Duration(time.Second) {
		ck.add("jobs.timeout", "must be at least 1s (default %s)", shortDuration(DefaultJobTimeout))
	}
	if j.KeepFinished < Duration(time.Minute) {
		ck.add("jobs.keep_finished", "must be at least 1m (default %s)", shortDuration(DefaultKeepFinished))
	}
	if j.KeepWorkFolders < Duration(time.Minute) {
		ck.add("jobs.keep_work_folders", "must be at least 1m (default %s)", shortDuration(DefaultKeepWorkFolders))
	}
}

// shortDuration writes d as a user would: "1m" and "6h" rather than
// time.Duration's "1m0s" and "6h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (l *Log) check(ck *checker) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		ck.add("log.level", "%q is not a level; use debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "json", "console":
	default:
		ck.add("log.format", "%q is not a format; use json or console", l.Format)
	}
}

// verbs are the commands (docs/design.md, "Command grammar") that policy.cooldowns
// and policy.verbs may name, so that a misspelt verb is an error rather
// than a limit that never applies. Aliases such as SLAVE-STOP are the command parser's
// business: it asks Policy.Cooldown for the verb they stand for.
var verbs = []string{"UPDATE", "PLAN", "WEBSITE", "STOP", "STATUS", "HELP"}

func (p *Policy) check(ck *checker) {
	for i, user := range p.AllowedUsers {
		key := fmt.Sprintf("policy.allowed_users[%d]", i)
		switch {
		case strings.HasPrefix(user, "@"):
			ck.add(key, "write the login without @, like %q", strings.TrimPrefix(user, "@"))
		case !loginPattern.MatchString(user):
			ck.add(key, "%q is not a GitHub login", user)
		}
	}
	for i, team := range p.AllowedTeams {
		key := fmt.Sprintf("policy.allowed_teams[%d]", i)
		switch {
		case strings.HasPrefix(team, "@"):
			ck.add(key, "write the team without @, like %q", strings.TrimPrefix(team, "@"))
		case !teamPattern.MatchString(team):
			ck.add(key, "%q is not a team; write it as org/team-slug", team)
		}
	}
	for _, verb := range slices.Sorted(maps.Keys(p.Cooldowns)) {
		key := "policy.cooldowns." + verb
		switch {
		case !ck.verb(key, verb):
		case p.Cooldowns[verb] < 0:
			ck.add(key, "must not be negative; 0 turns the cooldown off")
		}
	}
	for _, verb := range slices.Sorted(maps.Keys(p.Verbs)) {
		key := "policy.verbs." + verb
		if ck.verb(key, verb) {
			p.Verbs[verb].check(ck, key, p.Cooldowns)
		}
	}
	if !(p.LargeChangeShare > 0 && p.LargeChangeShare <= 1) {
		ck.add("policy.large_change_share", "must be more than 0 and at most 1 (the share of the data an UPDATE may change), not %v", p.LargeChangeShare)
	}
}

// verb checks that the key naming verb names one, in capitals.
func (ck *checker) verb(key, verb string) bool {
	switch {
	case slices.Contains(verbs, strings.ToUpper(verb)) && verb != strings.ToUpper(verb):
		ck.add(key, "write the verb in capitals: %s", strings.ToUpper(verb))
	case !slices.Contains(verbs, verb):
		ck.add(key, "unknown verb %q; verbs are %s", verb, strings.Join(verbs, ", "))
	default:
		return true
	}
	return false
}

// check checks the limits of the verb at key (policy.verbs.<VERB>);
// cooldowns is policy.cooldowns, its short form for the cooldown.
func (v VerbPolicy) check(ck *checker, key string, cooldowns map[string]Duration) {
	verb := strings.TrimPrefix(key, "policy.verbs.")
	if v.Cooldown != nil {
		if _, ok := cooldowns[verb]; ok {
			ck.add(key+".cooldown", "%s's cooldown is also set in policy.cooldowns.%s; keep one of the two", verb, verb)
		} else if *v.Cooldown < 0 {
			ck.add(key+".cooldown", "must not be negative; 0 turns the cooldown off")
		}
	}
	if v.MaxPerDay != nil && *v.MaxPerDay < 0 {
		ck.add(key+".max_per_day", "must not be negative; 0 means no cap")
	}
	switch v.WhenCapped {
	case "", WhenCappedQueue, WhenCappedRefuse:
	default:
		ck.add(key+".when_capped", "%q is not a choice; use %s (run at 00:00 UTC the next day) or %s", v.WhenCapped, WhenCappedQueue, WhenCappedRefuse)
	}
	if v.Hold != nil && *v.Hold < 0 {
		ck.add(key+".hold", "must not be negative; 0 turns the hold off")
	}
	if v.Slots != nil {
		ck.atLeast(key+".slots", *v.Slots, 1)
	}
	if wholeDay(v.Blackout) {
		ck.add(key+".blackout", "the windows cover the whole day, so %s would never run", verb)
	}
}

// checkAppPushes: the App's installation token reaches only repositories of
// the installation's owner, so a data repo pushed with it is the project's
// owner's.
func (c *Config) checkAppPushes(ck *checker) {
	if !c.AppPushes() {
		return
	}
	owner, _, _ := strings.Cut(c.GitHub.Repo, "/")
	dataOwner, _, _ := strings.Cut(c.DataRepo.GitHubRepo, "/")
	if !strings.EqualFold(owner, dataOwner) {
		ck.add("data_repo.github_repo", "%s is not %s's: the App's installation token reaches only %s's repositories; give data_repo.token (a token that may push there) instead",
			c.DataRepo.GitHubRepo, c.GitHub.Repo, owner)
	}
}

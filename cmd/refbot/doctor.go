package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/config"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis"
)

// checkTimeout bounds each check of refbot doctor, so that a server that
// never answers costs one failed line, not a hung command.
const checkTimeout = 20 * time.Second

// minWebhookSecret is the shortest webhook secret doctor accepts: GitHub
// signs deliveries with it (HMAC-SHA256), and a short one can be guessed.
const minWebhookSecret = 16

func newDoctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check credentials, permissions, webhook secret, bucket, data repo and CI, and say what to fix",
		Long: `Check everything refbot needs, as refbot serve would use it: the
configuration and its secrets; the GitHub token or App (signing in, the
installation, its token); each permission refbot needs, with why; the
webhook secret; the bucket (list, get, put and delete under the prefix);
the data repo (fetch, and push a test ref refs/refbot/doctor-… and delete
it); and the CI provider (Travis: the repository and restarting builds;
GitHub Actions: each workflow of ci.workflows and its runs).

It prints one line per check: "ok   WHAT", "FAIL WHAT: PROBLEM — FIX" or
"skip WHAT: WHY", then a summary. No secret is ever printed. Each check
gives up after 20 seconds. Exit codes: 0 every check passed, 1 a check
failed, 2 wrong command line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := configFile(cmd, "")
			if err != nil {
				return err
			}
			if !newDoctor(cmd.OutOrStdout(), checkTimeout).run(cmd.Context(), path) {
				return errReported
			}
			return nil
		},
	}
}

// doctor runs the checks and prints their lines.
type doctor struct {
	out                 io.Writer
	timeout             time.Duration
	secrets             []string          // every secret value read, never printed
	results             map[string]bool   // check id → passed
	whats               map[string]string // check id → its line's subject
	ok, failed, skipped int
}

// newDoctor returns a doctor that prints to out and gives each check
// timeout.
func newDoctor(out io.Writer, timeout time.Duration) *doctor {
	return &doctor{out: out, timeout: timeout, results: map[string]bool{}, whats: map[string]string{}}
}

// check is one line of the report.
type check struct {
	id    string   // what later checks name in needs
	what  string   // the line's subject
	needs []string // checks that must have passed first
	run   func(ctx context.Context) (note string, err error)
}

// finding is what a check found wrong and exactly what to do about it.
type finding struct{ problem, fix string }

func (f *finding) Error() string { return f.problem + " — " + f.fix }

func fail(problem, fix string) error { return &finding{problem: problem, fix: fix} }

// skipped is why a check does not apply.
type skipped string

func (s skipped) Error() string { return string(s) }

// run checks the configuration at path and everything it names, and
// reports whether every check passed.
func (d *doctor) run(ctx context.Context, path string) bool {
	cfg := d.checkConfig(path)
	if cfg != nil {
		r := &doctorRun{doctor: d, cfg: cfg}
		defer r.close()
		for _, c := range r.checks() {
			d.do(ctx, c)
		}
	}
	summary := fmt.Sprintf("%d ok, %d failed, %d skipped", d.ok, d.failed, d.skipped)
	switch {
	case cfg == nil:
		fmt.Fprintf(d.out, "doctor: %s: the other checks need a configuration that loads; fix it and run refbot doctor again\n", summary)
	case d.failed > 0:
		fmt.Fprintf(d.out, "doctor: %s: fix the FAIL lines and run refbot doctor again\n", summary)
	default:
		fmt.Fprintf(d.out, "doctor: %s: refbot has what it needs\n", summary)
	}
	return d.failed == 0
}

// checkConfig loads the configuration and reads its secrets; nil when it
// does not load. Unreadable secrets fail this line, and the checks that
// need them are skipped.
func (d *doctor) checkConfig(path string) *config.Config {
	what := "config " + path
	cfg, err := config.Load(path)
	if err != nil {
		var problems config.Problems
		if errors.As(err, &problems) {
			d.report(what, fail(joinProblems(problems), fmt.Sprintf("fix them in %s (refbot config check %s lists them one per line)", path, path)))
		} else {
			d.report(what, fail(err.Error(), "give refbot's configuration file with --config FILE"))
		}
		return nil
	}
	err = cfg.CheckSecrets()
	var problems config.Problems
	if errors.As(err, &problems) {
		d.report(what, fail("secrets cannot be read: "+joinProblems(problems),
			"make each readable by the user refbot runs as, with the value in it (refbot config check --secrets lists them)"))
		return cfg
	}
	d.report(what, err)
	return cfg
}

func joinProblems(ps config.Problems) string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "; ")
}

// do runs c, unless a check it needs did not pass, and prints its line.
func (d *doctor) do(ctx context.Context, c check) {
	d.whats[c.id] = c.what
	for _, id := range c.needs {
		if !d.results[id] {
			d.report(c.what, skipped(fmt.Sprintf("needs %q to pass first", d.whats[id])))
			return
		}
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	note, err := c.run(ctx)
	var f *finding
	var s skipped
	switch {
	case err == nil || errors.As(err, &f) || errors.As(err, &s):
	case ctx.Err() != nil:
		err = fail(fmt.Sprintf("no answer within %s (%v)", d.timeout, err), "check that the server is reachable from here: its address in the configuration, a proxy, a firewall")
	default:
		err = fail(err.Error(), "check the address in the configuration and that the server is reachable from here")
	}
	if err == nil && note != "" {
		c.what += ": " + note
	}
	d.results[c.id] = err == nil
	d.report(c.what, err)
}

// report prints one line: ok, FAIL or skip.
func (d *doctor) report(what string, err error) {
	var f *finding
	var s skipped
	var line string
	switch {
	case err == nil:
		d.ok++
		line = "ok   " + what
	case errors.As(err, &s):
		d.skipped++
		line = "skip " + what + ": " + string(s)
	case errors.As(err, &f):
		d.failed++
		line = "FAIL " + what + ": " + f.problem + " — " + f.fix
	default:
		d.failed++
		line = "FAIL " + what + ": " + err.Error()
	}
	fmt.Fprintln(d.out, d.redact(line))
}

// urlQuery is the query of a URL in a message: a signed URL's signature
// lives there.
var urlQuery = regexp.MustCompile(`(https?://[^\s?"'<>]+)\?[^\s"'<>]*`)

// redact removes every secret doctor read, and URLs' queries, from a line.
// No check prints a secret on purpose; this catches one a server echoed.
func (d *doctor) redact(line string) string {
	for _, s := range d.secrets {
		// A very short value is no real secret, and would blot out
		// ordinary words; the webhook check refuses such secrets.
		if len(s) >= 8 {
			line = strings.ReplaceAll(line, s, "***")
		}
	}
	return urlQuery.ReplaceAllString(line, "$1?…")
}

// secret reads a secret of the configuration and remembers its value so
// that no line prints it. One that cannot be read was reported on the
// config line: the check that needs it is skipped.
func (d *doctor) secret(key string, s config.Secret) (string, error) {
	v, err := s.Resolve()
	switch {
	case errors.Is(err, config.ErrSecretNotSet):
		return "", err
	case err != nil:
		return "", skipped(key + " cannot be read (see the config line)")
	}
	d.secrets = append(d.secrets, v)
	for line := range strings.Lines(v) { // a PEM key, line by line
		if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") {
			d.secrets = append(d.secrets, line)
		}
	}
	return v, nil
}

// doctorRun is one run's configuration and what its checks learn for the
// checks after them.
type doctorRun struct {
	*doctor
	cfg *config.Config

	gh          *ghclient.Client  // the code repo, with tokens asked for it alone
	appPerms    map[string]string // the App installation's permissions
	appEvents   []string
	tokenPerms  map[string]bool // the token's permissions on the code repo
	tokenScopes []string        // a classic token's scopes; nil for other tokens
	workflows   []ghclient.Workflow
	store       *s3cache.Store
	listedKey   string // an object found under the prefix, or ""
	data        *refdata.Repo
	cacheDir    string // the data repo's throwaway cache
	travis      *travis.Client
}

func (r *doctorRun) close() {
	if r.cacheDir != "" {
		os.RemoveAll(r.cacheDir)
	}
}

// checks are the checks of the configuration, in the order they run.
func (r *doctorRun) checks() []check {
	var cs []check
	if r.cfg.GitHub.App != nil {
		cs = append(cs, r.appChecks()...)
		cs = append(cs, r.appPermissionChecks()...)
	} else {
		cs = append(cs, r.tokenChecks()...)
	}
	cs = append(cs, r.webhookCheck())
	cs = append(cs, r.bucketChecks()...)
	cs = append(cs, r.dataRepoChecks()...)
	if r.cfg.CI.Provider == config.ProviderGitHubActions {
		cs = append(cs, r.actionsChecks()...)
	} else {
		cs = append(cs, r.travisChecks()...)
	}
	return cs
}

// githubClient opens a client of repo with the configured credentials. An
// App's installation tokens are asked for repo and also alone, so that an
// App missing from one repository does not hide what works on another.
func (r *doctorRun) githubClient(ctx context.Context, repo string, also ...string) (*ghclient.Client, error) {
	c := r.cfg.GitHub
	opts, err := githubOptions(c, repo, r.secret, also...)
	if err != nil {
		return nil, err
	}
	gh, err := ghclient.New(ctx, opts)
	if err != nil && c.App != nil {
		return nil, fail(fmt.Sprintf("github.app.private_key (%s) is not a usable private key: %v", c.App.PrivateKey, err),
			"generate a private key in the App's settings (General → Private keys) and store the .pem file there")
	}
	return gh, err
}

// installationPage says where an App installation's settings are.
const installationPage = "the installation's settings page (Settings → Applications → Installed GitHub Apps → Configure; for an organization, its Settings → GitHub Apps)"

func (r *doctorRun) appChecks() []check {
	app, repo, data := r.cfg.GitHub.App, r.cfg.GitHub.Repo, r.cfg.DataRepo.GitHubRepo
	return []check{{
		id: "github", what: fmt.Sprintf("github app %d", app.ID),
		run: func(ctx context.Context) (string, error) {
			gh, err := r.githubClient(ctx, repo)
			if err != nil {
				return "", err
			}
			r.appPerms, r.appEvents, err = gh.AppInstallation(ctx)
			switch {
			case errors.Is(err, ghclient.ErrUnauthorized):
				return "", fail(fmt.Sprintf("GitHub refused the App's signature: github.app.private_key (%s) is not a key of App %d, or github.app.id is wrong", app.PrivateKey, app.ID),
					"check github.app.id against the App ID on the App's settings page, or generate a new private key there (General → Private keys) and store it in "+app.PrivateKey.String())
			case errors.Is(err, ghclient.ErrNotFound):
				return "", fail(fmt.Sprintf("App %d is not installed on %s", app.ID, repo),
					fmt.Sprintf("install it: the App's settings → Install App → your account → Only select repositories → %s (and the data repo)", repo))
			case err != nil:
				return "", err
			}
			r.gh = gh
			return "signs in, installed on " + repo, nil
		},
	}, {
		id: "installation", what: fmt.Sprintf("github app installation %d", app.InstallationID), needs: []string{"github"},
		run: func(ctx context.Context) (string, error) {
			tok, err := r.gh.InstallationToken(ctx)
			if errors.Is(err, ghclient.ErrUnauthorized) || errors.Is(err, ghclient.ErrNotFound) {
				owner, _, _ := strings.Cut(repo, "/")
				return "", fail(fmt.Sprintf("GitHub issues no token of installation %d of App %d for %s", app.InstallationID, app.ID, repo),
					fmt.Sprintf("set github.app.installation_id to the id of App %d's installation on %s: the number at the end of the address of %s", app.ID, owner, installationPage))
			}
			if err != nil {
				return "", err
			}
			r.secrets = append(r.secrets, tok)
			return "issues tokens for " + repo, nil
		},
	}, {
		id: "app-data", what: "github app on the data repo " + data, needs: []string{"installation"},
		run: func(ctx context.Context) (string, error) {
			switch {
			case r.cfg.DataRepo.Token.IsSet():
				return "", skipped("refbot pushes to the data repo with data_repo.token")
			case data == "":
				return "", skipped("data_repo.github_repo is not set, so refbot does not push with the App's token")
			}
			dgh, err := r.githubClient(ctx, data)
			if err != nil {
				return "", err
			}
			if _, _, err := dgh.AppInstallation(ctx); errors.Is(err, ghclient.ErrNotFound) {
				return "", fail(fmt.Sprintf("App %d is not installed on %s, where refbot pushes with the App's token", app.ID, data),
					fmt.Sprintf("add %s under Repository access in %s; or set data_repo.token to push with a token instead", data, installationPage))
			} else if err != nil {
				return "", err
			}
			both, err := r.githubClient(ctx, repo, data)
			if err != nil {
				return "", err
			}
			tok, err := both.InstallationToken(ctx)
			if err != nil {
				return "", fail(fmt.Sprintf("GitHub issues no token for both %s and %s: %v", repo, data, err),
					fmt.Sprintf("install the App on both repositories, under the same account (%s)", installationPage))
			}
			r.secrets = append(r.secrets, tok)
			return fmt.Sprintf("installed; one token reaches %s and %s", repo, data), nil
		},
	}}
}

// appPermission is a permission refbot needs as an App, and why.
type appPermission struct {
	name, level string
	title       string // as the App's settings page names it
	org         bool   // an organization permission
	why         string
	unneeded    string // why it is not needed with this configuration; "" when it is
}

func (r *doctorRun) appPermissions() []appPermission {
	cfg := r.cfg
	actions := ""
	if cfg.CI.Provider != config.ProviderGitHubActions {
		actions = "ci.provider is " + cfg.CI.Provider + ", not " + config.ProviderGitHubActions
	}
	contents := ""
	if !cfg.AppPushes() {
		contents = "refbot does not push to the data repo with the App's token"
	}
	members := ""
	if len(cfg.Policy.AllowedTeams) == 0 {
		members = "policy.allowed_teams is not set"
	}
	return []appPermission{
		{"metadata", "read", "Metadata", false, "repository names, and who may command refbot", ""},
		{"pull_requests", "read", "Pull requests", false, "heads, state and merges of pull requests", ""},
		{"issues", "write", "Issues", false, "reading commands and writing replies", ""},
		{"statuses", "write", "Commit statuses", false, "the cache status and the result of each UPDATE", ""},
		{"checks", "write", "Checks", false, "the check run of each UPDATE", ""},
		{"actions", "write", "Actions", false, "reading runs, jobs and artifacts; re-running and cancelling runs", actions},
		{"contents", "write", "Contents", false, "pushing the data branches to " + cfg.DataRepo.GitHubRepo, contents},
		{"members", "read", "Members", true, "the teams of policy.allowed_teams", members},
	}
}

func (r *doctorRun) appPermissionChecks() []check {
	var cs []check
	for _, p := range r.appPermissions() {
		cs = append(cs, check{
			id: "permission " + p.name, what: "permission " + p.name, needs: []string{"github"},
			run: func(context.Context) (string, error) {
				if p.unneeded != "" {
					return "", skipped(p.unneeded)
				}
				have := r.appPerms[p.name]
				if permissionRank(have) >= permissionRank(p.level) {
					return fmt.Sprintf("%s (%s)", have, p.why), nil
				}
				kind, level := "Repository", "Read and write"
				if p.org {
					kind = "Organization"
				}
				if p.level == "read" {
					level = "Read-only"
				}
				return "", fail(fmt.Sprintf("the App has %s; refbot needs %s, for %s", cmp.Or(have, "none"), p.level, p.why),
					fmt.Sprintf("in the App's settings → Permissions & events → %s permissions, set %s to %s, then accept the change on %s",
						kind, p.title, level, installationPage))
			},
		})
	}
	return append(cs, check{
		id: "events", what: "webhook events", needs: []string{"github"},
		run: func(context.Context) (string, error) {
			want := []string{"issue_comment", "pull_request"}
			if r.cfg.CI.Provider == config.ProviderGitHubActions {
				want = append(want, "workflow_run")
			}
			var missing []string
			for _, e := range want {
				if !slices.Contains(r.appEvents, e) {
					missing = append(missing, e)
				}
			}
			if len(missing) > 0 {
				return "", fail("the App is not subscribed to "+strings.Join(missing, ", "),
					"in the App's settings → Permissions & events → Subscribe to events, check "+eventTitles(missing))
			}
			return strings.Join(want, ", "), nil
		},
	})
}

func permissionRank(level string) int {
	return map[string]int{"read": 1, "write": 2, "admin": 3}[level]
}

// eventTitles names webhook events as the App's settings page does.
func eventTitles(events []string) string {
	titles := map[string]string{"issue_comment": "Issue comment", "pull_request": "Pull request", "workflow_run": "Workflow run"}
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = titles[e]
	}
	return strings.Join(out, ", ")
}

func (r *doctorRun) tokenChecks() []check {
	repo, loc := r.cfg.GitHub.Repo, r.cfg.GitHub.Token.String()
	return []check{{
		id: "github", what: "github token",
		run: func(ctx context.Context) (string, error) {
			gh, err := r.githubClient(ctx, repo)
			if err != nil {
				return "", err
			}
			r.tokenPerms, r.tokenScopes, err = gh.RepoPermissions(ctx)
			switch {
			case errors.Is(err, ghclient.ErrUnauthorized):
				return "", fail("GitHub refused github.token: it is wrong, expired or revoked",
					fmt.Sprintf("create a new token for %s (GitHub → Settings → Developer settings → Personal access tokens) and put it in %s", repo, loc))
			case errors.Is(err, ghclient.ErrNotFound):
				return "", fail(fmt.Sprintf("%s does not exist, or github.token cannot see it", repo),
					fmt.Sprintf("check github.repo, and give the token access to %s (a fine-grained token: Repository access)", repo))
			case err != nil:
				return "", err
			}
			r.gh = gh
			return "reaches " + repo, nil
		},
	}, {
		id: "token push", what: "token permission on " + repo, needs: []string{"github"},
		run: func(context.Context) (string, error) {
			push, said := r.tokenPerms["push"]
			switch {
			case !said:
				return "", skipped("GitHub did not say what the token may do there")
			case !push:
				return "", fail(fmt.Sprintf("github.token's user may not write to %s; refbot sets commit statuses and writes comments, which needs write access", repo),
					fmt.Sprintf("give that user write access to %s (Settings → Collaborators and teams), or use a token of a user who has it", repo))
			}
			return "write (commit statuses and comments)", nil
		},
	}, {
		id: "token scopes", what: "token scopes", needs: []string{"github"},
		run: func(context.Context) (string, error) {
			need := "Pull requests: read, Issues: write, Commit statuses: write"
			if r.cfg.CI.Provider == config.ProviderGitHubActions {
				need += ", Actions: write"
			}
			if len(r.cfg.Policy.AllowedTeams) > 0 {
				need += " and the organization permission Members: read"
			}
			if r.tokenScopes == nil {
				return "", skipped("github.token is not a classic token, and GitHub does not list a fine-grained token's permissions: it needs " + need + " on " + repo)
			}
			has := func(scopes ...string) bool {
				return slices.ContainsFunc(scopes, func(s string) bool { return slices.Contains(r.tokenScopes, s) })
			}
			var missing []string
			if !has("repo", "public_repo") {
				missing = append(missing, "repo (or public_repo for a public repository)")
			}
			if len(r.cfg.Policy.AllowedTeams) > 0 && !has("read:org", "write:org", "admin:org") {
				missing = append(missing, "read:org (policy.allowed_teams)")
			}
			if len(missing) > 0 {
				return "", fail(fmt.Sprintf("github.token has the scopes %q; refbot needs %s", strings.Join(r.tokenScopes, ", "), strings.Join(missing, " and ")),
					"create a classic token with those scopes and put it in "+loc)
			}
			return strings.Join(r.tokenScopes, ", "), nil
		},
	}}
}

func (r *doctorRun) webhookCheck() check {
	where := "the App's settings (General → Webhook secret)"
	if r.cfg.GitHub.App == nil {
		where = r.cfg.GitHub.Repo + "'s webhook (Settings → Webhooks → the refbot webhook → Secret)"
	}
	return check{
		id: "webhook", what: "webhook secret",
		run: func(context.Context) (string, error) {
			list := r.cfg.GitHub.WebhookSecret
			if len(list) == 0 {
				return "", fail("github.webhook_secret is not set, and refbot serve will not run without one (it would take anyone's commands)",
					"generate one (openssl rand -hex 32 > webhook-secret), set github.webhook_secret: {file: PATH-OF-IT}, and set the same secret in "+where)
			}
			var lengths []string
			for i, s := range list {
				key := "github.webhook_secret"
				if len(list) > 1 {
					key = fmt.Sprintf("%s[%d]", key, i)
				}
				v, err := r.secret(key, s)
				if err != nil {
					return "", err
				}
				distinct := map[rune]bool{}
				for _, c := range v {
					distinct[c] = true
				}
				if len(v) < minWebhookSecret || len(distinct) < 4 {
					return "", fail(fmt.Sprintf("%s (%s) has %d characters, %d of them different; a webhook secret needs at least %d random characters", key, s, len(v), len(distinct), minWebhookSecret),
						fmt.Sprintf("generate a new one (openssl rand -hex 32), put it in %s, and set the same secret in %s", s, where))
				}
				lengths = append(lengths, fmt.Sprint(len(v)))
			}
			return fmt.Sprintf("set, %s characters; GitHub never shows a webhook secret, so doctor cannot check that it matches %s", strings.Join(lengths, " and "), where), nil
		},
	}
}

func (r *doctorRun) bucketChecks() []check {
	c := r.cfg.S3
	name := "s3://" + c.Bucket
	if c.Prefix != "" {
		name += "/" + c.Prefix
	}
	objects := "arn:aws:s3:::" + c.Bucket + "/" + c.Prefix + "/*"
	if c.Prefix == "" {
		objects = "arn:aws:s3:::" + c.Bucket + "/*"
	}
	at := ""
	if c.Endpoint != "" {
		at = " at " + c.Endpoint
	}
	return []check{{
		id: "s3", what: "s3 credentials",
		run: func(ctx context.Context) (string, error) {
			how := "the AWS SDK's default credentials (environment, shared files, instance role)"
			if c.AccessKeyID.IsSet() {
				// An access key id names the key, like a user name; it is
				// no secret, and doctor prints it where it helps.
				if _, err := c.AccessKeyID.Resolve(); err != nil {
					return "", skipped("s3.access_key_id cannot be read (see the config line)")
				}
				if _, err := r.secret("s3.secret_access_key", c.SecretAccessKey); err != nil {
					return "", err
				}
				how = "s3.access_key_id and s3.secret_access_key"
			}
			opts, err := s3Options(c)
			if err != nil {
				return "", err
			}
			if r.store, err = s3cache.New(ctx, opts); err != nil {
				return "", err
			}
			err = r.store.CheckCredentials(ctx)
			if errors.Is(err, s3cache.ErrNoCredentials) {
				return "", fail("no S3 credentials: s3.access_key_id is not set and the AWS SDK found none",
					"set s3.access_key_id and s3.secret_access_key, or give this machine AWS credentials (environment, ~/.aws, an instance role)")
			}
			if err != nil {
				return "", err
			}
			return how, nil
		},
	}, {
		id: "s3 list", what: "s3 list " + name, needs: []string{"s3"},
		run: func(ctx context.Context) (string, error) {
			key, err := r.store.ProbeList(ctx)
			switch {
			case errors.Is(err, s3cache.ErrNoBucket):
				return "", fail(fmt.Sprintf("bucket %s does not exist%s (region %s)", c.Bucket, at, c.Region), "create it, or fix s3.bucket, s3.region or s3.endpoint")
			case errors.Is(err, s3cache.ErrUnknownAccessKey):
				return "", fail("S3 does not know the access key id of s3.access_key_id", "put a current access key id in "+c.AccessKeyID.String())
			case errors.Is(err, s3cache.ErrWrongSecretKey):
				return "", fail("S3 refused the requests' signature: s3.secret_access_key is not the secret key of s3.access_key_id",
					"put the secret key that belongs to the access key id in "+c.SecretAccessKey.String())
			case errors.Is(err, s3cache.ErrAccessDenied):
				return "", fail("the credentials may not list the bucket", fmt.Sprintf("allow s3:ListBucket on arn:aws:s3:::%s (prefix %q)", c.Bucket, c.Prefix))
			case err != nil:
				return "", fail(err.Error(), "check s3.endpoint and s3.region, and that S3 is reachable from here")
			}
			r.listedKey = key
			if key == "" {
				return "empty so far", nil
			}
			return "", nil
		},
	}, {
		id: "s3 get", what: "s3 get " + name, needs: []string{"s3 list"},
		run: func(ctx context.Context) (string, error) {
			err := r.store.ProbeGet(ctx, r.listedKey)
			if errors.Is(err, s3cache.ErrAccessDenied) {
				return "", fail("the credentials may not read objects", "allow s3:GetObject on "+objects)
			}
			return "", err
		},
	}, {
		id: "s3 put", what: "s3 put and delete " + name, needs: []string{"s3 list"},
		run: func(ctx context.Context) (string, error) {
			why := "refbot writes the PINNED file of a pinned build"
			if r.cfg.CI.Outputs != config.OutputsS3 {
				why = "refbot writes the builds it takes from workflow artifacts (ci.outputs " + r.cfg.CI.Outputs + ") and the PINNED file of a pinned build"
			}
			key, err := r.store.ProbePut(ctx)
			if errors.Is(err, s3cache.ErrAccessDenied) {
				return "", fail("the credentials may not write objects; "+why, "allow s3:PutObject on "+objects)
			}
			if err != nil {
				return "", err
			}
			err = r.store.ProbeDelete(ctx, key)
			if errors.Is(err, s3cache.ErrAccessDenied) {
				return "", fail("the credentials may not delete objects; refbot deletes old builds (s3.retention)",
					fmt.Sprintf("allow s3:DeleteObject on %s, then delete %s by hand", objects, key))
			}
			if err != nil {
				return "", fmt.Errorf("%w (delete %s by hand)", err, key)
			}
			return "", nil
		},
	}}
}

func (r *doctorRun) dataRepoChecks() []check {
	cfg := r.cfg
	url := cfg.DataRepo.URL
	// What refbot fetches and pushes with, and how to give it access.
	cred, give := "no credentials", "set data_repo.token, or run as a GitHub App installed on the data repo (data_repo.github_repo)"
	var needs []string
	switch {
	case cfg.DataRepo.Token.IsSet():
		cred = "data_repo.token"
		give = fmt.Sprintf("put a token that may read and push to %s in %s (a fine-grained token: Contents: Read and write on the data repo)", url, cfg.DataRepo.Token)
	case cfg.AppPushes():
		cred = "the App's installation token"
		give = fmt.Sprintf("give the App Contents: Read and write, installed on %s (see %s)", cfg.DataRepo.GitHubRepo, installationPage)
		needs = []string{"app-data", "permission contents"}
	}
	return []check{{
		id: "data fetch", what: "data repo " + url, needs: needs,
		run: func(ctx context.Context) (string, error) {
			if cfg.DataRepo.Token.IsSet() {
				if _, err := r.secret("data_repo.token", cfg.DataRepo.Token); err != nil {
					return "", err
				}
			}
			// A throwaway cache: doctor needs none, and must not touch
			// refbot serve's.
			dir, err := os.MkdirTemp("", "refbot-doctor-")
			if err != nil {
				return "", err
			}
			r.cacheDir = dir
			c := *cfg
			c.DataRepo.CacheDir = filepath.Join(dir, "data-repo")
			p := &parts{cfg: &c}
			if r.data, err = p.openDataRepo(ctx); err != nil {
				return "", err
			}
			tip, err := r.data.ProbeFetch(ctx)
			switch {
			case errors.Is(err, refdata.ErrCredentialsRefused), errors.Is(err, refdata.ErrAccessDenied):
				return "", fail(fmt.Sprintf("the server refused %s", cred), give)
			case errors.Is(err, refdata.ErrNoRepo):
				return "", fail(fmt.Sprintf("no repository at data_repo.url, or %s cannot see it", cred), "check data_repo.url; "+give)
			case errors.Is(err, refdata.ErrNoBranch):
				return "", fail("the data repo has no branch "+cfg.DataRepo.BaseBranch,
					"push the reference data's base branch to it, or fix data_repo.base_branch")
			case err != nil:
				return "", fail(err.Error(), "check data_repo.url and that the server is reachable from here")
			}
			return fmt.Sprintf("fetches with %s; %s is at %s", cred, cfg.DataRepo.BaseBranch, tip.String()[:12]), nil
		},
	}, {
		id: "data push", what: "data repo push", needs: []string{"data fetch"},
		run: func(ctx context.Context) (string, error) {
			ref, err := r.data.ProbePush(ctx)
			switch {
			case errors.Is(err, refdata.ErrCredentialsRefused), errors.Is(err, refdata.ErrAccessDenied):
				return "", fail(fmt.Sprintf("the server refused a push with %s", cred), give)
			case err != nil:
				return "", fail(err.Error(), "check that the server accepts pushes to refs/refbot/ (a hook or branch protection may refuse them)")
			}
			return "created and deleted " + ref, nil
		},
	}}
}

func (r *doctorRun) actionsChecks() []check {
	repo := r.cfg.GitHub.Repo
	needs := []string{"github"}
	if r.cfg.GitHub.App != nil {
		needs = []string{"installation", "permission actions"}
	}
	var cs []check
	for _, name := range r.cfg.CI.Workflows {
		cs = append(cs, check{
			id: "workflow " + name, what: "workflow " + name, needs: needs,
			run: func(ctx context.Context) (string, error) {
				if r.workflows == nil {
					wfs, err := r.gh.Workflows(ctx)
					if err != nil {
						return "", err
					}
					r.workflows = wfs
				}
				i := slices.IndexFunc(r.workflows, func(w ghclient.Workflow) bool { return filepath.Base(w.Path) == name })
				if i < 0 {
					var have []string
					for _, w := range r.workflows {
						have = append(have, filepath.Base(w.Path))
					}
					return "", fail(fmt.Sprintf("%s has no workflow .github/workflows/%s (it has: %s)", repo, name, cmp.Or(strings.Join(have, ", "), "none")),
						"add the workflow file to "+repo+"'s default branch, or fix ci.workflows")
				}
				if w := r.workflows[i]; w.State != "active" {
					return "", fail(fmt.Sprintf("the workflow is %s", w.State),
						fmt.Sprintf("enable it: %s's Actions tab → %s → Enable workflow", repo, cmp.Or(w.Name, name)))
				}
				// A filter that matches no run lists nothing in one
				// request, and still proves that runs can be listed.
				if _, err := r.gh.WorkflowRuns(ctx, name, ghclient.RunFilter{HeadSHA: strings.Repeat("0", 40)}); err != nil {
					return "", err
				}
				return "active, its runs can be listed", nil
			},
		})
	}
	return cs
}

func (r *doctorRun) travisChecks() []check {
	c := r.cfg.CI
	return []check{{
		id: "travis", what: "travis repository " + c.Repo,
		run: func(ctx context.Context) (string, error) {
			token, err := r.secret("ci.token", c.Token)
			if err != nil && !errors.Is(err, config.ErrSecretNotSet) {
				return "", err
			}
			if r.travis, err = travis.New(c.APIURL, token, nil); err != nil {
				return "", err
			}
			repo, err := r.travis.Repository(ctx, c.Repo)
			switch {
			case errors.Is(err, travis.ErrUnauthorized) && token == "":
				return "", fail("Travis wants a token", "set ci.token to a Travis API token (Travis → Settings → API authentication)")
			case errors.Is(err, travis.ErrUnauthorized):
				return "", fail("Travis refused ci.token", "put a current Travis API token (Travis → Settings → API authentication) in "+c.Token.String())
			case errors.Is(err, travis.ErrNotFound):
				return "", fail(fmt.Sprintf("Travis does not know %s, or the token cannot see it", c.Repo), "check ci.repo (default github.repo) and ci.api_url, and that the repository is on Travis")
			case err != nil:
				return "", err
			case !repo.Active:
				return "", fail(fmt.Sprintf("Travis does not build %s (it is not active)", c.Repo), "activate the repository on Travis")
			}
			return "visible, active", nil
		},
	}, {
		id: "travis restart", what: "travis restart", needs: []string{"travis"},
		run: func(ctx context.Context) (string, error) {
			if !c.Token.IsSet() {
				return "", fail("ci.token is not set, and restarting a build needs a Travis API token",
					"set ci.token: {file: PATH} with the API token of a Travis user with write access to "+c.Repo)
			}
			perms, err := r.travis.NewestBuildPermissions(ctx, c.Repo)
			switch {
			case err != nil:
				return "", err
			case perms == nil:
				return "", skipped(c.Repo + " has no build yet, and Travis tells whether a token may restart builds only on a build")
			case !perms["restart"]:
				return "", fail(fmt.Sprintf("ci.token may not restart %s's builds, which refbot does after each UPDATE", c.Repo),
					"use the API token of a Travis user with write access to "+c.Repo)
			}
			return "ci.token may restart " + c.Repo + "'s builds", nil
		},
	}}
}

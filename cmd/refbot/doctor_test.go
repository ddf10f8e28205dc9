package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/travis/travistest"
)

// doctorEnv is a healthy setup of refbot on loopback, for refbot doctor to
// check: the fake GitHub (as an App with github-actions, or a token with
// Travis), MinIO, the git http-backend serving the data repo, and the
// fake Travis. A test breaks one part of it, then writes the config.
type doctorEnv struct {
	app     bool
	gh      *fakegithub.Server
	ghApp   fakegithub.App
	git     *testenv.GitServer
	dataGit string // the data repo's bare repository
	mc      *testenv.MinIOServer
	travis  *travistest.Server
	dir     string // the config file, its secrets, and state_dir (which doctor must not create)

	bucket    string
	workflows string // ci.workflows
	// installationID is github.app.installation_id.
	installationID int64
}

const (
	doctorCodeRepo = "refbot-test/project"
	doctorDataRepo = "refbot-test/data"
)

func newDoctorEnv(t *testing.T, app bool) *doctorEnv {
	t.Helper()
	e := &doctorEnv{app: app, dir: t.TempDir(), mc: testenv.MinIO(t), workflows: "[test.yaml]"}
	e.gh = fakegithub.New(t, fakegithub.WithRepo(doctorCodeRepo))
	e.git = testenv.NewGitServer(t)
	e.dataGit = e.git.CreateSeededRepo(t, "data.git", map[string]string{"data/a.txt": "a\n"})

	e.bucket = e.mc.BucketName(t)
	bucketStore(context.Background(), t, e.mc, e.bucket, "builds")
	e.writeSecret(t, "s3-access-key", e.mc.AccessKey)
	e.writeSecret(t, "s3-secret-key", e.mc.SecretKey)
	e.writeSecret(t, "webhook-secret", "3f0c1e9a7b2d4c6e8f0a1b3c5d7e9f21")

	if app {
		var err error
		if e.ghApp, err = e.gh.AddApp("refbot-app"); err != nil {
			t.Fatal(err)
		}
		e.installationID = e.ghApp.InstallationID
		e.gh.AddRepo(doctorDataRepo)
		e.gh.AddWorkflow(".github/workflows/test.yaml", "test")
		e.writeSecret(t, "github-app.pem", string(e.ghApp.PrivateKey))
		// The data repo takes the tokens GitHub would take: the App's,
		// issued for it, with contents write.
		e.git.Authorize(func(user, password string) bool {
			return user == "x-access-token" && e.gh.TokenAllows(password, doctorDataRepo)
		})
		return e
	}
	e.gh.SetPermission("refbot", fakegithub.PermWrite)
	e.gh.SetTokenScopes(e.gh.Token(), "repo", "read:org")
	e.writeSecret(t, "github-token", e.gh.Token())
	e.writeSecret(t, "data-token", e.git.Token)
	e.travis = travistest.NewServer(t)
	e.travis.AddBuild(travistest.Build{Repo: doctorCodeRepo, State: "passed"})
	e.writeSecret(t, "travis-token", e.travis.Token)
	return e
}

func (e *doctorEnv) writeSecret(t *testing.T, name, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// config writes refbot.yaml for the setup as it stands and returns its
// path. Secret files are named relative to it.
func (e *doctorEnv) config(t *testing.T) string {
	t.Helper()
	github := fmt.Sprintf(`github:
  api_url: %s
  graphql_url: %s
  repo: %s
  webhook_secret: {file: webhook-secret}
`, e.gh.APIURL(), e.gh.GraphQLURL(), doctorCodeRepo)
	data := fmt.Sprintf(`data_repo:
  url: %s
`, e.git.URL("data.git"))
	var ci string
	if e.app {
		github += fmt.Sprintf(`  app:
    id: %d
    installation_id: %d
    private_key: {file: github-app.pem}
`, e.ghApp.ID, e.installationID)
		data += "  github_repo: " + doctorDataRepo + "\n"
		ci = "ci:\n  provider: github-actions\n  workflows: " + e.workflows + "\n"
	} else {
		github += "  token: {file: github-token}\n"
		data += "  token: {file: data-token}\n"
		ci = fmt.Sprintf("ci:\n  provider: travis\n  api_url: %s\n  token: {file: travis-token}\n", e.travis.URL)
	}
	text := github + data + ci + fmt.Sprintf(`s3:
  endpoint: %s
  path_style: true
  bucket: %s
  prefix: builds
  access_key_id: {file: s3-access-key}
  secret_access_key: {file: s3-secret-key}
policy:
  allowed_teams: [refbot-test/maintainers]
state_dir: %s
`, e.mc.Endpoint, e.bucket, filepath.Join(e.dir, "state"))
	path := filepath.Join(e.dir, "refbot.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// secretValues are every secret of the setup, which no line may show.
func (e *doctorEnv) secretValues() []string {
	list := []string{e.mc.SecretKey, "3f0c1e9a7b2d4c6e8f0a1b3c5d7e9f21", e.git.Token}
	if e.app {
		for _, tok := range e.gh.IssuedTokens() {
			list = append(list, tok.Token)
		}
		// A line of the key's body is enough to give it away.
		lines := strings.Split(string(e.ghApp.PrivateKey), "\n")
		list = append(list, lines[1])
	} else {
		list = append(list, e.gh.Token(), e.travis.Token)
	}
	return list
}

// doctorLine is a line of the report: "ok   what", "FAIL what: …" or
// "skip what: …".
var doctorLine = regexp.MustCompile(`^(ok  |FAIL|skip) (.+)$`)

// runDoctor runs refbot doctor on the setup and returns its exit code and
// its lines, after checking that every line has the report's form, that
// no secret shows, and that doctor left nothing behind.
func runDoctor(t *testing.T, e *doctorEnv) (int, []string) {
	t.Helper()
	code, stdout, stderr := run(t, "doctor", "--config", e.config(t))
	if stderr != "" {
		t.Errorf("stderr: %s", stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], "doctor: ") {
		t.Fatalf("no summary line:\n%s", stdout)
	}
	for _, line := range lines[:len(lines)-1] {
		if !doctorLine.MatchString(line) {
			t.Errorf("not a report line: %q", line)
		}
	}
	for _, s := range e.secretValues() {
		if strings.Contains(stdout, s) {
			t.Errorf("the report shows a secret (%.6s…):\n%s", s, stdout)
		}
	}
	if refs := testenv.Git(t, e.dataGit, "for-each-ref", "refs/refbot/"); refs != "" {
		t.Errorf("doctor left refs in the data repo:\n%s", refs)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "state")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("doctor made state_dir: %v", err)
	}
	store := bucketStore(context.Background(), t, e.mc, e.bucket, "builds")
	if key, err := store.ProbeList(context.Background()); err != nil || key != "" {
		t.Errorf("doctor left %q under the prefix (%v)", key, err)
	}
	return code, lines[:len(lines)-1]
}

// TestDoctorHealthy: with everything in place, doctor prints only ok and
// skip lines, a line for each check, and exits 0.
func TestDoctorHealthy(t *testing.T) {
	for _, tt := range []struct {
		name string
		app  bool
		want []string // the subjects of the ok lines, in order
		skip []string // the subjects of the skip lines
	}{
		{
			name: "app with github actions", app: true,
			want: []string{"config", "github app 101", "github app installation 9001", "github app on the data repo " + doctorDataRepo,
				"permission metadata", "permission pull_requests", "permission issues", "permission statuses", "permission checks",
				"permission actions", "permission contents", "permission members", "webhook events", "webhook secret",
				"s3 credentials", "s3 list", "s3 get", "s3 put and delete", "data repo", "data repo push", "workflow test.yaml"},
		},
		{
			name: "token with travis",
			want: []string{"config", "github token", "token permission on " + doctorCodeRepo, "token scopes", "webhook secret",
				"s3 credentials", "s3 list", "s3 get", "s3 put and delete", "data repo", "data repo push",
				"travis repository " + doctorCodeRepo, "travis restart"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newDoctorEnv(t, tt.app)
			code, lines := runDoctor(t, e)
			if code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if len(lines) != len(tt.want) {
				t.Errorf("%d lines, want %d", len(lines), len(tt.want))
			}
			for i, line := range lines {
				if i < len(tt.want) && !strings.HasPrefix(line, "ok   "+tt.want[i]) {
					t.Errorf("line %d: %q, want ok %s", i+1, line, tt.want[i])
				}
			}
			if t.Failed() || os.Getenv("DOCTOR_SHOW") != "" {
				t.Logf("report:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}

// TestDoctorFindsEachProblem breaks one part of a healthy setup at a
// time: exactly the line of that check fails, with what to fix, the checks
// that depend on it are skipped, and doctor exits 1.
func TestDoctorFindsEachProblem(t *testing.T) {
	type breakFunc func(t *testing.T, e *doctorEnv)
	var cases []struct {
		name  string
		app   bool
		brk   breakFunc
		fails string // the subject of the one FAIL line
		fix   string // words of its fix
	}
	add := func(name string, app bool, fails, fix string, brk breakFunc) {
		cases = append(cases, struct {
			name  string
			app   bool
			brk   breakFunc
			fails string
			fix   string
		}{name, app, brk, fails, fix})
	}
	for name, level := range fakegithub.RefbotAppPermissions() {
		title := map[string]string{"metadata": "Metadata", "pull_requests": "Pull requests", "issues": "Issues", "statuses": "Commit statuses",
			"checks": "Checks", "actions": "Actions", "contents": "Contents", "members": "Members"}[name]
		add("without permission "+name, true, "permission "+name, "set "+title+" to", func(t *testing.T, e *doctorEnv) {
			e.gh.SetAppPermission(e.installationID, name, "")
		})
		if level == "write" {
			add("permission "+name+" read only", true, "permission "+name, "set "+title+" to Read and write", func(t *testing.T, e *doctorEnv) {
				e.gh.SetAppPermission(e.installationID, name, "read")
			})
		}
	}
	add("app not installed on the data repo", true, "github app on the data repo", "Repository access", func(t *testing.T, e *doctorEnv) {
		// A fake whose App covers the code repo only.
		e.gh = fakegithub.New(t, fakegithub.WithRepo(doctorCodeRepo))
		var err error
		if e.ghApp, err = e.gh.AddApp("refbot-app"); err != nil {
			t.Fatal(err)
		}
		e.installationID = e.ghApp.InstallationID
		e.gh.AddWorkflow(".github/workflows/test.yaml", "test")
		e.writeSecret(t, "github-app.pem", string(e.ghApp.PrivateKey))
	})
	add("wrong app key", true, "github app 101", "generate a new private key", func(t *testing.T, e *doctorEnv) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		e.writeSecret(t, "github-app.pem", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))
	})
	add("not a key", true, "github app 101", "generate a private key", func(t *testing.T, e *doctorEnv) {
		e.writeSecret(t, "github-app.pem", "not a key at all")
	})
	add("wrong installation id", true, "github app installation", "set github.app.installation_id to", func(t *testing.T, e *doctorEnv) {
		e.installationID = 4242
	})
	add("missing workflow", true, "workflow lint.yaml", "fix ci.workflows", func(t *testing.T, e *doctorEnv) {
		e.workflows = "[test.yaml, lint.yaml]" // test.yaml passes, lint.yaml is not there
	})
	add("weak webhook secret", true, "webhook secret", "openssl rand -hex 32", func(t *testing.T, e *doctorEnv) {
		e.writeSecret(t, "webhook-secret", "hunter2hunter2")
	})
	add("unreadable webhook secret", true, "config", "readable", func(t *testing.T, e *doctorEnv) {
		os.Remove(filepath.Join(e.dir, "webhook-secret"))
	})
	add("s3 wrong secret key", true, "s3 list", "put the secret key that belongs", func(t *testing.T, e *doctorEnv) {
		e.writeSecret(t, "s3-secret-key", "not-"+e.mc.SecretKey)
	})
	add("s3 unknown access key", false, "s3 list", "put a current access key id", func(t *testing.T, e *doctorEnv) {
		e.writeSecret(t, "s3-access-key", "AKIDOCTORTEST")
	})
	add("s3 missing bucket", true, "s3 list", "create it", func(t *testing.T, e *doctorEnv) {
		e.bucket = e.mc.BucketName(t) // never created
	})
	add("git server refusing pushes", true, "data repo push", "give the App Contents", func(t *testing.T, e *doctorEnv) {
		e.git.Intercept(refusePushes)
	})
	add("bad github token", false, "github token", "create a new token", func(t *testing.T, e *doctorEnv) {
		e.writeSecret(t, "github-token", "ghp_"+strings.Repeat("x", 36))
	})
	add("token user without write", false, "token permission on", "write access", func(t *testing.T, e *doctorEnv) {
		e.gh.SetPermission("refbot", fakegithub.PermRead)
	})
	add("token without repo scope", false, "token scopes", "classic token with those scopes", func(t *testing.T, e *doctorEnv) {
		e.gh.SetTokenScopes(e.gh.Token(), "read:org", "gist")
	})
	add("data repo token refused", false, "data repo", "data-token", func(t *testing.T, e *doctorEnv) {
		e.writeSecret(t, "data-token", "not-the-token")
	})
	add("data repo refusing pushes to a token", false, "data repo push", "may read and push", func(t *testing.T, e *doctorEnv) {
		e.git.Intercept(refusePushes)
	})
	add("travis token refused", false, "travis repository", "travis-token", func(t *testing.T, e *doctorEnv) {
		e.writeSecret(t, "travis-token", "not-the-token")
	})
	add("travis repository inactive", false, "travis repository", "activate", func(t *testing.T, e *doctorEnv) {
		e.travis.SetActive(doctorCodeRepo, false)
	})
	add("travis token may not restart", false, "travis restart", "write access", func(t *testing.T, e *doctorEnv) {
		e.travis.SetPermission(doctorCodeRepo, "restart", false)
	})

	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newDoctorEnv(t, tt.app)
			tt.brk(t, e)
			code, lines := runDoctor(t, e)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			var failed []string
			for _, line := range lines {
				if strings.HasPrefix(line, "FAIL ") {
					failed = append(failed, line)
				}
			}
			switch {
			case len(failed) != 1:
				t.Errorf("%d FAIL lines, want 1 (%s)", len(failed), tt.fails)
			case !strings.HasPrefix(failed[0], "FAIL "+tt.fails):
				t.Errorf("FAIL line %q, want one of %q", failed[0], tt.fails)
			case !strings.Contains(failed[0], " — ") || !strings.Contains(failed[0], tt.fix):
				t.Errorf("FAIL line %q does not say what to fix (%q)", failed[0], tt.fix)
			}
			if t.Failed() || os.Getenv("DOCTOR_SHOW") != "" {
				t.Logf("report:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}

// refusePushes answers a push as GitHub does to credentials that may only
// read: 403 to the push's first request.
func refusePushes(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Query().Get("service") != "git-receive-pack" && !strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
		return false
	}
	http.Error(w, "Write access to repository not granted.", http.StatusForbidden)
	return true
}

// TestDoctorNoConfig: a configuration that does not load is the one FAIL
// line, with its problems, and nothing else is tried.
func TestDoctorNoConfig(t *testing.T) {
	path := writeFile(t, "refbot.yaml", "github:\n  repo: acme/widget\n  token: {env: REFBOT_DOCTOR_UNSET}\ns3:\n  bukcet: x\n")
	code, stdout, _ := run(t, "doctor", "--config", path)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "FAIL config "+path+": ") || !strings.Contains(lines[0], "bukcet") ||
		!strings.HasPrefix(lines[1], "doctor: 0 ok, 1 failed") {
		t.Errorf("report:\n%s", stdout)
	}
}

// TestDoctorGivesUp: a server that never answers fails its check when the
// check's time is up, and doctor goes on with the next ones.
func TestDoctorGivesUp(t *testing.T) {
	e := newDoctorEnv(t, false)
	e.travis.Inject("GET", "/repo/"+url.PathEscape(doctorCodeRepo), travistest.Hang())
	var out bytes.Buffer
	if newDoctor(&out, 500*time.Millisecond).run(context.Background(), e.config(t)) {
		t.Errorf("run passed, want a failure")
	}
	lines := strings.Split(out.String(), "\n")
	var failed []string
	for _, line := range lines {
		if strings.HasPrefix(line, "FAIL ") {
			failed = append(failed, line)
		}
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "FAIL travis repository "+doctorCodeRepo+": no answer within 500ms") {
		t.Errorf("FAIL lines %q, want the travis repository's, no answer", failed)
	}
	if !slices.Contains(lines, `skip travis restart: needs "travis repository `+doctorCodeRepo+`" to pass first`) {
		t.Errorf("report:\n%s", out.String())
	}
}

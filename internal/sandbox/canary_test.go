package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/fakegithub"
)

// TestCanariesNeverLeave gives `refbot serve` a canary for every secret it
// holds (GitHub token, webhook secret, S3 keys, data repo token, Travis
// token, API token, the pages' tokens, session key and OAuth client
// secret), drives it through its failure paths (credentials revoked,
// outages, a refused push, a panicking job, bad configurations, failing
// CLI commands, refused deliveries and API calls, failed sign-ins), and
// then looks for each canary, as is and encoded, in everything refbot
// wrote, said or sent: its logs, the CLI's output, what it sent GitHub,
// S3, Travis and the data repo (comments, statuses, request lines and
// bodies; not the credentials header, where the secrets belong), its
// answers to HTTP clients, every page it serves, the command line and
// environment of every process it starts, and its state folder but the
// database. Nothing may be found. At the end it leaks canaries on purpose
// into each kind of place and checks that the same search finds them.
func TestCanariesNeverLeave(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newCanaries()
	work := t.TempDir()
	stopScript := filepath.Join(work, "stop-builder.sh")
	// The builder's stop command stays up until the test has sampled it.
	if err := os.WriteFile(stopScript, []byte("#!/bin/sh\ntouch \"$0.ran\"\ni=0\n"+
		"while [ ! -e \"$0.release\" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\necho stopped \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const oauthClient = "Iv1.canarytest"
	sb, err := StartWith(ctx, work, Options{
		Credentials: &Credentials{GitHubToken: c["github-token"], WebhookSecret: c["webhook-secret"],
			S3AccessKey: c["s3-access-key"], S3SecretKey: c["s3-secret-key"], DataToken: c["data-token"],
			TravisToken: c["travis-token"], APIToken: c["api-token"]},
		Pages: `  access: private
  tokens: {env: CANARY_PAGES_TOKENS}
  session_key: {env: CANARY_SESSION_KEY}
  oauth:
    client_id: ` + oauthClient + `
    client_secret: {env: CANARY_OAUTH_SECRET}
`,
		StopCommand: []string{stopScript, "builder-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	sb.Env = append(sb.Env, "CANARY_PAGES_TOKENS="+c["pages-token"], "CANARY_SESSION_KEY="+c["session-key"],
		"CANARY_OAUTH_SECRET="+c["oauth-client-secret"])

	// Every outside system behind a gate that records what refbot sends.
	rec := &recorder{}
	gh := newGate(t, "GitHub", sb.GitHub.URL, rec, rotateGitHub,
		func(r *http.Request) bool { return r.URL.Path == fakegithub.OAuthAccessTokenPath })
	s3 := newGate(t, "S3", sb.MinIO.Endpoint, rec, rotateS3, nil)
	travis := newGate(t, "Travis", sb.Travis.URL, rec, rotateTravis, nil)
	sb.GitHub.URL, sb.MinIO.Endpoint, sb.Travis.URL = gh.URL, s3.URL, travis.URL
	if err := sb.newListenAddr(); err != nil { // the configuration names the gates
		t.Fatal(err)
	}
	recordDataRepo(sb, rec)
	sb.GitHub.SignInBrowser(Maintainer)
	sb.GitHub.AddOAuthClient(fakegithub.OAuthClient{ID: oauthClient, Secret: "revoked-client-secret", App: true})

	start := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	cli := func(args ...string) (string, int) {
		t.Helper()
		defer phase("refbot " + strings.Join(args, " "))
		out, code := sb.refbot(t, args...)
		rec.add(fmt.Sprintf("output of refbot %s (exit %d)", strings.Join(args, " "), code), []byte(out))
		return out, code
	}
	out, err := sb.Upload(ctx, refbotBin, DemoOutputs)
	rec.add("output of refbot upload", []byte(out))
	if err != nil {
		t.Fatal(err)
	}

	procs := startSampler(rec)
	defer procs.close()
	var logs []string // every refbot serve's log
	serve := func(env ...string) *Refbot {
		t.Helper()
		rb, err := sb.Serve(ctx, refbotBin, env...)
		if rb != nil {
			logs = append(logs, rb.Log)
		}
		if err != nil {
			t.Fatal(err)
		}
		procs.watch(rb.Cmd.Process.Pid)
		return rb
	}
	rb := serve()
	defer func() { rb.Kill() }() // the one running when the test fails
	jobs := openJobs(ctx, t, sb)
	h := &httpClient{t: t, rec: rec, base: sb.URL(), pagesToken: c["pages-token"]}

	// A whole UPDATE, as it should go.
	h.deliver(ctx, sb, "BUILDBOT: UPDATE")
	if st, err := sb.WaitUpdateDone(ctx, rb); err != nil || st.State != "success" {
		t.Fatalf("UPDATE: %+v, %v", st, err)
	}
	phase("UPDATE")

	// Refused deliveries, API calls and sign-ins: what refbot answers.
	h.refusedRequests(ctx, sb, c)
	h.signIn("with a revoked client secret")
	sb.GitHub.AddOAuthClient(fakegithub.OAuthClient{ID: oauthClient, Secret: c["oauth-client-secret"], App: true})
	h.signIn("as it should go")
	phase("refused requests, sign-ins")

	// WEBSITE, then STOP: the docs build is cancelled and the builder's
	// stop command runs, the one program refbot starts (it runs no git).
	h.deliver(ctx, sb, "BUILDBOT: WEBSITE")
	waitLogged(ctx, t, rb, "refbot asks Travis for the docs build", func() bool { return len(sb.Travis.Triggers()) > 0 })
	if _, _, ok := sb.requested(1); !ok {
		t.Fatal("no docs build request")
	}
	h.deliver(ctx, sb, "BUILDBOT: STOP")
	waitLogged(ctx, t, rb, "the builder's stop command runs", func() bool {
		_, err := os.Stat(stopScript + ".ran")
		return err == nil
	})
	procs.sample()
	os.WriteFile(stopScript+".release", nil, 0o644)
	phase("WEBSITE, STOP")
	var sampled []string
	for _, p := range procs.processes() {
		if strings.Contains(p, stopScript) {
			sampled = append(sampled, p)
		}
	}
	if len(sampled) == 0 {
		t.Errorf("the stop command was not sampled; processes seen below refbot serve: %q", procs.processes())
	}
	// Each outside system refuses refbot's credentials, then is down,
	// while refbot works; the CLI's checks run meanwhile.
	pr := PR
	newPR := func() int {
		t.Helper()
		pr++
		b, err := sb.AddPR(ctx, refbotBin, pr, DemoOutputs)
		if err != nil {
			t.Fatalf("open #%d: %v (build %d)", pr, err, b.ID)
		}
		if err := sb.announce(ctx); err != nil {
			t.Fatal(err)
		}
		return pr
	}
	// Each fault is met by a job, whose attempt fails: refbot logs
	// something or not, and records the attempt's error.
	// The CLI's checks run meanwhile, beside the job.
	fault := func(what string, g *gate, mode gateMode, commands [][]string, trigger func()) {
		t.Helper()
		failed, mark := jobs.failures(), logSize(t, rb)
		g.set(mode, nil)
		clis := make(chan struct{})
		go func() {
			defer close(clis)
			for _, args := range commands {
				cli(args...)
			}
		}()
		trigger()
		waitLogged(ctx, t, rb, what+": a job met the fault and failed", func() bool {
			return g.applied() > 0 && (jobs.failures() > failed || loggedProblem(rb, mark))
		})
		phase(what + ": a job failed")
		h.crawl("while " + what)
		<-clis
		g.set(gatePass, nil)
		phase(what)
	}
	both, doctor := [][]string{{"doctor"}, {"status"}}, [][]string{{"doctor"}} // status retries S3 for long
	fault("GitHub refuses the token", gh, gateRotated, both, func() { h.deliver(ctx, sb, "BUILDBOT: HELP") })
	fault("GitHub is down", gh, gateDown, both, func() { h.deliver(ctx, sb, "BUILDBOT: STATUS") })
	fault("S3 refuses the keys", s3, gateRotated, both, func() { h.deliver(ctx, sb, "BUILDBOT: PLAN") })
	fault("S3 drops connections", s3, gateCut, doctor, func() { h.deliver(ctx, sb, "BUILDBOT: PLAN") })
	n := newPR()
	fault("Travis refuses the token", travis, gateRotated, both, func() { h.deliverOn(ctx, sb, n, "BUILDBOT: UPDATE") })
	n = newPR()
	fault("Travis is down", travis, gateDown, both, func() { h.deliverOn(ctx, sb, n, "BUILDBOT: UPDATE") })

	// The data repo refuses the token, fails pushes, and refuses a push.
	gitFault := func(what string, set func(), unset func()) {
		t.Helper()
		n := newPR()
		p, _ := sb.GitHub.PR(n)
		failed, mark := jobs.failures(), logSize(t, rb)
		set()
		clis := make(chan struct{})
		go func() {
			defer close(clis)
			cli("doctor")
		}()
		h.deliverOn(ctx, sb, n, "BUILDBOT: UPDATE")
		waitLogged(ctx, t, rb, what+": the UPDATE failed", func() bool {
			st, ok := sb.Status(p.HeadSHA, "refbot/update")
			return jobs.failures() > failed || loggedProblem(rb, mark) || (ok && st.State != "pending")
		})
		<-clis
		unset()
		phase(what)
	}
	gitFault("the data repo refuses the token", func() {
		sb.Git.Authorize(func(user, password string) bool { return false })
	}, func() { sb.Git.Authorize(nil) })
	isPush := func(r *http.Request) bool {
		return strings.HasSuffix(r.URL.Path, "/git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack"
	}
	gitFault("the data repo refuses pushes with this token", func() {
		sb.Git.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if !isPush(r) {
				return false
			}
			http.Error(w, "remote: Permission to demo-org/demo-data.git denied to refbot.", http.StatusForbidden)
			return true
		})
	}, func() { sb.Git.Intercept(nil) })
	gitFault("the data repo fails pushes", func() {
		sb.Git.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if !isPush(r) {
				return false
			}
			http.Error(w, "internal server error", http.StatusInternalServerError)
			return true
		})
	}, func() { sb.Git.Intercept(nil) })
	hook := filepath.Join(sb.Bare, "hooks", "pre-receive")
	gitFault("the data repo's hook refuses the push", func() {
		os.MkdirAll(filepath.Dir(hook), 0o755)
		os.WriteFile(hook, []byte("#!/bin/sh\necho 'GH006: Protected branch update failed.' >&2\nexit 1\n"), 0o755)
	}, func() { os.Remove(hook) })

	h.crawl("at the end")
	if err := rb.Stop(ctx); err != nil {
		t.Errorf("refbot serve did not stop cleanly: %v", err)
	}

	// A job that panics.
	rb = serve("REFBOT_FAILPOINT=panic:downloaded")
	n = newPR()
	failed := jobs.failures()
	h.deliverOn(ctx, sb, n, "BUILDBOT: UPDATE")
	waitLogged(ctx, t, rb, "the UPDATE panics", func() bool { return jobs.failures() > failed })
	h.crawl("after a panic")
	phase("panic")
	if err := rb.Stop(ctx); err != nil {
		t.Errorf("refbot serve did not stop cleanly: %v", err)
	}

	// Bad configurations: secrets written inline or misplaced, a bad
	// pages token.
	h.badConfigs(ctx, sb, c, cli)
	phase("bad configurations")

	// Everything refbot wrote, said or sent.
	rec.add("errors of the jobs' attempts in the database", jobs.errors())
	caps := collect(t, sb, rec, logs)
	for _, f := range scan(caps, c.needles()) {
		t.Errorf("leak: %s", f)
	}
	t.Logf("searched %d captures for %d canaries in %d forms; processes sampled below refbot serve: %q",
		len(caps), len(c), len(c.needles()), procs.processes())

	// The search finds a canary leaked on purpose, in each kind of place
	// and form.
	planted := plantLeaks(ctx, t, sb, c, logs[len(logs)-1], rec)
	found := scan(collect(t, sb, rec, logs), c.needles())
	for _, p := range planted {
		ok := false
		for _, f := range found {
			ok = ok || (strings.Contains(f.where, p.where) && f.canary == p.canary)
		}
		if !ok {
			t.Errorf("a canary leaked on purpose (%s in %s) was not found; found: %v", p.canary, p.where, found)
		}
	}
	if len(found) < len(planted) {
		t.Errorf("found %d leaks, planted %d", len(found), len(planted))
	}
	for _, v := range sb.GitHub.Violations() {
		t.Errorf("GitHub API description violated: %s", v)
	}
}

// collect gathers every capture: what the gates, the sampler and the
// HTTP client recorded, every refbot serve's log, the comments and
// statuses on the fake GitHub, and the state folder but the database.
func collect(t *testing.T, sb *Sandbox, rec *recorder, logs []string) []capture {
	t.Helper()
	caps := rec.all()
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		caps = append(caps, capture{where: "log " + l, data: b})
	}
	for _, n := range sb.prs {
		for _, cm := range sb.GitHub.Comments(n) {
			caps = append(caps, capture{where: fmt.Sprintf("comment %d on #%d by %s", cm.ID, n, cm.User), data: []byte(cm.Body)})
		}
		p, _ := sb.GitHub.PR(n)
		for _, st := range sb.GitHub.Statuses(p.HeadSHA) {
			caps = append(caps, capture{where: fmt.Sprintf("status %s of #%d", st.Context, n),
				data: []byte(st.State + " " + st.Description + " " + st.TargetURL)})
		}
		for _, cr := range sb.GitHub.CheckRuns(p.HeadSHA) {
			caps = append(caps, capture{where: fmt.Sprintf("check run %q of #%d", cr.Name, n),
				data: []byte(strings.Join([]string{cr.Status, cr.Conclusion, cr.ExternalID, cr.DetailsURL, cr.Title, cr.Summary, cr.Text}, "\n"))})
		}
	}
	return append(caps, stateFiles(t, filepath.Join(sb.Work, "state"))...)
}

// recordDataRepo records every request to the data repo's server: its
// line and headers but the credentials.
func recordDataRepo(sb *Sandbox, rec *recorder) {
	sb.Git.BeforeRequest(func(r *http.Request) {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.RequestURI())
		for k, vs := range r.Header {
			if k != "Authorization" {
				fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
			}
		}
		rec.add("request to the data repo: "+r.Method+" "+r.URL.Path, b.Bytes())
	})
}

// plant is a canary leaked on purpose.
type plant struct{ where, canary string }

// plantLeaks leaks canaries on purpose, as a bug would: a log line with
// the data repo's Basic auth, a comment posted with the GitHub token that
// holds the S3 secret inside base64, the environment of a process, and an
// answer to an HTTP client.
func plantLeaks(ctx context.Context, t *testing.T, sb *Sandbox, c canaries, log string, rec *recorder) []plant {
	t.Helper()
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + c["data-token"]))
	fmt.Fprintf(f, "2026-01-01T00:00:00.000Z\terror\tworkflow\tpush\t{\"header\": \"Authorization: Basic %s\"}\n", basic)
	f.Close()

	body := `{"body":"debug: ` + base64.StdEncoding.EncodeToString([]byte("aws:"+c["s3-secret-key"])) + `"}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/api/v3/repos/%s/issues/%d/comments", sb.GitHub.URL, Repo, PR), strings.NewReader(body))
	req.Header.Set("Authorization", "token "+c["github-token"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("plant a comment: %s", resp.Status)
	}

	cmd := exec.CommandContext(ctx, "sleep", "30")
	cmd.Env = []string{"CI_TOKEN=" + c["travis-token"]}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var cmdline, environ []byte
	for range 100 { // until exec has replaced the forked copy of this test
		if cmdline, environ, err = readProcess(cmd.Process.Pid); err == nil && bytes.HasPrefix(cmdline, []byte("sleep")) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	rec.add(fmt.Sprintf("environment of process %d %s", cmd.Process.Pid, cmdline), environ)

	rec.add("answer to GET /planted", []byte("<p>token "+url.QueryEscape(c["api-token"])+"</p>"))
	return []plant{
		{where: "log " + log, canary: "data-token"},
		{where: "request to GitHub: POST", canary: "s3-secret-key"},
		{where: "comment", canary: "s3-secret-key"},
		{where: "environment of process", canary: "travis-token"},
		{where: "answer to GET /planted", canary: "api-token"},
	}
}

// httpClient talks to refbot as GitHub, an API client and a browser do,
// and records every answer.
type httpClient struct {
	t          *testing.T
	rec        *recorder
	base       string
	pagesToken string
}

// do sends a request and records the answer: status, headers and body.
func (h *httpClient) do(client *http.Client, req *http.Request) (int, string) {
	h.t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var all bytes.Buffer
	fmt.Fprintf(&all, "%s\n", resp.Status)
	resp.Header.Write(&all)
	all.Write(b)
	h.rec.add(fmt.Sprintf("answer to %s %s", req.Method, req.URL.RequestURI()), all.Bytes())
	return resp.StatusCode, string(b)
}

func (h *httpClient) request(method, path, contentType, body string, header ...string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return h.do(nil, req)
}

// deliver has the maintainer comment on the PR; GitHub delivers it.
func (h *httpClient) deliver(ctx context.Context, sb *Sandbox, body string) {
	h.t.Helper()
	h.deliverOn(ctx, sb, PR, body)
}

func (h *httpClient) deliverOn(ctx context.Context, sb *Sandbox, pr int, body string) {
	h.t.Helper()
	d, err := sb.CommentOn(ctx, pr, body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.rec.add(fmt.Sprintf("answer to the delivery of %q", body), []byte(fmt.Sprintf("%d %s", d.Status, d.Body)))
	if d.Status != http.StatusOK {
		h.t.Fatalf("delivery of %q: %d %s", body, d.Status, d.Body)
	}
}

// refusedRequests sends what refbot must refuse: deliveries not signed,
// signed wrong or malformed; API calls without the token, with a wrong or
// almost right one, or bad; pages without access, sign-ins with a wrong
// token, forged thumbnail links.
func (h *httpClient) refusedRequests(ctx context.Context, sb *Sandbox, c canaries) {
	h.t.Helper()
	payload := sb.GitHub.Comment(PR, Maintainer, "BUILDBOT: HELP")
	sign := func(secret string, body []byte) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	hook := func(what string, body []byte, sig string, want int) {
		h.t.Helper()
		hdr := []string{"X-GitHub-Event", "issue_comment", "X-GitHub-Delivery", fmt.Sprintf("canary-%d", time.Now().UnixNano())}
		if sig != "" {
			hdr = append(hdr, "X-Hub-Signature-256", sig)
		}
		if code, body := h.request(http.MethodPost, "/webhook", "application/json", string(body), hdr...); code != want {
			h.t.Errorf("delivery %s: %d, want %d\n%s", what, code, want, body)
		}
	}
	hook("unsigned", payload, "", http.StatusUnauthorized)
	hook("signed with another secret", payload, sign("not-the-secret", payload), http.StatusForbidden)
	hook("signed over another body", payload, sign(c["webhook-secret"], []byte("{}")), http.StatusForbidden)
	hook("signed with the secret itself as signature", payload, "sha256="+c["webhook-secret"], http.StatusForbidden)
	hook("malformed, signed", []byte("{not json"), sign(c["webhook-secret"], []byte("{not json")), http.StatusBadRequest)

	api := func(what, token, body string, want int) {
		h.t.Helper()
		var hdr []string
		if token != "" {
			hdr = []string{"Authorization", "Bearer " + token}
		}
		if code, b := h.request(http.MethodPost, "/api/v1/prs/42/commands", "application/json", body, hdr...); code != want {
			h.t.Errorf("API call %s: %d, want %d\n%s", what, code, want, b)
		}
	}
	api("without a token", "", `{"command":"HELP","by":"script"}`, http.StatusUnauthorized)
	api("with a wrong token", "wrong", `{"command":"HELP","by":"script"}`, http.StatusUnauthorized)
	api("with the token and one character more", c["api-token"]+"x", `{"command":"HELP","by":"script"}`, http.StatusUnauthorized)
	api("with the pages' token", c["pages-token"], `{"command":"HELP","by":"script"}`, http.StatusUnauthorized)
	api("malformed", c["api-token"], `{"command":`, http.StatusBadRequest)
	api("of an unknown command", c["api-token"], `{"command":"DEPLOY","by":"script"}`, http.StatusBadRequest)

	for _, p := range []string{"/", "/pr/42", "/jobs/1", "/metrics", "/readyz", "/healthz"} {
		h.request(http.MethodGet, p, "", "")
	}
	h.request(http.MethodGet, "/pr/42", "", "", "Authorization", "Bearer "+c["pages-token"]+"x")
	h.request(http.MethodGet, "/pr/42", "", "", "Authorization", "Bearer "+c["api-token"])
	h.request(http.MethodPost, "/login/token", "application/x-www-form-urlencoded", url.Values{"token": {c["api-token"]}}.Encode())
	h.request(http.MethodPost, "/login/token", "application/x-www-form-urlencoded", url.Values{"token": {c["pages-token"] + "x"}}.Encode())
	h.request(http.MethodGet, "/thumb/abc?sig="+url.QueryEscape(c["session-key"]), "", "")
	h.request(http.MethodGet, "/login/callback?code=forged&state=forged", "", "")
}

// signIn goes through GitHub's sign-in as a browser does, following
// every redirect, and records each answer.
func (h *httpClient) signIn(what string) {
	h.t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		h.rec.add(fmt.Sprintf("redirect of the sign-in %s", what), []byte(req.URL.String()))
		return nil
	}}
	req, _ := http.NewRequest(http.MethodGet, h.base+"/login?via=github&next=/pr/42", nil)
	h.do(client, req)
}

var pageLink = regexp.MustCompile(`(?:href|src|action)="(/[^"#]*)"`)

// crawl reads every page refbot serves that links lead to from its
// index, the PR pages and its endpoints, as a reader with a pages token.
func (h *httpClient) crawl(when string) {
	h.t.Helper()
	queue := []string{"/", "/healthz", "/readyz", "/metrics"}
	for n := PR; n < PR+20; n++ {
		queue = append(queue, fmt.Sprintf("/pr/%d", n))
	}
	seen := map[string]bool{}
	for len(queue) > 0 && len(seen) < 300 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] || strings.HasPrefix(p, "/logout") || strings.HasPrefix(p, "/login") {
			continue
		}
		seen[p] = true
		req, _ := http.NewRequest(http.MethodGet, h.base+p, nil)
		req.Header.Set("Authorization", "Bearer "+h.pagesToken)
		_, body := h.do(nil, req)
		for _, m := range pageLink.FindAllStringSubmatch(body, -1) {
			link := strings.ReplaceAll(m[1], "&amp;", "&")
			if !seen[link] {
				queue = append(queue, link)
			}
		}
	}
	h.rec.add("pages crawled "+when, []byte(strings.Join(slices.Sorted(maps.Keys(seen)), "\n")))
}

// badConfigs starts refbot serve, and runs its CLI, with configurations
// that hold a canary where it must not be, or a bad secret: each is
// refused, and the refusal must not repeat the secret.
func (h *httpClient) badConfigs(ctx context.Context, sb *Sandbox, c canaries, cli func(...string) (string, int)) {
	h.t.Helper()
	good, err := os.ReadFile(sb.Config)
	if err != nil {
		h.t.Fatal(err)
	}
	for i, tc := range []struct {
		what, from, to string
		env            []string
	}{
		{what: "the GitHub token inline", from: "token: {env: DEMO_GITHUB_TOKEN}", to: "token: " + c["github-token"]},
		{what: "the GitHub token as a variable's name", from: "token: {env: DEMO_GITHUB_TOKEN}", to: "token: {env: " + c["github-token"] + "}"},
		{what: "the webhook secret inline", from: "webhook_secret: {env: DEMO_WEBHOOK_SECRET}", to: "webhook_secret: [" + c["webhook-secret"] + "]"},
		{what: "the S3 secret as a key", from: "secret_access_key: {env: DEMO_S3_SECRET}", to: "secret_access_key: {" + c["s3-secret-key"] + ": x}"},
		{what: "the data repo token in the URL", from: "url: " + sb.Git.URL("data.git"),
			to: "url: " + strings.Replace(sb.Git.URL("data.git"), "http://", "http://x-access-token:"+c["data-token"]+"@", 1)},
		{what: "the Travis token inline, quoted", from: "token: {env: DEMO_TRAVIS_TOKEN}", to: `token: "` + c["travis-token"] + `"`},
		{what: "a pages token too short", env: []string{"CANARY_PAGES_TOKENS=" + c["pages-token"] + "\nshort"}},
		{what: "a session key too short", env: []string{"CANARY_SESSION_KEY=" + c["session-key"][:20]}},
	} {
		cfg := strings.Replace(string(good), tc.from, tc.to, 1)
		if tc.from != "" && cfg == string(good) {
			h.t.Fatalf("%s: %q is not in the configuration", tc.what, tc.from)
		}
		path := filepath.Join(sb.Work, fmt.Sprintf("bad-%d.yaml", i))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			h.t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, refbotBin, "serve", "--config", path)
		cmd.Env = append(append([]string{}, sb.Env...), tc.env...)
		out, err := cmd.CombinedOutput()
		h.rec.add("output of refbot serve with "+tc.what, out)
		if err == nil {
			h.t.Errorf("refbot serve with %s started\n%s", tc.what, out)
		}
		if tc.from != "" {
			for _, args := range [][]string{{"config", "check", path}, {"doctor", "--config", path}, {"status", "--config", path}} {
				cmd := exec.CommandContext(ctx, refbotBin, args...)
				cmd.Env = sb.Env
				out, _ := cmd.CombinedOutput()
				h.rec.add(fmt.Sprintf("output of refbot %s with %s", strings.Join(args, " "), tc.what), out)
			}
		}
	}
	cli("config", "check")
}

// logSize is how much refbot serve has logged so far.
func logSize(t *testing.T, rb *Refbot) int {
	t.Helper()
	b, err := os.ReadFile(rb.Log)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// loggedProblem says whether refbot logged a warning or an error since
// mark.
func loggedProblem(rb *Refbot, mark int) bool {
	b, _ := os.ReadFile(rb.Log)
	if len(b) < mark {
		return false
	}
	return bytes.Contains(b[mark:], []byte("\twarn\t")) || bytes.Contains(b[mark:], []byte("\terror\t"))
}

// jobRecords reads the job queue's records in refbot's database, as
// refbot serve runs.
type jobRecords struct {
	t  *testing.T
	st *store.Store
}

func openJobs(ctx context.Context, t *testing.T, sb *Sandbox) jobRecords {
	t.Helper()
	st, err := store.Open(ctx, filepath.Join(sb.Work, "state", "refbot.db"), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return jobRecords{t: t, st: st}
}

// failures counts the failed attempts of every job so far.
func (j jobRecords) failures() int {
	j.t.Helper()
	var n int
	err := j.st.DB().QueryRow(`SELECT coalesce(sum(json_array_length(json(errors))), 0) FROM river_job WHERE errors IS NOT NULL`).Scan(&n)
	if err != nil {
		j.t.Fatalf("count the jobs' failures: %v", err)
	}
	return n
}

// errors are the errors of every failed attempt, as River keeps them.
func (j jobRecords) errors() []byte {
	j.t.Helper()
	rows, err := j.st.DB().Query(`SELECT id, kind, json(errors) FROM river_job WHERE errors IS NOT NULL`)
	if err != nil {
		j.t.Fatalf("read the jobs' failures: %v", err)
	}
	defer rows.Close()
	var b bytes.Buffer
	for rows.Next() {
		var id int64
		var kind, errs string
		if err := rows.Scan(&id, &kind, &errs); err != nil {
			j.t.Fatal(err)
		}
		fmt.Fprintf(&b, "job %d (%s): %s\n", id, kind, errs)
	}
	return b.Bytes()
}

// waitLogged waits until cond holds; the test fails with refbot's log if ctx
// or a minute ends first.
func waitLogged(ctx context.Context, t *testing.T, rb *Refbot, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			log, _ := os.ReadFile(rb.Log)
			t.Fatalf("%s: not seen\n%s", what, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

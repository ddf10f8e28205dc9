package sandbox

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestServe checks refbot serve as an operator sees it: its endpoints, its
// metrics after a delivery, an unsigned delivery refused, and no start
// without a webhook secret.
func TestServe(t *testing.T) {
	ctx, sb := start(t, false)

	// An empty secret: refbot refuses to start, and says why.
	cmd := exec.CommandContext(ctx, refbotBin, "serve", "--config", sb.Config)
	cmd.Env = append(append([]string{}, sb.Env...), "DEMO_WEBHOOK_SECRET=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "webhook_secret") {
		t.Errorf("serve with an empty webhook secret: %v\n%s", err, out)
	}

	rb, err := sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(sb.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := get(p); code != 200 {
			t.Errorf("%s: %d", p, code)
		}
	}
	// Ready means GitHub, S3 and the data repo were each reached, and the
	// log says so, a line each.
	log, err := os.ReadFile(rb.Log)
	if err != nil {
		t.Fatal(err)
	}
	var reached []string
	for line := range strings.Lines(string(log)) {
		if strings.Contains(line, "reachable") && !strings.Contains(line, "unreachable") {
			reached = append(reached, line)
		}
	}
	if all := strings.Join(reached, ""); len(reached) != 3 || !strings.Contains(all, "GitHub") || !strings.Contains(all, "S3") ||
		!strings.Contains(all, "data repo") {
		t.Errorf("serve's log does not say, a line each, that it reached GitHub, S3 and the data repo:\n%s", log)
	}
	// A second refbot serve on the same database refuses to start, and
	// says why; the first goes on.
	second := exec.CommandContext(ctx, refbotBin, "serve", "--config", sb.Config)
	second.Env = sb.Env
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "in use by another refbot serve") {
		t.Errorf("a second serve on one database: %v\n%s", err, out)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("the first serve after the second was refused: /readyz %d", code)
	}
	// An unsigned delivery is refused and queues nothing.
	resp, err := http.Post(sb.URL()+"/webhook", "application/json", strings.NewReader(`{"action":"created"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned delivery: %d, want 401", resp.StatusCode)
	}
	// HELP needs no build: a delivery, a job, GitHub calls.
	d, err := sb.Comment(ctx, "BUILDBOT: HELP")
	if err != nil || d.Status != 200 {
		t.Fatalf("delivery: %d, %v", d.Status, err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(sb.Replies()) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(rb.Log)
			t.Fatalf("no reply to HELP\n%s", log)
		}
	}
	// The review page of the PR; a number refbot has no record of is a
	// 404 answered without asking GitHub.
	if code, body := get("/pr/42"); code != 200 || !strings.Contains(body, "#42") {
		t.Errorf("/pr/42: %d\n%s", code, body)
	}
	calls := sb.GitHub.RequestCount()
	for _, p := range []string{"/pr/777", "/pr/778"} {
		if code, _ := get(p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	if n := sb.GitHub.RequestCount() - calls; n != 0 {
		t.Errorf("pages of unknown PRs made %d GitHub requests", n)
	}
	// The GitHub metrics are counted after each answer, so a moment after
	// the reply is seen.
	wants := []string{
		`refbot_webhook_deliveries_total{code="200"} 2`, // the PR's opening and the comment
		`refbot_webhook_deliveries_total{code="401"} 1`,
		`refbot_jobs{kind="comment",state=`,
		`refbot_github_requests_total{`,
		`refbot_github_rate_limit_remaining{`,
		`refbot_webhook_answer_seconds_bucket`,
		"refbot_ready 1",
		`refbot_dependency_up{system="data_repo"} 1`,
	}
	var lacks []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, metrics := get("/metrics")
		lacks = lacks[:0]
		for _, want := range wants {
			if !strings.Contains(metrics, want) {
				lacks = append(lacks, want)
			}
		}
		if len(lacks) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range lacks {
		t.Errorf("/metrics lacks %s", want)
	}
	if err := rb.Stop(ctx); err != nil {
		t.Errorf("refbot serve did not stop cleanly on SIGINT: %v", err)
	}
	if v := sb.GitHub.Violations(); len(v) > 0 {
		t.Errorf("GitHub API description violated: %v", v)
	}
}

// TestAPITrigger: a maintainer's script forces an UPDATE over the API; it
// runs the same workflow as a comment, without a GitHub permission check.
func TestAPITrigger(t *testing.T) {
	ctx, sb := start(t, true)
	rb, err := sb.Serve(ctx, refbotBin)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Stop(context.Background())
	post := func(token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, sb.URL()+"/api/v1/prs/42/commands", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("wrong", `{"command":"UPDATE","by":"release-script"}`); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	if code := post(APIToken, `{"command":"UPDATE","by":"release-script"}`); code != http.StatusAccepted {
		t.Fatalf("API UPDATE: %d", code)
	}
	st, err := sb.WaitUpdateDone(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "success" {
		t.Errorf("final status %s: %s", st.State, st.Description)
	}
	if r := sb.Replies(); len(r) != 1 || !strings.Contains(r[0].Body, "asked by @release-script") {
		t.Errorf("replies: %+v", r)
	}
}

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/travis/travistest"
)

// leaderTakeover bounds how long the replicas go without a leader after
// the leader dies: River's leader holds its term 15 s past its last
// renewal, and the others try to lead every 5 to 6 s.
const leaderTakeover = 45 * time.Second

// TestReplicas: three refbot serve replicas share one PostgreSQL database
// behind one webhook address. A burst of UPDATEs on six PRs, each comment
// delivered twice (GitHub's redelivery, to another replica), spreads over
// them. One replica is killed (SIGKILL) in the middle of a job, and the
// leader is stopped, so that the third leads and is killed at the leader's
// moment (as it queues the periodic work); two new replicas take over.
// Then two PRs are merged at once. Every job completes exactly once: each
// PR's data branch is master plus one commit, its CI build was restarted
// once, it got one reply (two when merged), each merge promoted its data
// in one commit and restarted its post-merge build once, and each comment
// was recorded once. A new leader took over within leaderTakeover.
func TestReplicas(t *testing.T) {
	db := testenv.PostgreSQL(t).NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	// Six PRs, each of whose builds adds a file of its own to the data,
	// so that their merges apply one after the other.
	heads, builds := map[int]string{PR: sb.Head}, map[int]int64{PR: sb.BuildID}
	if _, err := sb.Upload(ctx, refbotBin, outputsOf(PR)); err != nil {
		t.Fatal(err)
	}
	prs := []int{PR}
	for pr := PR + 1; pr < PR+6; pr++ {
		b, err := sb.AddPR(ctx, refbotBin, pr, outputsOf(pr))
		if err != nil {
			t.Fatal(err)
		}
		heads[pr], builds[pr] = b.CommitSHA, b.ID
		prs = append(prs, pr)
	}

	reps, err := sb.StartReplicas(db)
	if err != nil {
		t.Fatal(err)
	}
	defer reps.Close()
	var all []*Replica
	ended := map[*Replica]bool{} // stopped or killed
	serve := func(name string, env ...string) *Replica {
		t.Helper()
		r, err := reps.Start(ctx, refbotBin, name, env...)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
		return r
	}
	defer func() {
		for _, r := range all {
			if !ended[r] {
				r.Stop(context.Background())
			}
		}
		if t.Failed() {
			for _, r := range all {
				log, _ := os.ReadFile(r.Log)
				t.Logf("%s's log:\n%s", r.Name, log)
			}
		}
	}()
	leader := func() string {
		var id string
		if err := conn.QueryRow(ctx, `SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&id); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		return id
	}
	waitFor := func(what string, limit time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for deadline := start.Add(limit); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, limit)
			}
		}
		return time.Since(start)
	}

	// r0 starts alone and leads; r2 dies as soon as it leads.
	r0 := serve("r0")
	waitFor("r0 leads", leaderTakeover, func() bool { return strings.HasPrefix(leader(), r0.IDPrefix()) })
	r1 := serve("r1")
	r2 := serve("r2", "REFBOT_FAILPOINT=leading")

	// The burst, each comment delivered twice.
	var wg sync.WaitGroup
	for _, pr := range prs {
		wg.Go(func() {
			d, err := sb.CommentOn(ctx, pr, "BUILDBOT: UPDATE")
			if err != nil || d.Status != 200 {
				t.Errorf("UPDATE on #%d: %d %s, %v", pr, d.Status, d.Body, err)
				return
			}
			if again, err := sb.GitHub.Redeliver(ctx, sb.URL()+"/webhook", WebhookSecret, d); err != nil || again.Status != 200 {
				t.Errorf("redelivery of the UPDATE on #%d: %d %s, %v", pr, again.Status, again.Body, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// r1 is killed in the middle of one of its jobs: while it holds a PR's
	// lease.
	waitFor("r1 works on a PR", time.Minute, func() bool {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM refbot_lease WHERE name LIKE 'pr:%' AND holder LIKE $1 || '%'`,
			r1.IDPrefix()).Scan(&n)
		return err == nil && n > 0
	})
	r1.Kill()
	r1.Wait(ctx)
	ended[r1] = true

	// The leader stops (a rolling restart); r2 leads, and dies at once.
	ended[r0], ended[r2] = true, true
	if err := r0.Stop(ctx); err != nil {
		t.Fatalf("r0 stopped: %v", err)
	}
	diesAt(ctx, t, r2.Refbot, "leading")
	leaderless := time.Now()

	// Two new replicas take over.
	r3, r4 := serve("r3"), serve("r4")
	waitFor("a new leader", leaderTakeover-time.Since(leaderless), func() bool {
		id := leader()
		return strings.HasPrefix(id, r3.IDPrefix()) || strings.HasPrefix(id, r4.IDPrefix())
	})
	took := time.Since(leaderless)
	t.Logf("a new leader %s after the last one died", took.Round(100*time.Millisecond))

	for _, pr := range prs {
		waitFor(fmt.Sprintf("#%d's UPDATE finished", pr), 2*time.Minute, func() bool {
			st, ok := sb.Status(heads[pr], "refbot/update")
			return ok && st.State != "pending"
		})
		if st, _ := sb.Status(heads[pr], "refbot/update"); st.State != "success" {
			t.Errorf("#%d's UPDATE: %s: %s", pr, st.State, st.Description)
		}
	}

	// Two merges at once.
	before := testenv.Git(t, sb.Bare, "rev-parse", "master")
	merged := prs[:2]
	posts := map[int]int64{}
	for _, pr := range merged {
		sha := sb.GitHub.Merge(pr, Maintainer)
		posts[pr] = sb.Travis.AddBuild(travistest.Build{Repo: Repo, Branch: "master", EventType: "push", CommitSHA: sha,
			State: "started", StartedAt: time.Now().Add(-time.Minute)}).ID
	}
	for _, pr := range merged {
		wg.Go(func() {
			payload := sb.GitHub.PullRequestPayload(pr, "closed", Maintainer)
			if d, err := sb.GitHub.Deliver(ctx, sb.URL()+"/webhook", WebhookSecret, "pull_request", payload); err != nil || d.Status != 200 {
				t.Errorf("merge of #%d: %d, %v", pr, d.Status, err)
			}
		})
	}
	wg.Wait()
	for _, pr := range merged {
		waitFor(fmt.Sprintf("#%d's merge reported", pr), 2*time.Minute, func() bool {
			r := sb.RepliesOn(pr)
			return len(r) >= 2 && strings.Contains(r[len(r)-1].Body, "was deleted")
		})
	}

	// Exactly once, everywhere.
	for _, pr := range prs {
		wantReplies := 1
		if pr == merged[0] || pr == merged[1] {
			wantReplies = 2
			if out, _ := testenv.GitEnv(sb.Bare, nil, "rev-parse", "--verify", "--quiet", fmt.Sprintf("refs/heads/PR%d", pr)); out != "" {
				t.Errorf("PR%d was not deleted after the merge", pr)
			}
			if got := testenv.Git(t, sb.Bare, "show", fmt.Sprintf("master:data/%s", ownFile(pr))); got != ownContent(pr) {
				t.Errorf("master lacks #%d's data: %q", pr, got)
			}
			if n := sb.Travis.Restarts(posts[pr]); n != 1 {
				t.Errorf("#%d's post-merge build restarted %d times, want 1", pr, n)
			}
		} else {
			if n := testenv.Git(t, sb.Bare, "rev-list", "--count", fmt.Sprintf("master..PR%d", pr)); n != "1" {
				t.Errorf("PR%d is master + %s commits, want 1", pr, n)
			}
			if got := testenv.Git(t, sb.Bare, "show", fmt.Sprintf("PR%d:data/%s", pr, ownFile(pr))); got != ownContent(pr) {
				t.Errorf("PR%d lacks its build's data: %q", pr, got)
			}
		}
		if n := len(sb.RepliesOn(pr)); n != wantReplies {
			t.Errorf("#%d got %d replies, want %d", pr, n, wantReplies)
		}
		if n := sb.Travis.Restarts(builds[pr]); n != 1 {
			t.Errorf("#%d's CI build restarted %d times, want 1", pr, n)
		}
	}
	if n := testenv.Git(t, sb.Bare, "rev-list", "--count", before+"..master"); n != "2" {
		t.Errorf("the two merges made %s commits on master, want 2", n)
	}
	// What r1 was running when it was killed, another replica ran again.
	var resumed int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed'
		AND attempted_by[1] LIKE $1 || '%' AND array_length(attempted_by, 1) > 1`, r1.IDPrefix()).Scan(&resumed); err != nil {
		t.Fatal(err)
	}
	if resumed == 0 {
		t.Error("no job r1 was running when it was killed was run again by another replica")
	}
	var comments, unfinished int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM refbot_comment`).Scan(&comments); err != nil {
		t.Fatal(err)
	}
	if comments != len(prs) {
		t.Errorf("%d comments recorded, want %d", comments, len(prs))
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('discarded', 'retryable')`).Scan(&unfinished); err != nil {
		t.Fatal(err)
	}
	if unfinished > 0 {
		t.Errorf("%d jobs failed", unfinished)
	}
	for _, v := range sb.GitHub.Violations() {
		t.Errorf("GitHub API description violated: %s", v)
	}
}

// ownFile is the file pr's build adds to the data.
func ownFile(pr int) string { return fmt.Sprintf("tables/pr%d.csv", pr) }

// ownContent is what ownFile holds (as testenv.Git shows it: trimmed).
func ownContent(pr int) string { return fmt.Sprintf("pr,value\n%d,1", pr) }

// outputsOf are pr's build's outputs: the data as it is, plus a file of
// its own.
func outputsOf(pr int) map[string]string {
	out := map[string]string{ownFile(pr): ownContent(pr) + "\n"}
	for path, content := range DemoData {
		if rel, ok := strings.CutPrefix(path, "data/"); ok {
			out[rel] = content
		}
	}
	return out
}

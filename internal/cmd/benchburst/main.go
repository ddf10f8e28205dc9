// Command benchburst sends a burst of signed webhook deliveries to a real
// `refbot serve` (internal/sandbox: SQLite, MinIO, a git server, the fake
// GitHub and Travis on loopback) and reports:
//
//   - the time to answer each delivery (max, p99, p50) against GitHub's
//     10 s and refbot's own aim of 1 s;
//   - that none was lost: every delivery recorded once, every comment
//     holding commands queued as one job;
//   - how refbot paced its writes to GitHub (the fake records when each
//     request came): the most in any second and any minute, against
//     refbot's limiter (one write a second) and GitHub's ≤ 80
//     content-creating requests a minute;
//   - the time until every job the burst made has ended;
//   - refbot serve's peak resident memory.
//
// The default burst is 500 deliveries over 50 PRs in 10 seconds, ten per
// PR in a shuffled order: on every other PR an UPDATE (S3 download, git
// push, CI restart and wait), on the others a push (pull_request
// synchronize), and on each a PLAN, two STATUS, five comments without a
// command and a Travis commit status (refbot ignores it) or, on every
// tenth PR, the merge (pull_request closed, the PR's last delivery). Run
// it with `make bench-burst`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/refbot/refbot/internal/sandbox"
	"github.com/refbot/refbot/internal/testenv"
)

func main() {
	bin := flag.String("refbot", "bin/refbot", "the refbot binary to run")
	prs := flag.Int("prs", 50, "pull requests")
	per := flag.Int("per", 10, "deliveries per pull request")
	over := flag.Duration("over", 10*time.Second, "the burst's length")
	drain := flag.Duration("drain", 30*time.Minute, "the longest wait for the jobs to end")
	flag.Parse()
	err := run(*bin, *prs, *per, *over, *drain)
	testenv.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchburst:", err)
		os.Exit(1)
	}
}

// delivery is one of the burst's deliveries, made when it is sent.
type delivery struct {
	pr   int
	kind string // "UPDATE", "PLAN", "STATUS", "comment", "push", "ci", "merge"
}

// sent is a delivery as refbot answered it.
type sent struct {
	delivery
	id     string
	status int
	took   time.Duration
	err    error
}

func run(bin string, prs, per int, over, drainLimit time.Duration) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("%w (make build makes it)", err)
	}
	ctx := context.Background()
	work, err := os.MkdirTemp("", "refbot-benchburst-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	setupCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	sb, err := sandbox.Start(setupCtx, work)
	if err != nil {
		return err
	}
	defer sb.Close()
	if _, err := sb.Upload(setupCtx, abs, sandbox.DemoOutputs); err != nil {
		return err
	}
	numbers := []int{sandbox.PR}
	for pr := sandbox.PR + 1; len(numbers) < prs; pr++ {
		if _, err := sb.AddPR(setupCtx, abs, pr, sandbox.DemoOutputs); err != nil {
			return err
		}
		numbers = append(numbers, pr)
	}
	rb, err := sb.Serve(setupCtx, abs)
	if err != nil {
		return err
	}
	defer rb.Stop(context.Background())
	sb.GitHub.ResetRequests()

	plan := burstPlan(numbers, per)
	fmt.Printf("burst: %d signed deliveries over %d PRs in %s to refbot serve (SQLite), loopback; %s\n\n",
		len(plan), len(numbers), over, sandbox.MachineLoad())

	// The memory of refbot serve through the burst and the drain.
	var peakRSS int64
	sampling, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if m, err := rb.Memory(); err == nil {
				peakRSS = max(peakRSS, m.RSS)
			}
			select {
			case <-sampling.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	results := make([]sent, len(plan))
	var wg sync.WaitGroup
	start := time.Now()
	gap := over / time.Duration(len(plan))
	for i, d := range plan {
		time.Sleep(time.Until(start.Add(time.Duration(i) * gap)))
		// Merges and pushes change the fake's state; they are made in
		// order, the sending is concurrent.
		event, payload := makePayload(sb, d)
		wg.Go(func() {
			t0 := time.Now()
			got, err := sb.GitHub.Deliver(ctx, sb.URL()+"/webhook", sandbox.WebhookSecret, event, payload)
			results[i] = sent{delivery: d, id: got.ID, status: got.Status, took: time.Since(t0), err: err}
		})
	}
	wg.Wait()
	sentIn := time.Since(start)

	// The drain: until every job has ended.
	drainCtx, cancelDrain := context.WithTimeout(ctx, drainLimit)
	defer cancelDrain()
	var states map[string]int
	for {
		if states, err = sb.JobStates(drainCtx); err == nil && sandbox.Unfinished(states) == 0 {
			break
		}
		select {
		case <-drainCtx.Done():
			return fmt.Errorf("jobs still unfinished after %s: %v (refbot's log: %s)", drainLimit, states, rb.Log)
		case <-time.After(200 * time.Millisecond):
		}
	}
	drained := time.Since(start)
	stopSampling()
	<-sampled
	mem, err := rb.Memory()
	if err != nil {
		return err
	}

	// Answers.
	var took []time.Duration
	byStatus := map[int]int{}
	var failed []string
	for _, r := range results {
		if r.err != nil {
			failed = append(failed, fmt.Sprintf("%s on #%d: %v", r.kind, r.pr, r.err))
			continue
		}
		took = append(took, r.took)
		byStatus[r.status]++
	}
	slices.Sort(took)
	pct := func(p float64) time.Duration { return took[min(len(took)-1, int(p*float64(len(took))))] }
	over1s := 0
	for _, t := range took {
		if t > time.Second {
			over1s++
		}
	}
	fmt.Printf("%-44s %s\n", "sent in", sentIn.Round(time.Millisecond))
	fmt.Printf("%-44s %v\n", "answers by status", byStatus)
	fmt.Printf("%-44s p50 %s, p99 %s, max %s\n", "time to answer", ms(pct(0.5)), ms(pct(0.99)), ms(took[len(took)-1]))
	fmt.Printf("%-44s %d (aim: 0)\n", "answers over 1 s", over1s)
	if len(failed) > 0 {
		fmt.Printf("%-44s %d: %v\n", "not answered", len(failed), failed)
	}

	// None lost: each delivery recorded, each command comment one job.
	recorded, err := sb.DeliveryIDs(ctx)
	if err != nil {
		return err
	}
	lost := 0
	commands := 0
	for _, r := range results {
		if !recorded[r.id] {
			lost++
		}
		switch r.kind {
		case "UPDATE", "PLAN", "STATUS":
			commands++
		}
	}
	jobs, comments, err := sb.CommandJobs(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%-44s %d of %d (lost: %d)\n", "deliveries recorded", len(results)-lost, len(results), lost)
	fmt.Printf("%-44s %d jobs for %d comments (sent %d)\n", "comments with commands queued", jobs, comments, commands)
	fmt.Printf("%-44s %v\n", "jobs at the end", states)
	if outcomes, err := sb.UpdateOutcomes(ctx); err == nil {
		fmt.Printf("%-44s %v\n", "UPDATEs by step/outcome", outcomes)
	}
	// What refbot answered the UPDATEs: the first line of each reply.
	answers := map[string]int{}
	for _, pr := range numbers {
		for _, c := range sb.RepliesOn(pr) {
			if strings.Contains(c.Body, "UPDATE") {
				line, _, _ := strings.Cut(c.Body, "\n")
				line = numbersIn.ReplaceAllString(line, "N")
				answers[line[:min(len(line), 90)]]++
			}
		}
	}
	fmt.Printf("%-44s\n", "replies mentioning UPDATE, by first line")
	for line, n := range answers {
		fmt.Printf("  %4d  %s\n", n, line)
	}
	fmt.Printf("%-44s %s after the first delivery\n", "queue drained", drained.Round(100*time.Millisecond))

	// Writes to GitHub.
	w := sandbox.CountWrites(sb.GitHub.Requests())
	fmt.Printf("%-44s %d (%d POST), GraphQL requests %d, over %s\n", "GitHub writes", w.Total, w.ContentCreating, w.GraphQL,
		w.Last.Sub(w.First).Round(100*time.Millisecond))
	fmt.Printf("%-44s %d in a second, %d in a minute; least gap %s\n", "busiest", w.MaxPerSecond, w.MaxPerMinute, ms(w.MinGap))
	fmt.Printf("%-44s 1 write a second (ghclient.DefaultMutationInterval); GitHub: ≤ 80 content-creating a minute\n", "limits")
	fmt.Printf("%-44s %d\n", "GitHub requests at most at once", sb.GitHub.MaxInFlight())
	if v := sb.GitHub.Violations(); len(v) > 0 {
		fmt.Printf("%-44s %d: %v\n", "GitHub API description violated", len(v), v)
	}

	fmt.Printf("%-44s %s (sampled every 100 ms: %s; now %s)\n", "refbot serve peak RSS (VmHWM)", mib(mem.Peak), mib(peakRSS), mib(mem.RSS))
	fmt.Printf("\nafter: %s\n", sandbox.MachineLoad())
	switch {
	case lost > 0 || len(failed) > 0:
		return fmt.Errorf("%d deliveries lost, %d not answered", lost, len(failed))
	case jobs != comments || comments != commands:
		return fmt.Errorf("%d comment jobs for %d comments, %d sent", jobs, comments, commands)
	}
	return nil
}

// burstPlan is per deliveries for each PR, shuffled together; a merge is
// its PR's last.
func burstPlan(prs []int, per int) []delivery {
	kinds := []string{"UPDATE", "PLAN", "STATUS", "STATUS", "comment", "comment", "comment", "comment", "comment", "ci"}
	rng := rand.New(rand.NewPCG(12, 7))
	var plan []delivery
	for i, pr := range prs {
		for j := range per {
			k := kinds[j%len(kinds)]
			switch {
			case k == "UPDATE" && i%2 == 1:
				k = "push" // a push would leave an UPDATE no build to take
			case k == "ci" && i%10 == 1:
				k = "merge"
			}
			plan = append(plan, delivery{pr: pr, kind: k})
		}
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	// A merge moves to after its PR's other deliveries.
	last := map[int]int{}
	for i, d := range plan {
		last[d.pr] = i
	}
	for i, d := range plan {
		if d.kind == "merge" && last[d.pr] != i {
			j := last[d.pr]
			plan[i], plan[j] = plan[j], plan[i]
		}
	}
	return plan
}

// makePayload changes the fake GitHub as the delivery says happened and
// returns the delivery's event and payload.
func makePayload(sb *sandbox.Sandbox, d delivery) (string, []byte) {
	switch d.kind {
	case "UPDATE", "PLAN", "STATUS":
		return "issue_comment", sb.GitHub.Comment(d.pr, sandbox.Maintainer, "Looked at the plots.\n\nBUILDBOT: "+d.kind+"\n")
	case "comment":
		return "issue_comment", sb.GitHub.Comment(d.pr, "contributor", "Thanks, I will have a look tomorrow.")
	case "push":
		sha := randomSHA()
		sb.GitHub.AddCommit(sha)
		sb.GitHub.SetHead(d.pr, sha)
		return "pull_request", sb.GitHub.PullRequestPayload(d.pr, "synchronize", "contributor")
	case "merge":
		sb.GitHub.Merge(d.pr, sandbox.Maintainer)
		return "pull_request", sb.GitHub.PullRequestPayload(d.pr, "closed", sandbox.Maintainer)
	}
	// A Travis commit status on the PR's head, as GitHub delivers it.
	p, _ := sb.GitHub.PR(d.pr)
	body, _ := json.Marshal(map[string]any{
		"sha": p.HeadSHA, "state": "success", "context": "continuous-integration/travis-ci/pr",
		"description": "The Travis CI build passed", "target_url": "https://travis-ci.com/build/1",
		"repository": map[string]any{"full_name": sandbox.Repo},
		"sender":     map[string]any{"login": "travis-ci[bot]", "type": "Bot"},
	})
	return "status", body
}

// numbersIn finds commit ids and numbers, which the reply summary leaves
// out.
var numbersIn = regexp.MustCompile(`\b[0-9a-f]{7,40}\b|\d+`)

func randomSHA() string {
	return fmt.Sprintf("%016x%016x%08x", rand.Uint64(), rand.Uint64(), rand.Uint32())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

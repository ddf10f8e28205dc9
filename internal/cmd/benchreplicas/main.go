// Command benchreplicas measures refbot serve replicas sharing one
// PostgreSQL database, with 1, 2 and 3 replicas in one run, on this
// machine:
//
//   - deliveries per second: signed issue_comment deliveries spread over
//     the replicas' intakes (signature check, decoding, the delivery, the
//     comment and a River job recorded in PostgreSQL before the answer),
//     each replica a store, a queue and an HTTP server in this process;
//   - completed UPDATEs per minute: real `refbot serve` processes behind
//     one address (internal/sandbox: MinIO, a git server, the fake GitHub
//     and Travis on loopback), a burst of UPDATE comments on as many PRs,
//     timed from the first delivery to the last final status.
//
// The replicas share the machine's cores, as PostgreSQL and the fakes do:
// the figures say what replicas cost and that they add up correctly, not
// what replicas on machines of their own would gain. Run it with
// `make bench-replicas`.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/server"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/sandbox"
	"github.com/refbot/refbot/internal/testenv"
)

const secret = "bench-secret"

func main() {
	bin := flag.String("refbot", "bin/refbot", "the refbot binary to run")
	total := flag.Int("n", 10000, "deliveries per replica count")
	conc := flag.Int("c", 16, "concurrent senders")
	prs := flag.Int("prs", 12, "PRs, one UPDATE each, per replica count")
	flag.Parse()
	err := run(*bin, *total, *conc, *prs)
	testenv.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreplicas:", err)
		os.Exit(1)
	}
}

func run(bin string, total, conc, prs int) error {
	ctx := context.Background()
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("%w (make build makes it)", err)
	}
	pg, err := testenv.StartPostgreSQL(os.TempDir())
	if err != nil {
		return err
	}
	fmt.Printf("refbot serve replicas on one PostgreSQL, this machine (loopback)\n\n")
	type row struct {
		replicas   int
		deliveries float64
		updates    float64
		took       time.Duration
	}
	var rows []row
	for n := 1; n <= 3; n++ {
		db, err := pg.CreateDatabase(ctx, fmt.Sprintf("intake%d", n))
		if err != nil {
			return err
		}
		rate, err := intakeRate(ctx, db, n, total, conc)
		if err != nil {
			return fmt.Errorf("%d replicas, intake: %w", n, err)
		}
		if db, err = pg.CreateDatabase(ctx, fmt.Sprintf("updates%d", n)); err != nil {
			return err
		}
		took, err := updates(ctx, abs, db, n, prs)
		if err != nil {
			return fmt.Errorf("%d replicas, updates: %w", n, err)
		}
		rows = append(rows, row{n, rate, float64(prs) / took.Minutes(), took})
	}
	fmt.Printf("%-9s %14s %20s\n", "replicas", "deliveries/s", "UPDATEs/minute")
	for _, r := range rows {
		fmt.Printf("%-9d %14.0f %12.1f (%d in %s)\n", r.replicas, r.deliveries, r.updates, prs, r.took.Round(100*time.Millisecond))
	}
	fmt.Printf("\n%d deliveries and %d concurrent senders per row; each UPDATE: S3 download, git push, CI restart, CI wait\n", total, conc)
	return nil
}

// intakeRate sends total deliveries, round robin, to n replicas' intakes
// on database db and returns the deliveries answered per second.
func intakeRate(ctx context.Context, db string, n, total, conc int) (float64, error) {
	var urls []string
	for range n {
		st, err := store.Open(ctx, db, store.Options{Exclusive: true})
		if err != nil {
			return 0, err
		}
		defer st.Close()
		q, err := queue.Open(ctx, queue.Config{Store: st})
		if err != nil {
			return 0, err
		}
		defer q.Close()
		h, err := intake.New(intake.Options{
			Secrets: []string{secret}, Repo: "octo-org/octo-repo", BotLogin: "refbot[bot]", Recorder: q,
			HasCommand: func(body string) bool { return !command.Parse(body, "").Empty() },
			Metrics:    intake.NewMetrics(prometheus.NewRegistry()),
		})
		if err != nil {
			return 0, err
		}
		srv, err := server.New(server.Options{Listen: "127.0.0.1:0", Webhook: h, Ready: q.Ping, Gatherer: prometheus.NewRegistry()})
		if err != nil {
			return 0, err
		}
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go srv.Run(sctx)
		urls = append(urls, "http://"+srv.Addr()+"/webhook")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}, Timeout: 30 * time.Second}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(total); i = next.Add(1) {
				if err := deliver(client, urls[int(i)%len(urls)], i); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

var runID = time.Now().UnixNano()

// deliver sends the i-th delivery: an issue_comment holding a command, a
// new comment each time.
func deliver(client *http.Client, url string, i int64) error {
	body, _ := json.Marshal(map[string]any{
		"action":     "created",
		"repository": map[string]any{"full_name": "octo-org/octo-repo"},
		"issue":      map[string]any{"number": 12 + i%50, "pull_request": map[string]any{"url": "https://api.github.com/x"}},
		"comment": map[string]any{"id": i, "body": "Thanks, the plots look right.\n\nBUILDBOT: UPDATE\n",
			"html_url": "https://github.com/octo-org/octo-repo/pull/12", "created_at": "2026-11-23T10:00:00Z",
			"user": map[string]any{"login": "alice", "type": "User"}},
		"sender": map[string]any{"login": "alice", "type": "User"},
	})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "issue_comment")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d-%d", runID, i))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("delivery %d: %s", i, resp.Status)
	}
	return nil
}

// updates runs n refbot serve replicas on database db behind one address,
// sends one UPDATE on each of prs PRs at once, and returns how long they
// took to reach their final statuses.
func updates(ctx context.Context, bin, db string, n, prs int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	work, err := os.MkdirTemp("", "refbot-benchreplicas-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(work)
	sb, err := sandbox.Start(ctx, work)
	if err != nil {
		return 0, err
	}
	defer sb.Close()
	heads := map[int]string{sandbox.PR: sb.Head}
	if _, err := sb.Upload(ctx, bin, sandbox.DemoOutputs); err != nil {
		return 0, err
	}
	for pr := sandbox.PR + 1; pr < sandbox.PR+prs; pr++ {
		b, err := sb.AddPR(ctx, bin, pr, sandbox.DemoOutputs)
		if err != nil {
			return 0, err
		}
		heads[pr] = b.CommitSHA
	}
	reps, err := sb.StartReplicas(db)
	if err != nil {
		return 0, err
	}
	defer reps.Close()
	for i := range n {
		r, err := reps.Start(ctx, bin, fmt.Sprintf("r%d", i))
		if err != nil {
			return 0, err
		}
		defer r.Stop(context.Background())
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, prs)
	for pr := range heads {
		wg.Go(func() {
			if d, err := sb.CommentOn(ctx, pr, "BUILDBOT: UPDATE"); err != nil || d.Status != http.StatusOK {
				errs <- fmt.Errorf("UPDATE on #%d: %d, %v", pr, d.Status, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	for pr, head := range heads {
		for {
			st, ok := sb.Status(head, "refbot/update")
			if ok && st.State != "pending" {
				if st.State != "success" {
					return 0, fmt.Errorf("#%d's UPDATE: %s: %s", pr, st.State, st.Description)
				}
				break
			}
			select {
			case <-ctx.Done():
				return 0, fmt.Errorf("#%d's UPDATE did not finish: %w", pr, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	took := time.Since(start)
	if v := sb.GitHub.Violations(); len(v) > 0 {
		return 0, fmt.Errorf("GitHub API description violated: %s", strings.Join(v, "; "))
	}
	return took, nil
}

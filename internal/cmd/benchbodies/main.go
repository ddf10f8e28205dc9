// Command benchbodies measures what a flood of the largest webhook bodies
// costs a real `refbot serve` (internal/sandbox: MinIO, a git server and
// the fake GitHub and Travis on loopback): -n senders at once each post a
// signed 25 MB delivery (GitHub's cap; a push event, which refbot records
// and ignores), while small signed deliveries keep arriving. It reports
// the answers by status, how long the small deliveries waited, and the
// peak resident memory of the refbot process (VmHWM in /proc/PID/status)
// before and after the flood. Run it with `make bench-bodies`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/internal/sandbox"
	"github.com/refbot/refbot/internal/testenv"
)

func main() {
	bin := flag.String("refbot", "bin/refbot", "the refbot binary to run")
	large := flag.Int("n", 40, "25 MB deliveries sent at once")
	small := flag.Int("small", 40, "small deliveries sent one after another during the flood")
	flag.Parse()
	err := run(*bin, *large, *small)
	testenv.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchbodies:", err)
		os.Exit(1)
	}
}

func run(bin string, large, small int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("%w (make build makes it)", err)
	}
	work, err := os.MkdirTemp("", "refbot-benchbodies-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	sb, err := sandbox.Start(ctx, work)
	if err != nil {
		return err
	}
	defer sb.Close()
	rb, err := sb.Serve(ctx, abs)
	if err != nil {
		return err
	}
	defer rb.Stop(context.Background())
	pid := rb.Cmd.Process.Pid
	before, err := memory(pid)
	if err != nil {
		return err
	}

	big := pushPayload(intake.MaxBody)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: large + 1, DisableCompression: true},
		Timeout: 2 * time.Minute}
	var codes sync.Map // status → *atomic.Int64
	count := func(code int) {
		v, _ := codes.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range large {
		wg.Go(func() {
			code, err := deliver(ctx, client, sb.URL(), "push", fmt.Sprintf("large-%d", i), big)
			if err != nil {
				errs.Add(1)
				return
			}
			count(code)
		})
	}
	// The small deliveries, one at a time while the large ones arrive:
	// an issue_comment without a command (recorded, ignored).
	var waits []time.Duration
	var smallCodes []int
	for i := range small {
		body := commentPayload(int64(1000 + i))
		t0 := time.Now()
		code, err := deliver(ctx, client, sb.URL(), "issue_comment", fmt.Sprintf("small-%d", i), body)
		if err != nil {
			return fmt.Errorf("small delivery: %w", err)
		}
		waits = append(waits, time.Since(t0))
		smallCodes = append(smallCodes, code)
	}
	wg.Wait()
	elapsed := time.Since(start)
	after, err := memory(pid)
	if err != nil {
		return err
	}

	fmt.Printf("%d signed 25 MB deliveries at once to refbot serve (%s), %d small ones during them, loopback\n\n",
		large, filepath.Base(abs), small)
	var answers []string
	codes.Range(func(k, v any) bool {
		answers = append(answers, fmt.Sprintf("%d × %d", v.(*atomic.Int64).Load(), k.(int)))
		return true
	})
	slices.Sort(answers)
	if n := errs.Load(); n > 0 {
		answers = append(answers, fmt.Sprintf("%d × no answer", n))
	}
	fmt.Printf("large deliveries' answers: %s (all in %.1f s)\n", strings.Join(answers, ", "), elapsed.Seconds())
	slices.Sort(waits)
	ok := 0
	for _, c := range smallCodes {
		if c/100 == 2 {
			ok++
		}
	}
	if len(waits) > 0 {
		fmt.Printf("small deliveries: %d of %d answered 2xx; answer time median %.0f ms, max %.0f ms\n",
			ok, small, ms(waits[len(waits)/2]), ms(waits[len(waits)-1]))
	}
	fmt.Printf("refbot serve memory: resident %d MB before; peak (VmHWM) %d MB before, %d MB after the flood\n",
		before.rss>>20, before.hwm>>20, after.hwm>>20)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type mem struct{ rss, hwm int64 }

// memory reads the process's resident memory and its peak.
func memory(pid int) (mem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, err
	}
	defer f.Close()
	var m mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "VmRSS: %d kB", &kb); err == nil {
			m.rss = kb << 10
		}
		if _, err := fmt.Sscanf(sc.Text(), "VmHWM: %d kB", &kb); err == nil {
			m.hwm = kb << 10
		}
	}
	return m, sc.Err()
}

// deliver posts body as GitHub would and returns refbot's status.
func deliver(ctx context.Context, client *http.Client, base, event, id string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhook", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", intake.Sign(sandbox.WebhookSecret, body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// pushPayload is a push event of n bytes: its commits' messages fill it.
func pushPayload(n int) []byte {
	head, _ := json.Marshal(map[string]any{"ref": "refs/heads/master", "repository": map[string]any{"full_name": sandbox.Repo}})
	const msg = `{"id":"0123456789abcdef0123456789abcdef01234567","message":"Make the plots prettier"}`
	var b bytes.Buffer
	b.Write(head[:len(head)-1])
	b.WriteString(`,"commits":[`)
	for b.Len()+2*(len(msg)+1)+2 <= n {
		b.WriteString(msg)
		b.WriteByte(',')
	}
	b.WriteString(msg + "]}")
	for b.Len() < n {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

// commentPayload is a new comment on the sandbox's PR that holds no
// command.
func commentPayload(id int64) []byte {
	b, _ := json.Marshal(map[string]any{
		"action":     "created",
		"repository": map[string]any{"full_name": sandbox.Repo},
		"issue":      map[string]any{"number": sandbox.PR, "pull_request": map[string]any{"url": "https://api.github.com/x"}},
		"comment": map[string]any{"id": id, "body": "Thanks, looks right.", "html_url": "https://github.com/x",
			"created_at": "2026-11-23T10:00:00Z", "user": map[string]any{"login": "alice", "type": "User"}},
		"sender": map[string]any{"login": "alice", "type": "User"},
	})
	return b
}

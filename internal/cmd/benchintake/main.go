// Command benchintake measures webhook intake: signed deliveries per second
// and the time to answer (p50, p99) under load from loopback, for refbot's
// real handler (signature check, decoding, the command parser, and the
// delivery, the comment and a River job recorded in SQLite before the
// answer) next to a bare net/http handler that only checks the signature, in
// the same run. Run it with `make bench`.
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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/server"
	"github.com/refbot/refbot/bot/store"
)

const secret = "bench-secret"

func main() {
	total := flag.Int("n", 20000, "deliveries per handler")
	conc := flag.Int("c", 16, "concurrent senders")
	flag.Parse()
	if err := run(*total, *conc); err != nil {
		fmt.Fprintln(os.Stderr, "benchintake:", err)
		os.Exit(1)
	}
}

func run(total, conc int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "refbot-benchintake-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The bare baseline: verify the signature, answer.
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, intake.MaxBody))
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		got, _ := hex.DecodeString(string(bytes.TrimPrefix([]byte(r.Header.Get("X-Hub-Signature-256")), []byte("sha256="))))
		if !hmac.Equal(got, mac.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "ok\n")
	})
	bareURL, stopBare, err := serve(bare)
	if err != nil {
		return err
	}
	defer stopBare()

	st, err := store.Open(ctx, filepath.Join(dir, "refbot.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	q, err := queue.Open(ctx, queue.Config{Store: st})
	if err != nil {
		return err
	}
	defer q.Close()
	reg := prometheus.NewRegistry()
	h, err := intake.New(intake.Options{
		Secrets: []string{secret}, Repo: "octo-org/octo-repo", BotLogin: "refbot[bot]", Recorder: q,
		HasCommand: func(body string) bool { return !command.Parse(body, "").Empty() },
		Metrics:    intake.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	srv, err := server.New(server.Options{Listen: "127.0.0.1:0", Webhook: h, Ready: q.Ping, Gatherer: reg})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.Run(sctx)
	refbotURL := "http://" + srv.Addr() + "/webhook"

	fmt.Printf("%d signed issue_comment deliveries per handler, %d concurrent senders, loopback\n\n", total, conc)
	var results []result
	for _, target := range []struct{ name, url string }{
		{"bare net/http, signature only", bareURL},
		{"refbot intake, recorded in SQLite", refbotURL},
	} {
		r, err := load(target.url, total, conc)
		if err != nil {
			return fmt.Errorf("%s: %w", target.name, err)
		}
		r.name = target.name
		results = append(results, r)
	}
	fmt.Printf("%-36s %12s %10s %10s %10s\n", "handler", "deliveries/s", "p50 (ms)", "p99 (ms)", "non-2xx")
	for _, r := range results {
		fmt.Printf("%-36s %12.0f %10.2f %10.2f %10d\n", r.name, r.rate, ms(r.p50), ms(r.p99), r.bad)
	}
	fmt.Println("\ntarget for refbot intake: ≥ 2,000 deliveries/s and p99 < 50 ms")
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go s.Serve(ln)
	return "http://" + ln.Addr().String() + "/webhook", func() { s.Close() }, nil
}

type result struct {
	name     string
	rate     float64
	p50, p99 time.Duration
	bad      int64
}

var seq atomic.Int64

// payload is an issue_comment created on PR 12 holding a command, with a
// fresh comment id each time (so none is a repeat).
func payload() (id string, body []byte) {
	n := seq.Add(1)
	body, _ = json.Marshal(map[string]any{
		"action":     "created",
		"repository": map[string]any{"full_name": "octo-org/octo-repo"},
		"issue":      map[string]any{"number": 12, "pull_request": map[string]any{"url": "https://api.github.com/x"}},
		"comment": map[string]any{"id": n, "body": "Thanks, the plots look right.\n\nBUILDBOT: UPDATE\n",
			"html_url": "https://github.com/octo-org/octo-repo/pull/12", "created_at": "2026-11-23T10:00:00Z",
			"user": map[string]any{"login": "alice", "type": "User"}},
		"sender": map[string]any{"login": "alice", "type": "User"},
	})
	return fmt.Sprintf("bench-%d", n), body
}

func load(url string, total, conc int) (result, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}, Timeout: 30 * time.Second}
	var next atomic.Int64
	var bad atomic.Int64
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(total) {
				id, body := payload()
				mac := hmac.New(sha256.New, []byte(secret))
				mac.Write(body)
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", "issue_comment")
				req.Header.Set("X-GitHub-Delivery", id)
				req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[w] = append(lat[w], time.Since(t0))
				if resp.StatusCode/100 != 2 {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return result{}, firstErr
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	return result{rate: float64(len(all)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99), bad: bad.Load()}, nil
}

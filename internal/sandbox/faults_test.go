package sandbox

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/faultproxy"
	"github.com/refbot/refbot/internal/testenv"
)

// TestStalledSystems puts a fault proxy in front of S3 and then of the data
// repo's git server, with refbot serve's stall limit for it at 1 s, and
// blackholes it (connections accepted, requests taken, nothing answered)
// during an UPDATE. While the worker is stuck, a signed delivery (a plain
// comment) is still answered 2xx. The stall is noticed and the request made
// again on a new connection (S3: the SDK's retry; git: the job's next
// try), and once the fault clears the same UPDATE completes: one commit, a
// success status. The PR's lease, held by the stuck job, is free after.
//
// GitHub and Travis are not blackholed here: their per-attempt timeouts
// (30 s) are not configurable, so bot/ghclient's TestBlackholedGitHub and
// travis's TestHTTPClientTimeoutCutsHangingAnswer check them.
func TestStalledSystems(t *testing.T) {
	for _, system := range []string{"s3", "data_repo"} {
		t.Run(system, func(t *testing.T) {
			ctx, sb := start(t, true)
			p := stallBehindProxy(t, sb, system)
			rb, err := sb.Serve(ctx, refbotBin)
			if err != nil {
				t.Fatal(err)
			}
			defer rb.Stop(context.Background())
			st, err := store.Open(ctx, filepath.Join(sb.Work, "state", "refbot.db"), store.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			leaseHolder := func() string {
				h, err := st.LeaseHolder(ctx, store.PRLease(PR))
				if err != nil {
					t.Fatal(err)
				}
				return h
			}

			p.Blackhole()
			before := p.Accepted()
			if d, err := sb.Comment(ctx, "BUILDBOT: UPDATE"); err != nil || d.Status != 200 {
				t.Fatalf("UPDATE delivery: status %d, %v", d.Status, err)
			}
			// The job reaches the blackholed system and waits there.
			waitUntil(ctx, t, rb, "the job to reach the blackholed system", func() bool { return p.Accepted() > before })

			// The webhook answers while the worker is stuck.
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			d, err := sb.Comment(dctx, "Still looking at this.")
			cancel()
			if err != nil || d.Status/100 != 2 {
				t.Errorf("delivery during the stall: status %d, %v; want 2xx", d.Status, err)
			}

			// The stall is noticed: the request is made again, on a new
			// connection.
			waitUntil(ctx, t, rb, "a second connection after the stall", func() bool { return p.Accepted() > before+1 })
			if s, ok := sb.UpdateStatus(); ok && s.State == "success" {
				t.Fatalf("update succeeded through a blackhole: %s", s.Description)
			}
			// Between two attempts of the stuck job nobody holds the lease:
			// look until an attempt does.
			waitUntil(ctx, t, rb, "a job holding the PR's lease while the UPDATE is stuck", func() bool { return leaseHolder() != "" })

			p.Pass()
			final, err := sb.WaitUpdateDone(ctx, rb)
			if err != nil {
				t.Fatal(err)
			}
			if final.State != "success" {
				t.Errorf("final status %s: %s", final.State, final.Description)
			}
			waitUntil(ctx, t, rb, "the PR's lease released", func() bool { return leaseHolder() == "" })
			if n := testenv.Git(t, sb.Bare, "rev-list", "--count", "master..PR42"); n != "1" {
				t.Errorf("PR42 is master + %s commits, want 1", n)
			}
		})
	}
}

// stallBehindProxy points refbot's configuration for system ("s3" or
// "data_repo") at a fault proxy in front of it, with a stall limit of 1 s,
// and returns the proxy, passing for now.
func stallBehindProxy(t *testing.T, sb *Sandbox, system string) *faultproxy.Proxy {
	t.Helper()
	raw := sb.MinIO.Endpoint
	if system == "data_repo" {
		raw = sb.Git.URL("data.git")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := faultproxy.New(t, u.Host)
	proxied := *u
	proxied.Host = p.Addr()
	b, err := os.ReadFile(sb.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	at := strings.Index(cfg, "\n"+system+":\n")
	if at < 0 || !strings.Contains(cfg, raw) {
		t.Fatalf("no %s section with %s in the sandbox's configuration:\n%s", system, raw, cfg)
	}
	at += len("\n" + system + ":\n")
	cfg = cfg[:at] + "  stall_timeout: 1s\n" + strings.Replace(cfg[at:], raw, proxied.String(), 1)
	if err := os.WriteFile(sb.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

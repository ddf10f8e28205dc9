package health_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/health"
	"github.com/refbot/refbot/bot/server"
	"github.com/refbot/refbot/internal/fakegithub"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// parts are the real outside systems of a test: the fake GitHub, MinIO
// and git http-backend.
type parts struct {
	gh    *fakegithub.Server
	minio *testenv.MinIOServer
	git   *testenv.GitServer
	data  string // the data repo's URL
}

func newParts(t *testing.T) *parts {
	t.Helper()
	p := &parts{gh: fakegithub.New(t), minio: testenv.MinIO(t), git: testenv.NewGitServer(t)}
	p.git.CreateSeededRepo(t, "data.git", map[string]string{"data/a.txt": "a\n"})
	p.data = p.git.URL("data.git")
	return p
}

func (p *parts) github(t *testing.T, token string) health.Check {
	t.Helper()
	c, err := ghclient.New(context.Background(), ghclient.Options{APIURL: p.gh.APIURL(), GraphQLURL: p.gh.GraphQLURL(),
		Repo: p.gh.Repo(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return health.GitHub(c, "refbot")
}

// bucket is a store of bucket at endpoint (MinIO's, or another), created
// first when create.
func (p *parts) bucket(t *testing.T, endpoint, bucket string, create bool) *s3cache.Store {
	t.Helper()
	s, err := s3cache.New(context.Background(), s3cache.Options{Bucket: bucket, Prefix: "ci", Region: p.minio.Region,
		Endpoint: endpoint, PathStyle: true, AccessKeyID: p.minio.AccessKey, SecretAccessKey: p.minio.SecretKey,
		MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if create {
		if err := s.EnsureBucket(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (p *parts) dataRepo(t *testing.T, token string) health.Check {
	t.Helper()
	r, err := refdata.Open(refdata.Options{URL: p.data, Token: token, CacheDir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	return health.DataRepo(r)
}

// closedEndpoint is the address of a port nothing listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// readyz starts refbot's HTTP server answering readiness from c and
// returns GET /readyz's status and body.
func readyz(t *testing.T, c *health.Checker) (int, string) {
	t.Helper()
	srv, err := server.New(server.Options{Listen: "127.0.0.1:0", Ready: c.Ready, Gatherer: prometheus.NewRegistry(),
		Webhook: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	resp, err := http.Get("http://" + srv.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestOutsideSystems: refbot is ready only when GitHub takes its token,
// the bucket answers and the data repo gives its refs; /readyz names what
// failed and why, and never a secret.
func TestOutsideSystems(t *testing.T) {
	p := newParts(t)
	good := p.bucket(t, p.minio.Endpoint, p.minio.BucketName(t), true)
	for _, tc := range []struct {
		name   string
		checks []health.Check
		want   []string // the lines of /readyz's body after "not ready"; none when ready
	}{{
		name:   "all reachable",
		checks: []health.Check{p.github(t, p.gh.Token()), health.S3(good), p.dataRepo(t, p.git.Token)},
	}, {
		name:   "a wrong GitHub token",
		checks: []health.Check{p.github(t, "ghp_wrongwrongwrong"), health.S3(good), p.dataRepo(t, p.git.Token)},
		want:   []string{"GitHub: credentials refused: get github rate limit: GET " + p.gh.APIURL() + "rate_limit: 401 Bad credentials"},
	}, {
		name:   "no such bucket",
		checks: []health.Check{p.github(t, p.gh.Token()), health.S3(p.bucket(t, p.minio.Endpoint, "no-such-bucket", false)), p.dataRepo(t, p.git.Token)},
		want:   []string{"S3: s3://no-such-bucket/ci: no such bucket"},
	}, {
		name:   "S3 unreachable",
		checks: []health.Check{p.github(t, p.gh.Token()), health.S3(p.bucket(t, closedEndpoint(t), "b", false)), p.dataRepo(t, p.git.Token)},
		want:   []string{"S3: list s3://b/ci: operation error S3: ListObjectsV2", "connection refused"},
	}, {
		name:   "a wrong data repo token",
		checks: []health.Check{p.github(t, p.gh.Token()), health.S3(good), p.dataRepo(t, "wrong-token")},
		want:   []string{"data repo: the data repo server refused the credentials"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := health.New(health.Options{Checks: tc.checks, Database: func(context.Context) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			c.CheckNow(context.Background())
			code, body := readyz(t, c)
			if len(tc.want) == 0 {
				if code != http.StatusOK {
					t.Fatalf("/readyz: %d %q, want 200", code, body)
				}
				for _, r := range c.Results() {
					if !r.Passed || r.Note == "" {
						t.Errorf("%s: %+v, want passed with a note", r.Name, r)
					}
				}
				return
			}
			if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready\n") {
				t.Fatalf("/readyz: %d %q, want 503 not ready", code, body)
			}
			lines := strings.Split(strings.TrimSpace(body), "\n")[1:]
			if len(lines) != 1 {
				t.Fatalf("/readyz names %d problems, want 1:\n%s", len(lines), body)
			}
			for _, want := range tc.want {
				if !strings.Contains(lines[0], want) {
					t.Errorf("/readyz says %q, want it to say %q", lines[0], want)
				}
			}
			for _, secret := range []string{p.gh.Token(), p.git.Token, p.minio.SecretKey, "wrong-token", "ghp_wrongwrongwrong"} {
				if strings.Contains(body, secret) {
					t.Errorf("/readyz shows a secret: %q", body)
				}
			}
		})
	}
}

// TestS3Stops: S3 that answered and then stops answering makes refbot
// not ready at the next check, and ready again once it answers.
func TestS3Stops(t *testing.T) {
	p := newParts(t)
	target, err := url.Parse(p.minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(proxy)
	defer front.Close()
	name := p.minio.BucketName(t)
	p.bucket(t, p.minio.Endpoint, name, true)
	c, err := health.New(health.Options{Checks: []health.Check{health.S3(p.bucket(t, front.URL, name, false))}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r := c.CheckNow(ctx)[0]; !r.Passed {
		t.Fatalf("S3 through the proxy: %+v", r)
	}
	if code, body := readyz(t, c); code != http.StatusOK {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	front.Close()
	if r := c.CheckNow(ctx)[0]; r.Passed {
		t.Fatalf("S3 stopped, and the check passed: %+v", r)
	}
	if code, body := readyz(t, c); code != http.StatusServiceUnavailable || !strings.Contains(body, "S3: ") {
		t.Fatalf("/readyz with S3 stopped: %d %q", code, body)
	}
	// Back, at another address: the same as MinIO answering again.
	c2, err := health.New(health.Options{Checks: []health.Check{health.S3(p.bucket(t, p.minio.Endpoint, name, false))}})
	if err != nil {
		t.Fatal(err)
	}
	if r := c2.CheckNow(ctx)[0]; !r.Passed {
		t.Fatalf("S3 again: %+v", r)
	}
}

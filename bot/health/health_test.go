package health

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// switchable is a probe whose answer the test sets.
type switchable struct {
	mu   sync.Mutex
	note string
	err  error
}

func (s *switchable) set(note string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.note, s.err = note, err
}

func (s *switchable) probe(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.note, s.err
}

// problems are the lines of Ready's error, nil when ready.
func problems(t *testing.T, c *Checker) []string {
	t.Helper()
	err := c.Ready(context.Background())
	if err == nil {
		return nil
	}
	var nr *NotReadyError
	if !errors.As(err, &nr) {
		t.Fatalf("Ready: %T %v, want a *NotReadyError", err, err)
	}
	if got := strings.Join(nr.Problems, "\n"); got != err.Error() {
		t.Errorf("Error() = %q, want the problems a line each", err.Error())
	}
	return nr.Problems
}

// TestReadiness: ready only when the database answers and every system's
// last check passed, recently.
func TestReadiness(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	gh, s3 := &switchable{note: "as refbot[bot]"}, &switchable{note: "s3://b listed"}
	var dbErr error
	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{
		Checks:   []Check{{ID: "github", Name: "GitHub", Probe: gh.probe}, {ID: "s3", Name: "S3", Probe: s3.probe}},
		Database: func(context.Context) error { return dbErr },
		Interval: 30 * time.Second, Metrics: m, Logger: zap.New(core), Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(name string, want []string) {
		t.Helper()
		if diff := cmp.Diff(want, problems(t, c)); diff != "" {
			t.Errorf("%s: problems (-want +got):\n%s", name, diff)
		}
	}
	check("before the first check", []string{"GitHub: not checked yet", "S3: not checked yet"})

	c.CheckNow(ctx)
	check("all passed", nil)

	s3.set("", errors.New(`list s3://b: Get "https://key:secret@s3.example.com/b?X-Amz-Signature=abc": dial tcp: connection refused`))
	clk.Add(30 * time.Second)
	c.CheckNow(ctx)
	check("S3 failed", []string{`S3: list s3://b: Get "https://s3.example.com/b?…": dial tcp: connection refused (checked 0s ago)`})

	dbErr = errors.New("database is locked")
	clk.Add(5 * time.Second)
	check("and the database", []string{"database: database is locked",
		`S3: list s3://b: Get "https://s3.example.com/b?…": dial tcp: connection refused (checked 5s ago)`})
	dbErr = nil

	s3.set("s3://b listed", nil)
	clk.Add(25 * time.Second)
	c.CheckNow(ctx)
	check("S3 back", nil)

	// Checks that stop running leave refbot not ready once their results
	// are older than MaxAge (3 × Interval).
	clk.Add(90 * time.Second)
	check("at MaxAge", nil)
	clk.Add(time.Second)
	check("past MaxAge", []string{
		"GitHub: last checked 1m31s ago, more than 1m30s (the checks are stuck)",
		"S3: last checked 1m31s ago, more than 1m30s (the checks are stuck)",
	})

	// The first result of each system, and each change, is logged; a
	// result like the one before is not.
	var got []string
	for _, e := range logs.All() {
		f := e.ContextMap()
		got = append(got, strings.Join([]string{e.Level.String(), e.Message, f["system"].(string), str(f["detail"]) + str(f["reason"])}, " | "))
	}
	want := []string{
		"info | reachable | GitHub | as refbot[bot]",
		"info | reachable | S3 | s3://b listed",
		`warn | unreachable | S3 | list s3://b: Get "https://s3.example.com/b?…": dial tcp: connection refused`,
		"info | reachable | S3 | s3://b listed",
	}
	// The checks of one round run side by side: their lines may come in
	// either order.
	if len(got) == len(want) && got[0] != want[0] {
		got[0], got[1] = got[1], got[0]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	for _, e := range logs.All() {
		if strings.Contains(str(e.ContextMap()["reason"]), "secret") {
			t.Errorf("a logged reason shows a secret: %v", e.ContextMap())
		}
	}

	wantMetrics := `
# HELP refbot_dependency_up 1 when the last check of an outside system passed, 0 when it failed, by system (github, s3, data_repo).
# TYPE refbot_dependency_up gauge
refbot_dependency_up{system="github"} 1
refbot_dependency_up{system="s3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantMetrics), "refbot_dependency_up"); err != nil {
		t.Error(err)
	}
	last := clk.Now().Add(-91 * time.Second)
	if got := testutil.ToFloat64(m.lastPassed.WithLabelValues("s3")); got != float64(last.Unix()) {
		t.Errorf("S3's last success = %v, want %v", got, last.Unix())
	}
	if n := testutil.CollectAndCount(m.duration); n != 2 {
		t.Errorf("check durations: %d series, want 2", n)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestCheckTimeout: a probe that never answers is given up after Timeout,
// and the reason says so.
func TestCheckTimeout(t *testing.T) {
	c, err := New(Options{
		Checks: []Check{{ID: "data_repo", Name: "data repo", Probe: func(ctx context.Context) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		}}},
		Timeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := c.CheckNow(context.Background())[0]
	if r.Passed || r.Reason != "no answer within 50ms (context deadline exceeded)" {
		t.Errorf("result = %+v", r)
	}
	if diff := cmp.Diff([]string{"data repo: no answer within 50ms (context deadline exceeded) (checked 0s ago)"}, problems(t, c)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestRunStopsWithItsContext: Run checks at once, and returns when its
// context ends; a check cut short by the end is not taken for a failure.
func TestRunStopsWithItsContext(t *testing.T) {
	started := make(chan struct{})
	var once sync.Once
	c, err := New(Options{Checks: []Check{{ID: "github", Name: "GitHub", Probe: func(ctx context.Context) (string, error) {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return "", ctx.Err()
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	<-started
	cancel()
	<-done
	if r := c.Result("github"); !r.At.IsZero() {
		t.Errorf("a check cut short by the shutdown was recorded: %+v", r)
	}
}

func TestNewRefusesBadChecks(t *testing.T) {
	probe := func(context.Context) (string, error) { return "", nil }
	for name, checks := range map[string][]Check{
		"no id":    {{Name: "GitHub", Probe: probe}},
		"no probe": {{ID: "github", Name: "GitHub"}},
		"twice":    {{ID: "s3", Name: "S3", Probe: probe}, {ID: "s3", Name: "S3", Probe: probe}},
	} {
		if _, err := New(Options{Checks: checks}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"fetch https://x-access-token:ghs_abc@github.com/o/data.git: 401", "fetch https://github.com/o/data.git: 401"},
		{`Get "http://127.0.0.1:9000/b?list-type=2&prefix=p": EOF`, `Get "http://127.0.0.1:9000/b?…": EOF`},
		{"plain words, no URL", "plain words, no URL"},
	} {
		if got := redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := strings.Repeat("é", 400)
	if got := reason(context.Background(), errors.New(long), time.Second); len(got) > maxReason+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("a long reason is kept whole: %d bytes", len(got))
	}
}

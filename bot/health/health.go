// Package health checks, in the background, the outside systems refbot
// works with (GitHub, the S3 bucket, the data repo) and answers readiness
// from the last results, so that a probe of /readyz returns at once and
// never waits for anything outside. Each check runs every Interval,
// bounded by Timeout; readiness needs every system's last check to have
// passed within MaxAge, and refbot's own database to answer.
//
// Reasons are written from the clients' errors, which carry no secret
// (they redact tokens themselves), with the credentials and queries of any
// URL in them removed as well.
package health

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// Defaults of Options.
const (
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 10 * time.Second
)

// Check is the check of one outside system.
type Check struct {
	// ID names the system in the metrics' system label: github, s3,
	// data_repo.
	ID string
	// Name names it for people, in logs and in /readyz: GitHub, S3, data
	// repo.
	Name string
	// Probe asks the system once. It returns what it reached ("as
	// refbot[bot]"), or why it could not.
	Probe func(ctx context.Context) (string, error)
}

// Options configure a Checker.
type Options struct {
	Checks []Check
	// Database, asked at every readiness question (bounded by the
	// question's context), is refbot's own database; nil for none.
	Database func(ctx context.Context) error
	Interval time.Duration // between two rounds of checks; default 30 s
	Timeout  time.Duration // of one check; default 10 s
	// MaxAge is how old the last passed check of a system may be; default
	// 3 × Interval.
	MaxAge  time.Duration
	Metrics *Metrics // nil for none
	Logger  *zap.Logger
	Now     func() time.Time
}

// Result is the last check of a system.
type Result struct {
	ID, Name string
	// At is when the last check ended; zero before the first.
	At time.Time
	// Passed says whether it did; Note says what it reached then, Reason
	// why it failed otherwise.
	Passed bool
	Note   string
	Reason string
	// LastPassed is when a check last passed; zero if none did.
	LastPassed time.Time
}

// Checker runs the checks and keeps their results. It is safe for
// concurrent use.
type Checker struct {
	o Options

	mu   sync.Mutex
	last map[string]Result // by ID
}

// New returns a Checker; Run runs its checks.
func New(o Options) (*Checker, error) {
	ids := map[string]bool{}
	for _, c := range o.Checks {
		if c.ID == "" || c.Name == "" || c.Probe == nil {
			return nil, errors.New("health: a check needs an ID, a Name and a Probe")
		}
		if ids[c.ID] {
			return nil, fmt.Errorf("health: two checks of %s", c.ID)
		}
		ids[c.ID] = true
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 3 * o.Interval
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Checker{o: o, last: map[string]Result{}}
	for _, ch := range o.Checks {
		c.last[ch.ID] = Result{ID: ch.ID, Name: ch.Name}
	}
	return c, nil
}

// Run checks every system at once, then every Interval, until ctx ends;
// it returns once the round under way has ended. The first result of each
// system is logged, reached or not and why; later ones only when that
// changes.
func (c *Checker) Run(ctx context.Context) {
	t := time.NewTicker(c.o.Interval)
	defer t.Stop()
	for {
		c.CheckNow(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CheckNow runs every check once, side by side, and returns their results
// in the order of Options.Checks.
func (c *Checker) CheckNow(ctx context.Context) []Result {
	out := make([]Result, len(c.o.Checks))
	var wg sync.WaitGroup
	for i, ch := range c.o.Checks {
		wg.Go(func() { out[i] = c.check(ctx, ch) })
	}
	wg.Wait()
	return out
}

// check runs one check and records its result, unless ctx ended (a
// shutdown is no failure of the system).
func (c *Checker) check(ctx context.Context, ch Check) Result {
	cctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	start := time.Now()
	note, err := ch.Probe(cctx)
	took := time.Since(start)
	if ctx.Err() != nil {
		return c.Result(ch.ID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.last[ch.ID]
	r := Result{ID: ch.ID, Name: ch.Name, At: c.o.Now(), Passed: err == nil, Note: note, LastPassed: prev.LastPassed}
	if err == nil {
		r.LastPassed = r.At
	} else {
		r.Reason = reason(cctx, err, c.o.Timeout)
	}
	c.last[ch.ID] = r
	c.o.Metrics.checked(r, took)
	c.log(prev, r)
	return r
}

// log writes the first result of a system and each change of it.
func (c *Checker) log(prev, r Result) {
	first := prev.At.IsZero()
	if !first && prev.Passed == r.Passed {
		return
	}
	log := c.o.Logger.With(zap.String("system", r.Name))
	if r.Passed {
		log.Info("reachable", zap.String("detail", r.Note))
		return
	}
	log.Warn("unreachable", zap.String("reason", r.Reason))
}

// Result returns the last result of system id.
func (c *Checker) Result(id string) Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[id]
}

// Results returns the last results, in the order of Options.Checks.
func (c *Checker) Results() []Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Result, 0, len(c.o.Checks))
	for _, ch := range c.o.Checks {
		out = append(out, c.last[ch.ID])
	}
	return out
}

// NotReadyError lists what keeps refbot from being ready, one problem a
// line: "GitHub: credentials refused: …".
type NotReadyError struct {
	Problems []string
}

func (e *NotReadyError) Error() string { return strings.Join(e.Problems, "\n") }

// Ready returns nil when the database answers (within ctx) and every
// system's last check passed within MaxAge, else a *NotReadyError. It asks
// nothing outside but the database.
func (c *Checker) Ready(ctx context.Context) error {
	var problems []string
	if c.o.Database != nil {
		if err := c.o.Database(ctx); err != nil {
			problems = append(problems, "database: "+redact(err.Error()))
		}
	}
	now := c.o.Now()
	for _, r := range c.Results() {
		switch {
		case r.At.IsZero():
			problems = append(problems, r.Name+": not checked yet")
		case !r.Passed:
			problems = append(problems, fmt.Sprintf("%s: %s (checked %s ago)", r.Name, r.Reason, ago(now, r.At)))
		case now.Sub(r.At) > c.o.MaxAge:
			problems = append(problems, fmt.Sprintf("%s: last checked %s ago, more than %s (the checks are stuck)", r.Name, ago(now, r.At), c.o.MaxAge))
		}
	}
	if len(problems) > 0 {
		return &NotReadyError{Problems: problems}
	}
	return nil
}

func ago(now, t time.Time) string { return max(now.Sub(t), 0).Round(time.Second).String() }

// maxReason bounds a reason: /readyz and the logs need the cause, not a
// page of it.
const maxReason = 300

// reason says why a check failed, without secrets, on one line.
func reason(ctx context.Context, err error, timeout time.Duration) string {
	s := strings.Join(strings.Fields(redact(err.Error())), " ")
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		s = fmt.Sprintf("no answer within %s (%s)", timeout, s)
	}
	if len(s) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

var (
	// urlUser is the credentials part of a URL (https://user:pass@host).
	urlUser = regexp.MustCompile(`(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]*@`)
	// urlQuery is the query of a URL, where a signed URL keeps its
	// signature.
	urlQuery = regexp.MustCompile(`(https?://[^\s?"'<>]+)\?[^\s"'<>]*`)
)

// redact removes the credentials and queries of URLs from s.
func redact(s string) string {
	s = urlUser.ReplaceAllString(s, "$1")
	return urlQuery.ReplaceAllString(s, "$1?…")
}

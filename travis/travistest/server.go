// Package travistest is a fake Travis CI API v3 on loopback, for the tests
// of refbot's travis client, of the bot, and for `make demo`.
//
// It serves what refbot calls, in the shapes the API v3 documents:
//
//	GET  /repo/{owner%2Fname}          the repository: active, @permissions
//	                                   (SetActive, SetPermission)
//	GET  /repo/{owner%2Fname}/builds   filters event_type, branch.name, state;
//	                                   sort_by id / id:desc; limit, offset;
//	                                   include build.jobs, build.commit;
//	                                   @pagination with next/prev/first/last
//	GET  /build/{id}                   standard representation, jobs by include
//	POST /build/{id}/restart           202 pending; resets the build to created,
//	                                   asynchronously (below)
//	POST /build/{id}/cancel            202 pending; cancels unfinished jobs and
//	                                   drops a pending restart
//	POST /repo/{owner%2Fname}/requests 202 pending; records the request, whose
//	                                   "api" build comes later (below)
//	GET  /repo/{owner%2Fname}/requests the repository's requests, newest first;
//	                                   limit, offset, @pagination
//	GET  /repo/{owner%2Fname}/request/{id}
//	                                   one request: state, result, builds
//
// Every request must carry Travis-API-Version: 3 and, when Token is set,
// Authorization: token <Token>; otherwise the fake answers the error Travis
// would. Errors use the documented {"@type": "error", ...} body.
//
// Restarts are asynchronous, as on Travis: the 202 comes at once, but the
// build keeps its previous state, started_at and finished_at, in GET
// /build/{id} and in the build lists, for the next N GET /build/{id}
// answers of that build (N is the restart lag, default 1, see
// SetRestartLag); the answer after those resets it and its jobs to created.
// A client that restarts a build and then reads it must not take the old
// final state for the new run's. DropRestarts makes the fake accept
// restarts and never carry them out, and a Fault with Perform (see
// Performed) carries out a request and then answers an error, as when
// Travis restarted a build but the client saw a 500 or a cut connection.
//
// Build requests are asynchronous too: Travis accepts one at once and makes
// its build a little later. The request first shows state "pending" and no
// builds, for the next N reads of it (GET of the request, a list of
// requests that shows it, a list of the repository's builds; N is the
// request lag, default DefaultRequestLag, see SetRequestLag); the read after
// those makes the build (event type "api", the branch's commit, the
// request's message as commit message) and shows the request finished,
// result "approved", with the build. RejectRequests makes Travis reject
// requests instead (result "rejected", no build), as when the branch's
// .travis.yml excludes them. CarryOutRequest makes a request's build at
// once, for a test that moves it on; SetClock dates requests and state
// changes.
//
// Tests add builds with AddBuild, move them through created → started →
// passed/failed with Advance or SetState (or let every GET /build/{id}
// advance them with SetAdvanceOnPoll), script failures with Inject, and
// read back what the client did with Requests, Restarts, Cancels and
// Triggers.
package travistest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultToken is the token a new Server expects.
const DefaultToken = "travistest-token"

// DefaultRequestLimit is how many build requests Travis accepts per
// repository and hour.
const DefaultRequestLimit = 10

// DefaultRequestLag is how many reads of a build request a new Server
// answers before the request's build exists, see SetRequestLag.
const DefaultRequestLag = 2

// DefaultRestartLag is how many GET /build/{id} answers of a restarted
// build a new Server gives with the build's old state, see SetRestartLag.
const DefaultRestartLag = 1

// Build is a build as the fake stores it. Zero fields get defaults in
// AddBuild.
type Build struct {
	ID                int64
	Repo              string // owner/name; required
	Number            string // default: the repository's next build number
	State             string // default "created"
	EventType         string // default "pull_request" when PullRequestNumber > 0, else "push"
	PullRequestNumber int
	PullRequestTitle  string
	Branch            string // default "master"; the target branch of a pull request
	CommitSHA         string // default: a made-up 40-hex sha
	CommitMessage     string
	StartedAt         time.Time
	FinishedAt        time.Time
	Jobs              []Job // default: one job
	// Outcome is the state Advance gives, when a started build finishes,
	// to each job without an Outcome of its own. Default "passed".
	Outcome string
}

// Job is a job of a Build.
type Job struct {
	ID           int64
	Number       string // default "<build number>.<n>"
	State        string // default: the build's state
	AllowFailure bool
	Name         string         // rendered as config.name
	Config       map[string]any // rendered as config (with name added)
	StartedAt    time.Time
	FinishedAt   time.Time
	Outcome      string // final state on Advance; default the build's Outcome
}

// Request is one HTTP request the fake received.
type Request struct {
	Method string
	Path   string // escaped, as sent: /repo/owner%2Fname/builds
	Query  url.Values
}

// Trigger is one accepted POST /repo/{slug}/requests.
type Trigger struct {
	ID        int64
	Repo      string
	Branch    string
	Message   string
	MergeMode string
	Config    map[string]any // as sent: the env merged into env.global
	// BuildID is the build made from the request; 0 until the fake has
	// made it (see SetRequestLag), and for ever when it rejected it.
	BuildID int64
}

// Fault is a scripted answer that replaces the fake's own, see Inject.
type Fault struct {
	Status int
	Header http.Header
	Body   string
	// Hang makes the fake never answer: it waits until the client gives up
	// (its context or timeout ends the connection) or the server closes.
	Hang bool
	// Perform makes the fake carry out the request first, as it would
	// without the fault (a restart, a cancel, a build request), and only
	// then answer with the fault: the client sees an error, or no answer
	// with Hang, for something Travis did. See Performed.
	Perform bool
}

// ServerError is a 5xx with Travis's error body.
func ServerError(status int) Fault {
	return ErrorFault(status, "server_error", http.StatusText(status))
}

// RateLimited is a 429 with Retry-After set to retryAfter (delay-seconds
// or an HTTP date; none when empty).
func RateLimited(retryAfter string) Fault {
	f := ErrorFault(http.StatusTooManyRequests, "request_limit_reached", "request limit reached for resource")
	if retryAfter != "" {
		f.Header.Set("Retry-After", retryAfter)
	}
	return f
}

// Unavailable is a 503 with Retry-After set to retryAfter (none when empty).
func Unavailable(retryAfter string) Fault {
	f := ErrorFault(http.StatusServiceUnavailable, "server_error", "service unavailable")
	if retryAfter != "" {
		f.Header.Set("Retry-After", retryAfter)
	}
	return f
}

// Malformed is a 200 whose body is cut off in the middle of the JSON.
func Malformed() Fault {
	return Fault{Status: http.StatusOK, Header: jsonHeader(), Body: `{"@type": "builds", "builds": [{"id": 1,`}
}

// Hang is a request that never gets an answer.
func Hang() Fault { return Fault{Hang: true} }

// Performed is f answered after the fake has carried out the request, an
// answer that leaves the client unsure of what happened. For example
//
//	s.Inject("POST", "/build/1001/restart", travistest.Performed(travistest.ServerError(500)))
//
// restarts build 1001 (Restarts counts it) and answers 500;
// Performed(Hang()) restarts it and never answers.
func Performed(f Fault) Fault {
	f.Perform = true
	return f
}

// ErrorFault is an answer with status and Travis's error body.
func ErrorFault(status int, errorType, message string) Fault {
	body, _ := json.Marshal(errorBody(errorType, message, ""))
	return Fault{Status: status, Header: jsonHeader(), Body: string(body)}
}

type fault struct {
	method, path string
	Fault
}

type repo struct {
	id         int64
	slug       string
	lastNumber int
	denied     map[string]bool // permissions the token lacks here (SetPermission)
	inactive   bool            // Travis does not build it (SetActive)
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the API, http://127.0.0.1:port.
	URL string
	// Token is what the Authorization header must carry; empty means
	// no check. Set it before the first request.
	Token string
	// RequestLimit is how many build requests a repository may make
	// before POST /repo/{slug}/requests answers 429.
	RequestLimit int

	errorf    func(format string, args ...any) // reports misuse: t.Errorf in tests, the log elsewhere
	srv       *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu            sync.Mutex
	repos         map[string]*repo
	builds        map[int64]*Build
	nextRepoID    int64
	nextBuildID   int64
	nextJobID     int64
	nextRequestID int64
	requests      []Request
	restarts      map[int64]int
	cancels       map[int64]int
	triggers      []Trigger
	buildRequests map[int64]*buildRequest // by request id: how Travis is getting on with it
	requestLag    int
	clock         func() time.Time // nil: the time of day
	rejectAll     bool
	faults        []fault
	advanceOnPoll bool
	restartLag    int
	dropRestarts  bool
	// pendingRestarts holds the accepted restarts not carried out yet:
	// build id → how many more GET /build/{id} answers show the old state.
	pendingRestarts map[int64]int
}

// NewServer starts a fake on 127.0.0.1 that is closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := start(t.Errorf)
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake on 127.0.0.1 outside a test (for `make demo`); misuse
// is logged. Close stops it.
func Start() *Server { return start(log.Printf) }

func start(errorf func(format string, args ...any)) *Server {
	s := &Server{
		Token:         DefaultToken,
		RequestLimit:  DefaultRequestLimit,
		errorf:        errorf,
		closing:       make(chan struct{}),
		repos:         map[string]*repo{},
		builds:        map[int64]*Build{},
		nextRepoID:    1,
		nextBuildID:   1001,
		nextJobID:     5001,
		nextRequestID: 301,
		restarts:      map[int64]int{},
		cancels:       map[int64]int{},
		restartLag:    DefaultRestartLag,
		requestLag:    DefaultRequestLag,
		buildRequests: map[int64]*buildRequest{},

		pendingRestarts: map[int64]int{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server; hanging requests are let go first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
	})
}

// Client is an *http.Client for the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// AddRepo makes repository slug exist, with no builds.
func (s *Server) AddRepo(slug string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo(slug)
}

func (s *Server) repo(slug string) *repo {
	r, ok := s.repos[slug]
	if !ok {
		r = &repo{id: s.nextRepoID, slug: slug}
		s.nextRepoID++
		s.repos[slug] = r
	}
	return r
}

// AddBuild stores b, filling in the zero fields, and returns it as stored.
func (s *Server) AddBuild(b Build) Build {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addBuild(b).clone()
}

func (s *Server) addBuild(b Build) *Build {
	owner, name, ok := strings.Cut(b.Repo, "/")
	if !ok || owner == "" || name == "" {
		s.errorf("travistest: AddBuild: repo %q is not owner/name", b.Repo)
	}
	r := s.repo(b.Repo)
	if b.ID == 0 {
		b.ID = s.nextBuildID
	}
	if _, dup := s.builds[b.ID]; dup {
		s.errorf("travistest: AddBuild: build %d already exists", b.ID)
	}
	s.nextBuildID = max(s.nextBuildID, b.ID+1)
	r.lastNumber++
	if b.Number == "" {
		b.Number = strconv.Itoa(r.lastNumber)
	}
	if b.State == "" {
		b.State = "created"
	}
	if b.EventType == "" {
		b.EventType = "push"
		if b.PullRequestNumber > 0 {
			b.EventType = "pull_request"
		}
	}
	if b.Branch == "" {
		b.Branch = "master"
	}
	if b.CommitSHA == "" {
		b.CommitSHA = fmt.Sprintf("%040x", b.ID)
	}
	if b.CommitMessage == "" {
		b.CommitMessage = "commit of build " + b.Number
	}
	if b.Outcome == "" {
		b.Outcome = "passed"
	}
	if len(b.Jobs) == 0 {
		b.Jobs = []Job{{}}
	}
	b.Jobs = slices.Clone(b.Jobs)
	for i := range b.Jobs {
		j := &b.Jobs[i]
		if j.ID == 0 {
			j.ID = s.nextJobID
		}
		s.nextJobID = max(s.nextJobID, j.ID+1)
		if j.Number == "" {
			j.Number = fmt.Sprintf("%s.%d", b.Number, i+1)
		}
		if j.State == "" {
			j.State = b.State
		}
		j.Config = maps.Clone(j.Config)
	}
	stored := b
	s.builds[b.ID] = &stored
	return &stored
}

// Build returns build id as the API shows it now: while a restart of it
// is pending, in its old state.
func (s *Server) Build(id int64) (Build, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.builds[id]
	if !ok {
		return Build{}, false
	}
	return b.clone(), true
}

func (b *Build) clone() Build {
	c := *b
	c.Jobs = slices.Clone(b.Jobs)
	for i := range c.Jobs {
		c.Jobs[i].Config = maps.Clone(c.Jobs[i].Config)
	}
	return c
}

// SetState puts build id and all its jobs in state, with timestamps to
// match. A pending restart of the build is carried out first: a test
// that moves a build on says Travis has got to it.
func (s *Server) SetState(id int64, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.builds[id]
	if !ok {
		s.errorf("travistest: SetState: no build %d", id)
		return
	}
	s.carryOutRestart(b)
	now := s.now()
	for i := range b.Jobs {
		setTimes(&b.Jobs[i].State, &b.Jobs[i].StartedAt, &b.Jobs[i].FinishedAt, state, now)
	}
	setTimes(&b.State, &b.StartedAt, &b.FinishedAt, state, now)
}

// SetJobState puts one job in state, and its build in the state Travis
// derives from all its jobs. A pending restart of the build is carried
// out first, as in SetState.
func (s *Server) SetJobState(jobID int64, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.builds {
		for i := range b.Jobs {
			if b.Jobs[i].ID == jobID {
				s.carryOutRestart(b)
				j := &b.Jobs[i]
				setTimes(&j.State, &j.StartedAt, &j.FinishedAt, state, s.now())
				setTimes(&b.State, &b.StartedAt, &b.FinishedAt, buildState(b.Jobs), s.now())
				return
			}
		}
	}
	s.errorf("travistest: SetJobState: no job %d", jobID)
}

// Advance moves build id one step and returns its new state: created,
// received or queued → started; started → each job's Outcome (default the
// build's Outcome), the build getting the state Travis derives from its
// jobs. A finished build stays as it is. When a restart of the build is
// pending, carrying it out (the build and its jobs back to created) is
// the step.
func (s *Server) Advance(id int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.builds[id]
	if !ok {
		s.errorf("travistest: Advance: no build %d", id)
		return ""
	}
	if !s.carryOutRestart(b) {
		s.advance(b)
	}
	return b.State
}

func (s *Server) advance(b *Build) {
	now := s.now()
	switch b.State {
	case "created", "received", "queued":
		for i := range b.Jobs {
			setTimes(&b.Jobs[i].State, &b.Jobs[i].StartedAt, &b.Jobs[i].FinishedAt, "started", now)
		}
		setTimes(&b.State, &b.StartedAt, &b.FinishedAt, "started", now)
	case "started":
		for i := range b.Jobs {
			j := &b.Jobs[i]
			if finished(j.State) {
				continue
			}
			setTimes(&j.State, &j.StartedAt, &j.FinishedAt, cmp.Or(j.Outcome, b.Outcome), now)
		}
		setTimes(&b.State, &b.StartedAt, &b.FinishedAt, buildState(b.Jobs), now)
	}
}

// SetAdvanceOnPoll makes every GET /build/{id} advance that build one step
// before answering, so a client polling a build sees it start and finish.
// A build with a pending restart is not advanced: it answers its old state
// until the restart's lag is used up, then the poll that carries out the
// restart answers the build as created, and the polls after it advance it.
func (s *Server) SetAdvanceOnPoll(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceOnPoll = on
}

// SetRestartLag sets for how many GET /build/{id} answers a build
// restarted from now on keeps its old state before the fake resets it
// (default DefaultRestartLag). 0 resets the build when the restart is
// accepted, before the 202. Restarts already pending keep their lag.
func (s *Server) SetRestartLag(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 0 {
		s.errorf("travistest: SetRestartLag: %d answers", n)
		n = 0
	}
	s.restartLag = n
}

// DropRestarts makes the fake, while on, accept restarts (202, counted in
// Restarts) and never carry them out: the build keeps its state. Restarts
// accepted before keep their course.
func (s *Server) DropRestarts(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropRestarts = on
}

// acceptRestart takes a restart of b as POST /build/{id}/restart does. A
// second restart while one is pending joins it: Travis has not got to the
// build yet, and one reset does for both.
func (s *Server) acceptRestart(b *Build) {
	s.restarts[b.ID]++
	_, pending := s.pendingRestarts[b.ID]
	switch {
	case s.dropRestarts:
	case s.restartLag == 0:
		delete(s.pendingRestarts, b.ID)
		resetToCreated(b)
	case !pending:
		s.pendingRestarts[b.ID] = s.restartLag
	}
}

// carryOutRestart resets b if a restart of it is pending, and reports
// whether one was.
func (s *Server) carryOutRestart(b *Build) bool {
	if _, pending := s.pendingRestarts[b.ID]; !pending {
		return false
	}
	delete(s.pendingRestarts, b.ID)
	resetToCreated(b)
	return true
}

// resetToCreated is what a restart does to b: it and all its jobs back to
// created, without timestamps.
func resetToCreated(b *Build) {
	now := now()
	for i := range b.Jobs {
		setTimes(&b.Jobs[i].State, &b.Jobs[i].StartedAt, &b.Jobs[i].FinishedAt, "created", now)
	}
	setTimes(&b.State, &b.StartedAt, &b.FinishedAt, "created", now)
}

// Inject scripts the answers to the next requests that match method and
// path (the escaped path as sent, e.g. /repo/owner%2Fname/builds; empty
// matches any): the first matching request gets faults[0], the next
// faults[1], and so on; later ones get the fake's own answer again. A
// fault with Perform is answered after the request has been carried out.
func (s *Server) Inject(method, path string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		s.faults = append(s.faults, fault{method: method, path: path, Fault: f})
	}
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Restarts returns how often a restart of build id was accepted (answered
// 202, or carried out under a Perform fault), whether or not the build has
// been reset yet.
func (s *Server) Restarts(id int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts[id]
}

// Cancels returns how often build id was cancelled.
func (s *Server) Cancels(id int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancels[id]
}

// Triggers returns the build requests accepted so far, in order.
func (s *Server) Triggers() []Trigger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.triggers)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// SetClock replaces the fake's clock (the time of state changes and of
// build requests); nil goes back to the time of day.
func (s *Server) SetClock(clock func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = clock
}

// now is the fake's clock, to the second as Travis's timestamps; the
// caller holds s.mu.
func (s *Server) now() time.Time {
	if s.clock == nil {
		return now()
	}
	return s.clock().UTC().Truncate(time.Second)
}

func finished(state string) bool {
	switch state {
	case "passed", "failed", "errored", "canceled":
		return true
	}
	return false
}

// setTimes sets state and the timestamps that go with it.
func setTimes(state *string, started, finishedAt *time.Time, to string, now time.Time) {
	*state = to
	switch {
	case to == "started":
		if started.IsZero() {
			*started = now
		}
		*finishedAt = time.Time{}
	case finished(to):
		if started.IsZero() {
			*started = now
		}
		*finishedAt = now
	default: // created, received, queued
		*started, *finishedAt = time.Time{}, time.Time{}
	}
}

// buildState is the state Travis gives a build from its jobs: created or
// started while any job has not finished (the fake has no fast_finish),
// then the worst of errored, failed, canceled and passed among the jobs
// not allowed to fail.
func buildState(jobs []Job) string {
	rank := map[string]int{"passed": 0, "canceled": 1, "failed": 2, "errored": 3}
	running, started := false, false
	worst := "passed"
	for _, j := range jobs {
		switch {
		case !finished(j.State):
			running = true
			started = started || j.State == "started"
		case !j.AllowFailure && rank[j.State] > rank[worst]:
			worst = j.State
		}
		if finished(j.State) {
			started = true
		}
	}
	switch {
	case running && started:
		return "started"
	case running:
		return "created"
	}
	return worst
}

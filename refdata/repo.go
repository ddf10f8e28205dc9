// Package refdata keeps the data repository: the separate git repository
// holding the reference data, one branch PR<n> per pull request equal to the
// base branch plus exactly one commit (docs/design.md, "Data repo").
//
// It works on a local bare, shallow and blobless cache of the data repo that
// every operation fetches into: only the tips it works on, with at most their
// parents (deeper only when BaseAt or an update's Against must look back), so
// the cost of a cold start does not grow with the repo's age. It builds new
// trees straight from a folder without a work tree or index, and pushes with
// an explicit-sha lease: the expected old tip travels in the receive-pack
// command, so the server itself refuses the update if anyone pushed in
// between. Before every force-push the old tip is kept under
// refs/refbot/backup/, and deleted branches under refs/refbot/archive/;
// both are pruned by the retention of Options (see PruneRefs).
//
// go-git provides the object model, the local storage and the protocol
// encoders. Two things are done here instead of through go-git's Remote:
// fetching with a partial-clone filter and a depth, keeping the cache's
// shallow boundary (go-git's FetchOptions has no filter, and its Remote
// never records what a deepening unshallows), and the receive-pack POST,
// which go-git's HTTP transport buffers whole in memory and which refbot
// streams, writing its own pack without a delta search.
package refdata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/refbot/refbot/internal/clock"
	"github.com/refbot/refbot/internal/stall"
)

// Errors callers branch on.
var (
	// ErrLeaseLost: the remote branch is not where refbot last saw it;
	// someone else pushed. Nothing was overwritten; fetch and redo the job.
	ErrLeaseLost = errors.New("remote branch moved (lease lost)")
	// ErrConflict: a promotion's change touches files that also changed on
	// the base branch since the PR's data was built.
	ErrConflict = errors.New("conflicting change")
	// ErrNoBranch: a branch that must exist does not.
	ErrNoBranch = errors.New("no such branch")
	// ErrExists: a branch that must not exist does.
	ErrExists = errors.New("branch already exists")
	// ErrBadData: the new data cannot go into the data repo as given (a
	// protected name, a blob id that names no blob, a variant that is no
	// folder name); the build or the request is at fault, not an outage.
	ErrBadData = errors.New("data refused")
	// ErrRejected: the data repo server refused a push for a reason other
	// than the lease: its unpack or connectivity check found objects
	// missing (a blob refbot took for there was not), or a hook declined.
	// Nothing was changed; redoing the same push fails the same way, so it
	// is the request's fault, not an outage. The error's message carries
	// the server's reason.
	ErrRejected = errors.New("refused by the data repo server")
	// ErrNotOnBase: the commit an update of the base branch was made
	// against (UpdateRequest.Against) is not the base's tip nor one of its
	// ancestors: the base was rewritten since, or the build is of another
	// branch.
	ErrNotOnBase = errors.New("is not on the history of base branch")
)

// LeaseError reports a lost lease with the tips involved.
type LeaseError struct {
	Ref      string
	Expected plumbing.Hash // what refbot built on (zero: expected no branch)
	Actual   plumbing.Hash // what the remote has now (zero: no branch)
}

func (e *LeaseError) Error() string {
	return fmt.Sprintf("push %s: %v: expected %s, remote has %s", e.Ref, ErrLeaseLost, shortHash(e.Expected), shortHash(e.Actual))
}

func (e *LeaseError) Unwrap() error { return ErrLeaseLost }

// ConflictError names the files a promotion could not apply.
type ConflictError struct {
	Branch string
	Files  []string
}

func (e *ConflictError) Error() string {
	files := e.Files
	more := ""
	if len(files) > 10 {
		more = fmt.Sprintf(" and %d more", len(files)-10)
		files = files[:10]
	}
	return fmt.Sprintf("promote %s: %v in %s%s", e.Branch, ErrConflict, strings.Join(files, ", "), more)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

func shortHash(h plumbing.Hash) string {
	if h.IsZero() {
		return "(none)"
	}
	return h.String()[:12]
}

// Options configure a Repo.
type Options struct {
	URL string // the data repo's clone URL, without credentials
	// Token, a fixed token (a personal access token), is sent as Basic
	// x-access-token:<token>. When set, TokenSource is not called.
	Token string
	// TokenSource, without Token, gives the token of each exchange with
	// the data repo (a fetch, a push, a read of blobs; the token is sent
	// as Token is): it is called when the exchange starts, and its answer
	// is used for that exchange only and then dropped, so a token it
	// renews (a GitHub App's installation token lasts an hour) is used
	// from the next exchange on, however long an operation takes. Its
	// error, or an empty token, ends the operation there, naming the data
	// repo: that exchange sends nothing, so nothing is pushed. With
	// neither Token nor TokenSource, refbot sends no credentials.
	TokenSource func(ctx context.Context) (string, error)
	CacheDir    string // the local bare cache; created if missing
	BaseBranch  string // default "master"
	// DataRoot is the folder of the data inside the repo: default
	// "data"; "." is the top of the repo, where Protect names what is not
	// data.
	DataRoot string
	// Protect, with DataRoot ".", are the top-level names refbot never
	// touches (refbot's configuration, data_repo.protect, defaults to the
	// README, licence, .github/ and git's files): path.Match patterns for one name, with
	// a trailing "/" for a folder. An update keeps them from the base as
	// they are and never lists them as changes, and a build holding one is
	// refused. With another DataRoot it is ignored: nothing outside the
	// data root is touched anyway.
	Protect     []string
	KeepBackups int // backup refs kept per branch; default 5
	// KeepArchives is how many deleted branches keep their archive ref
	// (refs/refbot/archive/<branch>/<time>) and backups, the most
	// recently deleted first; 0 keeps all. KeepArchivesFor is how long
	// after its deletion a branch keeps them; 0 is for good. A deleted
	// branch goes when either says so, and its data with it once the
	// server collects its garbage. DeleteBranch prunes as it archives;
	// PruneRefs prunes on demand.
	KeepArchives    int
	KeepArchivesFor time.Duration
	AuthorName      string // default "refbot"
	AuthorEmail     string // default "refbot@localhost"
	// HTTPClient, if set, is used as it is. nil means a client built from
	// Timeouts, with no overall Client.Timeout: a push of a large update
	// may rightly take many minutes.
	HTTPClient *http.Client
	Timeouts   Timeouts // for the client Open builds; zero fields take DefaultTimeouts'
	// Now is the clock of refbot's commits and backup refs; default
	// time.Now.
	Now func() time.Time
	// Metrics, if set, time the requests to the data repo's server.
	Metrics *Metrics
}

// Timeouts bound the waits of the HTTP client Open builds when
// Options.HTTPClient is nil, so a data repo server that accepts a
// connection and never answers fails an operation instead of holding it
// (and the cache lock) for good.
type Timeouts struct {
	Dial         time.Duration // to connect
	TLSHandshake time.Duration
	// ResponseHeader is counted from the end of the request body, so it
	// does not cut a large push: it bounds the server's thinking time
	// (unpacking and checking a pack) before it answers.
	ResponseHeader time.Duration
	IdleConn       time.Duration // how long an unused keep-alive connection stays open
	// Stall ends a connection on which no byte has moved either way for
	// that long (internal/stall): a fetch or push from a server that went
	// silent halfway, or to one that stopped reading, fails instead of
	// waiting for good, while a large transfer that moves, however
	// slowly, is never cut. It also bounds the wait for an answer.
	Stall time.Duration
}

// DefaultTimeouts are the Timeouts of a zero Options.Timeouts.
var DefaultTimeouts = Timeouts{
	Dial:           10 * time.Second,
	TLSHandshake:   10 * time.Second,
	ResponseHeader: 2 * time.Minute,
	IdleConn:       90 * time.Second,
	Stall:          2 * time.Minute,
}

// httpClient builds the client of a Repo whose Options give none.
func httpClient(t Timeouts) *http.Client {
	or := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	tr := http.DefaultTransport.(*http.Transport).Clone() // proxies from the environment, HTTP/2
	tr.DialContext = (&net.Dialer{Timeout: or(t.Dial, DefaultTimeouts.Dial), KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = or(t.TLSHandshake, DefaultTimeouts.TLSHandshake)
	tr.ResponseHeaderTimeout = or(t.ResponseHeader, DefaultTimeouts.ResponseHeader)
	tr.IdleConnTimeout = or(t.IdleConn, DefaultTimeouts.IdleConn)
	return &http.Client{Transport: stall.Transport(tr, or(t.Stall, DefaultTimeouts.Stall))}
}

// Repo is the data repository through its local cache. Its methods are safe
// for concurrent use; they take turns on the cache.
type Repo struct {
	opts   Options
	ep     *transport.Endpoint
	client transport.Transport
	httpc  *http.Client
	store  *filesystem.Storage
	// protect is Options.Protect parsed, when the data is at the top of
	// the repo; empty otherwise.
	protect []protectRule

	// sem (a one-slot channel) orders this process's operations on the
	// cache; lockFile's flock orders them with other processes' (refbot
	// serve and a maintainer's refbot update on the same cache).
	sem      chan struct{}
	lockFile *os.File
}

// Waits between two tries of the cache's file lock, doubling from the first
// to the last.
const (
	lockPollFirst = 5 * time.Millisecond
	lockPollMax   = 100 * time.Millisecond
)

// lock takes the cache for one operation, or gives up when ctx ends (a page
// with a budget of seconds, a shutdown) with ctx's error.
//
// Neither sync.Mutex nor a blocking flock(2) can be abandoned halfway: a
// waiter would stay blocked for as long as the holder works, whatever its
// context says. So this process's turn is a one-slot channel, taken in a
// select with ctx.Done(), and the file lock is tried with LOCK_NB and
// retried after a short sleep that ctx also ends. The file lock still
// orders refbot serve and a refbot update run by hand on the same cache;
// what polling gives up is fairness between processes (a waiter may be
// overtaken) and up to lockPollMax of latency after the holder lets go,
// both small next to operations that take seconds.
func (r *Repo) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return r.lockWaitError(err)
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return r.lockWaitError(ctx.Err())
	}
	delay := lockPollFirst
	for {
		err := syscall.Flock(int(r.lockFile.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case err == syscall.EINTR:
			continue
		case err != syscall.EWOULDBLOCK:
			<-r.sem
			return fmt.Errorf("lock the data repo cache %s: %w", r.opts.CacheDir, err)
		}
		if err := clock.Sleep(ctx, delay); err != nil {
			<-r.sem
			return r.lockWaitError(err)
		}
		delay = min(2*delay, lockPollMax)
	}
}

func (r *Repo) lockWaitError(err error) error {
	return fmt.Errorf("wait for the data repo cache %s: %w", r.opts.CacheDir, err)
}

func (r *Repo) unlock() {
	syscall.Flock(int(r.lockFile.Fd()), syscall.LOCK_UN)
	<-r.sem
}

// Open opens (or creates) the local cache for the data repo. It does not
// contact the remote.
func Open(o Options) (*Repo, error) {
	if o.URL == "" || o.CacheDir == "" {
		return nil, errors.New("refdata: URL and CacheDir are required")
	}
	ep, err := transport.NewEndpoint(o.URL)
	if err != nil {
		return nil, fmt.Errorf("refdata: data repo URL: %w", err)
	}
	if ep.User != "" || ep.Password != "" {
		return nil, errors.New("refdata: the data repo URL must not carry credentials; use the token")
	}
	if ep.Protocol != "http" && ep.Protocol != "https" {
		return nil, fmt.Errorf("refdata: data repo URL %q: only http and https are supported", o.URL)
	}
	if o.BaseBranch == "" {
		o.BaseBranch = "master"
	}
	if o.DataRoot == "" {
		o.DataRoot = "data"
	}
	o.DataRoot = strings.Trim(o.DataRoot, "/")
	if o.DataRoot != "." {
		if err := validPath(o.DataRoot); err != nil || path.Clean(o.DataRoot) != o.DataRoot {
			return nil, fmt.Errorf(`refdata: DataRoot %q: not a plain folder inside the data repo ("." is its top)`, o.DataRoot)
		}
	}
	var protect []protectRule
	if o.DataRoot == "." {
		if protect, err = parseProtect(o.Protect); err != nil {
			return nil, fmt.Errorf("refdata: %w", err)
		}
	}
	if o.KeepBackups <= 0 {
		o.KeepBackups = 5
	}
	if o.KeepArchives < 0 || o.KeepArchivesFor < 0 {
		return nil, errors.New("refdata: KeepArchives and KeepArchivesFor must not be negative (0 keeps archives for good)")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AuthorName == "" {
		o.AuthorName = "refbot"
	}
	if o.AuthorEmail == "" {
		o.AuthorEmail = "refbot@localhost"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = httpClient(o.Timeouts)
	}
	if o.Metrics != nil {
		o.HTTPClient = o.Metrics.instrument(o.HTTPClient)
	}
	if _, err := os.Stat(filepath.Join(o.CacheDir, "objects")); errors.Is(err, os.ErrNotExist) {
		if _, err := git.PlainInit(o.CacheDir, true); err != nil {
			return nil, fmt.Errorf("refdata: create cache %s: %w", o.CacheDir, err)
		}
	}
	store := filesystem.NewStorageWithOptions(osfs.New(o.CacheDir), cache.NewObjectLRU(64<<20),
		filesystem.Options{ExclusiveAccess: true})
	lockFile, err := os.OpenFile(filepath.Join(o.CacheDir, "refbot.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("refdata: cache lock: %w", err)
	}
	r := &Repo{
		sem:      make(chan struct{}, 1),
		lockFile: lockFile,
		opts:     o,
		ep:       ep,
		client:   githttp.NewClient(o.HTTPClient),
		httpc:    o.HTTPClient,
		store:    store,
		protect:  protect,
	}
	return r, nil
}

// BaseBranch returns the configured base branch.
func (r *Repo) BaseBranch() string { return r.opts.BaseBranch }

func branchRef(name string) plumbing.ReferenceName { return plumbing.NewBranchReferenceName(name) }

// trackingRef is where the cache keeps its copy of a remote branch.
func trackingRef(name string) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName("origin", name)
}

// RemoteTips reads the remote's branches and refbot refs without fetching.
func (r *Repo) RemoteTips(ctx context.Context) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	cred, err := r.credential(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := r.client.NewUploadPackSession(r.ep, cred.auth())
	if err != nil {
		return nil, cred.redact(fmt.Errorf("connect to data repo: %w", err))
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return map[plumbing.ReferenceName]plumbing.Hash{}, nil
		}
		return nil, cred.redact(fmt.Errorf("list data repo refs: %w", err))
	}
	return advertisedTips(ar), nil
}

func advertisedTips(ar *packp.AdvRefs) map[plumbing.ReferenceName]plumbing.Hash {
	tips := make(map[plumbing.ReferenceName]plumbing.Hash, len(ar.References))
	for name, h := range ar.References {
		tips[plumbing.ReferenceName(name)] = h
	}
	return tips
}

// remoteState is the remote's refs as advertised at one moment.
type remoteState map[plumbing.ReferenceName]plumbing.Hash

// tip returns a branch's tip (zero if the branch does not exist).
func (s remoteState) tip(branch string) plumbing.Hash { return s[branchRef(branch)] }

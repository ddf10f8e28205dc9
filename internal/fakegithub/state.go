package fakegithub

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// Collaborator permissions, as GitHub's role_name gives them.
const (
	PermAdmin    = "admin"
	PermMaintain = "maintain"
	PermWrite    = "write"
	PermTriage   = "triage"
	PermRead     = "read"
	PermNone     = "none"
)

// PR is a pull request of the fake's repository. The zero values of the
// optional fields are filled in by AddPR.
type PR struct {
	Number         int
	Title          string
	Body           string
	State          string // "open" (default) or "closed"
	Merged         bool
	Draft          bool
	Author         string // login; default "contributor"
	HeadSHA        string // default: derived from the number
	HeadRef        string // default "feature-<number>"
	HeadRepo       string // "owner/name"; default the repository itself (not a fork)
	BaseRef        string // default "master"
	BaseSHA        string
	MergeCommitSHA string
	MergedBy       string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ClosedAt       time.Time
	MergedAt       time.Time
}

// Status is a commit status, as posted to the fake.
type Status struct {
	ID          int64
	State       string
	Context     string
	Description string
	TargetURL   string
	Creator     string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Comment is a comment on a pull request.
type Comment struct {
	ID        int64
	Issue     int
	User      string
	Body      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// App is a GitHub App installed on the fake's repository (and on those
// added with AddRepo).
type App struct {
	ID             int64
	InstallationID int64
	Slug           string
	PrivateKey     []byte            // PEM, as GitHub hands it out
	Permissions    map[string]string // e.g. "checks": "write"; see SetAppPermission
	Events         []string          // the webhook events it subscribes to
	publicKey      *rsa.PublicKey
}

// IssuedToken is an installation access token the fake handed out.
type IssuedToken struct {
	Token          string
	InstallationID int64
	ExpiresAt      time.Time
	Repositories   []string // full names it was limited to; nil: all of the installation's
}

type user struct {
	login string
	id    int64
	bot   bool
}

type teamMember struct {
	role  string // member or maintainer
	state string // active or pending
}

type identity struct {
	login     string
	expiresAt time.Time // zero: never
	install   int64
	repos     []string          // installation token: the repositories asked for; nil: all
	perms     map[string]string // installation token: the permissions asked for; nil: all of the App's
	scopes    []string          // classic personal access token: its OAuth scopes; nil: not set
}

// state is everything the fake knows; Server.mu guards it.
type state struct {
	users       map[string]*user
	nextUserID  int64
	prs         map[int]*PR
	perms       map[string]string
	teams       map[string]map[string]teamMember // "org/team" → login → membership
	commits     map[string]bool
	statuses    map[string][]Status
	comments    []*Comment
	forcePushes map[int][]*forcePush // by pull request, oldest first
	pushedFrom  map[int]string       // by pull request: the head before the last push
	nextID      int64
	tokens      map[string]identity
	apps        map[int64]*App // by installation id
	issued      []IssuedToken
	tokenTTL    time.Duration
	rateLimit   int
	rate        map[string]*rateWindow // by resource: core, graphql
	faults      []Fault
	requests    []Request
	inFlight    int
	maxInFlight int
	violations  []string
	repos       []string // other repositories the installations cover
	actions     actionsState
	checkRuns   []*checkRunState
	oauth       *oauthState // the OAuth web flow (oauth.go); nil until used
	private     bool        // the repository is private (SetPrivate)
}

type rateWindow struct {
	used  int
	reset time.Time
}

func newState() *state {
	return &state{
		users:       map[string]*user{},
		nextUserID:  5000,
		prs:         map[int]*PR{},
		perms:       map[string]string{},
		teams:       map[string]map[string]teamMember{},
		commits:     map[string]bool{},
		statuses:    map[string][]Status{},
		forcePushes: map[int][]*forcePush{},
		pushedFrom:  map[int]string{},
		nextID:      1000,
		tokens:      map[string]identity{},
		apps:        map[int64]*App{},
		rate:        map[string]*rateWindow{},
	}
}

func (st *state) user(login string) *user {
	if u, ok := st.users[login]; ok {
		return u
	}
	st.nextUserID++
	u := &user{login: login, id: st.nextUserID, bot: len(login) > 5 && login[len(login)-5:] == "[bot]"}
	st.users[login] = u
	return u
}

func (st *state) id() int64 {
	st.nextID++
	return st.nextID
}

// fakeSHA derives a stable commit id from a seed.
func fakeSHA(seed string) string {
	sum := sha1.Sum([]byte(seed))
	return hex.EncodeToString(sum[:])
}

// AddUser makes a user known to the fake (GitHub answers 404 for unknown
// users). Users named in other calls are added on the way.
func (s *Server) AddUser(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.user(login)
}

// AddPR adds a pull request, fills in its defaults and returns it.
func (s *Server) AddPR(pr PR) PR {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if pr.Number == 0 {
		pr.Number = len(s.st.prs) + 1
		for s.st.prs[pr.Number] != nil {
			pr.Number++
		}
	}
	if pr.Title == "" {
		pr.Title = fmt.Sprintf("Pull request %d", pr.Number)
	}
	if pr.State == "" {
		pr.State = "open"
	}
	if pr.Author == "" {
		pr.Author = "contributor"
	}
	if pr.HeadSHA == "" {
		pr.HeadSHA = fakeSHA(fmt.Sprintf("pr-%d-head", pr.Number))
	}
	if pr.HeadRef == "" {
		pr.HeadRef = fmt.Sprintf("feature-%d", pr.Number)
	}
	if pr.HeadRepo == "" {
		pr.HeadRepo = s.repo
	}
	if pr.BaseRef == "" {
		pr.BaseRef = "master"
	}
	if pr.BaseSHA == "" {
		pr.BaseSHA = fakeSHA("base-" + pr.BaseRef)
	}
	if pr.CreatedAt.IsZero() {
		pr.CreatedAt = now
	}
	if pr.UpdatedAt.IsZero() {
		pr.UpdatedAt = pr.CreatedAt
	}
	if pr.Merged {
		pr.State = "closed"
		if pr.MergeCommitSHA == "" {
			pr.MergeCommitSHA = fakeSHA(fmt.Sprintf("pr-%d-merge", pr.Number))
		}
		if pr.MergedAt.IsZero() {
			pr.MergedAt = pr.UpdatedAt
		}
	}
	if pr.State == "closed" && pr.ClosedAt.IsZero() {
		pr.ClosedAt = pr.UpdatedAt
	}
	s.st.user(pr.Author)
	s.st.commits[pr.HeadSHA] = true
	s.st.commits[pr.BaseSHA] = true
	if pr.MergeCommitSHA != "" {
		s.st.commits[pr.MergeCommitSHA] = true
	}
	p := pr
	s.st.prs[pr.Number] = &p
	return pr
}

// PR returns a pull request as the fake holds it now.
func (s *Server) PR(number int) (PR, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.st.prs[number]
	if !ok {
		return PR{}, false
	}
	return *p, true
}

// SetHead moves a pull request's head to a new commit, as a push that
// adds commits does: the pull request's updated_at becomes the fake's
// clock, and its timeline gets no event (GitHub records a plain push only
// as the commits it adds, which the fake does not model).
func (s *Server) SetHead(number int, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push(s.mustPR(number), sha)
}

// ForcePush moves a pull request's head as `git push --force` does: like
// SetHead, and GitHub also records a HeadRefForcePushedEvent on the pull
// request's timeline, at the fake's clock, by the pull request's author.
// Pushing the head it is already at is a mistake in the test.
func (s *Server) ForcePush(number int, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPR(number)
	if p.HeadSHA == sha {
		panic(fmt.Sprintf("fakegithub: pull request %d is already at %s", number, sha))
	}
	before := p.HeadSHA
	s.push(p, sha)
	s.st.user(p.Author)
	s.st.forcePushes[number] = append(s.st.forcePushes[number], &forcePush{
		id: s.st.id(), before: before, after: sha, actor: p.Author, at: p.UpdatedAt,
	})
}

// forcePush is a HeadRefForcePushedEvent.
type forcePush struct {
	id            int64
	before, after string
	actor         string
	at            time.Time
}

// push moves a head; the caller holds s.mu.
func (s *Server) push(p *PR, sha string) {
	s.st.pushedFrom[p.Number] = p.HeadSHA
	p.HeadSHA = sha
	p.UpdatedAt = s.now()
	s.st.commits[sha] = true
}

// Merge merges an open pull request and returns its merge commit.
func (s *Server) Merge(number int, by string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPR(number)
	now := s.now()
	p.State, p.Merged, p.MergedBy = "closed", true, by
	p.MergedAt, p.ClosedAt, p.UpdatedAt = now, now, now
	p.MergeCommitSHA = fakeSHA(fmt.Sprintf("pr-%d-merge-%s", number, p.HeadSHA))
	s.st.commits[p.MergeCommitSHA] = true
	s.st.user(by)
	return p.MergeCommitSHA
}

// ClosePR closes a pull request without merging it.
func (s *Server) ClosePR(number int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPR(number)
	now := s.now()
	p.State, p.ClosedAt, p.UpdatedAt = "closed", now, now
}

// ReopenPR reopens a pull request closed without merging.
func (s *Server) ReopenPR(number int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPR(number)
	if p.State != "closed" || p.Merged {
		panic(fmt.Sprintf("fakegithub: pull request %d is not closed without merging", number))
	}
	p.State, p.ClosedAt, p.UpdatedAt = "open", time.Time{}, s.now()
}

// mustPR panics on an unknown pull request: that is a mistake in the test.
func (s *Server) mustPR(number int) *PR {
	p, ok := s.st.prs[number]
	if !ok {
		panic(fmt.Sprintf("fakegithub: no pull request %d", number))
	}
	return p
}

// AddCommit makes a commit known, so that statuses may be posted on it.
// Head, base and merge commits of pull requests are known already.
func (s *Server) AddCommit(sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.commits[sha] = true
}

// SetPermission sets a user's permission on the repository: one of PermAdmin,
// PermMaintain, PermWrite, PermTriage, PermRead or PermNone.
func (s *Server) SetPermission(login, perm string) {
	switch perm {
	case PermAdmin, PermMaintain, PermWrite, PermTriage, PermRead, PermNone:
	default:
		panic(fmt.Sprintf("fakegithub: unknown permission %q", perm))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.user(login)
	s.st.perms[login] = perm
}

// AddTeamMember makes a user an active member of org/team.
func (s *Server) AddTeamMember(org, team, login string) {
	s.SetTeamMembership(org, team, login, "member", "active")
}

// SetTeamMembership sets a user's role (member or maintainer) and state
// (active or pending) in org/team.
func (s *Server) SetTeamMembership(org, team, login, role, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.user(login)
	key := org + "/" + team
	if s.st.teams[key] == nil {
		s.st.teams[key] = map[string]teamMember{}
	}
	s.st.teams[key][login] = teamMember{role: role, state: state}
}

// RemoveTeamMember removes a user from org/team.
func (s *Server) RemoveTeamMember(org, team, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.st.teams[org+"/"+team], login)
}

// Statuses returns the statuses posted on a commit, oldest first.
func (s *Server) Statuses(sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.statuses[sha])
}

// AddStatus posts a status on a commit, as another integration would.
func (s *Server) AddStatus(sha string, st Status) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addStatus(sha, st)
}

func (s *Server) addStatus(sha string, st Status) Status {
	now := s.now()
	st.ID = s.st.id()
	if st.Creator == "" {
		st.Creator = "ci-bot"
	}
	s.st.user(st.Creator)
	st.CreatedAt, st.UpdatedAt = now, now
	s.st.commits[sha] = true
	s.st.statuses[sha] = append(s.st.statuses[sha], st)
	return st
}

// Comments returns the comments on a pull request, oldest first.
func (s *Server) Comments(pr int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.st.comments {
		if c.Issue == pr {
			out = append(out, *c)
		}
	}
	return out
}

// AddComment adds a comment to a pull request, as a user posting it on
// GitHub would, and returns it. Comment does the same and also builds the
// webhook payload.
func (s *Server) AddComment(pr int, login, body string) Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustPR(pr)
	return *s.addComment(pr, login, body)
}

func (s *Server) addComment(pr int, login, body string) *Comment {
	now := s.now()
	s.st.user(login)
	c := &Comment{ID: s.st.id(), Issue: pr, User: login, Body: body, CreatedAt: now, UpdatedAt: now}
	s.st.comments = append(s.st.comments, c)
	// As on GitHub, a new comment updates its pull request.
	if p, ok := s.st.prs[pr]; ok {
		p.UpdatedAt = now
	}
	return c
}

// EditUserComment changes a comment's body as its author editing it on
// GitHub would: updated_at becomes the fake's clock, created_at stays. An
// unknown id is a mistake in the test.
func (s *Server) EditUserComment(id int64, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cm := s.st.commentByID(id)
	if cm == nil {
		panic(fmt.Sprintf("fakegithub: no comment %d", id))
	}
	cm.Body = body
	cm.UpdatedAt = s.now()
}

// commentByID finds a comment; nil when there is none.
func (st *state) commentByID(id int64) *Comment {
	for _, cm := range st.comments {
		if cm.ID == id {
			return cm
		}
	}
	return nil
}

// AddToken makes a personal access token valid, acting as login.
func (s *Server) AddToken(token, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.user(login)
	s.st.tokens[token] = identity{login: login}
}

// AddApp registers a GitHub App installed on the repository, with a new
// private key, the permissions refbot needs (RefbotAppPermissions) and the
// events it subscribes to (RefbotAppEvents), and returns it. Its
// installation tokens act as "<slug>[bot]".
func (s *Server) AddApp(slug string) (App, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return App{}, fmt.Errorf("generate app key: %w", err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	s.mu.Lock()
	defer s.mu.Unlock()
	n := int64(len(s.st.apps) + 1)
	app := &App{
		ID: 100 + n, InstallationID: 9000 + n, Slug: slug, PrivateKey: pemKey,
		Permissions: RefbotAppPermissions(), Events: RefbotAppEvents(), publicKey: &key.PublicKey,
	}
	s.st.apps[app.InstallationID] = app
	s.st.user(slug + "[bot]")
	return app.clone(), nil
}

// clone copies an App so that a caller cannot change the fake's own.
func (a *App) clone() App {
	c := *a
	c.Permissions = maps.Clone(a.Permissions)
	c.Events = slices.Clone(a.Events)
	return c
}

// SetTokenTTL sets how long installation tokens issued from now on are
// valid (GitHub: one hour).
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.tokenTTL = d
}

// IssuedTokens returns the installation tokens handed out, oldest first.
func (s *Server) IssuedTokens() []IssuedToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.issued)
}

// SetRateLimit sets the primary rate limit per hour of the core and graphql
// resources and starts a new window. When a window is used up, the fake
// answers 403 with x-ratelimit-remaining: 0 until it resets.
func (s *Server) SetRateLimit(limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.rateLimit = limit
	s.st.rate = map[string]*rateWindow{}
}

// window returns the current rate-limit window of a resource, starting a
// new one when the old one has reset.
func (s *Server) window(resource string) *rateWindow {
	now := s.now()
	w := s.st.rate[resource]
	if w == nil || !now.Before(w.reset) {
		w = &rateWindow{reset: now.Add(time.Hour).Truncate(time.Second)}
		s.st.rate[resource] = w
	}
	return w
}

// sortedComments returns the comments of an issue, oldest first.
func (st *state) sortedComments(issue int) []*Comment {
	var out []*Comment
	for _, c := range st.comments {
		if c.Issue == issue {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

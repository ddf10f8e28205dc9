package fakegithub

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

var (
	schemaOnce sync.Once
	schemaVal  *ast.Schema
	schemaErr  error
)

// loadSchema reads GitHub's GraphQL schema once per process.
func loadSchema() (*ast.Schema, error) {
	schemaOnce.Do(func() {
		dir, err := NodeModules()
		if err != nil {
			schemaErr = err
			return
		}
		path := filepath.Join(dir, graphQLSchemaFile)
		b, err := os.ReadFile(path)
		if err != nil {
			schemaErr = fmt.Errorf("read graphql schema: %w", err)
			return
		}
		schemaVal, err = parseSchema(string(b))
		if err != nil {
			schemaErr = fmt.Errorf("load graphql schema %s: %w", path, err)
		}
	})
	return schemaVal, schemaErr
}

// parseSchema parses GitHub's schema. The published schema declares a few
// fields twice in one type (EnterpriseOwnerInfo.repositoryDeployKeySetting in
// @octokit/graphql-schema 15.26.1), which a strict parser refuses; the first
// declaration of such a field is kept when both have the same type, and any
// other duplicate is an error.
func parseSchema(input string) (*ast.Schema, error) {
	doc, err := parser.ParseSchemas(validator.Prelude, &ast.Source{Name: "schema.graphql", Input: input})
	if err != nil {
		return nil, err
	}
	for _, def := range doc.Definitions {
		seen := map[string]*ast.FieldDefinition{}
		kept := def.Fields[:0]
		for _, f := range def.Fields {
			if prev, ok := seen[f.Name]; ok {
				if prev.Type.String() != f.Type.String() {
					return nil, fmt.Errorf("field %s.%s declared twice with types %s and %s", def.Name, f.Name, prev.Type, f.Type)
				}
				continue
			}
			seen[f.Name] = f
			kept = append(kept, f)
		}
		def.Fields = kept
	}
	return validator.ValidateSchemaDocument(doc)
}

type gqlRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

type gqlError struct {
	Message   string         `json:"message"`
	Type      string         `json:"type,omitempty"`
	Path      []any          `json:"path,omitempty"`
	Locations []gqlLocation  `json:"locations,omitempty"`
	Extra     map[string]any `json:"extensions,omitempty"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// serveGraphQL validates a query against GitHub's schema and answers it from
// the fake's state. Like GitHub, it answers 200 with an "errors" list for
// queries it rejects.
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: "/graphql", Route: "graphql", Time: s.now()}
	if r.Method != http.MethodPost {
		s.violation("%s %s: GraphQL takes POST", r.Method, r.URL.Path)
		rec.Status = http.StatusNotFound
		s.record(rec)
		writeJSON(w, rec.Status, nil, basicError(rec.Status, "Not Found"))
		return
	}
	idn, authErr := s.authenticate(r, "graphql")
	login := idn.login
	if authErr != nil {
		rec.Status = authErr.status
		s.record(rec)
		writeJSON(w, authErr.status, nil, authErr.body)
		return
	}
	rec.Login = login
	var req gqlRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		s.violation("POST /graphql: body is not a GraphQL request: %v", err)
		rec.Status = http.StatusBadRequest
		s.record(rec)
		writeJSON(w, rec.Status, nil, basicError(rec.Status, "Problems parsing JSON"))
		return
	}
	if f, ok := s.takeFault(r.Method, "graphql"); ok {
		ans := s.faultAnswer(f, "graphql")
		ans.header.Del(faultHeader)
		if ans.header.Get("X-RateLimit-Remaining") == "" {
			s.setRateHeaders(ans.header, "graphql")
		}
		rec.Status = ans.status
		s.record(rec)
		writeJSON(w, ans.status, ans.header, ans.body)
		return
	}

	data, errs := s.execGraphQL(req, idn)
	out := map[string]any{}
	if data != nil {
		out["data"] = data
	}
	if len(errs) > 0 {
		out["errors"] = errs
	}
	s.mu.Lock()
	s.window("graphql").used++
	s.mu.Unlock()
	h := http.Header{}
	s.setRateHeaders(h, "graphql")
	rec.Status = http.StatusOK
	s.record(rec)
	writeJSON(w, http.StatusOK, h, out)
}

// execGraphQL parses, validates and runs a request. Every error that GitHub
// would answer for the same query is also recorded as a violation.
func (s *Server) execGraphQL(req gqlRequest, idn identity) (map[string]any, []gqlError) {
	fail := func(format string, args ...any) (map[string]any, []gqlError) {
		msg := fmt.Sprintf(format, args...)
		s.violation("POST /graphql: %s\nquery: %s", msg, req.Query)
		return nil, []gqlError{{Message: msg}}
	}
	doc, err := parser.ParseQuery(&ast.Source{Name: "query", Input: req.Query})
	if err != nil {
		return fail("query does not parse: %v", err)
	}
	if errs := validator.ValidateWithRules(s.schema, doc, nil); len(errs) > 0 {
		return fail("query does not match GitHub's GraphQL schema: %v", errs)
	}
	var op *ast.OperationDefinition
	if req.OperationName != "" {
		op = doc.Operations.ForName(req.OperationName)
	} else if len(doc.Operations) == 1 {
		op = doc.Operations[0]
	}
	if op == nil {
		return fail("no operation %q in the query", req.OperationName)
	}
	vars, err := validator.VariableValues(s.schema, op, req.Variables)
	if err != nil {
		return fail("variables do not match the query: %v", err)
	}
	if op.Operation != ast.Query {
		return fail("the fake answers queries only, not %s", op.Operation)
	}
	ex := &gqlExec{s: s, vars: vars, login: idn.login, idn: idn}
	s.mu.Lock()
	data := ex.selection(queryRoot{}, op.SelectionSet, nil)
	s.mu.Unlock()
	for _, e := range ex.errs {
		if e.Type != "NOT_FOUND" && e.Type != "FORBIDDEN" {
			s.violation("POST /graphql: %s\nquery: %s", e.Message, req.Query)
		}
	}
	return data, ex.errs
}

// gqlObject is a value of a GraphQL object type that the fake can answer
// fields of. Resolvers run with s.mu held.
type gqlObject interface {
	typeName() string
	field(ex *gqlExec, name string, args map[string]any) (any, error)
}

// gqlExec runs one operation over the fake's state.
type gqlExec struct {
	s     *Server
	vars  map[string]any
	login string
	idn   identity
	errs  []gqlError
}

func (ex *gqlExec) selection(obj gqlObject, set ast.SelectionSet, path []any) map[string]any {
	out := map[string]any{}
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			key := sel.Alias
			if key == "" {
				key = sel.Name
			}
			if sel.Name == "__typename" {
				out[key] = obj.typeName()
				continue
			}
			p := append(append([]any(nil), path...), key)
			v, err := obj.field(ex, sel.Name, sel.ArgumentMap(ex.vars))
			if err != nil {
				e := gqlError{Message: err.Error(), Path: p, Locations: []gqlLocation{{sel.Position.Line, sel.Position.Column}}}
				if errors.As(err, new(notFoundError)) {
					e.Type = "NOT_FOUND"
				}
				if errors.As(err, new(forbiddenError)) {
					e.Type = "FORBIDDEN"
				}
				ex.errs = append(ex.errs, e)
				out[key] = nil
				continue
			}
			out[key] = ex.complete(v, sel.SelectionSet, p)
		case *ast.InlineFragment:
			if ex.matches(obj, sel.TypeCondition) {
				for k, v := range ex.selection(obj, sel.SelectionSet, path) {
					out[k] = v
				}
			}
		case *ast.FragmentSpread:
			if sel.Definition != nil && ex.matches(obj, sel.Definition.TypeCondition) {
				for k, v := range ex.selection(obj, sel.Definition.SelectionSet, path) {
					out[k] = v
				}
			}
		}
	}
	return out
}

func (ex *gqlExec) matches(obj gqlObject, cond string) bool {
	if cond == "" || cond == obj.typeName() {
		return true
	}
	def := ex.s.schema.Types[cond]
	if def == nil {
		return false
	}
	for _, t := range ex.s.schema.GetPossibleTypes(def) {
		if t.Name == obj.typeName() {
			return true
		}
	}
	return false
}

func (ex *gqlExec) complete(v any, set ast.SelectionSet, path []any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case gqlObject:
		return ex.selection(v, set, path)
	case []gqlObject:
		out := make([]any, len(v))
		for i, o := range v {
			out[i] = ex.complete(o, set, append(append([]any(nil), path...), i))
		}
		return out
	}
	return v
}

// githubError is an error GitHub answers in its own words.
type githubError string

func (e githubError) Error() string { return string(e) }

// notFoundError is GitHub's NOT_FOUND: an answer about the data, not a
// mistake in the query, so it is no violation.
type notFoundError string

func (e notFoundError) Error() string { return string(e) }

// forbiddenError is GitHub's FORBIDDEN: an installation token without the
// permission a field needs. Like NOT_FOUND it is no violation.
type forbiddenError string

func (e forbiddenError) Error() string { return string(e) }

// readsPullRequests reports whether the request may read pull requests:
// an installation token needs pull_requests read. The caller holds s.mu.
func (ex *gqlExec) readsPullRequests() error {
	if ex.idn.install != 0 && permRank(ex.s.grantedLevel(ex.idn, "pull_requests")) < permRank("read") {
		return forbiddenError("Resource not accessible by integration")
	}
	return nil
}

func unknownField(obj gqlObject, name string) error {
	return fmt.Errorf("the fake does not answer %s.%s yet: add it to internal/fakegithub/graphql.go", obj.typeName(), name)
}

type queryRoot struct{}

func (queryRoot) typeName() string { return "Query" }

func (queryRoot) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	s := ex.s
	switch name {
	case "repository":
		owner, _ := args["owner"].(string)
		repo, _ := args["name"].(string)
		if !strings.EqualFold(owner, s.owner) || !strings.EqualFold(repo, s.name) {
			return nil, notFoundError(fmt.Sprintf("Could not resolve to a Repository with the name '%s/%s'.", owner, repo))
		}
		return gqlRepo{full: s.repo}, nil
	case "viewer":
		return gqlActor{login: ex.login}, nil
	case "rateLimit":
		return gqlRateLimit{}, nil
	}
	return nil, unknownField(queryRoot{}, name)
}

type gqlRepo struct{ full string }

func (gqlRepo) typeName() string { return "Repository" }

func (r gqlRepo) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	s := ex.s
	owner, repoName, _ := strings.Cut(r.full, "/")
	switch name {
	case "name":
		return repoName, nil
	case "nameWithOwner":
		return r.full, nil
	case "owner":
		return gqlActor{login: owner}, nil
	case "id":
		return nodeID("Repository", int64(len(r.full))), nil
	case "url":
		return s.URL + "/" + r.full, nil
	case "isFork":
		return r.full != s.repo, nil
	case "isPrivate":
		return false, nil
	case "pullRequest":
		if r.full != s.repo {
			return nil, nil
		}
		if err := ex.readsPullRequests(); err != nil {
			return nil, err
		}
		n, _ := intArg(args, "number")
		p, ok := s.st.prs[int(n)]
		if !ok {
			return nil, notFoundError(fmt.Sprintf("Could not resolve to a PullRequest with the number of %d.", n))
		}
		return gqlPR{p}, nil
	case "pullRequests":
		if r.full != s.repo {
			return gqlPRConnection{}, nil
		}
		if err := ex.readsPullRequests(); err != nil {
			return nil, err
		}
		return ex.pullRequests(args)
	}
	return nil, unknownField(r, name)
}

// pullRequests answers Repository.pullRequests: filtered, ordered and cut to
// a page with GitHub's rules for first/last.
func (ex *gqlExec) pullRequests(args map[string]any) (any, error) {
	s := ex.s
	states := map[string]bool{}
	if list, ok := args["states"].([]any); ok {
		for _, v := range list {
			states[fmt.Sprint(v)] = true
		}
	}
	var prs []*PR
	for _, p := range s.st.prs {
		if len(states) > 0 && !states[gqlPRState(p)] {
			continue
		}
		if b, ok := args["baseRefName"].(string); ok && p.BaseRef != b {
			continue
		}
		if h, ok := args["headRefName"].(string); ok && p.HeadRef != h {
			continue
		}
		prs = append(prs, p)
	}
	field, dir := "CREATED_AT", "ASC"
	if o, ok := args["orderBy"].(map[string]any); ok {
		if f, ok := o["field"].(string); ok {
			field = f
		}
		if d, ok := o["direction"].(string); ok {
			dir = d
		}
	}
	sort.Slice(prs, func(i, j int) bool {
		a, b := prs[i], prs[j]
		if dir == "DESC" {
			a, b = b, a
		}
		if field == "UPDATED_AT" && !a.UpdatedAt.Equal(b.UpdatedAt) {
			return a.UpdatedAt.Before(b.UpdatedAt)
		}
		if field == "CREATED_AT" && !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.Number < b.Number
	})
	w, err := paginate("pullRequests", args, len(prs))
	if err != nil {
		return nil, err
	}
	return gqlPRConnection{all: prs, window: w}, nil
}

// window is the part of a connection's items a query asked for.
type window struct {
	// from and to bound the items after the after and before cursors;
	// start and end the page that first or last cut from them.
	from, to, start, end int
}

// paginate applies a connection's after, before, first and last to n items
// by GitHub's rules: first or last is required, at most 100, and after and
// before are cursors the fake handed out.
func paginate(conn string, args map[string]any, n int) (window, error) {
	first, hasFirst := intArg(args, "first")
	last, hasLast := intArg(args, "last")
	if !hasFirst && !hasLast {
		return window{}, githubError(fmt.Sprintf("You must provide a `first` or `last` value to properly paginate the `%s` connection.", conn))
	}
	if (hasFirst && (first < 0 || first > 100)) || (hasLast && (last < 0 || last > 100)) {
		return window{}, githubError(fmt.Sprintf("Requesting more than 100 records on the `%s` connection exceeds the `first`/`last` limit of 100 records.", conn))
	}
	w := window{to: n}
	if after, ok := args["after"].(string); ok {
		i, err := decodeCursor(after)
		if err != nil {
			return window{}, githubError(fmt.Sprintf("`%s` does not appear to be a valid cursor.", after))
		}
		w.from = min(i+1, n)
	}
	if before, ok := args["before"].(string); ok {
		i, err := decodeCursor(before)
		if err != nil {
			return window{}, githubError(fmt.Sprintf("`%s` does not appear to be a valid cursor.", before))
		}
		w.to = max(w.from, min(i, n))
	}
	w.start, w.end = w.from, w.to
	if hasFirst {
		w.end = min(w.end, w.start+int(first))
	}
	if hasLast {
		w.start = max(w.start, w.end-int(last))
	}
	return w, nil
}

// intArg reads an Int argument: an int64 when the query spells it out, a
// float64 when it comes from a variable decoded from JSON.
func intArg(args map[string]any, name string) (int64, bool) {
	switch v := args[name].(type) {
	case int64:
		return v, true
	case float64:
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	}
	return 0, false
}

// pageInfo describes a window of a connection of n items. Items beyond the
// after and before cursors count too, as the Relay specification allows.
func (w window) pageInfo(n int) gqlPageInfo {
	pi := gqlPageInfo{hasNext: w.end < n, hasPrev: w.start > 0}
	if w.end > w.start {
		pi.start, pi.end = encodeCursor(w.start), encodeCursor(w.end-1)
	}
	return pi
}

func gqlPRState(p *PR) string {
	switch {
	case p.Merged:
		return "MERGED"
	case p.State == "closed":
		return "CLOSED"
	}
	return "OPEN"
}

func encodeCursor(i int) string {
	return base64.StdEncoding.EncodeToString([]byte("cursor:v2:" + strconv.Itoa(i)))
}

func decodeCursor(c string) (int, error) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, err
	}
	n, ok := strings.CutPrefix(string(b), "cursor:v2:")
	if !ok {
		return 0, errors.New("bad cursor")
	}
	return strconv.Atoi(n)
}

type gqlPRConnection struct {
	all []*PR
	window
}

func (gqlPRConnection) typeName() string { return "PullRequestConnection" }

func (c gqlPRConnection) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	page := c.all[c.start:c.end]
	switch name {
	case "totalCount":
		return len(c.all), nil
	case "nodes":
		out := make([]gqlObject, len(page))
		for i, p := range page {
			out[i] = gqlPR{p}
		}
		return out, nil
	case "edges":
		out := make([]gqlObject, len(page))
		for i, p := range page {
			out[i] = gqlEdge{typ: "PullRequestEdge", cursor: encodeCursor(c.start + i), node: gqlPR{p}}
		}
		return out, nil
	case "pageInfo":
		return c.pageInfo(len(c.all)), nil
	}
	return nil, unknownField(c, name)
}

// gqlEdge is an edge of a connection; typ is its GraphQL type.
type gqlEdge struct {
	typ    string
	cursor string
	node   gqlObject
}

func (e gqlEdge) typeName() string { return e.typ }

func (e gqlEdge) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	switch name {
	case "cursor":
		return e.cursor, nil
	case "node":
		return e.node, nil
	}
	return nil, unknownField(e, name)
}

type gqlPageInfo struct {
	hasNext, hasPrev bool
	start, end       string
}

func (gqlPageInfo) typeName() string { return "PageInfo" }

func (p gqlPageInfo) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	cursor := func(c string) any {
		if c == "" {
			return nil
		}
		return c
	}
	switch name {
	case "hasNextPage":
		return p.hasNext, nil
	case "hasPreviousPage":
		return p.hasPrev, nil
	case "startCursor":
		return cursor(p.start), nil
	case "endCursor":
		return cursor(p.end), nil
	}
	return nil, unknownField(p, name)
}

type gqlPR struct{ p *PR }

func (gqlPR) typeName() string { return "PullRequest" }

func (g gqlPR) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	s, p := ex.s, g.p
	headOwner, _, _ := strings.Cut(p.HeadRepo, "/")
	switch name {
	case "id":
		return nodeID("PullRequest", int64(1_000_000+p.Number)), nil
	case "databaseId":
		return 1_000_000 + p.Number, nil
	case "fullDatabaseId":
		return strconv.Itoa(1_000_000 + p.Number), nil // BigInt is a string
	case "number":
		return p.Number, nil
	case "title":
		return p.Title, nil
	case "body":
		return p.Body, nil
	case "url", "permalink":
		return fmt.Sprintf("%s/%s/pull/%d", s.URL, s.repo, p.Number), nil
	case "state":
		return gqlPRState(p), nil
	case "closed":
		return p.State == "closed", nil
	case "merged":
		return p.Merged, nil
	case "isDraft":
		return p.Draft, nil
	case "headRefOid":
		return p.HeadSHA, nil
	case "headRefName":
		return p.HeadRef, nil
	case "baseRefName":
		return p.BaseRef, nil
	case "baseRefOid":
		return p.BaseSHA, nil
	case "isCrossRepository":
		return p.HeadRepo != s.repo, nil
	case "headRepository":
		return gqlRepo{full: p.HeadRepo}, nil
	case "headRepositoryOwner":
		return gqlActor{login: headOwner}, nil
	case "author":
		return gqlActor{login: p.Author}, nil
	case "createdAt":
		return ts(p.CreatedAt), nil
	case "updatedAt":
		return ts(p.UpdatedAt), nil
	case "closedAt":
		return ts(p.ClosedAt), nil
	case "mergedAt":
		return ts(p.MergedAt), nil
	case "timelineItems":
		return ex.timelineItems(p, args)
	}
	return nil, unknownField(g, name)
}

// timelineTypes are the PullRequestTimelineItemsItemType values the fake
// models. A query for any other type, or for every type (no itemTypes),
// is refused: its answer would leave items out.
var timelineTypes = []string{"HEAD_REF_FORCE_PUSHED_EVENT", "ISSUE_COMMENT"}

// timelineItem is an item of a pull request's timeline; seq orders items
// by when they happened.
type timelineItem struct {
	seq int64
	obj gqlObject
}

// timelineItems answers PullRequest.timelineItems, oldest first, with
// itemTypes filtering and GitHub's rules for first/last.
func (ex *gqlExec) timelineItems(p *PR, args map[string]any) (any, error) {
	for _, a := range []string{"since", "skip"} {
		if args[a] != nil {
			return nil, fmt.Errorf("the fake does not answer timelineItems(%s:) yet: add it to internal/fakegithub/graphql.go", a)
		}
	}
	list, _ := args["itemTypes"].([]any)
	if len(list) == 0 {
		return nil, fmt.Errorf("the fake answers timelineItems only with itemTypes among %v: it does not model the other items", timelineTypes)
	}
	want := map[string]bool{}
	for _, v := range list {
		t := fmt.Sprint(v)
		if !slices.Contains(timelineTypes, t) {
			return nil, fmt.Errorf("the fake does not model timeline items of type %s yet: add them to internal/fakegithub/graphql.go", t)
		}
		want[t] = true
	}
	var items []timelineItem
	if want["HEAD_REF_FORCE_PUSHED_EVENT"] {
		for _, f := range ex.s.st.forcePushes[p.Number] {
			items = append(items, timelineItem{seq: f.id, obj: gqlForcePush{pr: p, f: f}})
		}
	}
	if want["ISSUE_COMMENT"] {
		for _, c := range ex.s.st.sortedComments(p.Number) {
			items = append(items, timelineItem{seq: c.ID, obj: gqlIssueComment{c}})
		}
	}
	// Ids come from one sequence, so they order items as they happened.
	sort.Slice(items, func(i, j int) bool { return items[i].seq < items[j].seq })
	w, err := paginate("timelineItems", args, len(items))
	if err != nil {
		return nil, err
	}
	return gqlTimelineConnection{all: items, window: w}, nil
}

type gqlTimelineConnection struct {
	all []timelineItem
	window
}

func (gqlTimelineConnection) typeName() string { return "PullRequestTimelineItemsConnection" }

func (c gqlTimelineConnection) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	page := c.all[c.start:c.end]
	switch name {
	case "totalCount":
		return len(c.all), nil
	case "filteredCount":
		return c.to - c.from, nil
	case "pageCount":
		return len(page), nil
	case "nodes":
		out := make([]gqlObject, len(page))
		for i, it := range page {
			out[i] = it.obj
		}
		return out, nil
	case "edges":
		out := make([]gqlObject, len(page))
		for i, it := range page {
			out[i] = gqlEdge{typ: "PullRequestTimelineItemsEdge", cursor: encodeCursor(c.start + i), node: it.obj}
		}
		return out, nil
	case "pageInfo":
		return c.pageInfo(len(c.all)), nil
	}
	return nil, unknownField(c, name)
}

type gqlForcePush struct {
	pr *PR
	f  *forcePush
}

func (gqlForcePush) typeName() string { return "HeadRefForcePushedEvent" }

func (g gqlForcePush) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	switch name {
	case "id":
		return nodeID("HeadRefForcePushedEvent", g.f.id), nil
	case "createdAt":
		return ts(g.f.at), nil
	case "beforeCommit":
		return gqlCommit{oid: g.f.before}, nil
	case "afterCommit":
		return gqlCommit{oid: g.f.after}, nil
	case "actor":
		return gqlActor{login: g.f.actor}, nil
	case "pullRequest":
		return gqlPR{g.pr}, nil
	}
	return nil, unknownField(g, name)
}

type gqlCommit struct{ oid string }

func (gqlCommit) typeName() string { return "Commit" }

func (c gqlCommit) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	switch name {
	case "oid":
		return c.oid, nil
	case "abbreviatedOid":
		return c.oid[:min(7, len(c.oid))], nil
	case "url", "commitUrl":
		return fmt.Sprintf("%s/%s/commit/%s", ex.s.URL, ex.s.repo, c.oid), nil
	case "resourcePath", "commitResourcePath":
		return fmt.Sprintf("/%s/commit/%s", ex.s.repo, c.oid), nil
	}
	return nil, unknownField(c, name)
}

type gqlIssueComment struct{ c *Comment }

func (gqlIssueComment) typeName() string { return "IssueComment" }

func (g gqlIssueComment) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	s, c := ex.s, g.c
	edited := !c.UpdatedAt.Equal(c.CreatedAt)
	switch name {
	case "id":
		return nodeID("IssueComment", c.ID), nil
	case "databaseId":
		return c.ID, nil
	case "fullDatabaseId":
		return strconv.FormatInt(c.ID, 10), nil // BigInt is a string
	case "body":
		return c.Body, nil
	case "author":
		return gqlActor{login: c.User}, nil
	case "authorAssociation":
		return s.authorAssociation(c.User), nil
	case "createdAt", "publishedAt":
		return ts(c.CreatedAt), nil
	case "updatedAt":
		return ts(c.UpdatedAt), nil
	case "lastEditedAt":
		if !edited {
			return nil, nil
		}
		return ts(c.UpdatedAt), nil
	case "includesCreatedEdit":
		return edited, nil
	case "isMinimized":
		return false, nil
	case "url":
		return fmt.Sprintf("%s/%s/pull/%d#issuecomment-%d", s.URL, s.repo, c.Issue, c.ID), nil
	case "pullRequest":
		if p, ok := s.st.prs[c.Issue]; ok {
			return gqlPR{p}, nil
		}
		return nil, nil
	}
	return nil, unknownField(g, name)
}

// gqlActor is a User or, for logins ending in [bot], a Bot.
type gqlActor struct{ login string }

func (a gqlActor) typeName() string {
	if strings.HasSuffix(a.login, "[bot]") {
		return "Bot"
	}
	return "User"
}

func (a gqlActor) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	s := ex.s
	u := s.st.user(a.login)
	login := a.login
	if a.typeName() == "Bot" {
		// GraphQL names bots without the [bot] suffix REST uses.
		login = strings.TrimSuffix(login, "[bot]")
	}
	switch name {
	case "login":
		return login, nil
	case "id":
		return nodeID(a.typeName(), u.id), nil
	case "databaseId":
		return u.id, nil
	case "url", "resourcePath":
		return s.URL + "/" + a.login, nil
	case "avatarUrl":
		return s.URL + "/avatars/u/" + strconv.FormatInt(u.id, 10), nil
	}
	return nil, unknownField(a, name)
}

type gqlRateLimit struct{}

func (gqlRateLimit) typeName() string { return "RateLimit" }

func (r gqlRateLimit) field(ex *gqlExec, name string, args map[string]any) (any, error) {
	s := ex.s
	w := s.window("graphql")
	switch name {
	case "limit":
		return s.st.rateLimit, nil
	case "cost", "nodeCount":
		return 1, nil
	case "remaining":
		return max(0, s.st.rateLimit-w.used-1), nil
	case "used":
		return w.used + 1, nil
	case "resetAt":
		return ts(w.reset), nil
	}
	return nil, unknownField(r, name)
}

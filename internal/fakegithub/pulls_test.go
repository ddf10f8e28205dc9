package fakegithub

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// graphql runs a query and returns its decoded answer, failing the test on
// any error in it.
func (c client) graphql(query string, vars map[string]any) any {
	c.t.Helper()
	r := c.do("POST", "/graphql", map[string]any{"query": query, "variables": vars})
	v := r.json(c.t)
	if r.status != 200 || field(v, "errors") != nil {
		c.t.Fatalf("answer %d: %s", r.status, r.body)
	}
	return v
}

const forcePushQuery = `query($owner: String!, $name: String!, $number: Int!, $types: [PullRequestTimelineItemsItemType!], $first: Int, $last: Int, $after: String, $before: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      headRefOid
      updatedAt
      timelineItems(itemTypes: $types, first: $first, last: $last, after: $after, before: $before) {
        totalCount
        filteredCount
        pageCount
        nodes {
          __typename
          ... on HeadRefForcePushedEvent { createdAt beforeCommit { oid } afterCommit { oid abbreviatedOid } actor { login } }
          ... on IssueComment { body createdAt author { login } }
        }
        edges { cursor node { __typename } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
  }
}`

// timelineEntry is a timeline node in short: type, time and what it says.
type timelineEntry struct{ Type, At, What string }

func entries(t *testing.T, conn any) []timelineEntry {
	t.Helper()
	var out []timelineEntry
	for _, n := range field(conn, "nodes").([]any) {
		e := timelineEntry{Type: field(n, "__typename").(string), At: field(n, "createdAt").(string)}
		switch e.Type {
		case "HeadRefForcePushedEvent":
			e.What = field(n, "beforeCommit.oid").(string)[:1] + "→" + field(n, "afterCommit.oid").(string)[:1] + " by " + field(n, "actor.login").(string)
		case "IssueComment":
			e.What = field(n, "body").(string) + " by " + field(n, "author.login").(string)
		}
		out = append(out, e)
	}
	return out
}

func TestForcePushTimeline(t *testing.T) {
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now))
	c := client{t: t, s: s, token: s.Token()}
	sha := func(b byte) string { return strings.Repeat(string(b), 40) }
	s.AddPR(PR{Number: 3, Author: "alice", HeadSHA: sha('a')})
	s.AddPR(PR{Number: 4})
	clk.Add(time.Minute)
	s.ForcePush(3, sha('b'))
	clk.Add(time.Minute)
	s.AddComment(3, "bob", "BUILDBOT: UPDATE")
	clk.Add(time.Minute)
	s.SetHead(3, sha('c')) // a plain push: no event
	clk.Add(time.Minute)
	s.ForcePush(3, sha('d'))

	owner, name, _ := strings.Cut(s.Repo(), "/")
	vars := func(kv ...any) map[string]any {
		v := map[string]any{"owner": owner, "name": name, "number": 3, "types": []string{"HEAD_REF_FORCE_PUSHED_EVENT"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v[kv[i].(string)] = kv[i+1]
		}
		return v
	}
	at := func(m int) string { return t0.Add(time.Duration(m) * time.Minute).Format(time.RFC3339) }
	push1 := timelineEntry{"HeadRefForcePushedEvent", at(1), "a→b by alice"}
	comment := timelineEntry{"IssueComment", at(2), "BUILDBOT: UPDATE by bob"}
	push2 := timelineEntry{"HeadRefForcePushedEvent", at(4), "c→d by alice"}

	t.Run("force-pushes, newest 100", func(t *testing.T) {
		c.t = t
		pr := field(c.graphql(forcePushQuery, vars("last", 100)), "data.repository.pullRequest")
		if got := []any{field(pr, "headRefOid"), field(pr, "updatedAt")}; !cmp.Equal(got, []any{sha('d'), at(4)}) {
			t.Errorf("head and updatedAt %v, want the force-pushed head at its time", got)
		}
		conn := field(pr, "timelineItems")
		if diff := cmp.Diff([]timelineEntry{push1, push2}, entries(t, conn)); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
		counts := []any{field(conn, "totalCount"), field(conn, "filteredCount"), field(conn, "pageCount"), field(conn, "pageInfo.hasPreviousPage"), field(conn, "pageInfo.hasNextPage")}
		if diff := cmp.Diff([]any{2.0, 2.0, 2.0, false, false}, counts); diff != "" {
			t.Errorf("totalCount, filteredCount, pageCount, hasPreviousPage, hasNextPage (-want +got):\n%s", diff)
		}
	})

	t.Run("two item types, in the order they happened", func(t *testing.T) {
		c.t = t
		conn := field(c.graphql(forcePushQuery, vars("first", 10, "types", []string{"ISSUE_COMMENT", "HEAD_REF_FORCE_PUSHED_EVENT"})), "data.repository.pullRequest.timelineItems")
		if diff := cmp.Diff([]timelineEntry{push1, comment, push2}, entries(t, conn)); diff != "" {
			t.Errorf("nodes (-want +got):\n%s", diff)
		}
	})

	t.Run("pages forward and backward", func(t *testing.T) {
		c.t = t
		types := []string{"ISSUE_COMMENT", "HEAD_REF_FORCE_PUSHED_EVENT"}
		var got []timelineEntry
		var cursor any
		for range 3 {
			conn := field(c.graphql(forcePushQuery, vars("first", 1, "after", cursor, "types", types)), "data.repository.pullRequest.timelineItems")
			got = append(got, entries(t, conn)...)
			if field(conn, "edges.0.cursor") != field(conn, "pageInfo.endCursor") {
				t.Errorf("edge cursor %v, end cursor %v", field(conn, "edges.0.cursor"), field(conn, "pageInfo.endCursor"))
			}
			cursor = field(conn, "pageInfo.endCursor")
			if field(conn, "pageInfo.hasNextPage") != (len(got) < 3) {
				t.Errorf("after %d items hasNextPage = %v", len(got), field(conn, "pageInfo.hasNextPage"))
			}
		}
		conn := field(c.graphql(forcePushQuery, vars("last", 1, "before", cursor, "types", types)), "data.repository.pullRequest.timelineItems")
		got = append(got, entries(t, conn)...)
		if diff := cmp.Diff([]timelineEntry{push1, comment, push2, comment}, got); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
		if n := field(conn, "filteredCount"); n != 2.0 {
			t.Errorf("filteredCount before the last item = %v, want 2", n)
		}
	})

	t.Run("no force-pushes", func(t *testing.T) {
		c.t = t
		conn := field(c.graphql(forcePushQuery, vars("number", 4, "last", 100)), "data.repository.pullRequest.timelineItems")
		if n, pi := field(conn, "nodes"), field(conn, "pageInfo"); len(n.([]any)) != 0 || field(pi, "endCursor") != nil || field(pi, "hasNextPage") != false {
			t.Errorf("nodes %v, pageInfo %v; want none", n, pi)
		}
	})

	t.Run("unknown pull request", func(t *testing.T) {
		c.t = t
		r := c.do("POST", "/graphql", map[string]any{"query": forcePushQuery, "variables": vars("number", 99, "last", 100)})
		v := r.json(t)
		want := map[string]any{
			"data.repository.pullRequest": nil,
			"errors.0.type":               "NOT_FOUND",
			"errors.0.message":            "Could not resolve to a PullRequest with the number of 99.",
			"errors.0.path":               []any{"repository", "pullRequest"},
		}
		got := map[string]any{}
		for k := range want {
			got[k] = field(v, k)
		}
		if diff := cmp.Diff(want, got); r.status != 200 || diff != "" {
			t.Errorf("status %d, answer (-want +got):\n%s", r.status, diff)
		}
	})
}

func TestPushUpdatesPullRequest(t *testing.T) {
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now))
	c := client{t: t, s: s, token: s.Token()}
	old, pushed, forced := strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)
	s.AddPR(PR{Number: 6, HeadSHA: old})
	owner, name, _ := strings.Cut(s.Repo(), "/")
	query := `query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { pullRequest(number: 6) { headRefOid updatedAt createdAt } } }`

	for _, tt := range []struct {
		name string
		push func()
		sha  string
	}{
		{"plain push", func() { s.SetHead(6, pushed) }, pushed},
		{"force-push", func() { s.ForcePush(6, forced) }, forced},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			before, _ := s.PR(6)
			clk.Add(time.Hour)
			tt.push()
			at := clk.Now().Format(time.RFC3339)
			rest := c.do("GET", "/repos/"+s.Repo()+"/pulls/6", nil).json(t)
			list := c.do("GET", "/repos/"+s.Repo()+"/pulls?sort=updated&direction=desc", nil).json(t)
			gql := c.graphql(query, map[string]any{"owner": owner, "name": name})
			var hook any
			if err := json.Unmarshal(s.PullRequestPayload(6, "synchronize", "contributor"), &hook); err != nil {
				t.Fatal(err)
			}
			got := map[string]any{
				"REST updated_at":      field(rest, "updated_at"),
				"REST head":            field(rest, "head.sha"),
				"REST list updated_at": field(list, "0.updated_at"),
				"GraphQL updatedAt":    field(gql, "data.repository.pullRequest.updatedAt"),
				"GraphQL headRefOid":   field(gql, "data.repository.pullRequest.headRefOid"),
				"GraphQL createdAt":    field(gql, "data.repository.pullRequest.createdAt"),
				"payload updated_at":   field(hook, "pull_request.updated_at"),
				"payload head":         field(hook, "pull_request.head.sha"),
				"payload before":       field(hook, "before"),
				"payload after":        field(hook, "after"),
			}
			want := map[string]any{
				"REST updated_at":      at,
				"REST head":            tt.sha,
				"REST list updated_at": at,
				"GraphQL updatedAt":    at,
				"GraphQL headRefOid":   tt.sha,
				"GraphQL createdAt":    t0.Format(time.RFC3339),
				"payload updated_at":   at,
				"payload head":         tt.sha,
				"payload before":       before.HeadSHA,
				"payload after":        tt.sha,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after the push (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClosedAndMergedTimes(t *testing.T) {
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now))
	c := client{t: t, s: s, token: s.Token()}
	for i := 1; i <= 4; i++ {
		s.AddPR(PR{Number: i})
	}
	s.AddPR(PR{Number: 5, State: "closed", UpdatedAt: t0.Add(-time.Hour)})
	clk.Add(time.Minute)
	s.ClosePR(1)
	clk.Add(time.Minute)
	s.Merge(2, "alice")
	clk.Add(time.Minute)
	s.ClosePR(3)
	at := func(m int) any { return t0.Add(time.Duration(m) * time.Minute).Format(time.RFC3339) }

	// REST: closed_at for every closed pull request, merged_at for merged ones.
	for _, tt := range []struct {
		number                int
		closed, merged, state any
	}{
		{1, at(1), nil, "closed"},
		{2, at(2), at(2), "closed"},
		{4, nil, nil, "open"},
		{5, t0.Add(-time.Hour).Format(time.RFC3339), nil, "closed"},
	} {
		r := c.do("GET", fmt.Sprintf("/repos/%s/pulls/%d", s.Repo(), tt.number), nil).json(t)
		got := []any{field(r, "closed_at"), field(r, "merged_at"), field(r, "state")}
		if diff := cmp.Diff([]any{tt.closed, tt.merged, tt.state}, got); diff != "" {
			t.Errorf("#%d closed_at, merged_at, state (-want +got):\n%s", tt.number, diff)
		}
	}

	// GraphQL: states [CLOSED] leaves out open and merged pull requests.
	owner, name, _ := strings.Cut(s.Repo(), "/")
	v := c.graphql(`query($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    pullRequests(states: [CLOSED], first: 100, orderBy: {field: UPDATED_AT, direction: DESC}) {
      nodes { number state closed merged closedAt mergedAt updatedAt }
    }
  }
}`, map[string]any{"owner": owner, "name": name})
	var got []string
	for _, n := range field(v, "data.repository.pullRequests.nodes").([]any) {
		got = append(got, fmt.Sprintf("#%v %v closed=%v merged=%v closedAt=%v mergedAt=%v", field(n, "number"), field(n, "state"), field(n, "closed"), field(n, "merged"), field(n, "closedAt"), field(n, "mergedAt")))
	}
	want := []string{
		fmt.Sprintf("#3 CLOSED closed=true merged=false closedAt=%v mergedAt=<nil>", at(3)),
		fmt.Sprintf("#1 CLOSED closed=true merged=false closedAt=%v mergedAt=<nil>", at(1)),
		fmt.Sprintf("#5 CLOSED closed=true merged=false closedAt=%s mergedAt=<nil>", t0.Add(-time.Hour).Format(time.RFC3339)),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("closed pull requests, newest update first (-want +got):\n%s", diff)
	}
}

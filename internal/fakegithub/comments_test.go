package fakegithub

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEditUserComment(t *testing.T) {
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now))
	c := client{t: t, s: s, token: s.Token()}
	s.AddPR(PR{Number: 2})
	cm := s.AddComment(2, "alice", "BUILDBOT: UPDATE")
	clk.Add(90 * time.Second)
	s.EditUserComment(cm.ID, "BUILDBOT: UPDATE please")
	pr, _ := s.PR(2)

	r := c.do("GET", fmt.Sprintf("/repos/%s/issues/comments/%d", s.Repo(), cm.ID), nil).json(t)
	owner, name, _ := strings.Cut(s.Repo(), "/")
	g := c.graphql(`query($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: 2) {
      timelineItems(itemTypes: [ISSUE_COMMENT], first: 10) {
        nodes { ... on IssueComment { body createdAt updatedAt lastEditedAt includesCreatedEdit } }
      }
    }
  }
}`, map[string]any{"owner": owner, "name": name})
	node := field(g, "data.repository.pullRequest.timelineItems.nodes.0")
	created, edited := t0.Format(time.RFC3339), t0.Add(90*time.Second).Format(time.RFC3339)
	got := map[string]any{
		"REST body": field(r, "body"), "REST created_at": field(r, "created_at"), "REST updated_at": field(r, "updated_at"),
		"GraphQL body": field(node, "body"), "GraphQL createdAt": field(node, "createdAt"), "GraphQL updatedAt": field(node, "updatedAt"),
		"GraphQL lastEditedAt": field(node, "lastEditedAt"), "GraphQL includesCreatedEdit": field(node, "includesCreatedEdit"),
		"fake": fmt.Sprint(s.Comments(2)[0].Body, " ", pr.UpdatedAt.Format(time.RFC3339)),
	}
	want := map[string]any{
		"REST body": "BUILDBOT: UPDATE please", "REST created_at": created, "REST updated_at": edited,
		"GraphQL body": "BUILDBOT: UPDATE please", "GraphQL createdAt": created, "GraphQL updatedAt": edited,
		"GraphQL lastEditedAt": edited, "GraphQL includesCreatedEdit": true,
		// The pull request's updated_at stays at the comment's creation.
		"fake": "BUILDBOT: UPDATE please " + created,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("edited comment (-want +got):\n%s", diff)
	}
}

func TestListCommentsSinceAndPages(t *testing.T) {
	clk := &clock{now: t0}
	s := New(t, WithClock(clk.Now))
	c := client{t: t, s: s, token: s.Token()}
	s.AddPR(PR{Number: 1})
	var ids []float64
	for i := range 7 {
		ids = append(ids, float64(s.AddComment(1, "bob", fmt.Sprintf("comment %d", i)).ID))
		clk.Add(time.Minute)
	}
	// The oldest comment, edited now, is updated after the others.
	s.EditUserComment(int64(ids[0]), "comment 0, edited")

	// pages follows rel="next" links from path and returns the ids seen
	// on each page.
	pages := func(t *testing.T, path string) [][]float64 {
		c.t = t
		var out [][]float64
		for path != "" && len(out) < 10 {
			r := c.do("GET", path, nil)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var page []float64
			for _, cm := range r.json(t).([]any) {
				page = append(page, field(cm, "id").(float64))
			}
			out = append(out, page)
			path = ""
			for _, l := range strings.Split(r.header.Get("Link"), ",") {
				if strings.Contains(l, `rel="next"`) {
					u := strings.Trim(strings.TrimSpace(strings.Split(l, ";")[0]), "<>")
					path = strings.TrimPrefix(u, strings.TrimSuffix(s.APIURL(), "/"))
				}
			}
		}
		return out
	}
	base := "/repos/" + s.Repo() + "/issues/1/comments"
	since := func(d time.Duration) string { return url.QueryEscape(t0.Add(d).Format(time.RFC3339)) }
	for _, tt := range []struct {
		name string
		path string
		want [][]float64
	}{
		{"all, 30 a page by default", base, [][]float64{ids}},
		{"three a page, ascending ids", base + "?per_page=3", [][]float64{ids[0:3], ids[3:6], ids[6:]}},
		{"since is inclusive", base + "?per_page=3&since=" + since(4*time.Minute), [][]float64{{ids[0], ids[4], ids[5]}, {ids[6]}}},
		{"since a second later", base + "?since=" + since(4*time.Minute+time.Second), [][]float64{{ids[0], ids[5], ids[6]}}},
		{"since now: the edited one", base + "?since=" + since(7*time.Minute), [][]float64{{ids[0]}}},
		{"since later: none", base + "?since=" + since(8*time.Minute), [][]float64{nil}},
		{"a page past the end", base + "?per_page=3&page=4", [][]float64{nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, pages(t, tt.path)); diff != "" {
				t.Errorf("pages of ids (-want +got):\n%s", diff)
			}
		})
	}
}

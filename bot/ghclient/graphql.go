package ghclient

import (
	"context"
	"fmt"
	"time"

	"github.com/shurcooL/githubv4"
)

// PRSummary is an open pull request as the reconciler sees it.
type PRSummary struct {
	Number    int
	Title     string
	HeadSHA   string
	HeadRef   string
	BaseRef   string
	UpdatedAt time.Time
	Author    string // "" for a deleted account
	Draft     bool
	IsFork    bool
}

// openPRsQuery is the GraphQL query of OpenPullRequests. Ordering by
// creation keeps pages stable while pull requests are opened meanwhile.
type openPRsQuery struct {
	Repository struct {
		PullRequests struct {
			Nodes []struct {
				Number            int
				Title             string
				HeadRefOid        githubv4.GitObjectID
				HeadRefName       string
				BaseRefName       string
				UpdatedAt         githubv4.DateTime
				IsDraft           bool
				IsCrossRepository bool
				Author            struct {
					Login string
				}
			}
			PageInfo struct {
				EndCursor   githubv4.String
				HasNextPage bool
			}
		} `graphql:"pullRequests(states: [OPEN], first: 100, after: $cursor, orderBy: {field: CREATED_AT, direction: ASC})"`
	} `graphql:"repository(owner: $owner, name: $name)"`
}

// OpenPullRequests lists the repository's open pull requests, oldest
// first, 100 per GraphQL request.
func (c *Client) OpenPullRequests(ctx context.Context) ([]PRSummary, error) {
	ctx = withIdempotent(ctx) // a query: safe to retry after a 5xx
	vars := map[string]any{
		"owner":  githubv4.String(c.owner),
		"name":   githubv4.String(c.name),
		"cursor": (*githubv4.String)(nil),
	}
	var out []PRSummary
	for {
		var q openPRsQuery
		if err := c.gql.Query(ctx, &q, vars); err != nil {
			return nil, fmt.Errorf("list open pull requests of %s: %w", c.repo(), classifyGraphQL(err))
		}
		for _, n := range q.Repository.PullRequests.Nodes {
			out = append(out, PRSummary{
				Number:    n.Number,
				Title:     n.Title,
				HeadSHA:   string(n.HeadRefOid),
				HeadRef:   n.HeadRefName,
				BaseRef:   n.BaseRefName,
				UpdatedAt: n.UpdatedAt.Time,
				Author:    n.Author.Login,
				Draft:     n.IsDraft,
				IsFork:    n.IsCrossRepository,
			})
		}
		page := q.Repository.PullRequests.PageInfo
		if !page.HasNextPage {
			return out, nil
		}
		vars["cursor"] = githubv4.NewString(page.EndCursor)
	}
}

// ClosedPR is a pull request merged or closed without merging, as the
// reconciler sees it.
type ClosedPR struct {
	Number    int
	BaseRef   string
	HeadSHA   string
	Merged    bool
	ClosedAt  time.Time
	MergedAt  time.Time
	UpdatedAt time.Time
}

type closedPRsQuery struct {
	Repository struct {
		PullRequests struct {
			Nodes []struct {
				Number      int
				BaseRefName string
				HeadRefOid  githubv4.GitObjectID
				Merged      bool
				ClosedAt    githubv4.DateTime
				MergedAt    *githubv4.DateTime
				UpdatedAt   githubv4.DateTime
			}
			PageInfo struct {
				EndCursor   githubv4.String
				HasNextPage bool
			}
		} `graphql:"pullRequests(states: [MERGED, CLOSED], first: 100, after: $cursor, orderBy: {field: UPDATED_AT, direction: DESC})"`
	} `graphql:"repository(owner: $owner, name: $name)"`
}

// ClosedPullRequests lists the pull requests merged or closed without
// merging and updated since since, newest update first, reading pages only
// until it passes since. A pull request updated while the pages are read
// moves to the front: this call may miss it (the next call, from a since
// before this one's start, sees it) and lists each number once.
func (c *Client) ClosedPullRequests(ctx context.Context, since time.Time) ([]ClosedPR, error) {
	ctx = withIdempotent(ctx)
	vars := map[string]any{
		"owner":  githubv4.String(c.owner),
		"name":   githubv4.String(c.name),
		"cursor": (*githubv4.String)(nil),
	}
	var out []ClosedPR
	seen := map[int]bool{}
	for {
		var q closedPRsQuery
		if err := c.gql.Query(ctx, &q, vars); err != nil {
			return nil, fmt.Errorf("list closed pull requests of %s: %w", c.repo(), classifyGraphQL(err))
		}
		for _, n := range q.Repository.PullRequests.Nodes {
			if n.UpdatedAt.Time.Before(since) {
				return out, nil
			}
			if seen[n.Number] {
				continue
			}
			seen[n.Number] = true
			pr := ClosedPR{Number: n.Number, BaseRef: n.BaseRefName, HeadSHA: string(n.HeadRefOid), Merged: n.Merged,
				ClosedAt: n.ClosedAt.Time, UpdatedAt: n.UpdatedAt.Time}
			if n.MergedAt != nil {
				pr.MergedAt = n.MergedAt.Time
			}
			out = append(out, pr)
		}
		page := q.Repository.PullRequests.PageInfo
		if !page.HasNextPage {
			return out, nil
		}
		vars["cursor"] = githubv4.NewString(page.EndCursor)
	}
}

// ForcePush is a force-push to a pull request's head branch.
type ForcePush struct {
	// After is the head the push left; "" when GitHub no longer has the
	// commit.
	After string
	At    time.Time
}

type forcePushesQuery struct {
	Repository struct {
		PullRequest struct {
			TimelineItems struct {
				Nodes []struct {
					Event struct {
						CreatedAt   githubv4.DateTime
						AfterCommit *struct{ Oid githubv4.GitObjectID }
					} `graphql:"... on HeadRefForcePushedEvent"`
				}
				PageInfo struct {
					EndCursor   githubv4.String
					HasNextPage bool
				}
			} `graphql:"timelineItems(itemTypes: [HEAD_REF_FORCE_PUSHED_EVENT], first: 100, after: $cursor)"`
		} `graphql:"pullRequest(number: $number)"`
	} `graphql:"repository(owner: $owner, name: $name)"`
}

// ForcePushes lists every force-push to a pull request's head, oldest
// first, 100 per GraphQL request: the timeline only grows at its end, so
// the pages stay stable while it is read. A push that only adds commits is
// not an event on GitHub's timeline, which has no time for it; the pull
// request's UpdatedAt is the time of its last change, pushes included. An
// unknown pull request is ErrNotFound.
func (c *Client) ForcePushes(ctx context.Context, pr int) ([]ForcePush, error) {
	ctx = withIdempotent(ctx)
	vars := map[string]any{
		"owner":  githubv4.String(c.owner),
		"name":   githubv4.String(c.name),
		"number": githubv4.Int(pr),
		"cursor": (*githubv4.String)(nil),
	}
	var out []ForcePush
	for {
		var q forcePushesQuery
		if err := c.gql.Query(ctx, &q, vars); err != nil {
			return nil, fmt.Errorf("list force-pushes of %s#%d: %w", c.repo(), pr, classifyGraphQL(err))
		}
		items := q.Repository.PullRequest.TimelineItems
		for _, n := range items.Nodes {
			fp := ForcePush{At: n.Event.CreatedAt.Time}
			if n.Event.AfterCommit != nil {
				fp.After = string(n.Event.AfterCommit.Oid)
			}
			out = append(out, fp)
		}
		if !items.PageInfo.HasNextPage {
			return out, nil
		}
		vars["cursor"] = githubv4.NewString(items.PageInfo.EndCursor)
	}
}

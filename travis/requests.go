package travis

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Request reads build request id of repository slug (API v3's request
// resource, GET /repo/{slug}/request/{id}): its state, its result, and the
// builds Travis has made of it so far.
func (c *Client) Request(ctx context.Context, slug string, id int64) (Request, error) {
	if id <= 0 {
		return Request{}, fmt.Errorf("request %d of %s: want a positive id", id, slug)
	}
	path, err := repoPath(slug)
	if err != nil {
		return Request{}, fmt.Errorf("request %d: %w", id, err)
	}
	u := c.endpoint(path+"/request/"+strconv.FormatInt(id, 10), nil)
	var wr wireRequest
	if err := c.do(ctx, "GET", u, nil, &wr); err != nil {
		return Request{}, fmt.Errorf("request %d of %s: %w", id, slug, err)
	}
	if wr.Type != "request" || wr.ID != id {
		return Request{}, fmt.Errorf("request %d of %s: travis GET %s: got @type %q id %d: %w", id, slug, u.EscapedPath(), wr.Type, wr.ID, ErrMalformedResponse)
	}
	return wr.request(), nil
}

// Requests returns the build requests of repository slug that Travis
// created at or after since, newest first. Travis lists a repository's
// requests newest first and cannot filter them: the client reads pages
// until one holds no request as new as since, or WithPaging's page limit.
func (c *Client) Requests(ctx context.Context, slug string, since time.Time) ([]Request, error) {
	path, err := repoPath(slug)
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	u := c.endpoint(path+"/requests", url.Values{"limit": {strconv.Itoa(c.pageSize)}})
	var found []Request
	for page := 1; ; page++ {
		var body struct {
			Type       string         `json:"@type"`
			Pagination wirePagination `json:"@pagination"`
			Requests   []wireRequest  `json:"requests"`
		}
		if err := c.do(ctx, "GET", u, nil, &body); err != nil {
			return nil, fmt.Errorf("requests of %s: %w", slug, err)
		}
		if body.Type != "requests" {
			return nil, fmt.Errorf("requests of %s: travis GET %s: @type %q, want requests: %w", slug, u.EscapedPath(), body.Type, ErrMalformedResponse)
		}
		recent := false
		for _, wr := range body.Requests {
			if r := wr.request(); !r.CreatedAt.Before(since) {
				found = append(found, r)
				recent = true
			}
		}
		if !recent || page >= c.maxPages || body.Pagination.Next == nil || body.Pagination.IsLast {
			break
		}
		next, err := c.nextPage(u, body.Pagination.Next.Href)
		if err != nil {
			return nil, fmt.Errorf("requests of %s: %w", slug, err)
		}
		u = next
	}
	slices.SortStableFunc(found, func(a, b Request) int { return cmp.Compare(b.ID, a.ID) })
	return found, nil
}

// wireRequest is the request resource's standard representation, the
// fields refbot reads. Its builds are minimal representations.
type wireRequest struct {
	Type       string    `json:"@type"`
	ID         int64     `json:"id"`
	State      string    `json:"state"`
	Result     string    `json:"result"`
	Message    string    `json:"message"`
	BranchName string    `json:"branch_name"`
	EventType  string    `json:"event_type"`
	CreatedAt  time.Time `json:"created_at"`
	Builds     []struct {
		ID int64 `json:"id"`
	} `json:"builds"`
}

func (wr wireRequest) request() Request {
	r := Request{
		ID: wr.ID, Branch: wr.BranchName, Message: wr.Message,
		State: wr.State, Result: wr.Result, EventType: wr.EventType, CreatedAt: wr.CreatedAt,
	}
	for _, b := range wr.Builds {
		r.BuildIDs = append(r.BuildIDs, b.ID)
	}
	slices.Sort(r.BuildIDs)
	return r
}

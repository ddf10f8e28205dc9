package travis

import (
	"context"
	"fmt"
	"net/url"
)

// Repository is a repository as Travis knows it, with what the client's
// token may do there.
type Repository struct {
	ID     int64
	Slug   string
	Active bool // Travis builds it
	// Permissions are the repository's "@permissions" for the token
	// (read, admin, create_request, ...); Travis sends them to a
	// request that carries a token.
	Permissions map[string]bool
}

// Repository reads repository slug: whether the token may see it,
// whether Travis builds it, and the token's permissions on it.
func (c *Client) Repository(ctx context.Context, slug string) (Repository, error) {
	path, err := repoPath(slug)
	if err != nil {
		return Repository{}, err
	}
	u := c.endpoint(path, nil)
	var body struct {
		Type        string          `json:"@type"`
		Permissions map[string]bool `json:"@permissions"`
		ID          int64           `json:"id"`
		Slug        string          `json:"slug"`
		Active      bool            `json:"active"`
	}
	if err := c.do(ctx, "GET", u, nil, &body); err != nil {
		return Repository{}, fmt.Errorf("repository %s: %w", slug, err)
	}
	if body.Type != "repository" {
		return Repository{}, fmt.Errorf("travis GET %s: @type %q, want repository: %w", u.EscapedPath(), body.Type, ErrMalformedResponse)
	}
	return Repository{ID: body.ID, Slug: body.Slug, Active: body.Active, Permissions: body.Permissions}, nil
}

// NewestBuildPermissions returns the "@permissions" of slug's newest build
// for the token (read, cancel, restart), or nil when slug has no build
// yet. Travis says whether a token may restart builds only on a build,
// not on the repository.
func (c *Client) NewestBuildPermissions(ctx context.Context, slug string) (map[string]bool, error) {
	path, err := repoPath(slug)
	if err != nil {
		return nil, err
	}
	u := c.endpoint(path+"/builds", url.Values{"limit": {"1"}, "sort_by": {"id:desc"}})
	var body struct {
		Type   string `json:"@type"`
		Builds []struct {
			Permissions map[string]bool `json:"@permissions"`
		} `json:"builds"`
	}
	if err := c.do(ctx, "GET", u, nil, &body); err != nil {
		return nil, fmt.Errorf("newest build of %s: %w", slug, err)
	}
	if body.Type != "builds" {
		return nil, fmt.Errorf("travis GET %s: @type %q, want builds: %w", u.EscapedPath(), body.Type, ErrMalformedResponse)
	}
	if len(body.Builds) == 0 {
		return nil, nil
	}
	if body.Builds[0].Permissions == nil {
		return nil, fmt.Errorf("travis GET %s: the newest build has no @permissions: %w", u.EscapedPath(), ErrMalformedResponse)
	}
	return body.Builds[0].Permissions, nil
}

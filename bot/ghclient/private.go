package ghclient

import (
	"context"
	"fmt"
)

// RepoPrivate says whether GitHub holds the repository private (or
// internal): whether refbot's pages may show its data to anyone
// (pages.access auto).
func (c *Client) RepoPrivate(ctx context.Context) (bool, error) {
	r, _, err := c.rest.Repositories.Get(ctx, c.owner, c.name)
	if err != nil {
		return false, fmt.Errorf("get repository %s: %w", c.repo(), classify(err))
	}
	return r.GetPrivate() || (r.GetVisibility() != "" && r.GetVisibility() != "public"), nil
}

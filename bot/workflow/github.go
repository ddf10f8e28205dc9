package workflow

import (
	"context"

	"github.com/refbot/refbot/bot/ghclient"
)

// GitHubClient is the GitHub interface on refbot's GitHub client.
type GitHubClient struct{ *ghclient.Client }

// PullRequest implements GitHub.
func (g GitHubClient) PullRequest(ctx context.Context, n int) (PullRequest, error) {
	p, err := g.Client.PullRequest(ctx, n)
	if err != nil {
		return PullRequest{}, err
	}
	return PullRequest{Number: p.Number, Open: p.State == "open", Merged: p.Merged, HeadSHA: p.HeadSHA,
		BaseRef: p.BaseRef, Author: p.Author}, nil
}

// SetStatus implements GitHub.
func (g GitHubClient) SetStatus(ctx context.Context, sha string, s Status) error {
	return g.Client.SetStatus(ctx, sha, ghclient.Status(s))
}

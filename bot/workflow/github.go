package workflow

import (
	"context"
	"time"

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
	return pullRequestOf(*p), nil
}

func pullRequestOf(p ghclient.PullRequest) PullRequest {
	return PullRequest{Number: p.Number, Open: p.State == "open", Fork: p.IsFork, HeadRepo: p.HeadRepo, Merged: p.Merged,
		HeadSHA: p.HeadSHA, BaseRef: p.BaseRef, Author: p.Author, MergeCommit: p.MergeCommitSHA, UpdatedAt: p.UpdatedAt,
		ClosedAt: p.ClosedAt}
}

// PullRequestsByHead implements GitHub.
func (g GitHubClient) PullRequestsByHead(ctx context.Context, owner, branch string) ([]PullRequest, error) {
	ps, err := g.Client.OpenPullRequestsByHead(ctx, owner, branch)
	out := make([]PullRequest, len(ps))
	for i, p := range ps {
		out[i] = pullRequestOf(p)
	}
	return out, err
}

// SetStatus implements GitHub.
func (g GitHubClient) SetStatus(ctx context.Context, sha string, s Status) error {
	return g.Client.SetStatus(ctx, sha, ghclient.Status(s))
}

// Comments implements GitHub.
func (g GitHubClient) Comments(ctx context.Context, pr int, since time.Time) ([]Comment, error) {
	cs, err := g.Client.Comments(ctx, pr, since)
	out := make([]Comment, len(cs))
	for i, c := range cs {
		out[i] = Comment{ID: c.ID, Author: c.Author, Body: c.Body, CreatedAt: c.CreatedAt}
	}
	return out, err
}

// ForcePushes implements GitHub.
func (g GitHubClient) ForcePushes(ctx context.Context, pr int) ([]ForcePush, error) {
	ps, err := g.Client.ForcePushes(ctx, pr)
	out := make([]ForcePush, len(ps))
	for i, p := range ps {
		out[i] = ForcePush{After: p.After, At: p.At}
	}
	return out, err
}

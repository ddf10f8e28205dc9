package ghclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-github/v89/github"
)

// maxCheckOutput is the most characters GitHub takes in a check run's
// output summary or text.
const maxCheckOutput = 65535

// CheckRun is a check run on a commit. Only a GitHub App can create or
// update one; a token may read them.
type CheckRun struct {
	ID      int64
	Name    string
	HeadSHA string
	// Status is queued, in_progress or completed. A Conclusion (success,
	// failure, neutral, cancelled, skipped, timed_out, action_required)
	// completes the run: Status is then completed whatever it says.
	Status     string
	Conclusion string
	// ExternalID is the caller's reference for the run, e.g. its job.
	ExternalID string
	DetailsURL string
	// Title and Summary (Markdown) are the output, shown on the pull
	// request; both are needed when any output is given. Text is more
	// Markdown below them. Summary and Text are cut to 65,535 characters.
	Title   string
	Summary string
	Text    string
}

// output is the check run's output for GitHub; nil when it has none.
func (r CheckRun) output() (*github.CheckRunOutput, error) {
	if r.Title == "" && r.Summary == "" && r.Text == "" {
		return nil, nil
	}
	if r.Title == "" || r.Summary == "" {
		return nil, errors.New("an output needs a title and a summary")
	}
	out := &github.CheckRunOutput{Title: github.Ptr(r.Title), Summary: github.Ptr(truncate(r.Summary, maxCheckOutput))}
	if r.Text != "" {
		out.Text = github.Ptr(truncate(r.Text, maxCheckOutput))
	}
	return out, nil
}

// state is what GitHub is told of the run's progress: a conclusion
// completes it, at the client's clock.
func (c *Client) state(r CheckRun) (status, conclusion *string, completedAt *github.Timestamp) {
	if r.Conclusion != "" {
		return github.Ptr("completed"), github.Ptr(r.Conclusion), &github.Timestamp{Time: c.now()}
	}
	if r.Status != "" {
		status = github.Ptr(r.Status)
	}
	return status, nil, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return github.Ptr(s)
}

// CreateCheckRun creates a check run on r.HeadSHA and returns its id. It
// is never retried after a server error: on ErrUnavailable the check run
// may exist (look it up with CheckRunsFor by name and ExternalID).
func (c *Client) CreateCheckRun(ctx context.Context, r CheckRun) (int64, error) {
	if r.Name == "" || r.HeadSHA == "" {
		return 0, fmt.Errorf("create check run %q on %s@%s: want a name and a head sha", r.Name, c.repo(), r.HeadSHA)
	}
	out, err := r.output()
	if err != nil {
		return 0, fmt.Errorf("create check run %q on %s@%s: %w", r.Name, c.repo(), r.HeadSHA, err)
	}
	opts := github.CreateCheckRunOptions{
		Name:       r.Name,
		HeadSHA:    r.HeadSHA,
		DetailsURL: optional(r.DetailsURL),
		ExternalID: optional(r.ExternalID),
		Output:     out,
	}
	opts.Status, opts.Conclusion, opts.CompletedAt = c.state(r)
	cr, _, err := c.rest.Checks.CreateCheckRun(ctx, c.owner, c.name, opts)
	if err != nil {
		return 0, fmt.Errorf("create check run %q on %s@%s: %w", r.Name, c.repo(), r.HeadSHA, classify(err))
	}
	return cr.GetID(), nil
}

// UpdateCheckRun updates the check run r.ID: its name (required: GitHub
// sets it on every update), status or conclusion, details URL, external
// id, and output when r has one. Empty fields are left as they are. Like
// CreateCheckRun, it is never retried after a server error.
func (c *Client) UpdateCheckRun(ctx context.Context, r CheckRun) error {
	if r.ID == 0 || r.Name == "" {
		return fmt.Errorf("update check run %d %q on %s: want an id and a name", r.ID, r.Name, c.repo())
	}
	out, err := r.output()
	if err != nil {
		return fmt.Errorf("update check run %d on %s: %w", r.ID, c.repo(), err)
	}
	opts := github.UpdateCheckRunOptions{
		Name:       r.Name,
		DetailsURL: optional(r.DetailsURL),
		ExternalID: optional(r.ExternalID),
		Output:     out,
	}
	opts.Status, opts.Conclusion, opts.CompletedAt = c.state(r)
	if _, _, err := c.rest.Checks.UpdateCheckRun(ctx, c.owner, c.name, r.ID, opts); err != nil {
		return fmt.Errorf("update check run %d on %s: %w", r.ID, c.repo(), classify(err))
	}
	return nil
}

// CheckRunsFor lists every check run named name on a commit (all of them,
// not only the latest). As an App it lists only the App's own, so that
// another App's check run of the same name is never taken for refbot's;
// with a token, anyone's.
func (c *Client) CheckRunsFor(ctx context.Context, sha, name string) ([]CheckRun, error) {
	if sha == "" || name == "" {
		return nil, fmt.Errorf("check runs %q on %s@%s: want a sha and a name", name, c.repo(), sha)
	}
	opts := &github.ListCheckRunsOptions{
		CheckName:   github.Ptr(name),
		Filter:      github.Ptr("all"),
		ListOptions: github.ListOptions{PerPage: 100},
	}
	if c.installation != nil {
		opts.AppID = github.Ptr(c.installation.AppID())
	}
	var out []CheckRun
	for {
		page, resp, err := c.rest.Checks.ListCheckRunsForRef(ctx, c.owner, c.name, sha, opts)
		if err != nil {
			return nil, fmt.Errorf("list check runs %q on %s@%s: %w", name, c.repo(), sha, classify(err))
		}
		for _, cr := range page.CheckRuns {
			o := cr.GetOutput()
			out = append(out, CheckRun{
				ID:         cr.GetID(),
				Name:       cr.GetName(),
				HeadSHA:    cr.GetHeadSHA(),
				Status:     cr.GetStatus(),
				Conclusion: cr.GetConclusion(),
				ExternalID: cr.GetExternalID(),
				DetailsURL: cr.GetDetailsURL(),
				Title:      o.GetTitle(),
				Summary:    o.GetSummary(),
				Text:       o.GetText(),
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

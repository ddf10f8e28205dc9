package travis

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Request is a build request: one Travis accepted (Trigger), or one read
// back (Request, Requests). Travis turns a request into builds
// asynchronously: Trigger's answer names no build, and a request read soon
// after may have none yet.
type Request struct {
	ID      int64
	Branch  string
	Message string
	// RemainingRequests is how many more API requests Travis will accept
	// for this repository in the current hour; set by Trigger only.
	RemainingRequests int

	// The rest is set by Request and Requests only.

	// State is Travis's processing state of the request ("pending" until
	// Travis has looked at it); Result is "approved" once Travis made its
	// builds, "rejected" when it made none (the branch's .travis.yml
	// excludes it, its configuration is invalid, ...), "" until decided.
	State, Result string
	EventType     string // "api" for a request made with Trigger
	CreatedAt     time.Time
	// BuildIDs are the builds Travis made of the request, oldest first;
	// none until it has.
	BuildIDs []int64
}

// Request results as Travis names them.
const (
	ResultApproved = "approved"
	ResultRejected = "rejected"
)

// MergeMode is how Trigger's config is merged into the branch's
// .travis.yml. deep_merge_append appends lists, so the variables are added
// to the repository's own env.global instead of replacing it (modes
// documented at docs.travis-ci.com/user/triggering-builds).
const MergeMode = "deep_merge_append"

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Trigger asks Travis to build the head of branch, with env added to the
// build's env.global (so every job of the matrix sees it) and message as
// the build's commit message (the branch head's own message when empty).
//
// Trigger is retried only on 429, when Travis did nothing; after a 5xx or
// a broken connection the request may have been queued, and the caller
// decides.
func (c *Client) Trigger(ctx context.Context, slug, branch string, env map[string]string, message string) (Request, error) {
	if branch == "" {
		return Request{}, fmt.Errorf("trigger %s: empty branch name", slug)
	}
	path, err := repoPath(slug)
	if err != nil {
		return Request{}, fmt.Errorf("trigger %s branch %s: %w", slug, branch, err)
	}
	vars, err := envList(env)
	if err != nil {
		return Request{}, fmt.Errorf("trigger %s branch %s: %w", slug, branch, err)
	}

	type config struct {
		Env struct {
			Global []string `json:"global"`
		} `json:"env"`
	}
	type request struct {
		Branch    string  `json:"branch"`
		Message   string  `json:"message,omitempty"`
		MergeMode string  `json:"merge_mode,omitempty"`
		Config    *config `json:"config,omitempty"`
	}
	req := request{Branch: branch, Message: message}
	if len(vars) > 0 {
		req.MergeMode = MergeMode
		req.Config = &config{}
		req.Config.Env.Global = vars
	}
	body := struct {
		Request request `json:"request"`
	}{req}

	var out struct {
		Type              string `json:"@type"`
		RemainingRequests int    `json:"remaining_requests"`
		Request           struct {
			ID      int64  `json:"id"`
			Branch  string `json:"branch"`
			Message string `json:"message"`
		} `json:"request"`
	}
	u := c.endpoint(path+"/requests", nil)
	if err := c.do(ctx, "POST", u, body, &out); err != nil {
		return Request{}, fmt.Errorf("trigger %s branch %s: %w", slug, branch, err)
	}
	if out.Type != "pending" {
		// The request was accepted (2xx) but the answer is not the
		// documented one; say so rather than invent an id.
		return Request{}, fmt.Errorf("trigger %s branch %s: travis POST %s: @type %q, want pending: %w", slug, branch, u.EscapedPath(), out.Type, ErrMalformedResponse)
	}
	return Request{
		ID:                out.Request.ID,
		Branch:            out.Request.Branch,
		Message:           out.Request.Message,
		RemainingRequests: out.RemainingRequests,
	}, nil
}

// envList renders env as .travis.yml env entries, NAME=value, sorted by
// name so the request is the same for the same map. Values that the shell
// would split or expand are single-quoted, as .travis.yml wants them.
func envList(env map[string]string) ([]string, error) {
	names := slices.Sorted(maps.Keys(env))
	vars := make([]string, 0, len(names))
	for _, name := range names {
		if !envName.MatchString(name) {
			return nil, fmt.Errorf("env var name %q: want letters, digits and _", name)
		}
		vars = append(vars, name+"="+shellQuote(env[name]))
	}
	return vars, nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+,=-]*$`)

func shellQuote(v string) string {
	if shellSafe.MatchString(v) {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

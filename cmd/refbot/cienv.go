package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/refbot/refbot/s3cache"
)

// CI provider names, as recorded in a manifest and as config's ci.provider
// spells them.
const (
	providerActions = "github-actions"
	providerTravis  = "travis"
)

// ciBuild is what a CI build says about itself through its environment:
// the facts `refbot upload` records when its flags leave them out.
type ciBuild struct {
	Provider string // providerActions or providerTravis
	Build    string // the run id (Actions) or the build id (Travis)
	Attempt  int    // the run attempt (Actions); 0 on Travis, which has none
	Repo     string // the project's owner/name; on a fork's PR, the base repository

	// Source is the PR, or the branch of a push build. It is zero when the
	// build is neither (a tag, or an event refbot keeps no outputs of), and
	// NoSource then says why.
	Source     s3cache.Source
	SourceFrom string // where Source was read, for messages
	NoSource   error

	// Commit is the PR's head on a PR build and the pushed commit on a push
	// build. MergeCommit, on a PR build, is the commit CI actually checked
	// out: the PR merged into its base, which refbot must never record.
	Commit      string
	CommitFrom  string
	MergeCommit string
	MergeFrom   string
}

// errNoSource is what ciBuild.NoSource wraps.
var errNoSource = errors.New("this build is not for a pull request or a branch")

var (
	runIDPattern    = regexp.MustCompile(`^[0-9]{1,20}$`)
	repoNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	shaPattern      = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

// detectCI reads the build's facts from the environment of the CI it runs
// in: GitHub Actions (GITHUB_ACTIONS=true) or Travis (TRAVIS=true). It
// returns nil outside both. A value the CI should have set but did not, or
// set to something malformed, is an error naming the variable.
func detectCI(getenv func(string) string) (*ciBuild, error) {
	switch {
	case getenv("GITHUB_ACTIONS") == "true":
		return detectActions(getenv)
	case getenv("TRAVIS") == "true":
		return detectTravis(getenv)
	}
	return nil, nil
}

// detectActions reads GitHub Actions' default environment variables and,
// on a pull_request event, the event's payload: on those events GITHUB_SHA
// is the merge commit GitHub made, and only the payload names the PR and
// its head.
func detectActions(getenv func(string) string) (*ciBuild, error) {
	b := &ciBuild{Provider: providerActions}
	var err error
	if b.Build, err = envMatching(getenv, "GITHUB_RUN_ID", runIDPattern, "a run id"); err != nil {
		return nil, err
	}
	if b.Repo, err = envMatching(getenv, "GITHUB_REPOSITORY", repoNamePattern, "owner/name"); err != nil {
		return nil, err
	}
	attempt := getenv("GITHUB_RUN_ATTEMPT")
	if b.Attempt, err = strconv.Atoi(attempt); err != nil || b.Attempt < 1 {
		return nil, fmt.Errorf("GITHUB_RUN_ATTEMPT=%q is not a run attempt (1, 2, …)", attempt)
	}
	sha := getenv("GITHUB_SHA")
	if sha != "" && !shaPattern.MatchString(sha) {
		return nil, fmt.Errorf("GITHUB_SHA=%q is not a full commit sha", sha)
	}
	switch event := getenv("GITHUB_EVENT_NAME"); event {
	case "pull_request", "pull_request_target":
		pr, err := readPullRequestEvent(getenv("GITHUB_EVENT_PATH"))
		if err != nil {
			return nil, err
		}
		b.Source = s3cache.Source{PR: pr.Number}
		b.SourceFrom = "pull_request.number in $GITHUB_EVENT_PATH"
		b.Commit, b.CommitFrom = pr.Head.SHA, "pull_request.head.sha in $GITHUB_EVENT_PATH"
		if sha != pr.Head.SHA {
			b.MergeCommit, b.MergeFrom = sha, "GITHUB_SHA"
		}
	case "push":
		ref := getenv("GITHUB_REF")
		switch {
		case getenv("GITHUB_REF_TYPE") == "tag" || strings.HasPrefix(ref, "refs/tags/"):
			b.NoSource = fmt.Errorf("%w: GitHub Actions runs it for a push of tag %q; refbot keeps the outputs of "+
				"pull requests and branches only: run `refbot upload` on pull_request and branch push events",
				errNoSource, getenv("GITHUB_REF_NAME"))
		case !strings.HasPrefix(ref, "refs/heads/"):
			return nil, fmt.Errorf("GITHUB_REF=%q on a push event is not a branch (refs/heads/…)", ref)
		default:
			b.Source, b.SourceFrom = s3cache.Source{Branch: strings.TrimPrefix(ref, "refs/heads/")}, "GITHUB_REF"
			b.Commit, b.CommitFrom = sha, "GITHUB_SHA"
		}
	default:
		b.NoSource = fmt.Errorf("%w: GitHub Actions runs it for a %q event; refbot keeps the outputs of "+
			"pull_request and push events only (give --source and --build to upload anyway)", errNoSource, event)
	}
	return b, nil
}

// pullRequestEvent is the part of a pull_request event's payload refbot
// reads.
type pullRequestEvent struct {
	Number int `json:"number"`
	Head   struct {
		SHA string `json:"sha"`
	} `json:"head"`
}

func readPullRequestEvent(path string) (pullRequestEvent, error) {
	var payload struct {
		PullRequest *pullRequestEvent `json:"pull_request"`
	}
	if path == "" {
		return pullRequestEvent{}, errors.New("GITHUB_EVENT_PATH is not set: the pull request's number and head are in the event payload")
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return pullRequestEvent{}, fmt.Errorf("read the event payload (GITHUB_EVENT_PATH): %w", err)
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		return pullRequestEvent{}, fmt.Errorf("event payload %s: %w", path, err)
	}
	pr := payload.PullRequest
	switch {
	case pr == nil:
		return pullRequestEvent{}, fmt.Errorf("event payload %s has no pull_request", path)
	case pr.Number <= 0:
		return pullRequestEvent{}, fmt.Errorf("event payload %s: pull_request.number %d is not a PR number", path, pr.Number)
	case !shaPattern.MatchString(pr.Head.SHA):
		return pullRequestEvent{}, fmt.Errorf("event payload %s: pull_request.head.sha %q is not a full commit sha", path, pr.Head.SHA)
	}
	return *pr, nil
}

// detectTravis reads Travis's default environment variables. On a PR build
// TRAVIS_COMMIT is Travis's merge of the PR into its base;
// TRAVIS_PULL_REQUEST_SHA is the head.
func detectTravis(getenv func(string) string) (*ciBuild, error) {
	b := &ciBuild{Provider: providerTravis}
	var err error
	if b.Build, err = envMatching(getenv, "TRAVIS_BUILD_ID", runIDPattern, "a build id"); err != nil {
		return nil, err
	}
	if b.Repo, err = envMatching(getenv, "TRAVIS_REPO_SLUG", repoNamePattern, "owner/name"); err != nil {
		return nil, err
	}
	commit := getenv("TRAVIS_COMMIT")
	if commit != "" && !shaPattern.MatchString(commit) {
		return nil, fmt.Errorf("TRAVIS_COMMIT=%q is not a full commit sha", commit)
	}
	switch pr := getenv("TRAVIS_PULL_REQUEST"); {
	case pr == "false" && getenv("TRAVIS_TAG") != "":
		b.NoSource = fmt.Errorf("%w: Travis runs it for tag %q; refbot keeps the outputs of pull requests and branches only",
			errNoSource, getenv("TRAVIS_TAG"))
	case pr == "false":
		branch := getenv("TRAVIS_BRANCH")
		if branch == "" {
			return nil, errors.New("TRAVIS_BRANCH is not set on a push build")
		}
		b.Source, b.SourceFrom = s3cache.Source{Branch: branch}, "TRAVIS_BRANCH"
		b.Commit, b.CommitFrom = commit, "TRAVIS_COMMIT"
	default:
		n, err := strconv.Atoi(pr)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("TRAVIS_PULL_REQUEST=%q is neither a PR number nor false", pr)
		}
		head := getenv("TRAVIS_PULL_REQUEST_SHA")
		if !shaPattern.MatchString(head) {
			return nil, fmt.Errorf("TRAVIS_PULL_REQUEST_SHA=%q is not a full commit sha", head)
		}
		b.Source, b.SourceFrom = s3cache.Source{PR: n}, "TRAVIS_PULL_REQUEST"
		b.Commit, b.CommitFrom = head, "TRAVIS_PULL_REQUEST_SHA"
		if commit != head {
			b.MergeCommit, b.MergeFrom = commit, "TRAVIS_COMMIT"
		}
	}
	return b, nil
}

func envMatching(getenv func(string) string, name string, pattern *regexp.Regexp, what string) (string, error) {
	v := getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is not set", name)
	}
	if !pattern.MatchString(v) {
		return "", fmt.Errorf("%s=%q is not %s", name, v, what)
	}
	return v, nil
}

// describeProvider names a provider in messages.
func describeProvider(p string) string {
	switch p {
	case providerActions:
		return "GitHub Actions"
	case providerTravis:
		return "Travis"
	}
	return p
}

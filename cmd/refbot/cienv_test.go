package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/s3cache"
)

// The commits of the CI environments below.
var (
	headSHA   = strings.Repeat("a", 40) // a PR's head
	mergeSHA  = strings.Repeat("b", 40) // the CI's merge of it into the base
	pushedSHA = strings.Repeat("d", 40) // a pushed branch's commit
)

// actionsEnv is GitHub Actions' environment of run 7001, attempt 2, for
// event, with more (or overriding) variables.
func actionsEnv(event string, more map[string]string) map[string]string {
	env := map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "7001", "GITHUB_RUN_ATTEMPT": "2",
		"GITHUB_REPOSITORY": "octo-org/octo-repo", "GITHUB_EVENT_NAME": event,
	}
	for k, v := range more {
		env[k] = v
	}
	return env
}

// prEvent writes a pull_request event's payload for PR 12 at head and
// returns its path.
func prEvent(t *testing.T, head string) string {
	t.Helper()
	return writeFile(t, "event.json", `{"action": "synchronize", "number": 12, "pull_request": {"number": 12,
		"head": {"sha": "`+head+`", "ref": "feature", "repo": {"full_name": "fork-owner/octo-repo"}},
		"base": {"sha": "`+pushedSHA+`", "ref": "main", "repo": {"full_name": "octo-org/octo-repo"}}}}`)
}

func travisEnv(more map[string]string) map[string]string {
	env := map[string]string{
		"TRAVIS": "true", "TRAVIS_BUILD_ID": "9001", "TRAVIS_REPO_SLUG": "octo-org/octo-repo", "TRAVIS_BRANCH": "main",
	}
	for k, v := range more {
		env[k] = v
	}
	return env
}

func TestDetectCI(t *testing.T) {
	event := prEvent(t, headSHA)
	tests := []struct {
		name     string
		env      map[string]string
		want     *ciBuild
		noSource string // NoSource mentions it
		err      string // detectCI fails mentioning it
	}{
		{name: "no CI", env: map[string]string{"CI": "true"}},
		{
			name: "actions pull_request",
			env:  actionsEnv("pull_request", map[string]string{"GITHUB_EVENT_PATH": event, "GITHUB_SHA": mergeSHA, "GITHUB_REF": "refs/pull/12/merge"}),
			want: &ciBuild{Provider: providerActions, Build: "7001", Attempt: 2, Repo: "octo-org/octo-repo",
				Source: s3cache.Source{PR: 12}, SourceFrom: "pull_request.number in $GITHUB_EVENT_PATH",
				Commit: headSHA, CommitFrom: "pull_request.head.sha in $GITHUB_EVENT_PATH", MergeCommit: mergeSHA, MergeFrom: "GITHUB_SHA"},
		},
		{
			name: "actions pull_request_target",
			env:  actionsEnv("pull_request_target", map[string]string{"GITHUB_EVENT_PATH": event, "GITHUB_SHA": pushedSHA}),
			want: &ciBuild{Provider: providerActions, Build: "7001", Attempt: 2, Repo: "octo-org/octo-repo",
				Source: s3cache.Source{PR: 12}, SourceFrom: "pull_request.number in $GITHUB_EVENT_PATH",
				Commit: headSHA, CommitFrom: "pull_request.head.sha in $GITHUB_EVENT_PATH", MergeCommit: pushedSHA, MergeFrom: "GITHUB_SHA"},
		},
		{
			name: "actions push",
			env: actionsEnv("push", map[string]string{"GITHUB_SHA": pushedSHA, "GITHUB_REF": "refs/heads/release/2.x",
				"GITHUB_REF_NAME": "release/2.x", "GITHUB_REF_TYPE": "branch"}),
			want: &ciBuild{Provider: providerActions, Build: "7001", Attempt: 2, Repo: "octo-org/octo-repo",
				Source: s3cache.Source{Branch: "release/2.x"}, SourceFrom: "GITHUB_REF", Commit: pushedSHA, CommitFrom: "GITHUB_SHA"},
		},
		{
			name: "actions tag",
			env: actionsEnv("push", map[string]string{"GITHUB_SHA": pushedSHA, "GITHUB_REF": "refs/tags/v1.0",
				"GITHUB_REF_NAME": "v1.0", "GITHUB_REF_TYPE": "tag"}),
			noSource: `push of tag "v1.0"`,
		},
		{name: "actions schedule", env: actionsEnv("schedule", map[string]string{"GITHUB_SHA": pushedSHA}), noSource: `a "schedule" event`},
		{name: "actions no payload", env: actionsEnv("pull_request", nil), err: "GITHUB_EVENT_PATH is not set"},
		{
			name: "actions missing payload",
			env:  actionsEnv("pull_request", map[string]string{"GITHUB_EVENT_PATH": filepath.Join(t.TempDir(), "nope.json")}),
			err:  "read the event payload (GITHUB_EVENT_PATH)",
		},
		{
			name: "actions payload without a PR",
			env:  actionsEnv("pull_request", map[string]string{"GITHUB_EVENT_PATH": writeFile(t, "push.json", `{"ref": "refs/heads/main"}`)}),
			err:  "has no pull_request",
		},
		{
			name: "actions payload with a short head",
			env:  actionsEnv("pull_request", map[string]string{"GITHUB_EVENT_PATH": prEvent(t, "abc123")}),
			err:  `pull_request.head.sha "abc123" is not a full commit sha`,
		},
		{name: "actions bad attempt", env: actionsEnv("push", map[string]string{"GITHUB_RUN_ATTEMPT": "0"}), err: `GITHUB_RUN_ATTEMPT="0"`},
		{name: "actions no run id", env: actionsEnv("push", map[string]string{"GITHUB_RUN_ID": ""}), err: "GITHUB_RUN_ID is not set"},
		{name: "actions bad repository", env: actionsEnv("push", map[string]string{"GITHUB_REPOSITORY": "octo-repo"}), err: `GITHUB_REPOSITORY="octo-repo" is not owner/name`},
		{
			name: "travis PR",
			env: travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "12", "TRAVIS_PULL_REQUEST_SHA": headSHA,
				"TRAVIS_COMMIT": mergeSHA}),
			want: &ciBuild{Provider: providerTravis, Build: "9001", Repo: "octo-org/octo-repo",
				Source: s3cache.Source{PR: 12}, SourceFrom: "TRAVIS_PULL_REQUEST", Commit: headSHA, CommitFrom: "TRAVIS_PULL_REQUEST_SHA",
				MergeCommit: mergeSHA, MergeFrom: "TRAVIS_COMMIT"},
		},
		{
			name: "travis push",
			env:  travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "false", "TRAVIS_COMMIT": pushedSHA}),
			want: &ciBuild{Provider: providerTravis, Build: "9001", Repo: "octo-org/octo-repo",
				Source: s3cache.Source{Branch: "main"}, SourceFrom: "TRAVIS_BRANCH", Commit: pushedSHA, CommitFrom: "TRAVIS_COMMIT"},
		},
		{
			name:     "travis tag",
			env:      travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "false", "TRAVIS_COMMIT": pushedSHA, "TRAVIS_TAG": "v1.0", "TRAVIS_BRANCH": "v1.0"}),
			noSource: `tag "v1.0"`,
		},
		{name: "travis bad PR", env: travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "true"}), err: `TRAVIS_PULL_REQUEST="true" is neither`},
		{
			name: "travis PR without head",
			env:  travisEnv(map[string]string{"TRAVIS_PULL_REQUEST": "12", "TRAVIS_COMMIT": mergeSHA}),
			err:  `TRAVIS_PULL_REQUEST_SHA="" is not a full commit sha`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := detectCI(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("detectCI: %v, want an error mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.noSource != "" {
				if got == nil || got.NoSource == nil || !errors.Is(got.NoSource, errNoSource) || !strings.Contains(got.NoSource.Error(), tc.noSource) {
					t.Fatalf("detectCI = %+v, want NoSource mentioning %q", got, tc.noSource)
				}
				if got.Source != (s3cache.Source{}) || got.Commit != "" {
					t.Errorf("a build with no source has source %v, commit %q", got.Source, got.Commit)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("detectCI (-want +got):\n%s", diff)
			}
		})
	}
}

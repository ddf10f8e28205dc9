package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
	"github.com/refbot/refbot/travis"
)

// An outageError is a step that failed for a reason a retry may fix: GitHub,
// S3, CI or the data repo did not answer as they should. Its step says, in
// words a maintainer reads, what refbot was doing; the cause stays in the
// log, never in a reply (it may name internals: keys, hosts, bodies).
type outageError struct {
	step string
	err  error
}

func (e *outageError) Error() string { return e.step + ": " + e.err.Error() }
func (e *outageError) Unwrap() error { return e.err }

// outage marks err as the failure of step (nil stays nil).
func outage(step string, err error) error {
	if err == nil {
		return nil
	}
	var o *outageError
	if errors.As(err, &o) {
		return err
	}
	return &outageError{step: step, err: err}
}

// plainReason says why refbot gave up, for a reply: what it was doing and
// which outside system failed, without the raw error.
func plainReason(err error) string {
	step := "finish the command"
	var o *outageError
	if errors.As(err, &o) {
		step = o.step
	}
	var who string
	var apiErr *travis.APIError
	switch {
	case errors.Is(err, ghclient.ErrRateLimited):
		who = "GitHub's rate limit held it back"
	case errors.Is(err, ghclient.ErrUnauthorized), errors.Is(err, ghclient.ErrForbidden):
		who = "GitHub refused refbot's credentials or permissions"
	case errors.Is(err, ghclient.ErrUnavailable):
		who = "GitHub did not answer"
	case errors.As(err, &apiErr):
		who = "the CI service did not answer as expected"
	case errors.Is(err, refdata.ErrLeaseLost):
		who = "someone else pushed to the data repository at the same time"
	case diskFull(err):
		who = "refbot's disk is full"
	case errors.Is(err, context.DeadlineExceeded):
		who = "it took too long"
	default:
		who = "of an error refbot's operator can find in its log"
	}
	return fmt.Sprintf("the last attempt to %s failed because %s", step, who)
}

// userError says whether err is about the build, the data or the request
// (a reply explains it; retrying will not help) rather than an outage.
func userError(err error) bool {
	var moved *errHeadMoved
	var conflict *refdata.ConflictError
	var refused *refusal
	return errors.As(err, &moved) || errors.As(err, &conflict) || errors.As(err, &refused) || NoOutputs(err) ||
		s3cache.Unusable(err) || errors.Is(err, refdata.ErrRejected) || errors.Is(err, refdata.ErrBadData) ||
		errors.Is(err, refdata.ErrNotOnBase)
}

// diskFull says whether err is refbot's own disk (or its quota) being full.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// fullBeforePush says whether a publish that returned res and err failed
// because refbot's disk is full before any push was tried (downloading
// the build's outputs into the work folder, say). Such an update ends at
// once with a reply saying so: its retries would fail the same way until
// an operator frees space, and as nothing was pushed the next UPDATE
// starts clean. A disk that filled once the push was sent (keeping the
// pushed objects in the cache) stays an outage, whose retry finds the
// push on the branch.
func fullBeforePush(res *publish.Result, err error) bool {
	return diskFull(err) && (res == nil || res.Update == nil)
}

// diskFullMessage is a reply's wording of fullBeforePush.
const diskFullMessage = "refbot's disk is full: it had no room to download the build's outputs, and nothing was pushed; say it again once refbot's operator has freed space"

// refusal is a reason not to go on, written for the person who asked.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

func refuse(format string, args ...any) error { return &refusal{reason: fmt.Sprintf(format, args...)} }

// errHeadMoved: the PR's head is not the commit the command was about.
type errHeadMoved struct{ from, to string }

func (e *errHeadMoved) Error() string {
	return fmt.Sprintf("the head of the pull request moved from %s to %s while refbot worked; nothing was pushed", short(e.from), short(e.to))
}

// userMessage is the reply's wording of a user error. It says what is
// wrong with the build or the request, never where refbot keeps things (an
// S3 key, a bucket, a URL).
func userMessage(build string, err error) string {
	var moved *errHeadMoved
	var conflict *refdata.ConflictError
	var refused *refusal
	var missing *missingOutputs
	detail := func(sentinel error) string {
		msg := err.Error()
		if i := strings.Index(msg, sentinel.Error()+": "); i >= 0 {
			return msg[i+len(sentinel.Error())+2:]
		}
		return ""
	}
	// The details come from the build's manifests and SOURCE: escaped.
	with := func(s, d string) string {
		if d == "" {
			return s
		}
		return s + ": " + text(d)
	}
	switch {
	case errors.As(err, &refused):
		return refused.reason
	case diskFull(err):
		return diskFullMessage
	case errors.As(err, &missing):
		return missing.reason
	case errors.As(err, &moved):
		return moved.Error()
	case errors.As(err, &conflict):
		files := make([]string, len(conflict.Files))
		for i, f := range conflict.Files {
			files[i] = code(f)
		}
		return "these files changed on both sides: " + strings.Join(files, ", ")
	case errors.Is(err, s3cache.ErrNotFound):
		return fmt.Sprintf("build %s has no outputs in the cache: its CI did not upload them with `refbot upload`, or they were pruned", build)
	case errors.Is(err, s3cache.ErrIncomplete):
		return fmt.Sprintf("the outputs of build %s are not completely uploaded (the upload is still running, or it failed): wait for CI, or re-run the build", build)
	case errors.Is(err, s3cache.ErrProvenance):
		return with(fmt.Sprintf("the outputs of build %s are not this pull request's", build), detail(s3cache.ErrProvenance))
	case errors.Is(err, s3cache.ErrUnsafePath):
		return with(fmt.Sprintf("the outputs of build %s hold a path refbot never writes (.., absolute, .git …)", build), detail(s3cache.ErrUnsafePath))
	case errors.Is(err, s3cache.ErrTooLarge):
		return with(fmt.Sprintf("the outputs of build %s are over refbot's size limits", build), detail(s3cache.ErrTooLarge))
	case errors.Is(err, s3cache.ErrChecksum):
		return with(fmt.Sprintf("the outputs of build %s do not match their manifest", build), detail(s3cache.ErrChecksum))
	case errors.Is(err, s3cache.ErrBadManifest):
		return with(fmt.Sprintf("the manifest of build %s is not valid", build), detail(s3cache.ErrBadManifest))
	case errors.Is(err, refdata.ErrRejected):
		return "the data repository refused the push (it lacks objects the build's manifest says it has, or a hook declined it); a maintainer should look at refbot's log"
	case errors.Is(err, refdata.ErrBadData):
		return with(fmt.Sprintf("the outputs of build %s cannot go into the data repository", build), detail(refdata.ErrBadData))
	case errors.Is(err, refdata.ErrNotOnBase):
		return "the base branch of the data repository was rewritten since the merge: the base of the merge's time is no longer on it"
	}
	return "refbot could not use this build"
}

// shortReason names what is wrong with a build's outputs in a few plain
// words, for a commit status (140 characters, shown as they are).
func shortReason(err error) string {
	var missing *missingOutputs
	switch {
	case errors.As(err, &missing):
		return missing.short
	case diskFull(err):
		return "refbot's disk is full"
	case errors.Is(err, s3cache.ErrIncomplete):
		return "upload incomplete"
	case errors.Is(err, s3cache.ErrProvenance):
		return "not this pull request's or head's"
	case errors.Is(err, s3cache.ErrUnsafePath):
		return "a path refbot never writes"
	case errors.Is(err, s3cache.ErrTooLarge):
		return "over the size limits"
	case errors.Is(err, s3cache.ErrChecksum):
		return "files do not match the manifest"
	case errors.Is(err, s3cache.ErrBadManifest):
		return "manifest not valid"
	}
	return "see refbot's page"
}

// statusText is a reply's wording made fit for a commit status, which
// GitHub shows as it is: without Markdown's code marks and escapes.
func statusText(s string) string {
	return strings.NewReplacer("`", "", "\\", "").Replace(s)
}

package workflow

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/policy"
	"github.com/refbot/refbot/bot/store"
	"github.com/refbot/refbot/internal/failpoint"
	"github.com/refbot/refbot/s3cache"
)

// Site is what WEBSITE works with (docs/design.md, "WEBSITE"): the CI that
// runs the docs build, the S3 folder it uploads the site to, and the
// preview slots the site is published to. A Bot without one answers
// WEBSITE that it is not set up.
type Site struct {
	CI DocsCI
	// Builds is the docs builds' S3 folder (a store of kind website).
	Builds SiteStore
	// Preview returns slot's preview location and the address readers
	// open it at.
	Preview func(slot int) (s3cache.Preview, string)
	// Branch is the project's branch the docs build runs on; "" is the
	// PR's base.
	Branch string
	// Timeout is how long a docs build is followed; default 2h.
	Timeout time.Duration
	// StopCommand, when set, is run by STOP after the CI cancel (argv, no
	// shell), bounded by StopTimeout (default 1m), with StopEnv as its
	// environment: refbot's own without its secrets (an empty one when
	// unset, never refbot's whole environment).
	StopCommand []string
	StopTimeout time.Duration
	StopEnv     []string
	// StatusContext is the commit status WEBSITE sets; default
	// "refbot/website".
	StatusContext string
}

// SiteStore is what WEBSITE needs of the docs builds' S3 folder.
type SiteStore interface {
	Open(ctx context.Context, id string, want s3cache.Want) (*s3cache.Build, error)
	Publish(ctx context.Context, m *s3cache.Manifest, dst s3cache.Preview, info s3cache.PreviewInfo) (s3cache.PublishStats, error)
	ReadPreview(ctx context.Context, dst s3cache.Preview) (*s3cache.PreviewInfo, error)
}

const websiteVerb = string(command.Website)

// websiteOff: WEBSITE asked of a Bot without a Site.
const websiteOff = "WEBSITE is not set up for this repository (refbot's configuration has no website section)"

// website answers a WEBSITE command: it binds the request to the head the
// maintainer saw, records it, and takes it as far as it goes now (queued,
// or the docs build asked for); the website job does the rest.
func (b *Bot) website(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) error {
	if b.site == nil {
		return b.reply(ctx, w, replyKey(cmd), renderRefusal(cmd, w.Author, websiteOff))
	}
	key := replyKey(cmd)
	rec, err := b.st.WebsiteByComment(ctx, w.CommentID)
	if err != nil {
		return err
	}
	if rec == nil || rec.Key != key { // not a secret: the reply's key (verb and line)
		if !pr.Open {
			return b.reply(ctx, w, key, renderRefusal(cmd, w.Author, "this pull request is closed"))
		}
		reason, err := b.checkHead(ctx, w, cmd, pr)
		if err != nil {
			return err
		}
		if reason != "" {
			return b.reply(ctx, w, key, renderRefusal(cmd, w.Author, reason))
		}
		branch := b.site.Branch
		if branch == "" {
			branch = pr.BaseRef
		}
		if rec, err = b.st.StartWebsite(ctx, store.Website{CommentID: w.CommentID, Key: key, PR: pr.Number, Head: pr.HeadSHA,
			Branch: branch, Author: w.Author}); err != nil {
			return err
		}
	}
	again, err := b.advanceWebsite(ctx, rec)
	if err != nil || store.WebsiteFinal(rec.Step) {
		return err
	}
	return b.jobs.ScheduleWebsite(ctx, rec.PR, rec.ID, b.now().Add(again))
}

// RunWebsite is the website job: it takes WEBSITE request id of pr as far
// as it goes now, and asks to run again after the returned time when it
// waits (for its limits, for the docs build). Nothing is held meanwhile.
func (b *Bot) RunWebsite(ctx context.Context, pr int, id int64) (time.Duration, error) {
	rec, err := b.st.WebsiteByID(ctx, id)
	if err != nil || rec == nil {
		return 0, err
	}
	if b.site == nil {
		// Configuration changed since: the request ends, saying so.
		rec.Step, rec.Detail = store.WebsiteFailed, websiteOff
		if err := b.st.SaveWebsite(ctx, rec); err != nil && !errors.Is(err, store.ErrFinal) {
			return 0, err
		}
		return 0, b.reportWebsite(ctx, rec)
	}
	return b.advanceWebsite(ctx, rec)
}

// advanceWebsite does rec's next steps until it waits (the time to look
// again) or ends (reported).
func (b *Bot) advanceWebsite(ctx context.Context, rec *store.Website) (time.Duration, error) {
	for {
		var again time.Duration
		var err error
		log := b.logc(ctx).With(zap.Int("pr", rec.PR), zap.Int64("website", rec.ID))
		switch rec.Step {
		case store.WebsiteQueued:
			log.Info("website: check the limits")
			again, err = b.websiteDecide(ctx, rec)
		case store.WebsiteTriggering:
			log.Info("website: ask CI for the docs build")
			err = b.websiteTrigger(ctx, rec)
		case store.WebsiteBuilding:
			log.Info("website: follow the docs build", zap.String("build", rec.Build))
			again, err = b.websiteFollow(ctx, rec)
		case store.WebsitePublishing:
			log.Info("website: publish the site", zap.String("build", rec.Build))
			err = b.websitePublish(ctx, rec)
		default:
			if rec.Reported {
				return 0, nil
			}
			return 0, b.reportWebsite(ctx, rec)
		}
		if errors.Is(err, store.ErrFinal) {
			// STOP ended it meanwhile: what it recorded is told.
			now, rerr := b.st.WebsiteByID(ctx, rec.ID)
			if rerr != nil {
				return 0, rerr
			}
			*rec = *now
			continue
		}
		if err != nil || again > 0 {
			return again, err
		}
	}
}

// websiteDecide asks the limits whether rec may run now: it is queued
// until they lift, refused, or allowed (the slot and the day's run taken).
// The nightly build is asked first: it takes no slot.
func (b *Bot) websiteDecide(ctx context.Context, rec *store.Website) (time.Duration, error) {
	now := b.now().UTC()
	if now.Before(rec.Until) {
		return rec.Until.Sub(now), nil
	}
	pr, err := b.gh.PullRequest(ctx, rec.PR)
	if err != nil {
		return 0, outage("read the pull request", err)
	}
	if !pr.Open {
		return 0, b.endWebsite(ctx, rec, store.WebsiteRefused, "the pull request was closed while the request was queued")
	}
	nightly, running, err := b.site.CI.NightlyRunning(ctx, rec.Branch)
	if err != nil {
		return 0, outage("ask CI whether the nightly build runs", err)
	}
	if running {
		again := b.cfg.PollInterval
		reason := fmt.Sprintf("the nightly build %s of %s is running, and WEBSITE never runs beside it; refbot looks again every %s",
			code(buildName(nightly)), code(rec.Branch), roundWait(again))
		return again, b.queueWebsite(ctx, rec, now.Add(again), reason)
	}
	d, err := b.policy.Decide(ctx, rec.PR, websiteVerb, rec.CommentID)
	if err != nil {
		return 0, err
	}
	switch d.Outcome {
	case policy.Refuse:
		return 0, b.endWebsite(ctx, rec, store.WebsiteRefused, d.Reason)
	case policy.Postpone:
		return d.Until.Sub(now), b.queueWebsite(ctx, rec, d.Until, d.Reason)
	}
	rec.Step, rec.Slot, rec.TriggeredAt, rec.Until = store.WebsiteTriggering, d.Slot, now, time.Time{}
	return 0, b.st.SaveWebsite(ctx, rec)
}

// queueWebsite records that rec waits until until for reason, and tells it
// when that is news (not on every look while the nightly build runs).
func (b *Bot) queueWebsite(ctx context.Context, rec *store.Website, until time.Time, reason string) error {
	news := reason != rec.Reason || rec.UpdatedAt.Equal(rec.CreatedAt)
	rec.Until, rec.Reason = until, reason
	if err := b.st.SaveWebsite(ctx, rec); err != nil {
		return err
	}
	if !news {
		return nil
	}
	return b.tellWebsite(ctx, rec)
}

// docsRequest is what CI is asked for rec.
func docsRequest(rec *store.Website) DocsRequest {
	return DocsRequest{PR: rec.PR, SHA: rec.Head, Branch: rec.Branch, Marker: fmt.Sprintf("refbot-website-%d", rec.ID)}
}

// websiteTrigger asks CI for rec's docs build. It looks before it asks: a
// crash after CI accepted and before the answer was recorded left a build
// carrying rec's marker, or a request CI has not made a build of yet,
// which is taken instead of asking twice.
func (b *Bot) websiteTrigger(ctx context.Context, rec *store.Website) error {
	req := docsRequest(rec)
	found, err := b.site.CI.FindDocsBuild(ctx, req, DocsTrigger{}, rec.TriggeredAt.Add(-time.Minute))
	var pending *DocsPending
	switch {
	case err == nil:
		rec.Step, rec.Build, rec.BuildURL = store.WebsiteBuilding, found.ID, found.URL
		if err := b.st.SaveWebsite(ctx, rec); err != nil {
			return err
		}
		return b.tellWebsite(ctx, rec)
	case errors.As(err, &pending):
		rec.Step, rec.Request = store.WebsiteBuilding, pending.Trigger.Request
		if err := b.st.SaveWebsite(ctx, rec); err != nil {
			return err
		}
		return b.tellWebsite(ctx, rec)
	case !errors.Is(err, ErrNoBuild):
		return outage("look for the docs build", err)
	}
	failpoint.Hit("website-triggering")
	t, err := b.site.CI.TriggerDocs(ctx, req)
	if errors.Is(err, ErrDocsRefused) {
		return b.endWebsiteReleasing(ctx, rec, store.WebsiteFailed, text(err.Error()))
	}
	if err != nil {
		// It may have been accepted (an answer lost): the next try looks
		// for it first.
		return outage("ask CI for the docs build", err)
	}
	failpoint.Hit("website-triggered")
	rec.Step, rec.Request, rec.Build = store.WebsiteBuilding, t.Request, t.BuildID
	if err := b.st.SaveWebsite(ctx, rec); err != nil {
		return err
	}
	return b.tellWebsite(ctx, rec)
}

// websiteFollow looks at rec's docs build: it waits while it runs, and
// when it passed the site is published next.
func (b *Bot) websiteFollow(ctx context.Context, rec *store.Website) (time.Duration, error) {
	now := b.now().UTC()
	late := now.After(rec.TriggeredAt.Add(b.siteTimeout()))
	if rec.Build == "" {
		found, err := b.site.CI.FindDocsBuild(ctx, docsRequest(rec), DocsTrigger{Request: rec.Request}, rec.TriggeredAt.Add(-time.Minute))
		switch {
		case errors.Is(err, ErrNoBuild) && late:
			return 0, b.endWebsiteReleasing(ctx, rec, store.WebsiteTimedOut,
				fmt.Sprintf("CI did not start the docs build within %s of being asked", roundWait(b.siteTimeout())))
		case errors.Is(err, ErrNoBuild):
			// Travis makes a build of a request a little later.
			return b.cfg.PollInterval, nil
		case errors.Is(err, ErrDocsRefused):
			return 0, b.endWebsiteReleasing(ctx, rec, store.WebsiteFailed, text(err.Error()))
		case err != nil:
			return 0, outage("look for the docs build", err)
		}
		rec.Build, rec.BuildURL = found.ID, found.URL
		if err := b.st.SaveWebsite(ctx, rec); err != nil {
			return 0, err
		}
		if err := b.tellWebsite(ctx, rec); err != nil {
			return 0, err
		}
	}
	build, err := b.site.CI.DocsBuild(ctx, rec.Build)
	if err != nil {
		return 0, outage("read the docs build", err)
	}
	if build.URL != "" && build.URL != rec.BuildURL {
		rec.BuildURL = build.URL
		if err := b.st.SaveWebsite(ctx, rec); err != nil {
			return 0, err
		}
	}
	switch {
	case !build.Finished && late:
		if err := b.site.CI.Cancel(ctx, rec.Build); err != nil {
			b.logc(ctx).Warn("cancel a docs build that ran too long", zap.String("build", rec.Build), zap.Error(err))
		}
		return 0, b.endWebsiteReleasing(ctx, rec, store.WebsiteTimedOut,
			fmt.Sprintf("the docs build did not finish within %s; refbot cancelled it", roundWait(b.siteTimeout())))
	case !build.Finished:
		return b.cfg.PollInterval, nil
	case !build.Passed:
		return 0, b.endWebsiteReleasing(ctx, rec, store.WebsiteFailed, fmt.Sprintf("the docs build ended %s", code(statusText(build.State))))
	}
	rec.Step = store.WebsitePublishing
	return 0, b.st.SaveWebsite(ctx, rec)
}

// websitePublish checks the site the docs build uploaded (this PR, this
// head, this build) and publishes it to rec's slot, which it holds from
// now on for the verb's hold. Publishing again after a crash finishes the
// copy: the preview ends whole.
func (b *Bot) websitePublish(ctx context.Context, rec *store.Website) error {
	// The copy is not stopped halfway (STOP leaves a publication to
	// finish, and cancelling the job must not leave the preview half old,
	// half new), but it is bounded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	build, err := b.site.Builds.Open(ctx, rec.Build, s3cache.Want{Source: s3cache.Source{PR: rec.PR}, Commit: rec.Head})
	switch {
	case userError(err):
		return b.endWebsiteReleasing(ctx, rec, store.WebsiteFailed,
			"the docs build passed, but its site cannot be published: "+userMessage(rec.Build, err)+
				" (the docs build uploads it with `refbot upload --kind website`)")
	case err != nil:
		return outage("read the docs build's site in S3", err)
	}
	m := build.Manifests[""]
	if m == nil {
		return b.endWebsiteReleasing(ctx, rec, store.WebsiteFailed, "the docs build uploaded variants, not one site")
	}
	now := b.now().UTC()
	// Without a hold there are no slots to take: one preview, replaced by
	// each WEBSITE.
	var until time.Time
	if hold := b.policy.Limits(websiteVerb).Hold; hold > 0 {
		until = now.Add(hold)
		if err := b.policy.Hold(ctx, websiteVerb, rec.PR, rec.CommentID, until); errors.Is(err, policy.ErrNoSlot) {
			// Given back, it passes the result before it on to the run
			// that took the slot.
			return b.endWebsiteReleasing(ctx, rec, store.WebsiteFailed, fmt.Sprintf(
				"another pull request's WEBSITE took preview slot %d while this docs build ran (it ran longer than the hold); nothing was published", rec.Slot))
		} else if err != nil {
			return err
		}
	}
	rec.Slot = max(rec.Slot, 1)
	dst, url := b.site.Preview(rec.Slot)
	failpoint.Hit("website-publishing")
	stats, err := b.site.Builds.Publish(ctx, m, dst, s3cache.PreviewInfo{PR: rec.PR, Commit: rec.Head, Build: rec.Build,
		Provider: m.Provider, Slot: rec.Slot, Published: now, Files: len(m.Files), Bytes: m.TotalSize()})
	if err != nil {
		return outage("publish the site to the preview", err)
	}
	b.logc(ctx).Info("website published", zap.Int("pr", rec.PR), zap.String("build", rec.Build), zap.Int("slot", rec.Slot),
		zap.Int("copied", stats.Copied), zap.Int("skipped", stats.Skipped), zap.Int("removed", stats.Removed))
	rec.Step, rec.PreviewURL, rec.HeldUntil = store.WebsitePublished, url, until
	if err := b.st.SaveWebsite(ctx, rec); err != nil {
		return err
	}
	failpoint.Hit("website-published")
	return b.reportWebsite(ctx, rec)
}

// publishTimeout bounds one publication: copies within S3, done in
// seconds for a documentation site.
const publishTimeout = 30 * time.Minute

func (b *Bot) siteTimeout() time.Duration {
	if b.site.Timeout > 0 {
		return b.site.Timeout
	}
	return 2 * time.Hour
}

// endWebsite ends rec at step (final) with detail, and tells it.
func (b *Bot) endWebsite(ctx context.Context, rec *store.Website, step, detail string) error {
	rec.Step, rec.Detail = step, detail
	if err := b.st.SaveWebsite(ctx, rec); err != nil {
		return err
	}
	return b.reportWebsite(ctx, rec)
}

// endWebsiteReleasing ends rec, whose docs build ran, without a result:
// its preview slot goes back to the site that was there before, which
// keeps its hold; the day's run stays counted (the builder ran).
func (b *Bot) endWebsiteReleasing(ctx context.Context, rec *store.Website, step, detail string) error {
	if err := b.policy.ReleaseSlot(ctx, rec.PR, websiteVerb, rec.CommentID); err != nil {
		return err
	}
	return b.endWebsite(ctx, rec, step, detail)
}

// reportWebsite tells rec's end (reply and status) and records that it
// did; a crash in between tells it again, which edits the same reply.
func (b *Bot) reportWebsite(ctx context.Context, rec *store.Website) error {
	if err := b.tellWebsite(ctx, rec); err != nil {
		return err
	}
	rec.Reported = true
	return b.st.MarkWebsiteReported(ctx, rec.ID)
}

// tellWebsite brings rec's reply (edited in place) and its status in line
// with its step.
func (b *Bot) tellWebsite(ctx context.Context, rec *store.Website) error {
	v := b.websiteView(rec)
	if err := b.reply(ctx, intake.CommentWork{PR: rec.PR, CommentID: rec.CommentID}, rec.Key, render("website.md", v)); err != nil {
		return err
	}
	state, desc, target := websiteStatus(v)
	if state == "" {
		return nil
	}
	ctxName := b.site.StatusContext
	if ctxName == "" {
		ctxName = "refbot/website"
	}
	if target == "" {
		target = b.prURL(rec.PR)
	}
	if err := b.gh.SetStatus(ctx, rec.Head, Status{State: state, Context: ctxName, Description: desc, TargetURL: target}); err != nil {
		return outage("set the website status", err)
	}
	return nil
}

// websiteData is what a WEBSITE reply shows.
type websiteData struct {
	store.Website
	Prefix string
	Now    time.Time
	// BuildRef and PreviewRef are the docs build and the preview's
	// address as Markdown, escaped.
	BuildRef, PreviewRef string
}

func (b *Bot) websiteView(rec *store.Website) websiteData {
	v := websiteData{Website: *rec, Prefix: b.cfg.Prefix, Now: b.now().UTC()}
	v.BuildRef = code(rec.Build)
	if u := link(rec.BuildURL); u != "" {
		v.BuildRef = "[" + code(rec.Build) + "](" + u + ")"
	}
	preview := rec.PreviewURL
	if preview == "" && rec.Slot > 0 && b.site != nil {
		_, preview = b.site.Preview(rec.Slot)
	}
	if u := link(preview); u != "" {
		v.PreviewRef = "<" + u + ">"
	} else {
		v.PreviewRef = "the preview"
	}
	return v
}

// websiteStatus is the refbot/website status of a request: state ""
// when it sets none (refused at once: nothing was pending).
func websiteStatus(v websiteData) (state, desc, target string) {
	switch v.Step {
	case store.WebsiteQueued:
		return "pending", "Queued: starts at " + clock(v.Until, v.Now), ""
	case store.WebsiteTriggering:
		return "pending", "Asking CI for the docs build", ""
	case store.WebsiteBuilding:
		if v.Build == "" {
			return "pending", "Docs build asked for; CI has not started it yet", ""
		}
		return "pending", "Docs build " + v.Build + " running", v.BuildURL
	case store.WebsitePublishing:
		return "pending", "Publishing the preview", v.BuildURL
	case store.WebsitePublished:
		if v.HeldUntil.IsZero() {
			return "success", "Preview published", v.PreviewURL
		}
		return "success", "Preview published; held until " + clock(v.HeldUntil, v.Now), v.PreviewURL
	case store.WebsiteFailed:
		return "failure", statusText("No preview: " + v.Detail), v.BuildURL
	case store.WebsiteTimedOut:
		return "error", "No preview: the docs build did not finish in time", v.BuildURL
	case store.WebsiteCancelled:
		return "error", "Stopped by @" + v.EndedBy, ""
	case store.WebsiteGaveUp:
		return "error", "No preview: refbot gave up (see the reply)", ""
	case store.WebsiteRefused:
		if v.Reason == "" {
			return "", "", ""
		}
		return "error", statusText("Refused: " + v.Detail), ""
	}
	return "", "", ""
}

// clock writes t as "15:04 UTC", with its day when it is not now's.
func clock(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.Format(time.DateOnly) == now.Format(time.DateOnly) {
		return t.Format("15:04 UTC")
	}
	return t.Format("15:04 UTC on Mon 2 Jan")
}

// roundWait writes a wait in whole minutes or hours.
func roundWait(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}

// websitesStopped is what STOP did to a PR's WEBSITE requests.
type websitesStopped struct {
	Ended       int      // requests ended
	DocsBuilds  []string // docs builds cancelled
	StopCommand bool     // the builder's stop command ran
	// Publishing are the requests whose site was being copied into the
	// preview: left to finish, so that the preview is never left half
	// old, half new.
	Publishing int
}

// stopWebsites ends pr's WEBSITE requests that have not ended (STOP): a
// queued one simply ends; one whose docs build was asked for gets that
// build cancelled and its slot given back, and then the builder's stop
// command (when configured) runs, once. One whose site is being copied
// into the preview is left to finish (its job, cancelled, finishes the
// copy on a context of its own; a crash is resumed by the restart).
func (b *Bot) stopWebsites(ctx context.Context, pr int, by string) (websitesStopped, error) {
	var out websitesStopped
	if b.site == nil {
		return out, nil
	}
	active, err := b.st.ActiveWebsites(ctx, pr)
	if err != nil {
		return out, err
	}
	ranBuilder := false
	for i := range active {
		rec := &active[i]
		if rec.Step == store.WebsitePublishing {
			out.Publishing++
			continue
		}
		building := rec.Step != store.WebsiteQueued
		if building && rec.Build == "" && rec.Step != store.WebsiteTriggering {
			// CI names a requested build a little later (Travis).
			if found, err := b.site.CI.FindDocsBuild(ctx, docsRequest(rec), DocsTrigger{Request: rec.Request}, rec.TriggeredAt.Add(-time.Minute)); err == nil {
				rec.Build = found.ID
			}
		}
		rec.Step, rec.EndedBy, rec.Detail = store.WebsiteCancelled, by, ""
		if err := b.st.SaveWebsite(ctx, rec); errors.Is(err, store.ErrFinal) {
			continue // it ended meanwhile; its own job told how
		} else if err != nil {
			return out, err
		}
		out.Ended++
		if building {
			ranBuilder = true
			if rec.Build != "" {
				if err := b.site.CI.Cancel(ctx, rec.Build); err != nil {
					return out, outage("cancel the docs build", err)
				}
				out.DocsBuilds = append(out.DocsBuilds, rec.Build)
			}
			if err := b.policy.ReleaseSlot(ctx, rec.PR, websiteVerb, rec.CommentID); err != nil {
				return out, err
			}
		}
		if err := b.reportWebsite(ctx, rec); err != nil {
			return out, err
		}
	}
	if ranBuilder && len(b.site.StopCommand) > 0 {
		b.runStopCommand(ctx)
		out.StopCommand = true
	}
	return out, nil
}

// runStopCommand runs the builder's stop command, bounded by its timeout.
// Its failure is logged, not fatal: the CI cancel is done, and STOP is
// not retried for a machine refbot does not own.
func (b *Bot) runStopCommand(ctx context.Context) {
	timeout := b.site.StopTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.site.StopCommand[0], b.site.StopCommand[1:]...)
	cmd.Env = append([]string{}, b.site.StopEnv...) // never nil: nil would pass on refbot's environment
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	log := b.log.With(zap.String("command", b.site.StopCommand[0]), zap.String("output", strings.TrimSpace(string(out[:min(len(out), 2000)]))))
	if err != nil {
		log.Warn("the builder's stop command failed", zap.Error(err))
		return
	}
	log.Info("the builder's stop command ran")
}

// WebsiteGaveUp ends WEBSITE request id when its job used up its attempts
// (an outage outlasted them): a docs build it asked for keeps running, but
// its slot goes back and the reply says so.
func (b *Bot) WebsiteGaveUp(ctx context.Context, pr int, id int64, attempts int, err error) {
	b.logc(ctx).Error("gave up a WEBSITE request", zap.Int("pr", pr), zap.Int64("website", id), zap.Int("attempts", attempts), zap.Error(err))
	rec, gerr := b.st.WebsiteByID(ctx, id)
	if gerr != nil || rec == nil || store.WebsiteFinal(rec.Step) {
		return
	}
	var eerr error
	if rec.Step == store.WebsiteQueued {
		eerr = b.endWebsite(ctx, rec, store.WebsiteGaveUp, plainReason(err))
	} else {
		eerr = b.endWebsiteReleasing(ctx, rec, store.WebsiteGaveUp, plainReason(err))
	}
	if eerr != nil {
		b.logc(ctx).Error("report a WEBSITE request that gave up", zap.Int("pr", pr), zap.Error(eerr))
	}
}

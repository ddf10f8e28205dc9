package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/refbot/refbot/bot/command"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/bot/store"
)

// checkHead makes sure a command acts on the head its author was looking
// at (docs/design.md, "Approval bound to what was reviewed"). With a sha,
// that sha must still be the head. Without one, the head now must provably
// have been the head when the comment was written: a job can run long after
// its comment (behind another's work, after retries, replayed by the
// reconciler), and an author may have pushed meanwhile. It returns the
// reason to refuse, or "".
func (b *Bot) checkHead(ctx context.Context, w intake.CommentWork, cmd command.Command, pr PullRequest) (string, error) {
	if cmd.SHA != "" {
		if !strings.HasPrefix(pr.HeadSHA, cmd.SHA) {
			return fmt.Sprintf("you asked for %s, but the head of this pull request is now %s; nothing was changed",
				cmd.SHA, short(pr.HeadSHA)), nil
		}
		return "", nil
	}
	if err := b.st.RecordHead(ctx, pr.Number, pr.HeadSHA, pr.UpdatedAt, store.HeadFromJob); err != nil {
		return "", err
	}
	seen, err := b.st.HeadsSeen(ctx, pr.Number)
	if err != nil {
		return "", err
	}
	pushes, err := b.gh.ForcePushes(ctx, pr.Number)
	if err != nil {
		return "", outage("read the pull request's timeline", err)
	}
	for _, p := range pushes {
		if err := b.st.RecordHead(ctx, pr.Number, p.After, p.At, store.HeadFromTimeline); err != nil {
			return "", err
		}
	}
	ok, then := headAt(seen, pushes, pr.HeadSHA, w.CreatedAt)
	if ok {
		return "", nil
	}
	asked := fmt.Sprintf("say `%s UPDATE %s` to take the newest build of %s", b.cfg.Prefix, short(pr.HeadSHA), short(pr.HeadSHA))
	if then != "" && then != pr.HeadSHA {
		return fmt.Sprintf("the head of this pull request is now %s, but when you commented it was %s (as far as refbot knows); "+
			"nothing was changed. If you reviewed the outputs of %s, %s", short(pr.HeadSHA), short(then), short(pr.HeadSHA), asked), nil
	}
	return fmt.Sprintf("refbot cannot tell that %s, the head of this pull request now, was already the head when you commented "+
		"(it may have been pushed since); nothing was changed. If you reviewed the outputs of %s, %s",
		short(pr.HeadSHA), short(pr.HeadSHA), asked), nil
}

// headAt decides whether head was the pull request's head at time c,
// given what refbot saw (each says: this sha was the head at this time,
// GitHub's clock, in whole seconds) and the PR's force-pushes. It is
// provably so when head was seen at some s < c and nothing moved the head
// from s on: no other sha seen since, and no force-push since. (A head can come back to an earlier
// commit only by a force-push: a fast-forward never returns to an
// ancestor.) then is the head at c as far as refbot knows ("" if it knows
// nothing that old).
func headAt(seen []store.HeadSeen, pushes []ForcePush, head string, c time.Time) (ok bool, then string) {
	if c.IsZero() {
		return false, ""
	}
	var s time.Time
	found := false
	var latest time.Time
	// Evidence counts from before the comment, strictly: times are whole
	// seconds, and a push in the comment's second may have come after it.
	for _, h := range seen {
		if !h.At.Before(c) {
			continue
		}
		if !h.At.Before(latest) {
			latest, then = h.At, h.SHA
		}
		if h.SHA == head && (!found || h.At.After(s)) {
			s, found = h.At, true
		}
	}
	for _, p := range pushes {
		if !p.At.Before(c) {
			continue
		}
		if !p.At.Before(latest) {
			latest, then = p.At, p.After
		}
		if p.After == head && (!found || p.At.After(s)) {
			s, found = p.At, true
		}
	}
	if !found {
		return false, then
	}
	// Another head seen at s itself leaves the order open: not proven.
	for _, h := range seen {
		if !h.At.Before(s) && h.SHA != head {
			return false, then
		}
	}
	for _, p := range pushes {
		if p.At.After(s) || (p.At.Equal(s) && p.After != head) {
			return false, then
		}
	}
	return true, head
}

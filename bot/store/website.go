package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The steps of a WEBSITE request, in order (docs/design.md, "WEBSITE"). A
// job that finds a request at a step does what comes after it.
const (
	// WebsiteQueued: waiting for its limits (a hold, the day's cap, a
	// blackout window, the nightly build) to lift at Until.
	WebsiteQueued = "queued"
	// WebsiteTriggering: its limits let it run (Slot taken); refbot is
	// about to ask CI for the docs build, or did and crashed before
	// recording the answer (TriggeredAt is when it began asking).
	WebsiteTriggering = "triggering"
	// WebsiteBuilding: CI was asked (Request, and Build once CI names it);
	// refbot follows the build.
	WebsiteBuilding = "building"
	// WebsitePublishing: the build passed; its site is being copied to the
	// preview. Copying again is harmless.
	WebsitePublishing = "publishing"

	// Final steps.
	WebsitePublished = "published" // the preview shows the site, held until HeldUntil
	WebsiteFailed    = "failed"    // the docs build failed, or its site was unusable (Detail)
	WebsiteCancelled = "cancelled" // STOP (EndedBy)
	WebsiteRefused   = "refused"   // the limits or the head refused it (Detail)
	WebsiteTimedOut  = "timed-out" // the docs build did not finish in time
	WebsiteGaveUp    = "gave-up"   // an outage outlasted its attempts
)

var websiteFinal = []string{WebsitePublished, WebsiteFailed, WebsiteCancelled, WebsiteRefused, WebsiteTimedOut, WebsiteGaveUp}

// WebsiteFinal reports whether step ends a WEBSITE request.
func WebsiteFinal(step string) bool { return slices.Contains(websiteFinal, step) }

// Website is one WEBSITE command's progress.
type Website struct {
	ID        int64
	CommentID int64
	Key       string // the command within the comment
	PR        int
	Head      string // the PR head it is bound to
	Branch    string // the project's branch the docs build runs on
	Author    string
	Step      string
	// Until is, while queued, when its limits lift; Reason what they are.
	Until  time.Time
	Reason string
	Slot   int // the preview slot it took (from 1)
	// Request is the CI's id of the request (Travis), Build the docs
	// build once known, BuildURL its page.
	Request     string
	Build       string
	BuildURL    string
	TriggeredAt time.Time
	// PreviewURL and HeldUntil: where the site was published, and until
	// when no other PR's site may replace it.
	PreviewURL string
	HeldUntil  time.Time
	Detail     string // why it failed or was refused, for the reply
	EndedBy    string // who stopped it
	// Reported: its end was told (reply, final status).
	Reported  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

const websiteColumns = `id, comment_id, cmd_key, pr, head, branch, author, step, until, reason, slot, request, build, build_url,
	triggered_at, preview_url, held_until, detail, ended_by, reported, created_at, updated_at`

func scanWebsite(row interface{ Scan(...any) error }) (Website, error) {
	var w Website
	var until, triggered, held, created, updated string
	err := row.Scan(&w.ID, &w.CommentID, &w.Key, &w.PR, &w.Head, &w.Branch, &w.Author, &w.Step, &until, &w.Reason, &w.Slot,
		&w.Request, &w.Build, &w.BuildURL, &triggered, &w.PreviewURL, &held, &w.Detail, &w.EndedBy, &w.Reported, &created, &updated)
	w.Until, w.TriggeredAt, w.HeldUntil = parseTime(until), parseTime(triggered), parseTime(held)
	w.CreatedAt, w.UpdatedAt = parseTime(created), parseTime(updated)
	return w, err
}

// StartWebsite records w, queued until now, unless comment's command key
// has a record already: that one is returned as it is (a retried job
// resumes it).
func (s *Store) StartWebsite(ctx context.Context, w Website) (*Website, error) {
	now := formatTime(s.now())
	if _, err := s.db.ExecContext(ctx, `INSERT INTO refbot_website (comment_id, cmd_key, pr, head, branch, author, step, until,
			created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (comment_id, cmd_key) DO NOTHING`,
		w.CommentID, w.Key, w.PR, w.Head, w.Branch, w.Author, WebsiteQueued, now, now, now); err != nil {
		return nil, fmt.Errorf("record WEBSITE of comment %d: %w", w.CommentID, err)
	}
	out, err := s.oneWebsite(ctx, fmt.Sprintf("of comment %d", w.CommentID), `comment_id = $1 AND cmd_key = $2`, w.CommentID, w.Key)
	if err == nil && out == nil {
		err = fmt.Errorf("read WEBSITE of comment %d: %w", w.CommentID, sql.ErrNoRows)
	}
	return out, err
}

// WebsiteByID returns WEBSITE request id, or nil.
func (s *Store) WebsiteByID(ctx context.Context, id int64) (*Website, error) {
	return s.oneWebsite(ctx, fmt.Sprint(id), `id = $1`, id)
}

// WebsiteByComment returns the newest WEBSITE request of comment, or nil.
func (s *Store) WebsiteByComment(ctx context.Context, comment int64) (*Website, error) {
	return s.oneWebsite(ctx, fmt.Sprintf("of comment %d", comment), `comment_id = $1 ORDER BY id DESC LIMIT 1`, comment)
}

// oneWebsite reads the request that where (with args) selects, or nil;
// what names it in an error.
func (s *Store) oneWebsite(ctx context.Context, what, where string, args ...any) (*Website, error) {
	w, err := scanWebsite(s.db.QueryRowContext(ctx, `SELECT `+websiteColumns+` FROM refbot_website WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read WEBSITE %s: %w", what, err)
	}
	return &w, nil
}

var websiteFinalSQL = "('" + strings.Join(websiteFinal, "', '") + "')"

// SaveWebsite writes w's progress while it has not ended; one that ended
// (STOP came) keeps its end, and saving over it fails with ErrFinal. A
// final step is written with reported false: the caller tells the end
// and calls MarkWebsiteReported.
func (s *Store) SaveWebsite(ctx context.Context, w *Website) error {
	w.UpdatedAt = s.now().UTC()
	if WebsiteFinal(w.Step) {
		w.Reported = false
	}
	res, err := s.durableExec(ctx, `UPDATE refbot_website SET step = $1, until = $2, reason = $3, slot = $4, request = $5, build = $6,
			build_url = $7, triggered_at = $8, preview_url = $9, held_until = $10, detail = $11, ended_by = $12, reported = $13, updated_at = $14
		WHERE id = $15 AND step NOT IN `+websiteFinalSQL,
		w.Step, formatTime(w.Until), w.Reason, w.Slot, w.Request, w.Build, w.BuildURL, formatTime(w.TriggeredAt), w.PreviewURL,
		formatTime(w.HeldUntil), w.Detail, w.EndedBy, sqlBool(w.Reported), formatTime(w.UpdatedAt), w.ID)
	if err != nil {
		return fmt.Errorf("record WEBSITE %d at %s: %w", w.ID, w.Step, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("record WEBSITE %d at %s: %w", w.ID, w.Step, ErrFinal)
	}
	return nil
}

// MarkWebsiteReported records that WEBSITE id's end was told.
func (s *Store) MarkWebsiteReported(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refbot_website SET reported = 1 WHERE id = $1`, id)
	return err
}

// ActiveWebsites returns the WEBSITE requests that have not ended, of pr
// (0: of every PR), oldest first.
func (s *Store) ActiveWebsites(ctx context.Context, pr int) ([]Website, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+websiteColumns+` FROM refbot_website
		WHERE step NOT IN `+websiteFinalSQL+` AND ($1 = 0 OR pr = $2) ORDER BY id`, pr, pr)
	return collect(rows, err, func(r *sql.Rows) (Website, error) { return scanWebsite(r) })
}

// UnreportedWebsites returns pr's WEBSITE requests that ended and whose
// end was not told yet (a crash came between the two).
func (s *Store) UnreportedWebsites(ctx context.Context, pr int) ([]Website, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+websiteColumns+` FROM refbot_website
		WHERE pr = $1 AND step IN `+websiteFinalSQL+` AND reported = 0 ORDER BY id`, pr)
	return collect(rows, err, func(r *sql.Rows) (Website, error) { return scanWebsite(r) })
}

// RecentWebsites returns the newest WEBSITE requests of pr (0: of every
// PR), newest first, at most limit.
func (s *Store) RecentWebsites(ctx context.Context, pr, limit int) ([]Website, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+websiteColumns+` FROM refbot_website WHERE ($1 = 0 OR pr = $2)
		ORDER BY id DESC LIMIT $3`, pr, pr, limit)
	return collect(rows, err, func(r *sql.Rows) (Website, error) { return scanWebsite(r) })
}

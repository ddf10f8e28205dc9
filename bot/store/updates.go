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

// The steps of an UPDATE, in order. A job that finds its command at a step
// does what comes after it; it never goes back.
const (
	// StepPublishing: the build is chosen; its data is being pushed.
	StepPublishing = "publishing"
	// StepPushed: the data branch holds the build's data (DataCommit).
	StepPushed = "pushed"
	// StepRestarting: refbot is about to ask CI to restart the build (or
	// did, and crashed before recording it); RestartBefore is the build as
	// it was just before.
	StepRestarting = "restarting"
	// StepWaiting: the restart was asked for; the CI wait follows it.
	StepWaiting = "waiting"

	// Final steps.
	StepDone       = "done"       // CI finished; Outcome says how
	StepRefused    = "refused"    // refused before anything was pushed
	StepStopped    = "stopped"    // STOP
	StepSuperseded = "superseded" // a newer UPDATE replaced its data
	StepTimedOut   = "timed-out"  // CI did not finish in time
	StepGaveUp     = "gave-up"    // its attempts ran out
)

// Final reports whether step ends an UPDATE.
func Final(step string) bool { return slices.Contains(finalStepList, step) }

var finalStepList = []string{StepDone, StepRefused, StepStopped, StepSuperseded, StepTimedOut, StepGaveUp}

// Update is one UPDATE command's progress.
type Update struct {
	ID        int64
	CommentID int64
	Key       string // the command within the comment
	PR        int
	Head      string // the PR head it is bound to
	Build     string // the CI build whose data it takes
	Author    string
	Step      string
	// DataCommit is the data branch's commit that the push made.
	DataCommit string
	// RestartAt is when the CI restart was asked for; RestartBefore what
	// the build looked like just before (the provider's snapshot), so that
	// a final state seen later is known to be the new run's.
	RestartAt     time.Time
	RestartBefore string
	Restarts      int  // CI restarts asked for
	Polls         int  // looks at the build since the last restart was asked for
	SeenRunning   bool // the build's new run was seen: its final state is its own
	View          string
	Outcome       string // with StepDone: passed, failed or unchanged; with StepStopped: cancelled once a late restart is cancelled
	// Reported: the end was told (reply, final status). An end is
	// recorded before it is told, by whichever job ended the update
	// first; a job that finds its end not reported tells it.
	Reported  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

const updateColumns = `id, comment_id, cmd_key, pr, head, build, author, step, data_commit, restart_at, restart_before,
	restarts, polls, seen_running, view, outcome, reported, created_at, updated_at`

func scanUpdate(row interface{ Scan(...any) error }) (Update, error) {
	var u Update
	var restartAt, created, updated string
	err := row.Scan(&u.ID, &u.CommentID, &u.Key, &u.PR, &u.Head, &u.Build, &u.Author, &u.Step, &u.DataCommit,
		&restartAt, &u.RestartBefore, &u.Restarts, &u.Polls, &u.SeenRunning, &u.View, &u.Outcome, &u.Reported, &created, &updated)
	u.RestartAt, u.CreatedAt, u.UpdatedAt = parseTime(restartAt), parseTime(created), parseTime(updated)
	return u, err
}

// Update returns the progress of comment's command key, or nil.
func (s *Store) Update(ctx context.Context, comment int64, key string) (*Update, error) {
	u, err := scanUpdate(s.db.QueryRowContext(ctx, `SELECT `+updateColumns+` FROM refbot_update WHERE comment_id = $1 AND cmd_key = $2`, comment, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read update of comment %d: %w", comment, err)
	}
	return &u, nil
}

// UpdateByID returns update id, or nil.
func (s *Store) UpdateByID(ctx context.Context, id int64) (*Update, error) {
	u, err := scanUpdate(s.db.QueryRowContext(ctx, `SELECT `+updateColumns+` FROM refbot_update WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read update %d: %w", id, err)
	}
	return &u, nil
}

// StartUpdate records u at StepPublishing: a new one, or one that had not
// pushed yet (a retry may choose another build). A record past
// StepPublishing is returned as it is, unchanged.
func (s *Store) StartUpdate(ctx context.Context, u Update) (*Update, error) {
	now := formatTime(s.now())
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_update (comment_id, cmd_key, pr, head, build, author, step, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (comment_id, cmd_key) DO UPDATE SET head = excluded.head, build = excluded.build, updated_at = excluded.updated_at
		WHERE refbot_update.step = $10`,
		u.CommentID, u.Key, u.PR, u.Head, u.Build, u.Author, StepPublishing, now, now, StepPublishing)
	if err != nil {
		return nil, fmt.Errorf("record update of comment %d: %w", u.CommentID, err)
	}
	return s.Update(ctx, u.CommentID, u.Key)
}

// FinishUnpushed records the end (told already) of an update that never
// pushed: refused, or gave up before its push. A no-op when there is no
// record or it is past publishing.
func (s *Store) FinishUnpushed(ctx context.Context, comment int64, key, step string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refbot_update SET step = $1, reported = 1, updated_at = $2
		WHERE comment_id = $3 AND cmd_key = $4 AND step = $5`, step, formatTime(s.now()), comment, key, StepPublishing)
	return err
}

// ErrFinal: the update has ended (another job stopped or superseded it)
// and is not changed any more.
var ErrFinal = errors.New("update has ended")

// finalSteps is finalStepList for SQL.
var finalSteps = "('" + strings.Join(finalStepList, "', '") + "')"

// SaveUpdate writes u's progress (everything but its identity) while it has
// not ended. An update that has ended keeps its end: saving over it fails
// with ErrFinal, so a job that did not notice (the UPDATE's own job while
// STOP ran) cannot undo it. To end an update, use EndUpdate.
func (s *Store) SaveUpdate(ctx context.Context, u *Update) error {
	if Final(u.Step) {
		return fmt.Errorf("record update %d: %s is an end; use EndUpdate", u.ID, u.Step)
	}
	return s.writeUpdate(ctx, u)
}

// EndUpdate records that u, read at step from, ended at its (final) Step
// with its View and Outcome, not yet reported. Only those columns change:
// what the update's own job recorded (its data commit, its restart) stays.
// If the update ended first, ErrFinal, and the end stays the first one's;
// if it moved on from from meanwhile (its job ran on while STOP looked),
// ErrMoved: read it again and decide again. The caller then tells the end
// and calls MarkReported.
func (s *Store) EndUpdate(ctx context.Context, u *Update, from string) error {
	if !Final(u.Step) {
		return fmt.Errorf("end update %d: %s is not an end", u.ID, u.Step)
	}
	u.Reported, u.UpdatedAt = false, s.now().UTC()
	res, err := s.db.ExecContext(ctx, `UPDATE refbot_update SET step = $1, view = $2, outcome = $3, reported = 0, updated_at = $4
		WHERE id = $5 AND step = $6`, u.Step, u.View, u.Outcome, formatTime(u.UpdatedAt), u.ID, from)
	if err != nil {
		return fmt.Errorf("end update %d at %s: %w", u.ID, u.Step, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	now, err := s.UpdateByID(ctx, u.ID)
	switch {
	case err != nil:
		return err
	case now == nil || Final(now.Step):
		return fmt.Errorf("end update %d at %s: %w", u.ID, u.Step, ErrFinal)
	}
	return fmt.Errorf("end update %d at %s: it is at %s now: %w", u.ID, u.Step, now.Step, ErrMoved)
}

// ErrMoved: the update moved on since it was read (EndUpdate).
var ErrMoved = errors.New("update moved on")

// ReviseEnd changes the reply of an update that ended at step, to be told
// again (a stop found to have come after the push it thought it had
// prevented). ErrMoved if it is not at step.
func (s *Store) ReviseEnd(ctx context.Context, u *Update) error {
	u.Reported, u.UpdatedAt = false, s.now().UTC()
	res, err := s.db.ExecContext(ctx, `UPDATE refbot_update SET view = $1, outcome = $2, data_commit = $3, reported = 0, updated_at = $4
		WHERE id = $5 AND step = $6`, u.View, u.Outcome, u.DataCommit, formatTime(u.UpdatedAt), u.ID, u.Step)
	if err != nil {
		return fmt.Errorf("revise the end of update %d: %w", u.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revise the end of update %d: %w", u.ID, ErrMoved)
	}
	return nil
}

// SetOutcome records the outcome of an update that ended (a late cancel
// of its build done, say).
func (s *Store) SetOutcome(ctx context.Context, id int64, outcome string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refbot_update SET outcome = $1, updated_at = $2 WHERE id = $3`,
		outcome, formatTime(s.now()), id)
	return err
}

func (s *Store) writeUpdate(ctx context.Context, u *Update) error {
	u.UpdatedAt = s.now().UTC()
	res, err := s.durableExec(ctx, `UPDATE refbot_update SET head = $1, build = $2, step = $3, data_commit = $4, restart_at = $5,
		restart_before = $6, restarts = $7, polls = $8, seen_running = $9, view = $10, outcome = $11, reported = $12, updated_at = $13
		WHERE id = $14 AND step NOT IN `+finalSteps,
		u.Head, u.Build, u.Step, u.DataCommit, formatTime(u.RestartAt), u.RestartBefore, u.Restarts, u.Polls, sqlBool(u.SeenRunning),
		u.View, u.Outcome, sqlBool(u.Reported), formatTime(u.UpdatedAt), u.ID)
	if err != nil {
		return fmt.Errorf("record update %d at %s: %w", u.ID, u.Step, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("record update %d at %s: %w", u.ID, u.Step, ErrFinal)
	}
	return nil
}

// MarkReported records that update id's end was told.
func (s *Store) MarkReported(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refbot_update SET reported = 1 WHERE id = $1`, id)
	return err
}

// Unreported returns pr's updates that ended at step and whose end was
// not told yet (a crash came between the two); step "" is any end.
func (s *Store) Unreported(ctx context.Context, pr int, step string) ([]Update, error) {
	if step == "" {
		rows, err := s.db.QueryContext(ctx, `SELECT `+updateColumns+` FROM refbot_update WHERE pr = $1 AND step IN `+finalSteps+`
			AND reported = 0 ORDER BY id`, pr)
		return collect(rows, err, func(r *sql.Rows) (Update, error) { return scanUpdate(r) })
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+updateColumns+` FROM refbot_update WHERE pr = $1 AND step = $2 AND reported = 0
		ORDER BY id`, pr, step)
	return collect(rows, err, func(r *sql.Rows) (Update, error) { return scanUpdate(r) })
}

// ActiveUpdates returns pr's updates that pushed and have not ended:
// those whose CI build refbot restarted or is about to. With publishing,
// those still publishing too.
func (s *Store) ActiveUpdates(ctx context.Context, pr int, publishing bool) ([]Update, error) {
	first := StepPushed
	if publishing {
		first = StepPublishing
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+updateColumns+` FROM refbot_update WHERE pr = $1 AND step IN ($2, $3, $4, $5)
		ORDER BY id`, pr, first, StepPushed, StepRestarting, StepWaiting)
	return collect(rows, err, func(r *sql.Rows) (Update, error) { return scanUpdate(r) })
}

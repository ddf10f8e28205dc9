package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Reply is refbot's record of the reply it posts to one command (a comment
// and a key naming the command in it).
type Reply struct {
	ID int64 // the GitHub comment; 0 while it is being created
	// Since is when refbot first set out to create it: a reply that a crash
	// may have left uncreated-looking is not older than this.
	Since time.Time
}

// Reply returns the record of the reply to (comment, key), or nil.
func (s *Store) Reply(ctx context.Context, comment int64, key string) (*Reply, error) {
	var r Reply
	var since string
	err := s.db.QueryRowContext(ctx, `SELECT reply_id, created_at FROM refbot_reply WHERE comment_id = $1 AND verb = $2`,
		comment, key).Scan(&r.ID, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	r.Since = parseTime(since)
	return &r, err
}

// ReplyIntent records, before the reply is created, that refbot is about
// to create it: "record before you act". A crash after GitHub created it
// and before SetReply leaves this record, which tells the next attempt to
// look for the reply before creating another.
func (s *Store) ReplyIntent(ctx context.Context, comment int64, key string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_reply (comment_id, verb, reply_id, created_at) VALUES ($1, $2, 0, $3)
		ON CONFLICT (comment_id, verb) DO NOTHING`, comment, key, formatTime(s.now()))
	return err
}

// ReplyGone records that the reply (comment, key) was deleted on GitHub
// and that refbot is about to post it again: the same intent as
// ReplyIntent, dated now.
func (s *Store) ReplyGone(ctx context.Context, comment int64, key string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refbot_reply SET reply_id = 0, created_at = $1 WHERE comment_id = $2 AND verb = $3`,
		formatTime(s.now()), comment, key)
	return err
}

// SetReply records the created reply's id.
func (s *Store) SetReply(ctx context.Context, comment int64, key string, id int64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_reply (comment_id, verb, reply_id, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (comment_id, verb) DO UPDATE SET reply_id = excluded.reply_id`, comment, key, id, formatTime(s.now()))
	return err
}

// CommandDone reports whether a comment's command is done (see
// MarkCommandDone).
func (s *Store) CommandDone(ctx context.Context, comment int64, key string) (bool, error) {
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM refbot_command_done WHERE comment_id = $1 AND cmd_key = $2`, comment, key).Scan(new(int))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// MarkCommandDone records that a comment's command is done: when a later
// command of the same comment fails and the job is retried, this one is
// not run again.
func (s *Store) MarkCommandDone(ctx context.Context, comment int64, key string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refbot_command_done (comment_id, cmd_key) VALUES ($1, $2) ON CONFLICT DO NOTHING`, comment, key)
	return err
}

// TakeUnprivilegedReply reports whether refbot may answer comment by
// login, who may not command it: at most one comment every interval, so
// that such answers (HELP, a refusal, a problem with a command) cannot be
// used to spend refbot's GitHub write quota. It takes the turn for comment
// when it says yes; the same comment asking again (a retried job whose
// reply failed) keeps its turn.
func (s *Store) TakeUnprivilegedReply(ctx context.Context, login string, comment int64, every time.Duration) (bool, error) {
	now := s.now().UTC()
	res, err := s.db.ExecContext(ctx, `INSERT INTO refbot_unprivileged_reply (login, at, comment_id) VALUES ($1, $2, $3)
		ON CONFLICT (login) DO UPDATE SET comment_id = excluded.comment_id, at = CASE
			WHEN refbot_unprivileged_reply.comment_id = excluded.comment_id THEN refbot_unprivileged_reply.at ELSE excluded.at END
		WHERE refbot_unprivileged_reply.at < $4 OR refbot_unprivileged_reply.comment_id = excluded.comment_id`,
		login, formatTime(now), comment, formatTime(now.Add(-every)))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

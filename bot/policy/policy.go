// Package policy decides whether a command may run: who may give it (a
// GitHub permission of write, maintain or admin, or a configured user or
// team) and whether its per-PR cooldown has passed. Cooldowns are kept in
// the database so a restart does not reset them. Every refusal carries a
// reason a human can read, and for a cooldown the time to try again.
package policy

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Permissions is what policy needs from GitHub.
type Permissions interface {
	// Permission returns the user's role on the repository: admin,
	// maintain, write, triage, read or none.
	Permission(ctx context.Context, user string) (string, error)
	// TeamMember reports whether user is an active member of org/team.
	TeamMember(ctx context.Context, org, team, user string) (bool, error)
}

// Config is the policy part of refbot's configuration.
type Config struct {
	AllowedUsers []string                 // logins allowed whatever their permission
	AllowedTeams []string                 // "org/team" slugs
	Cooldowns    map[string]time.Duration // per verb, upper case; 0 or absent means none
}

// Refusal says why a command may not run.
type Refusal struct {
	Reason  string
	RetryAt time.Time // for a cooldown: when it may run again
}

func (r *Refusal) Error() string { return r.Reason }

// Policy decides; it is safe for concurrent use.
type Policy struct {
	cfg   Config
	perms Permissions
	db    *sql.DB
	now   func() time.Time
}

// New returns a Policy keeping cooldowns in db (its table is created if
// missing).
func New(ctx context.Context, cfg Config, perms Permissions, db *sql.DB, now func() time.Time) (*Policy, error) {
	if now == nil {
		now = time.Now
	}
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS refbot_cooldown (
		pr INTEGER NOT NULL, verb TEXT NOT NULL, last_run TEXT NOT NULL, comment_id INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (pr, verb))`)
	if err != nil {
		return nil, fmt.Errorf("policy: create cooldown table: %w", err)
	}
	return &Policy{cfg: cfg, perms: perms, db: db, now: now}, nil
}

// Allowed reports whether user may command refbot; a nil Refusal means yes.
// Configured users and teams are checked first, so they work even for
// people without write access.
func (p *Policy) Allowed(ctx context.Context, user string) (*Refusal, error) {
	if slices.ContainsFunc(p.cfg.AllowedUsers, func(u string) bool { return strings.EqualFold(u, user) }) {
		return nil, nil
	}
	for _, t := range p.cfg.AllowedTeams {
		org, team, ok := strings.Cut(t, "/")
		if !ok {
			continue
		}
		member, err := p.perms.TeamMember(ctx, org, team, user)
		if err != nil {
			return nil, fmt.Errorf("check team %s for %s: %w", t, user, err)
		}
		if member {
			return nil, nil
		}
	}
	perm, err := p.perms.Permission(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("check permission of %s: %w", user, err)
	}
	switch perm {
	case "admin", "maintain", "write":
		return nil, nil
	}
	why := fmt.Sprintf("@%s has %s permission on this repository; commands need write, maintain or admin", user, perm)
	if len(p.cfg.AllowedUsers)+len(p.cfg.AllowedTeams) > 0 {
		why += " (or to be listed in refbot's allowed users or teams)"
	}
	return &Refusal{Reason: why}, nil
}

// Take checks verb's cooldown on pr and, if it has passed, starts a new one
// in the same step; a nil Refusal means the command may run now. The
// cooldown remembers the comment that took it: the same comment taking it
// again (its job retried after a failure) is let through.
func (p *Policy) Take(ctx context.Context, pr int, verb string, comment int64) (*Refusal, error) {
	verb = strings.ToUpper(verb)
	wait := p.cfg.Cooldowns[verb]
	if wait <= 0 {
		return nil, nil
	}
	now := p.now().UTC()
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var last string
	var by int64
	err = tx.QueryRowContext(ctx, `SELECT last_run, comment_id FROM refbot_cooldown WHERE pr = ? AND verb = ?`, pr, verb).Scan(&last, &by)
	switch {
	case err == sql.ErrNoRows:
	case err == nil && by == comment && comment != 0:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read cooldown of %s on #%d: %w", verb, pr, err)
	default:
		t, err := time.Parse(time.RFC3339Nano, last)
		if err == nil && now.Before(t.Add(wait)) {
			retry := t.Add(wait)
			return &Refusal{
				Reason:  fmt.Sprintf("%s ran on this PR %s ago; it can run again in %s (at %s UTC)", verb, roundDur(now.Sub(t)), roundDur(retry.Sub(now)), retry.Format("15:04")),
				RetryAt: retry,
			}, nil
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO refbot_cooldown (pr, verb, last_run, comment_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (pr, verb) DO UPDATE SET last_run = excluded.last_run, comment_id = excluded.comment_id`,
		pr, verb, now.Format(time.RFC3339Nano), comment); err != nil {
		return nil, fmt.Errorf("start cooldown of %s on #%d: %w", verb, pr, err)
	}
	return nil, tx.Commit()
}

// Release ends verb's cooldown on pr early: for a command that was taken but
// then did nothing (refused for another reason, or failed before acting).
func (p *Policy) Release(ctx context.Context, pr int, verb string) error {
	_, err := p.db.ExecContext(ctx, `DELETE FROM refbot_cooldown WHERE pr = ? AND verb = ?`, pr, strings.ToUpper(verb))
	return err
}

func roundDur(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Second).String()
}

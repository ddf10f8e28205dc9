// Package policy decides whether a command may run: who may give it (a
// GitHub permission of write, maintain or admin, or a configured user or
// team) and whether its per-PR cooldown has passed. Cooldowns are kept in
// the database so a restart does not reset them. Every refusal carries a
// reason a human can read, and for a cooldown the time to try again.
package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/refbot/refbot/bot/store"
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
	st    *store.Store
	now   func() time.Time
}

// New returns a Policy keeping cooldowns in st.
func New(cfg Config, perms Permissions, st *store.Store, now func() time.Time) *Policy {
	if now == nil {
		now = time.Now
	}
	return &Policy{cfg: cfg, perms: perms, st: st, now: now}
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
	taken, last, err := p.st.TakeCooldown(ctx, pr, verb, comment, now, wait)
	if err != nil {
		return nil, err
	}
	if taken {
		return nil, nil
	}
	retry := last.Add(wait)
	return &Refusal{
		Reason: fmt.Sprintf("%s ran on this PR %s ago; it can run again in %s (at %s UTC)", verb, roundDur(now.Sub(last)),
			roundDur(retry.Sub(now)), retry.Format("15:04")),
		RetryAt: retry,
	}, nil
}

// Release gives verb's cooldown on pr back when comment holds it: the
// command took it but then changed nothing (refused, or failed before
// acting). Another comment's cooldown is left alone.
func (p *Policy) Release(ctx context.Context, pr int, verb string, comment int64) error {
	return p.st.ReleaseCooldown(ctx, pr, strings.ToUpper(verb), comment)
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

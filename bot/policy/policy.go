// Package policy decides whether a command may run: who may give it (a
// GitHub permission of write, maintain or admin, or a configured user or
// team), and, per verb, whether it may run now, later, or not (engine.go:
// the per-PR cooldown, the daily cap, the hold of a verb's result in its
// slots, and blackout windows). What the limits count is kept in the
// database, so a restart does not reset them. Every refusal and
// postponement carries a reason a human can read and the time it lifts.
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
	AllowedUsers []string // logins allowed whatever their permission
	AllowedTeams []string // "org/team" slugs
	// Cooldowns is the short form of Verbs[verb].Cooldown, per verb in
	// upper case; 0 or absent means none. A cooldown set in Verbs wins.
	Cooldowns map[string]time.Duration
	// Verbs are the limits of each verb, in upper case; a verb absent has
	// none but its cooldown.
	Verbs map[string]Limits
	// Metrics, if set, count the decisions and refusals (they are not
	// part of refbot's configuration file).
	Metrics *Metrics
}

// Refusal says why a command may not run (now).
type Refusal struct {
	Reason  string
	RetryAt time.Time // for a limit: when it lifts
}

func (r *Refusal) Error() string { return r.Reason }

// Policy decides; it is safe for concurrent use.
type Policy struct {
	cfg   Config
	perms Permissions
	st    *store.Store
	now   func() time.Time
}

// New returns a Policy keeping what its limits count in st.
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
	p.cfg.Metrics.refusedPermission()
	why := fmt.Sprintf("@%s has %s permission on this repository; commands need write, maintain or admin", user, perm)
	if len(p.cfg.AllowedUsers)+len(p.cfg.AllowedTeams) > 0 {
		why += " (or to be listed in refbot's allowed users or teams)"
	}
	return &Refusal{Reason: why}, nil
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

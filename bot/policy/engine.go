package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/refbot/refbot/bot/store"
)

// Limits are one verb's limits; the zero value has none. All times are UTC,
// which has no daylight saving time: a day is always 24 hours.
type Limits struct {
	// Cooldown is the time between two runs on one PR; a request within it
	// is refused.
	Cooldown time.Duration
	// MaxPerDay caps the runs of a UTC day in the whole repository; 0 is
	// no cap. A request past it is postponed to 00:00 UTC of the next day,
	// or refused when RefuseWhenCapped.
	MaxPerDay        int
	RefuseWhenCapped bool
	// Hold is how long a run's result (a preview) stays before another
	// PR's run may replace it; 0 is none. Results are kept in Slots places
	// (0 means 1), each with its own hold: a run takes its PR's own slot,
	// or else the least recently used slot whose hold has ended, and
	// waits for the first hold to end when there is none.
	Hold  time.Duration
	Slots int
	// Blackout are the windows in which the verb does not run: a request
	// inside one is postponed to its end.
	Blackout []Window
}

func (l Limits) none() bool {
	return l.Cooldown <= 0 && l.MaxPerDay <= 0 && l.Hold <= 0 && len(l.Blackout) == 0
}

// Window is a daily window of time in UTC, from Start to End after 00:00;
// an End before Start wraps midnight ("23:00-01:00 UTC"). Its start is
// inside it, its end is not.
type Window struct {
	Start, End time.Duration
}

// String writes w as it is configured: "01:00-03:00 UTC".
func (w Window) String() string {
	return clockOf(w.Start) + "-" + clockOf(w.End) + " UTC"
}

func clockOf(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// endAt returns the end of w when t is inside it.
func (w Window) endAt(t time.Time) (time.Time, bool) {
	midnight := startOfDay(t)
	since := t.Sub(midnight)
	switch {
	case w.Start < w.End && since >= w.Start && since < w.End:
		return midnight.Add(w.End), true
	case w.Start > w.End && since >= w.Start:
		return midnight.AddDate(0, 0, 1).Add(w.End), true
	case w.Start > w.End && since < w.End:
		return midnight.Add(w.End), true
	}
	return time.Time{}, false
}

// Outcome is what Decide answers.
type Outcome int

const (
	// Allow: the command may run now; what it counts against is taken.
	Allow Outcome = iota
	// Postpone: the command may run at Decision.Until; nothing is taken.
	// Asked again then (with the same comment), Decide decides anew.
	Postpone
	// Refuse: the command does not run; a new request may from
	// Decision.RetryAt.
	Refuse
)

func (o Outcome) String() string {
	switch o {
	case Allow:
		return "allow"
	case Postpone:
		return "postpone"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Cause names a limit that stands in a command's way.
type Cause string

const (
	CauseCooldown Cause = "cooldown"
	CauseDailyCap Cause = "daily cap"
	CauseBlackout Cause = "blackout"
	CauseHold     Cause = "hold"
)

// Decision is Decide's answer.
type Decision struct {
	Outcome Outcome
	// Reason says, for Postpone and Refuse, what stands in the way and
	// when it lifts (UTC), in words for a reply.
	Reason  string
	Until   time.Time // Postpone: when the command may run
	RetryAt time.Time // Refuse: when a new request may run
	// Causes are the limits in the way, in the order they lift.
	Causes []Cause
	// Slot is, for Allow, the slot the run took (from 1); 0 for a verb
	// without a hold.
	Slot int
}

// ErrNoComment: a verb with a daily cap or a hold is decided for a
// comment, so that a retried job takes nothing twice and Release knows
// what to give back.
var ErrNoComment = errors.New("a run of a verb with a daily cap or a hold needs the comment that asked for it")

// ErrNoSlot: Hold was asked for a run that holds no slot: its verb has no
// hold, it was given back, or a later run of the same PR took the slot.
var ErrNoSlot = errors.New("the run holds no slot")

// errNoTime: the limits never let the verb run (blackout windows covering
// the whole day, which configuration refuses).
var errNoTime = errors.New("the limits leave no time to run it")

// Limits returns verb's limits: those configured for it, with its cooldown
// from Config.Cooldowns when Verbs has none.
func (p *Policy) Limits(verb string) Limits {
	verb = strings.ToUpper(verb)
	l := p.cfg.Verbs[verb]
	if l.Cooldown <= 0 {
		l.Cooldown = p.cfg.Cooldowns[verb]
	}
	l.Slots = max(l.Slots, 1)
	return l
}

// Decide decides whether verb, asked for on pr by comment, may run now,
// later, or not, and takes what an allowed run counts against in the same
// step: its cooldown on pr, a run of today's cap, a slot. The same comment
// deciding again (its job retried) is allowed without taking anything
// twice. Whether the asker may command at all is Allowed's question.
func (p *Policy) Decide(ctx context.Context, pr int, verb string, comment int64) (Decision, error) {
	verb = strings.ToUpper(verb)
	l := p.Limits(verb)
	if l.none() {
		return Decision{Outcome: Allow}, nil
	}
	if comment == 0 && (l.MaxPerDay > 0 || l.Hold > 0) {
		return Decision{}, fmt.Errorf("decide %s on #%d: %w", verb, pr, ErrNoComment)
	}
	now := p.now().UTC()
	var d Decision
	err := p.st.TakeVerb(ctx, verb, pr, comment, dayOf(now), now, func(s store.VerbState) (*store.VerbTake, error) {
		var take *store.VerbTake
		var err error
		d, take, err = decide(verb, l, pr, comment, now, s)
		return take, err
	})
	if err != nil {
		return Decision{}, fmt.Errorf("decide %s on #%d: %w", verb, pr, err)
	}
	p.cfg.Metrics.decided(verb, d)
	return d, nil
}

// maxSteps bounds the limits one postponement goes through; more means
// windows that cover the whole day.
const maxSteps = 64

// decide is Decide on the state s read at now: the decision and what to
// take.
func decide(verb string, l Limits, pr int, comment int64, now time.Time, s store.VerbState) (Decision, *store.VerbTake, error) {
	if s.Run != nil {
		return Decision{Outcome: Allow, Slot: s.Run.Slot}, nil, nil
	}
	if l.Cooldown > 0 && comment != 0 && s.LastComment == comment {
		return Decision{Outcome: Allow}, nil, nil
	}
	// Refusals first: they do not depend on when the command would run.
	if l.Cooldown > 0 && !s.LastRun.IsZero() {
		if retry := s.LastRun.Add(l.Cooldown); now.Before(retry) {
			return Decision{
				Outcome: Refuse,
				Reason: fmt.Sprintf("%s ran on this PR %s ago; it can run again in %s (at %s UTC)", verb, roundDur(now.Sub(s.LastRun)),
					roundDur(retry.Sub(now)), retry.Format("15:04")),
				RetryAt: retry,
				Causes:  []Cause{CauseCooldown},
			}, nil, nil
		}
	}
	capped := l.MaxPerDay > 0 && s.Today >= l.MaxPerDay
	if capped && l.RefuseWhenCapped {
		retry := startOfDay(now).AddDate(0, 0, 1)
		return Decision{
			Outcome: Refuse,
			Reason: fmt.Sprintf("%s; it can run again in %s (at %s)", capReason(verb, s.Today, l.MaxPerDay),
				roundDur(retry.Sub(now)), clockAt(retry, now)),
			RetryAt: retry,
			Causes:  []Cause{CauseDailyCap},
		}, nil, nil
	}
	// Postponements: each limit in the way moves the start to when it
	// lifts, where the others are looked at again.
	at := now
	var causes []Cause
	var reasons []string
	for step := 0; ; step++ {
		if step == maxSteps {
			return Decision{}, nil, errNoTime
		}
		if end, w, ok := inBlackout(l.Blackout, at); ok {
			causes = append(causes, CauseBlackout)
			reasons = append(reasons, fmt.Sprintf("%s does not run between %s and %s UTC", verb, clockOf(w.Start), clockOf(w.End)))
			at = end
			continue
		}
		// Only today's runs are known: a later day starts at 0.
		if capped && dayOf(at) == dayOf(now) {
			causes = append(causes, CauseDailyCap)
			reasons = append(reasons, capReason(verb, s.Today, l.MaxPerDay))
			at = startOfDay(at).AddDate(0, 0, 1)
			continue
		}
		if l.Hold > 0 {
			if pick := pickSlot(l.Slots, s.Slots, pr, at); pick.slot == 0 {
				causes = append(causes, CauseHold)
				reasons = append(reasons, holdReason(verb, l.Slots, pick, now))
				at = pick.freeAt
				continue
			}
		}
		break
	}
	if at.After(now) {
		return Decision{
			Outcome: Postpone,
			Reason:  fmt.Sprintf("%s; it can run in %s (at %s)", strings.Join(reasons, "; after that, "), roundDur(at.Sub(now)), clockAt(at, now)),
			Until:   at,
			Causes:  causes,
		}, nil, nil
	}
	take := &store.VerbTake{Cooldown: l.Cooldown > 0, Run: true}
	if l.Hold > 0 {
		// Held from now: the run is using the slot. Hold moves the hold
		// to its end once the result is published.
		take.Slot, take.HeldUntil = pickSlot(l.Slots, s.Slots, pr, now).slot, now.Add(l.Hold)
	}
	return Decision{Outcome: Allow, Slot: take.Slot}, take, nil
}

// inBlackout returns the window t is in and its end, the latest when
// several hold t.
func inBlackout(windows []Window, t time.Time) (time.Time, Window, bool) {
	var end time.Time
	var in Window
	for _, w := range windows {
		if e, ok := w.endAt(t); ok && e.After(end) {
			end, in = e, w
		}
	}
	return end, in, !end.IsZero()
}

// slotPick is a slot a run may take (slot > 0), or, when every slot is
// held by another PR's result, the first hold to end.
type slotPick struct {
	slot   int
	freeAt time.Time
	heldBy int // the PR whose hold ends first
}

// pickSlot picks a slot among 1 to n for pr's run at t: the PR's own, or
// the least recently used one whose hold has ended (one never used first).
func pickSlot(n int, used []store.VerbSlot, pr int, t time.Time) slotPick {
	byNum := map[int]store.VerbSlot{}
	for _, sl := range used {
		byNum[sl.Slot] = sl
	}
	for i := 1; i <= n; i++ {
		if sl, ok := byNum[i]; ok && sl.PR == pr {
			return slotPick{slot: i}
		}
	}
	var free, held slotPick
	var freeUsed time.Time
	for i := 1; i <= n; i++ {
		sl, ok := byNum[i]
		switch {
		case !ok:
			return slotPick{slot: i}
		case sl.HeldUntil.After(t):
			if held.freeAt.IsZero() || sl.HeldUntil.Before(held.freeAt) {
				held = slotPick{freeAt: sl.HeldUntil, heldBy: sl.PR}
			}
		case free.slot == 0 || sl.UsedAt.Before(freeUsed):
			free, freeUsed = slotPick{slot: i}, sl.UsedAt
		}
	}
	if free.slot > 0 {
		return free
	}
	return held
}

func capReason(verb string, runs, limit int) string {
	return fmt.Sprintf("%s ran %s today (UTC), its limit is %d a day", verb, times(runs), limit)
}

func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

func holdReason(verb string, slots int, pick slotPick, now time.Time) string {
	if slots == 1 {
		return fmt.Sprintf("%s's result for #%d is held until %s", verb, pick.heldBy, clockAt(pick.freeAt, now))
	}
	return fmt.Sprintf("all %d of %s's results are held for other PRs, the first (#%d) until %s", slots, verb, pick.heldBy,
		clockAt(pick.freeAt, now))
}

// clockAt writes t as "15:04 UTC", with its date when it is not now's day.
func clockAt(t, now time.Time) string {
	if dayOf(t) == dayOf(now) {
		return t.Format("15:04 UTC")
	}
	return t.Format("15:04 UTC on Mon 2 Jan")
}

func startOfDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Take is Decide for the commands that are not queued (UPDATE, PLAN): a
// nil Refusal means the command may run now; a postponement is a refusal
// until it lifts.
func (p *Policy) Take(ctx context.Context, pr int, verb string, comment int64) (*Refusal, error) {
	d, err := p.Decide(ctx, pr, verb, comment)
	if err != nil {
		return nil, err
	}
	switch d.Outcome {
	case Allow:
		return nil, nil
	case Postpone:
		return &Refusal{Reason: d.Reason, RetryAt: d.Until}, nil
	}
	return &Refusal{Reason: d.Reason, RetryAt: d.RetryAt}, nil
}

// Release gives back what comment's run of verb on pr took (its cooldown,
// its run of the day's cap, its slot) when the command changed nothing:
// refused, or failed before acting. What another comment took is left
// alone.
func (p *Policy) Release(ctx context.Context, pr int, verb string, comment int64) error {
	verb = strings.ToUpper(verb)
	if err := p.st.ReleaseVerb(ctx, verb, pr, comment); err != nil {
		return fmt.Errorf("release %s on #%d: %w", verb, pr, err)
	}
	return nil
}

// ReleaseSlot gives back only the slot comment's run of verb on pr took:
// the run went ahead (the day's cap and the cooldown count it) but its
// result never replaced what the slot held, which keeps its hold.
func (p *Policy) ReleaseSlot(ctx context.Context, pr int, verb string, comment int64) error {
	verb = strings.ToUpper(verb)
	if err := p.st.ReleaseVerbSlot(ctx, verb, pr, comment); err != nil {
		return fmt.Errorf("release %s's slot on #%d: %w", verb, pr, err)
	}
	return nil
}

// Hold holds the slot comment's run of verb on pr took until until: its
// result was published (Decide cannot know when; until Hold is called, the
// slot is held for Limits.Hold from the decision). ErrNoSlot when the run
// holds none.
func (p *Policy) Hold(ctx context.Context, verb string, pr int, comment int64, until time.Time) error {
	verb = strings.ToUpper(verb)
	ok, err := p.st.HoldVerbSlot(ctx, verb, pr, comment, until.UTC())
	switch {
	case err != nil:
		return fmt.Errorf("hold %s's slot for #%d: %w", verb, pr, err)
	case !ok:
		return fmt.Errorf("hold %s's slot for #%d, comment %d: %w", verb, pr, comment, ErrNoSlot)
	}
	return nil
}

// State is where a verb's limits stand, for pages and `refbot status`.
type State struct {
	Verb      string
	Day       string // today, UTC, "2006-01-02"
	Today     int    // runs counted today
	MaxPerDay int    // 0: no cap
	// Slots are the verb's slots, 1 to Limits.Slots, for a verb with a
	// hold; a slot never used has PR 0.
	Slots []Slot
}

// Slot is one place a verb's result is held.
type Slot struct {
	Slot      int
	PR        int
	Comment   int64
	UsedAt    time.Time
	HeldUntil time.Time
}

// State returns where verb's limits stand now.
func (p *Policy) State(ctx context.Context, verb string) (State, error) {
	verb = strings.ToUpper(verb)
	l := p.Limits(verb)
	now := p.now().UTC()
	st := State{Verb: verb, Day: dayOf(now), MaxPerDay: l.MaxPerDay}
	runs, used, err := p.st.VerbDay(ctx, verb, st.Day)
	if err != nil {
		return State{}, fmt.Errorf("state of %s: %w", verb, err)
	}
	st.Today = runs
	if l.Hold <= 0 {
		return st, nil
	}
	for i := 1; i <= l.Slots; i++ {
		sl := Slot{Slot: i}
		for _, u := range used {
			if u.Slot == i {
				sl = Slot{Slot: i, PR: u.PR, Comment: u.Comment, UsedAt: u.UsedAt, HeldUntil: u.HeldUntil}
			}
		}
		st.Slots = append(st.Slots, sl)
	}
	return st, nil
}

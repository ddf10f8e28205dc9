package config

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// VerbPolicy is the limits of one verb, policy.verbs.<VERB>. A key left
// out keeps the verb's default (defaultVerbLimits); a key set, even to 0,
// is what it says. Limits resolves them.
type VerbPolicy struct {
	// Cooldown is the time between two runs on one PR; policy.cooldowns is
	// its short form, and a verb may set only one of the two.
	Cooldown *Duration `yaml:"cooldown"`
	// MaxPerDay caps the runs per UTC day in the whole repository; 0 is no
	// cap. WhenCapped says what a request past it gets: queue (run at
	// 00:00 UTC the next day) or refuse.
	MaxPerDay  *int   `yaml:"max_per_day"`
	WhenCapped string `yaml:"when_capped"`
	// Hold is how long a run's result (a preview) stays before another
	// PR's run may replace it; 0 is none. Slots is how many results are
	// kept, each with its own hold: a run takes the least recently used
	// slot whose hold has ended.
	Hold  *Duration `yaml:"hold"`
	Slots *int      `yaml:"slots"`
	// Blackout are daily windows in UTC, "01:00-03:00 UTC", in which the
	// verb does not run: a request inside one waits for its end.
	Blackout []Window `yaml:"blackout"`
}

// What a request past a verb's daily cap gets.
const (
	WhenCappedQueue  = "queue"
	WhenCappedRefuse = "refuse"
)

// VerbLimits are one verb's limits with the defaults filled in.
type VerbLimits struct {
	Cooldown   time.Duration
	MaxPerDay  int    // 0: no cap
	WhenCapped string // WhenCappedQueue or WhenCappedRefuse
	Hold       time.Duration
	Slots      int
	Blackout   []Window
}

// Limits returns the limits of verb, matched case-insensitively: its
// defaults, its cooldown from policy.cooldowns, and what policy.verbs sets.
func (p Policy) Limits(verb string) VerbLimits {
	verb = strings.ToUpper(verb)
	l, ok := defaultVerbLimits[verb]
	if !ok {
		l = VerbLimits{WhenCapped: WhenCappedQueue, Slots: DefaultSlots}
	}
	l.Cooldown = time.Duration(p.Cooldowns[verb])
	v := p.Verbs[verb]
	if v.Cooldown != nil {
		l.Cooldown = time.Duration(*v.Cooldown)
	}
	if v.MaxPerDay != nil {
		l.MaxPerDay = *v.MaxPerDay
	}
	if v.WhenCapped != "" {
		l.WhenCapped = v.WhenCapped
	}
	if v.Hold != nil {
		l.Hold = time.Duration(*v.Hold)
	}
	if v.Slots != nil {
		l.Slots = *v.Slots
	}
	if v.Blackout != nil {
		l.Blackout = v.Blackout
	}
	return l
}

// AllLimits returns the limits of every verb (Limits), by verb in capitals.
func (p Policy) AllLimits() map[string]VerbLimits {
	all := make(map[string]VerbLimits, len(verbs))
	for _, verb := range verbs {
		all[verb] = p.Limits(verb)
	}
	return all
}

// Window is a daily window of time in UTC, from Start to End after 00:00,
// written "01:00-03:00 UTC". An End before Start wraps midnight
// ("23:00-01:00 UTC"); End may be 24:00.
type Window struct {
	Start, End time.Duration
}

var windowPattern = regexp.MustCompile(`^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*(\S*)\s*$`)

// ParseWindow reads a window written "HH:MM-HH:MM UTC".
func ParseWindow(s string) (Window, error) {
	m := windowPattern.FindStringSubmatch(s)
	if m == nil {
		return Window{}, fmt.Errorf("%q is not a window; write it like \"01:00-03:00 UTC\"", s)
	}
	if m[5] != "UTC" {
		return Window{}, fmt.Errorf("%q: write the times in UTC and say so, like \"01:00-03:00 UTC\"", s)
	}
	at := func(h, min string, end bool) (time.Duration, error) {
		hh, _ := strconv.Atoi(h)
		mm, _ := strconv.Atoi(min)
		if mm > 59 || hh > 24 || hh == 24 && (mm > 0 || !end) {
			return 0, fmt.Errorf("%q: %s:%s is not a time of day (00:00 to 23:59, or 24:00 for an end)", s, h, min)
		}
		return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
	}
	start, err := at(m[1], m[2], false)
	if err != nil {
		return Window{}, err
	}
	end, err := at(m[3], m[4], true)
	if err != nil {
		return Window{}, err
	}
	switch {
	case start == end:
		return Window{}, fmt.Errorf("%q starts where it ends; a window is part of a day", s)
	case start == 0 && end == 24*time.Hour:
		return Window{}, fmt.Errorf("%q is the whole day; a window is part of a day", s)
	}
	return Window{Start: start, End: end}, nil
}

// String writes w as ParseWindow reads it.
func (w Window) String() string {
	hm := func(d time.Duration) string {
		return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return hm(w.Start) + "-" + hm(w.End) + " UTC"
}

// covers reports whether the minute starting at since (after 00:00) is
// inside w. An empty window (one that did not decode) covers nothing.
func (w Window) covers(since time.Duration) bool {
	switch {
	case w.Start == w.End:
		return false
	case w.Start < w.End:
		return since >= w.Start && since < w.End
	}
	return since >= w.Start || since < w.End
}

// MarshalYAML writes w as UnmarshalYAML reads it back.
func (w Window) MarshalYAML() (any, error) { return w.String(), nil }

// UnmarshalYAML reads a window string.
func (w *Window) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	n, ok := unwrapNode(node).(*ast.StringNode)
	if !ok {
		return badValue(ctx, node, nil, "want a window of time like \"01:00-03:00 UTC\"")
	}
	v, err := ParseWindow(n.Value)
	if err != nil {
		return badValue(ctx, node, nil, "%v", err)
	}
	*w = v
	return nil
}

// wholeDay reports whether windows leave no minute of the day free.
func wholeDay(windows []Window) bool {
	if len(windows) == 0 {
		return false
	}
	for m := time.Duration(0); m < 24*time.Hour; m += time.Minute {
		free := true
		for _, w := range windows {
			if w.covers(m) {
				free = false
				break
			}
		}
		if free {
			return false
		}
	}
	return true
}

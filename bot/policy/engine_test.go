package policy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/store"
)

// at reads "23 10:00" or "23 10:00:30" as that day of November 2026, UTC
// (the 23rd is a Monday).
func at(t *testing.T, s string) time.Time {
	t.Helper()
	for _, layout := range []string{"2 15:04:05", "2 15:04"} {
		if v, err := time.Parse(layout, s); err == nil {
			return time.Date(2026, time.November, v.Day(), v.Hour(), v.Minute(), v.Second(), 0, time.UTC)
		}
	}
	t.Fatalf("bad time %q", s)
	return time.Time{}
}

// step is one thing done to the engine at a time of the fake clock.
type step struct {
	at      string // "23 10:00"
	op      string // "" decides; "release", "hold", "restart", "state"
	pr      int
	comment int64
	// Decide: what it answers. when is Until for a postponement, RetryAt
	// for a refusal; reason, when set, the whole reason.
	want   Outcome
	when   string
	slot   int
	causes []Cause
	reason string
	// hold: until when; state: what State answers.
	until string
	state *State
}

// engine is a Policy on a database file, with a clock the test sets; a
// restart opens the file again under a new Policy.
type engine struct {
	t    *testing.T
	path string
	cfg  Config
	now  time.Time
	st   *store.Store
	p    *Policy
}

func newEngine(t *testing.T, cfg Config) *engine {
	e := &engine{t: t, path: filepath.Join(t.TempDir(), "p.db"), cfg: cfg}
	e.restart()
	return e
}

func (e *engine) restart() {
	e.t.Helper()
	if e.st != nil {
		e.st.Close()
	}
	e.st = openStoreAt(e.t, e.path)
	e.p = New(e.cfg, fakePerms{}, e.st, func() time.Time { return e.now })
}

func (e *engine) run(steps []step) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	for i, s := range steps {
		e.now = at(t, s.at)
		name := fmt.Sprintf("step %d (%s %s #%d comment %d)", i, s.at, s.op, s.pr, s.comment)
		switch s.op {
		case "restart":
			e.restart()
		case "release":
			if err := e.p.Release(ctx, s.pr, "website", s.comment); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		case "hold":
			if err := e.p.Hold(ctx, "WEBSITE", s.pr, s.comment, at(t, s.until)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		case "state":
			got, err := e.p.State(ctx, "WEBSITE")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if diff := cmp.Diff(*s.state, got); diff != "" {
				t.Errorf("%s: state (-want +got):\n%s", name, diff)
			}
		case "":
			d, err := e.p.Decide(ctx, s.pr, "WEBSITE", s.comment)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want := Decision{Outcome: s.want, Slot: s.slot, Causes: s.causes, Reason: d.Reason}
			if s.reason != "" {
				want.Reason = s.reason
			}
			switch s.want {
			case Postpone:
				want.Until = at(t, s.when)
			case Refuse:
				want.RetryAt = at(t, s.when)
			}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("%s: decision (-want +got):\n%s", name, diff)
			}
			if s.want != Allow && d.Reason == "" {
				t.Errorf("%s: %s without a reason", name, d.Outcome)
			}
		default:
			t.Fatalf("%s: unknown op", name)
		}
	}
}

func TestDecide(t *testing.T) {
	blackout := []Window{{Start: time.Hour, End: 3 * time.Hour}, {Start: 23*time.Hour + 30*time.Minute, End: 30 * time.Minute}}
	tests := []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{
			name:   "cooldown per PR",
			limits: Limits{Cooldown: 10 * time.Minute},
			steps: []step{
				{at: "23 10:00", pr: 7, comment: 1, want: Allow},
				{at: "23 10:04", pr: 7, comment: 2, want: Refuse, when: "23 10:10", causes: []Cause{CauseCooldown},
					reason: "WEBSITE ran on this PR 4m0s ago; it can run again in 6m0s (at 10:10 UTC)"},
				{at: "23 10:04", pr: 8, comment: 3, want: Allow},
				{at: "23 10:10", pr: 7, comment: 4, want: Allow},
			},
		},
		{
			name:   "daily cap queues to 00:00 UTC of the next day",
			limits: Limits{MaxPerDay: 2},
			steps: []step{
				{at: "23 00:00", pr: 1, comment: 1, want: Allow},
				{at: "23 12:00", pr: 2, comment: 2, want: Allow},
				{at: "23 23:00", pr: 3, comment: 3, want: Postpone, when: "24 00:00", causes: []Cause{CauseDailyCap},
					reason: "WEBSITE ran twice today (UTC), its limit is 2 a day; it can run in 1h0m0s (at 00:00 UTC on Tue 24 Nov)"},
				{at: "23 23:59:59", pr: 3, comment: 3, want: Postpone, when: "24 00:00", causes: []Cause{CauseDailyCap}},
				{at: "24 00:00", pr: 3, comment: 3, want: Allow},
				{at: "24 00:01", pr: 4, comment: 4, want: Allow},
				{at: "24 00:02", pr: 5, comment: 5, want: Postpone, when: "25 00:00", causes: []Cause{CauseDailyCap}},
			},
		},
		{
			name:   "daily cap refuses when configured so",
			limits: Limits{MaxPerDay: 1, RefuseWhenCapped: true},
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow},
				{at: "23 22:30", pr: 2, comment: 2, want: Refuse, when: "24 00:00", causes: []Cause{CauseDailyCap},
					reason: "WEBSITE ran once today (UTC), its limit is 1 a day; it can run again in 1h30m0s (at 00:00 UTC on Tue 24 Nov)"},
				{at: "24 00:00", pr: 2, comment: 3, want: Allow},
			},
		},
		{
			name:   "hold of one slot",
			limits: Limits{Hold: 2 * time.Hour},
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
				// Until published, the run holds the slot from the decision.
				{at: "23 10:30", pr: 2, comment: 2, want: Postpone, when: "23 12:00", causes: []Cause{CauseHold},
					reason: "WEBSITE's result for #1 is held until 12:00 UTC; it can run in 1h30m0s (at 12:00 UTC)"},
				{at: "23 11:00", op: "hold", pr: 1, comment: 1, until: "23 13:00"},
				{at: "23 11:30", pr: 2, comment: 2, want: Postpone, when: "23 13:00", causes: []Cause{CauseHold}},
				// The PR's own result is not held against it.
				{at: "23 11:45", pr: 1, comment: 3, want: Allow, slot: 1},
				{at: "23 13:00", pr: 2, comment: 2, want: Postpone, when: "23 13:45", causes: []Cause{CauseHold}},
				{at: "23 13:45", pr: 2, comment: 2, want: Allow, slot: 1},
				{at: "23 13:46", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 3,
					Slots: []Slot{{Slot: 1, PR: 2, Comment: 2, UsedAt: at(t, "23 13:45"), HeldUntil: at(t, "23 15:45")}}}},
			},
		},
		{
			name:   "hold of two slots, least recently used first",
			limits: Limits{Hold: time.Hour, Slots: 2},
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 10:10", pr: 2, comment: 2, want: Allow, slot: 2},
				{at: "23 10:20", pr: 3, comment: 3, want: Postpone, when: "23 11:00", causes: []Cause{CauseHold},
					reason: "all 2 of WEBSITE's results are held for other PRs, the first (#1) until 11:00 UTC; it can run in 40m0s (at 11:00 UTC)"},
				{at: "23 11:05", pr: 3, comment: 3, want: Allow, slot: 1},
				// PR 3 again: its own slot, held or not.
				{at: "23 11:40", pr: 3, comment: 4, want: Allow, slot: 1},
				// Both free: slot 2, used at 10:10, is the least recently used.
				{at: "23 12:45", pr: 5, comment: 5, want: Allow, slot: 2},
				{at: "23 12:50", pr: 6, comment: 6, want: Allow, slot: 1},
				{at: "23 12:51", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 6, Slots: []Slot{
					{Slot: 1, PR: 6, Comment: 6, UsedAt: at(t, "23 12:50"), HeldUntil: at(t, "23 13:50")},
					{Slot: 2, PR: 5, Comment: 5, UsedAt: at(t, "23 12:45"), HeldUntil: at(t, "23 13:45")},
				}}},
			},
		},
		{
			name:   "blackout windows, one across midnight, at their edges",
			limits: Limits{Blackout: blackout},
			steps: []step{
				{at: "23 00:59:59", pr: 1, comment: 1, want: Allow},
				{at: "23 01:00", pr: 2, comment: 2, want: Postpone, when: "23 03:00", causes: []Cause{CauseBlackout},
					reason: "WEBSITE does not run between 01:00 and 03:00 UTC; it can run in 2h0m0s (at 03:00 UTC)"},
				{at: "23 02:59:59", pr: 2, comment: 2, want: Postpone, when: "23 03:00", causes: []Cause{CauseBlackout}},
				{at: "23 03:00", pr: 2, comment: 2, want: Allow},
				{at: "23 23:29:59", pr: 3, comment: 3, want: Allow},
				{at: "23 23:30", pr: 4, comment: 4, want: Postpone, when: "24 00:30", causes: []Cause{CauseBlackout},
					reason: "WEBSITE does not run between 23:30 and 00:30 UTC; it can run in 1h0m0s (at 00:30 UTC on Tue 24 Nov)"},
				{at: "24 00:00", pr: 4, comment: 4, want: Postpone, when: "24 00:30", causes: []Cause{CauseBlackout}},
				{at: "24 00:29:59", pr: 4, comment: 4, want: Postpone, when: "24 00:30", causes: []Cause{CauseBlackout}},
				{at: "24 00:30", pr: 4, comment: 4, want: Allow},
			},
		},
		{
			name:   "a hold ending inside a blackout window",
			limits: Limits{Hold: 2 * time.Hour, Blackout: []Window{{Start: 12 * time.Hour, End: 13 * time.Hour}}},
			steps: []step{
				{at: "23 10:30", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 11:00", pr: 2, comment: 2, want: Postpone, when: "23 13:00", causes: []Cause{CauseHold, CauseBlackout},
					reason: "WEBSITE's result for #1 is held until 12:30 UTC; after that, WEBSITE does not run between 12:00 and 13:00 UTC; it can run in 2h0m0s (at 13:00 UTC)"},
			},
		},
		{
			name:   "a capped day queued into a blackout window",
			limits: Limits{MaxPerDay: 1, Blackout: blackout},
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow},
				{at: "23 20:00", pr: 2, comment: 2, want: Postpone, when: "24 00:30", causes: []Cause{CauseDailyCap, CauseBlackout}},
			},
		},
		{
			name:   "a restart in the middle of a hold and of a capped day",
			limits: Limits{Hold: 2 * time.Hour, MaxPerDay: 2},
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 10:30", op: "hold", pr: 1, comment: 1, until: "23 12:30"},
				{at: "23 11:00", op: "restart"},
				{at: "23 11:00", pr: 2, comment: 2, want: Postpone, when: "23 12:30", causes: []Cause{CauseHold}},
				{at: "23 12:30", pr: 2, comment: 2, want: Allow, slot: 1},
				{at: "23 13:00", op: "restart"},
				{at: "23 15:00", pr: 3, comment: 3, want: Postpone, when: "24 00:00", causes: []Cause{CauseDailyCap}},
			},
		},
		{
			name:   "the same comment retried takes nothing twice",
			limits: Limits{Cooldown: 10 * time.Minute, MaxPerDay: 2, Hold: time.Hour, Slots: 2},
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 10:01", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 10:02", op: "restart"},
				{at: "23 10:02", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 10:03", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 1, MaxPerDay: 2, Slots: []Slot{
					{Slot: 1, PR: 1, Comment: 1, UsedAt: at(t, "23 10:00"), HeldUntil: at(t, "23 11:00")},
					{Slot: 2},
				}}},
				// The day's second run and the second slot are still there.
				{at: "23 10:04", pr: 2, comment: 2, want: Allow, slot: 2},
			},
		},
		{
			name:   "release gives the day's run, the slot and the cooldown back",
			limits: Limits{Cooldown: 10 * time.Minute, MaxPerDay: 2, Hold: time.Hour},
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 10:30", op: "hold", pr: 1, comment: 1, until: "23 11:30"},
				{at: "23 12:00", pr: 2, comment: 2, want: Allow, slot: 1},
				{at: "23 12:01", pr: 3, comment: 3, want: Postpone, when: "24 00:00", causes: []Cause{CauseDailyCap}},
				// Another comment gives nothing back.
				{at: "23 12:02", op: "release", pr: 2, comment: 99},
				{at: "23 12:02", pr: 3, comment: 3, want: Postpone, when: "24 00:00", causes: []Cause{CauseDailyCap}},
				{at: "23 12:03", op: "release", pr: 2, comment: 2},
				{at: "23 12:03", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 1, MaxPerDay: 2, Slots: []Slot{
					{Slot: 1, PR: 1, Comment: 1, UsedAt: at(t, "23 10:00"), HeldUntil: at(t, "23 11:30")},
				}}},
				// PR 2's cooldown went back too: it may ask again at once.
				{at: "23 12:04", pr: 2, comment: 4, want: Allow, slot: 1},
				{at: "23 12:05", op: "release", pr: 2, comment: 4},
				// A slot never used before goes back to never used.
				{at: "23 12:06", op: "release", pr: 1, comment: 1},
				{at: "23 12:06", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", MaxPerDay: 2, Slots: []Slot{{Slot: 1}}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, Config{Verbs: map[string]Limits{"WEBSITE": tt.limits}})
			e.run(tt.steps)
		})
	}
}

// TestDecideAtOnce: commands deciding at the same time never take more
// than the day's cap or one slot twice.
func TestDecideAtOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	p := New(Config{Verbs: map[string]Limits{"WEBSITE": {MaxPerDay: 3, Hold: time.Hour, Slots: 2}}}, fakePerms{}, openStore(t),
		func() time.Time { return now })
	var mu sync.Mutex
	slots := map[int]int{}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			d, err := p.Decide(ctx, 100+i, "WEBSITE", int64(i+1))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if d.Outcome == Allow {
				slots[d.Slot]++
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff(map[int]int{1: 1, 2: 1}, slots); diff != "" {
		t.Errorf("runs allowed per slot (-want +got):\n%s", diff)
	}
}

func TestDecideMisuse(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	p := New(Config{Verbs: map[string]Limits{"WEBSITE": {Hold: time.Hour}}}, fakePerms{}, openStore(t), func() time.Time { return now })
	if _, err := p.Decide(ctx, 1, "WEBSITE", 0); !errors.Is(err, ErrNoComment) {
		t.Errorf("a capped verb without a comment: %v, want ErrNoComment", err)
	}
	if err := p.Hold(ctx, "WEBSITE", 1, 5, now.Add(time.Hour)); !errors.Is(err, ErrNoSlot) {
		t.Errorf("hold without a run: %v, want ErrNoSlot", err)
	}
	if d, err := p.Decide(ctx, 1, "WEBSITE", 5); err != nil || d.Outcome != Allow {
		t.Fatalf("decide: %+v, %v", d, err)
	}
	if err := p.Hold(ctx, "WEBSITE", 1, 6, now.Add(time.Hour)); !errors.Is(err, ErrNoSlot) {
		t.Errorf("hold by another comment: %v, want ErrNoSlot", err)
	}
	// A verb without limits is allowed without the database.
	if d, err := p.Decide(ctx, 1, "PLAN", 0); err != nil || d.Outcome != Allow {
		t.Errorf("PLAN: %+v, %v", d, err)
	}
}

// TestTakePostponed: for a command that is not queued, a postponement is a
// refusal until it lifts.
func TestTakePostponed(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC)
	p := New(Config{Cooldowns: map[string]time.Duration{"UPDATE": 10 * time.Minute},
		Verbs: map[string]Limits{"UPDATE": {Blackout: []Window{{Start: time.Hour, End: 2 * time.Hour}}}}},
		fakePerms{}, openStore(t), func() time.Time { return now })
	ref, err := p.Take(ctx, 1, "update", 1)
	if err != nil || ref == nil {
		t.Fatalf("Take in a blackout: %v, %v", ref, err)
	}
	want := &Refusal{Reason: "UPDATE does not run between 01:00 and 02:00 UTC; it can run in 30m0s (at 02:00 UTC)",
		RetryAt: time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(want, ref); diff != "" {
		t.Errorf("refusal (-want +got):\n%s", diff)
	}
	// The cooldown of Cooldowns applies too.
	now = now.Add(30 * time.Minute)
	if ref, err := p.Take(ctx, 1, "UPDATE", 2); ref != nil || err != nil {
		t.Fatalf("Take after the window: %v, %v", ref, err)
	}
	if ref, _ := p.Take(ctx, 1, "UPDATE", 3); ref == nil || !ref.RetryAt.Equal(now.Add(10*time.Minute)) {
		t.Errorf("Take within the cooldown: %v", ref)
	}
}

func TestWindowString(t *testing.T) {
	w := Window{Start: 23*time.Hour + 30*time.Minute, End: 30 * time.Minute}
	if got := w.String(); got != "23:30-00:30 UTC" {
		t.Errorf("String() = %q", got)
	}
}

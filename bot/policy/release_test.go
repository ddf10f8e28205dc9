package policy

import (
	"context"
	"errors"
	"testing"
	"time"
)

// runReleases is engine.run with two more ops: "release-slot" (ReleaseSlot
// of the step's PR and comment) and "no-slot" (Hold, which must fail with
// ErrNoSlot).
func (e *engine) runReleases(steps []step) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	for i, s := range steps {
		switch s.op {
		case "release-slot":
			e.now = at(t, s.at)
			if err := e.p.ReleaseSlot(ctx, s.pr, "website", s.comment); err != nil {
				t.Fatalf("step %d (%s release-slot #%d comment %d): %v", i, s.at, s.pr, s.comment, err)
			}
		case "no-slot":
			e.now = at(t, s.at)
			if err := e.p.Hold(ctx, "WEBSITE", s.pr, s.comment, at(t, s.until)); !errors.Is(err, ErrNoSlot) {
				t.Errorf("step %d (%s hold #%d comment %d): %v, want ErrNoSlot", i, s.at, s.pr, s.comment, err)
			}
		default:
			e.run([]step{s})
		}
	}
}

// TestReleaseSlot: ReleaseSlot gives back only the slot a run took, to the
// result that was there before (with its hold) or free when there was
// none; the day's run and the cooldown stay taken, and a later Release
// gives back those but not the slot again.
func TestReleaseSlot(t *testing.T) {
	limits := Limits{Cooldown: 30 * time.Minute, MaxPerDay: 4, Hold: 2 * time.Hour}
	tests := []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{
			name:   "back to the previous result, which keeps its hold",
			limits: limits,
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 10:30", op: "hold", pr: 1, comment: 1, until: "23 12:30"},
				{at: "23 13:00", pr: 2, comment: 2, want: Allow, slot: 1},
				// #2's docs build failed: #1's site is still in the slot.
				{at: "23 13:10", op: "release-slot", pr: 2, comment: 2},
				{at: "23 13:10", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 2, MaxPerDay: 4, Slots: []Slot{
					{Slot: 1, PR: 1, Comment: 1, UsedAt: at(t, "23 10:00"), HeldUntil: at(t, "23 12:30")},
				}}},
				// Again (a retried job): nothing more.
				{at: "23 13:11", op: "release-slot", pr: 2, comment: 2},
				{at: "23 13:11", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 2, MaxPerDay: 4, Slots: []Slot{
					{Slot: 1, PR: 1, Comment: 1, UsedAt: at(t, "23 10:00"), HeldUntil: at(t, "23 12:30")},
				}}},
				// #2's cooldown still runs from 13:00.
				{at: "23 13:12", pr: 2, comment: 3, want: Refuse, when: "23 13:30", causes: []Cause{CauseCooldown}},
				// The released run holds no slot: deciding it again takes
				// none, and it cannot be held.
				{at: "23 13:13", pr: 2, comment: 2, want: Allow},
				{at: "23 13:14", op: "no-slot", pr: 2, comment: 2, until: "23 15:14"},
				{at: "23 13:20", pr: 3, comment: 4, want: Allow, slot: 1},
				// #2's run given back whole: its day's run and cooldown,
				// not the slot #3 took since.
				{at: "23 13:25", op: "release", pr: 2, comment: 2},
				{at: "23 13:25", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 2, MaxPerDay: 4, Slots: []Slot{
					{Slot: 1, PR: 3, Comment: 4, UsedAt: at(t, "23 13:20"), HeldUntil: at(t, "23 15:20")},
				}}},
				{at: "23 13:26", pr: 2, comment: 5, want: Postpone, when: "23 15:20", causes: []Cause{CauseHold}},
				// #3's build failed too: #1's site, whose hold has ended.
				{at: "23 13:27", op: "release-slot", pr: 3, comment: 4},
				{at: "23 13:27", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 2, MaxPerDay: 4, Slots: []Slot{
					{Slot: 1, PR: 1, Comment: 1, UsedAt: at(t, "23 10:00"), HeldUntil: at(t, "23 12:30")},
				}}},
				{at: "23 13:28", pr: 2, comment: 5, want: Allow, slot: 1},
				{at: "23 13:29", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 3, MaxPerDay: 4, Slots: []Slot{
					{Slot: 1, PR: 2, Comment: 5, UsedAt: at(t, "23 13:28"), HeldUntil: at(t, "23 15:28")},
				}}},
			},
		},
		{
			name:   "a slot never used before is free again",
			limits: limits,
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 10:01", op: "release-slot", pr: 1, comment: 1},
				{at: "23 10:01", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 1, MaxPerDay: 4,
					Slots: []Slot{{Slot: 1}}}},
				{at: "23 10:05", pr: 1, comment: 2, want: Refuse, when: "23 10:30", causes: []Cause{CauseCooldown}},
				{at: "23 10:06", pr: 2, comment: 3, want: Allow, slot: 1},
				// A full Release afterwards leaves #2's run in the slot.
				{at: "23 10:07", op: "release", pr: 1, comment: 1},
				{at: "23 10:07", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 1, MaxPerDay: 4, Slots: []Slot{
					{Slot: 1, PR: 2, Comment: 3, UsedAt: at(t, "23 10:06"), HeldUntil: at(t, "23 12:06")},
				}}},
				{at: "23 10:08", pr: 1, comment: 2, want: Postpone, when: "23 12:06", causes: []Cause{CauseHold}},
			},
		},
		{
			name:   "a slot another run took since stays that run's",
			limits: limits,
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
				// #1's docs build ran longer than the hold.
				{at: "23 12:00", pr: 2, comment: 2, want: Allow, slot: 1},
				{at: "23 12:30", op: "release-slot", pr: 1, comment: 1},
				{at: "23 12:30", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 2, MaxPerDay: 4, Slots: []Slot{
					{Slot: 1, PR: 2, Comment: 2, UsedAt: at(t, "23 12:00"), HeldUntil: at(t, "23 14:00")},
				}}},
				{at: "23 12:31", op: "no-slot", pr: 1, comment: 1, until: "23 14:31"},
				{at: "23 12:32", op: "hold", pr: 2, comment: 2, until: "23 14:32"},
				{at: "23 12:33", pr: 3, comment: 3, want: Postpone, when: "23 14:32", causes: []Cause{CauseHold}},
			},
		},
		{
			name:   "a slot another run took since stays that run's, with a result before both",
			limits: limits,
			steps: []step{
				{at: "23 08:00", pr: 4, comment: 10, want: Allow, slot: 1},
				{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 12:00", pr: 2, comment: 2, want: Allow, slot: 1},
				{at: "23 12:30", op: "release-slot", pr: 1, comment: 1},
				{at: "23 12:30", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 3, MaxPerDay: 4, Slots: []Slot{
					{Slot: 1, PR: 2, Comment: 2, UsedAt: at(t, "23 12:00"), HeldUntil: at(t, "23 14:00")},
				}}},
				{at: "23 12:31", op: "release", pr: 1, comment: 1},
				{at: "23 12:31", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 2, MaxPerDay: 4, Slots: []Slot{
					{Slot: 1, PR: 2, Comment: 2, UsedAt: at(t, "23 12:00"), HeldUntil: at(t, "23 14:00")},
				}}},
			},
		},
		{
			name:   "only its own of two slots",
			limits: Limits{Hold: time.Hour, Slots: 2},
			steps: []step{
				{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
				{at: "23 10:10", pr: 2, comment: 2, want: Allow, slot: 2},
				{at: "23 10:20", op: "release-slot", pr: 2, comment: 2},
				{at: "23 10:20", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 2, Slots: []Slot{
					{Slot: 1, PR: 1, Comment: 1, UsedAt: at(t, "23 10:00"), HeldUntil: at(t, "23 11:00")},
					{Slot: 2},
				}}},
				{at: "23 10:21", pr: 3, comment: 3, want: Allow, slot: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, Config{Verbs: map[string]Limits{"WEBSITE": tt.limits}})
			e.runReleases(tt.steps)
		})
	}
}

// TestReleaseSlotChain: two runs in a row that put no result in the slot
// (the second took it while the first's docs build ran past the hold) give
// it back to the result the preview still shows, not to the first run.
func TestReleaseSlotChain(t *testing.T) {
	e := newEngine(t, Config{Verbs: map[string]Limits{"WEBSITE": {Hold: 2 * time.Hour}}})
	e.runReleases([]step{
		{at: "23 10:00", pr: 1, comment: 1, want: Allow, slot: 1},
		{at: "23 10:30", op: "hold", pr: 1, comment: 1, until: "23 12:00"},
		{at: "23 12:00", pr: 2, comment: 2, want: Allow, slot: 1},
		// #2's docs build runs past its hold (14:00): #3 takes the slot.
		{at: "23 14:00", pr: 3, comment: 3, want: Allow, slot: 1},
		{at: "23 14:10", op: "release-slot", pr: 2, comment: 2},
		{at: "23 14:20", op: "release-slot", pr: 3, comment: 3},
		// Neither published: the preview shows #1's site.
		{at: "23 14:20", op: "state", state: &State{Verb: "WEBSITE", Day: "2026-11-23", Today: 3, Slots: []Slot{
			{Slot: 1, PR: 1, Comment: 1, UsedAt: at(t, "23 10:00"), HeldUntil: at(t, "23 12:00")},
		}}},
	})
}

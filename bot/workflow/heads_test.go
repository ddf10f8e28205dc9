package workflow

import (
	"testing"
	"time"

	"github.com/refbot/refbot/bot/store"
)

// TestHeadAt: whether a head provably was the head when a comment was
// written, from what refbot saw of the PR's heads and its force-pushes.
func TestHeadAt(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	seen := func(sha string, s int) store.HeadSeen { return store.HeadSeen{SHA: sha, At: at(s)} }
	push := func(sha string, s int) ForcePush { return ForcePush{After: sha, At: at(s)} }
	c := at(100) // the comment
	for _, tc := range []struct {
		name   string
		seen   []store.HeadSeen
		pushes []ForcePush
		ok     bool
		then   string
	}{
		{name: "seen before, nothing since", seen: []store.HeadSeen{seen("A", 10), seen("A", 200)}, ok: true, then: "A"},
		{name: "nothing seen", ok: false},
		{name: "seen only after", seen: []store.HeadSeen{seen("A", 150)}, ok: false},
		{name: "seen in the comment's second", seen: []store.HeadSeen{seen("A", 100)}, ok: false},
		{name: "another head before, this one after", seen: []store.HeadSeen{seen("B", 10), seen("A", 150)}, ok: false, then: "B"},
		{name: "this head, then another, then back", seen: []store.HeadSeen{seen("A", 10), seen("B", 50), seen("A", 150)}, ok: false, then: "B"},
		{name: "another head after the comment", seen: []store.HeadSeen{seen("A", 10), seen("B", 120), seen("A", 200)}, ok: false, then: "A"},
		{name: "force-pushed away and back after", seen: []store.HeadSeen{seen("A", 10)}, pushes: []ForcePush{push("B", 120), push("A", 130)}, ok: false, then: "A"},
		{name: "force-pushed to it before", pushes: []ForcePush{push("A", 50)}, ok: true, then: "A"},
		{name: "force-pushed to it in the same second as another was seen", seen: []store.HeadSeen{seen("B", 50)}, pushes: []ForcePush{push("A", 50)}, ok: false},
		{name: "two heads seen in one second", seen: []store.HeadSeen{seen("A", 50), seen("B", 50)}, ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, then := headAt(tc.seen, tc.pushes, "A", c)
			if ok != tc.ok || (tc.then != "" && then != tc.then) {
				t.Errorf("headAt = %v, %q; want %v, %q", ok, then, tc.ok, tc.then)
			}
		})
	}
}

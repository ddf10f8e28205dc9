package policy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetrics: every decision on a verb with limits counts by its outcome
// and the limit in the way; a permission refusal counts apart.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	now := at(t, "23 10:00")
	p := New(Config{
		Verbs: map[string]Limits{
			"UPDATE":  {Cooldown: 10 * time.Minute},
			"WEBSITE": {MaxPerDay: 1, Blackout: []Window{{Start: 22 * time.Hour, End: 23 * time.Hour}}},
		},
		Metrics: m,
	}, fakePerms{perm: map[string]string{"alice": "write"}}, openStore(t), func() time.Time { return now })
	ctx := context.Background()
	for i, s := range []struct {
		verb    string
		comment int64
		want    Outcome
	}{
		{"UPDATE", 1, Allow},
		{"UPDATE", 1, Allow}, // its job again
		{"UPDATE", 2, Refuse},
		{"WEBSITE", 3, Allow},
		{"WEBSITE", 4, Postpone}, // the day's cap, then the blackout
		{"PLAN", 5, Allow},       // no limits: not counted
	} {
		d, err := p.Decide(ctx, 12, s.verb, s.comment)
		if err != nil || d.Outcome != s.want {
			t.Fatalf("decision %d: %v, %v; want %v", i, d.Outcome, err, s.want)
		}
	}
	for _, user := range []string{"alice", "mallory"} {
		if _, err := p.Allowed(ctx, user); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP refbot_policy_decisions_total Decisions on running a verb with limits, by verb, outcome (allow, postpone, refuse) and cause: the limit in the way (cooldown, daily_cap, blackout, hold; the first to lift when there are several), none when allowed.
# TYPE refbot_policy_decisions_total counter
refbot_policy_decisions_total{cause="cooldown",outcome="refuse",verb="UPDATE"} 1
refbot_policy_decisions_total{cause="daily_cap",outcome="postpone",verb="WEBSITE"} 1
refbot_policy_decisions_total{cause="none",outcome="allow",verb="UPDATE"} 2
refbot_policy_decisions_total{cause="none",outcome="allow",verb="WEBSITE"} 1
# HELP refbot_policy_permission_refusals_total Commands refused because their author may not command refbot.
# TYPE refbot_policy_permission_refusals_total counter
refbot_policy_permission_refusals_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

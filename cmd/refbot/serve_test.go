package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/policy"
	"github.com/refbot/refbot/config"
)

// TestPolicyConfig: the example configuration's verbs reach the policy
// engine with their defaults filled in and their windows ("01:00-03:00
// UTC") as the engine's.
func TestPolicyConfig(t *testing.T) {
	cfg, err := config.Load("../../deploy/refbot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pc := policyConfig(cfg.Policy)
	if diff := cmp.Diff([]string{"alice", "bob"}, pc.AllowedUsers); diff != "" {
		t.Errorf("allowed users (-want +got):\n%s", diff)
	}
	if got := pc.Verbs["UPDATE"]; got.Cooldown != 10*time.Minute || got.MaxPerDay != 0 || got.Hold != 0 {
		t.Errorf("UPDATE's limits = %+v, want a 10m cooldown only", got)
	}
	web := pc.Verbs["WEBSITE"]
	if web.MaxPerDay != 4 || web.Hold != 2*time.Hour || web.Slots != 1 || web.RefuseWhenCapped || web.Cooldown != 30*time.Minute {
		t.Errorf("WEBSITE's limits = %+v, want the example's: 30m cooldown, 4 a day queued, 2h hold, 1 slot", web)
	}
	if diff := cmp.Diff([]policy.Window{{Start: time.Hour, End: 3 * time.Hour}}, web.Blackout); diff != "" {
		t.Errorf("WEBSITE's blackout (-want +got):\n%s", diff)
	}
}

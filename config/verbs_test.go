package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// inVerbs returns minimal with a policy.verbs section of lines, each
// indented under it; the first line is line 11.
func inVerbs(lines string) string {
	return minimal + "policy:\n  verbs:\n" + lines
}

func TestVerbLimits(t *testing.T) {
	website := VerbLimits{MaxPerDay: 4, WhenCapped: WhenCappedQueue, Hold: 2 * time.Hour, Slots: 1}
	update := VerbLimits{Cooldown: 10 * time.Minute, WhenCapped: WhenCappedQueue, Slots: 1}
	tests := []struct {
		name string
		src  string
		verb string
		want VerbLimits
	}{
		{name: "WEBSITE's defaults", src: minimal, verb: "WEBSITE", want: website},
		{name: "UPDATE's defaults: its cooldown only", src: minimal, verb: "update", want: update},
		{name: "a verb without defaults has no limits", src: minimal, verb: "PLAN", want: VerbLimits{WhenCapped: WhenCappedQueue, Slots: 1}},
		{
			name: "keys left out keep their defaults",
			src:  inVerbs("    WEBSITE:\n      max_per_day: 2\n      when_capped: refuse\n"),
			verb: "WEBSITE",
			want: VerbLimits{MaxPerDay: 2, WhenCapped: WhenCappedRefuse, Hold: 2 * time.Hour, Slots: 1},
		},
		{
			name: "0 turns a default off",
			src:  inVerbs("    WEBSITE: {hold: 0s, max_per_day: 0}\n"),
			verb: "WEBSITE",
			want: VerbLimits{WhenCapped: WhenCappedQueue, Slots: 1},
		},
		{
			name: "the short form of the cooldown",
			src:  minimal + "policy:\n  cooldowns:\n    WEBSITE: 30m\n",
			verb: "WEBSITE",
			want: VerbLimits{Cooldown: 30 * time.Minute, MaxPerDay: 4, WhenCapped: WhenCappedQueue, Hold: 2 * time.Hour, Slots: 1},
		},
		{
			name: "the long form replaces UPDATE's default cooldown",
			src:  inVerbs("    UPDATE:\n      cooldown: 5m\n"),
			verb: "UPDATE",
			want: VerbLimits{Cooldown: 5 * time.Minute, WhenCapped: WhenCappedQueue, Slots: 1},
		},
		{
			name: "slots and blackout windows, one across midnight",
			src:  inVerbs("    WEBSITE:\n      slots: 2\n      blackout: [\"01:00-03:00 UTC\", \"23:30-00:15 UTC\", \"22:00 - 24:00 UTC\"]\n"),
			verb: "WEBSITE",
			want: VerbLimits{MaxPerDay: 4, WhenCapped: WhenCappedQueue, Hold: 2 * time.Hour, Slots: 2, Blackout: []Window{
				{Start: time.Hour, End: 3 * time.Hour},
				{Start: 23*time.Hour + 30*time.Minute, End: 15 * time.Minute},
				{Start: 22 * time.Hour, End: 24 * time.Hour},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeConfig(t, tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg.Policy.Limits(tt.verb)); diff != "" {
				t.Errorf("Limits(%s) mismatch (-want +got):\n%s", tt.verb, diff)
			}
			if got := cfg.Policy.Cooldown(tt.verb); got != tt.want.Cooldown {
				t.Errorf("Cooldown(%s) = %v, want %v", tt.verb, got, tt.want.Cooldown)
			}
			if diff := cmp.Diff(tt.want, cfg.Policy.AllLimits()[strings.ToUpper(tt.verb)]); diff != "" {
				t.Errorf("AllLimits()[%s] mismatch (-want +got):\n%s", tt.verb, diff)
			}
		})
	}
}

func TestVerbProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown key",
			src:  inVerbs("    WEBSITE:\n      holds: 1h\n      max_per_week: 3\n"),
			want: []string{
				`config.yaml:12:7: policy.verbs.WEBSITE: unknown key "holds" (did you mean "hold"?)`,
				`config.yaml:13:7: policy.verbs.WEBSITE: unknown key "max_per_week"; known keys are blackout, cooldown, hold, max_per_day, slots, when_capped`,
			},
		},
		{
			name: "unknown verb and one in small letters",
			src:  inVerbs("    WEBSTIE: {hold: 1h}\n    website: {hold: 1h}\n"),
			want: []string{
				`config.yaml:11:5: policy.verbs.WEBSTIE: unknown verb "WEBSTIE"; verbs are UPDATE, PLAN, WEBSITE, STOP, STATUS, HELP`,
				`config.yaml:12:5: policy.verbs.website: write the verb in capitals: WEBSITE`,
			},
		},
		{
			name: "an hour that is not one",
			src:  inVerbs("    WEBSITE:\n      blackout: [\"25:00-03:00 UTC\"]\n"),
			want: []string{`config.yaml:12:18: policy.verbs.WEBSITE.blackout[0]: "25:00-03:00 UTC": 25:00 is not a time of day (00:00 to 23:59, or 24:00 for an end)`},
		},
		{
			name: "bad windows",
			src: inVerbs("    WEBSITE:\n      blackout:\n        - 01:00-03:00\n        - \"01:70-03:00 UTC\"\n        - 24:00-01:00 UTC\n" +
				"        - 1am-3am UTC\n        - 02:00-02:00 UTC\n        - 00:00-24:00 UTC\n        - 3\n"),
			want: []string{
				`config.yaml:13:11: policy.verbs.WEBSITE.blackout[0]: "01:00-03:00": write the times in UTC and say so, like "01:00-03:00 UTC"`,
				`config.yaml:14:11: policy.verbs.WEBSITE.blackout[1]: "01:70-03:00 UTC": 01:70 is not a time of day (00:00 to 23:59, or 24:00 for an end)`,
				`config.yaml:15:11: policy.verbs.WEBSITE.blackout[2]: "24:00-01:00 UTC": 24:00 is not a time of day (00:00 to 23:59, or 24:00 for an end)`,
				`config.yaml:16:11: policy.verbs.WEBSITE.blackout[3]: "1am-3am UTC" is not a window; write it like "01:00-03:00 UTC"`,
				`config.yaml:17:11: policy.verbs.WEBSITE.blackout[4]: "02:00-02:00 UTC" starts where it ends; a window is part of a day`,
				`config.yaml:18:11: policy.verbs.WEBSITE.blackout[5]: "00:00-24:00 UTC" is the whole day; a window is part of a day`,
				`config.yaml:19:11: policy.verbs.WEBSITE.blackout[6]: want a window of time like "01:00-03:00 UTC"`,
			},
		},
		{
			name: "windows that cover the whole day",
			src:  inVerbs("    WEBSITE:\n      blackout: [\"06:00-18:00 UTC\", \"17:00-06:00 UTC\"]\n"),
			want: []string{`config.yaml:12:7: policy.verbs.WEBSITE.blackout: the windows cover the whole day, so WEBSITE would never run`},
		},
		{
			name: "both forms of a cooldown",
			src:  minimal + "policy:\n  cooldowns:\n    UPDATE: 5m\n  verbs:\n    UPDATE:\n      cooldown: 10m\n",
			want: []string{`config.yaml:14:7: policy.verbs.UPDATE.cooldown: UPDATE's cooldown is also set in policy.cooldowns.UPDATE; keep one of the two`},
		},
		{
			name: "values out of range",
			src:  inVerbs("    WEBSITE:\n      cooldown: -1m\n      max_per_day: -1\n      when_capped: wait\n      hold: -2h\n      slots: 0\n"),
			want: []string{
				`config.yaml:12:7: policy.verbs.WEBSITE.cooldown: must not be negative; 0 turns the cooldown off`,
				`config.yaml:13:7: policy.verbs.WEBSITE.max_per_day: must not be negative; 0 means no cap`,
				`config.yaml:14:7: policy.verbs.WEBSITE.when_capped: "wait" is not a choice; use queue (run at 00:00 UTC the next day) or refuse`,
				`config.yaml:15:7: policy.verbs.WEBSITE.hold: must not be negative; 0 turns the hold off`,
				`config.yaml:16:7: policy.verbs.WEBSITE.slots: must be at least 1, not 0`,
			},
		},
		{
			name: "a hold without a unit",
			src:  inVerbs("    WEBSITE:\n      hold: 7200\n"),
			want: []string{`config.yaml:12:13: policy.verbs.WEBSITE.hold: 7200 has no unit; write a duration like "90s", "10m" or "1h30m"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, loadProblems(t, tt.src)); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWindowRoundTrip(t *testing.T) {
	for _, s := range []string{"01:00-03:00 UTC", "23:30-00:15 UTC", "00:00-00:01 UTC", "22:00-24:00 UTC"} {
		w, err := ParseWindow(s)
		if err != nil {
			t.Errorf("ParseWindow(%q): %v", s, err)
			continue
		}
		if w.String() != s {
			t.Errorf("ParseWindow(%q).String() = %q", s, w.String())
		}
	}
}

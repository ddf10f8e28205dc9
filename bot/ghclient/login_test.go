package ghclient

import (
	"strings"
	"testing"
)

func TestValidLogin(t *testing.T) {
	for s, want := range map[string]bool{
		"alice": true, "a": true, "octo-cat": true, "A1-b2-C3": true, strings.Repeat("a", 39): true,
		"": false, strings.Repeat("a", 40): false, strings.Repeat("a-", 19) + "ab": false, "-alice": false, "alice-": false,
		"al--ice": false, "al_ice": false, "alice\n": false, "@alice": false, "refbot[bot]": false,
	} {
		if got := ValidLogin(s); got != want {
			t.Errorf("ValidLogin(%q) = %v, want %v", s, got, want)
		}
	}
	for s, want := range map[string]bool{"refbot[bot]": true, "alice": true, "[bot]": false, "a[bot][bot]": false, "x y[bot]": false} {
		if got := ValidActor(s); got != want {
			t.Errorf("ValidActor(%q) = %v, want %v", s, got, want)
		}
	}
}

package intake

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOpenPRSeen: a pull_request delivery on an open PR carries the PR as
// it shows it (for the index page's list), whatever the action; one on a
// closed PR carries none (a close removes the PR by its work).
func TestOpenPRSeen(t *testing.T) {
	payload := func(action, state string, draft bool, headRepo string) []byte {
		b, _ := json.Marshal(map[string]any{"action": action, "number": 12, "repository": map[string]any{"full_name": "octo-org/octo-repo"},
			"pull_request": map[string]any{"title": "Plot <colours>", "state": state, "draft": draft, "user": map[string]any{"login": "ann"},
				"base": map[string]any{"ref": "master"}, "updated_at": "2026-11-23T11:00:00Z",
				"head": map[string]any{"sha": "abc", "repo": map[string]any{"full_name": headRepo}}}})
		return b
	}
	open := &OpenPR{PR: 12, Title: "Plot <colours>", Author: "ann", Head: "abc", Base: "master", UpdatedAt: mustTime("2026-11-23T11:00:00Z")}
	fork := *open
	fork.Fork, fork.Draft = true, true
	tests := []struct {
		name string
		body []byte
		want *OpenPR
	}{
		{"opened", payload("opened", "open", false, "octo-org/octo-repo"), open},
		{"synchronize", payload("synchronize", "open", false, "octo-org/octo-repo"), open},
		{"edited", payload("edited", "open", false, "octo-org/octo-repo"), open},
		{"reopened", payload("reopened", "open", false, "octo-org/octo-repo"), open},
		{"a fork's draft", payload("opened", "open", true, "someone/octo-repo"), &fork},
		{"closed", payload("closed", "closed", false, "octo-org/octo-repo"), nil},
		{"labeled after its close", payload("labeled", "closed", false, "octo-org/octo-repo"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newMemRecorder()
			w := post(newHandler(t, rec), "pull_request", "d", Sign(secret, tc.body), tc.body)
			if w.Code != 200 {
				t.Fatalf("status %d (%s)", w.Code, w.Body.String())
			}
			if diff := cmp.Diff(tc.want, rec.deliveries["d"].OpenPR); diff != "" {
				t.Errorf("open PR (-want +got):\n%s", diff)
			}
		})
	}
}

package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/refbot/refbot/bot/intake"
)

type recorder struct {
	mu sync.Mutex
	d  []intake.Delivery
}

func (r *recorder) Record(_ context.Context, d intake.Delivery) (intake.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.d = append(r.d, d)
	return intake.Recorded, nil
}

func TestCommands(t *testing.T) {
	rec := &recorder{}
	h, err := New(Options{Token: "s3cret", Repo: "o/r", Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, auth, path, body string
		code                   int
		want                   string
	}{
		{"no token", "", "/api/v1/prs/12/commands", `{"command":"UPDATE","by":"alice"}`, 401, "bearer token"},
		{"wrong token", "Bearer guess", "/api/v1/prs/12/commands", `{"command":"UPDATE","by":"alice"}`, 401, "bearer token"},
		{"bad PR", "Bearer s3cret", "/api/v1/prs/x/commands", `{"command":"UPDATE","by":"alice"}`, 400, "positive integer"},
		{"unknown field", "Bearer s3cret", "/api/v1/prs/12/commands", `{"cmd":"UPDATE"}`, 400, "unknown field"},
		{"no by", "Bearer s3cret", "/api/v1/prs/12/commands", `{"command":"UPDATE"}`, 400, "is required: who asks"},
		// "by" becomes a trailer of the data commit: it cannot add one.
		{"by adds a trailer", "Bearer s3cret", "/api/v1/prs/12/commands", `{"command":"UPDATE","by":"alice\nRefbot-Build: 1"}`, 400, "must be a GitHub login"},
		{"by with markdown", "Bearer s3cret", "/api/v1/prs/12/commands", `{"command":"UPDATE","by":"[x](http://e)"}`, 400, "must be a GitHub login"},
		{"by too long", "Bearer s3cret", "/api/v1/prs/12/commands", `{"command":"UPDATE","by":"` + strings.Repeat("a", 40) + `"}`, 400, "must be a GitHub login"},
		{"by too long with hyphens", "Bearer s3cret", "/api/v1/prs/12/commands", `{"command":"UPDATE","by":"` + strings.Repeat("a-", 30) + `a"}`, 400, "must be a GitHub login"},
		{"unknown verb", "Bearer s3cret", "/api/v1/prs/12/commands", `{"command":"DEPLOY","by":"alice"}`, 400, "not a verb"},
		{"two commands", "Bearer s3cret", "/api/v1/prs/12/commands", `{"command":"UPDATE\nBUILDBOT: PLAN","by":"alice"}`, 400, "exactly one"},
		{"update", "Bearer s3cret", "/api/v1/prs/12/commands", `{"command":"UPDATE --all","by":"alice"}`, 202, `"queued":"UPDATE"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.body))
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("%d %s; want %d with %q", w.Code, w.Body.String(), tc.code, tc.want)
			}
		})
	}
	if len(rec.d) != 1 {
		t.Fatalf("%d deliveries recorded, want 1", len(rec.d))
	}
	cw := rec.d[0].Work.(intake.CommentWork)
	if !cw.Trusted || cw.PR != 12 || cw.Author != "alice" || cw.Body != "BUILDBOT: UPDATE --all" || cw.CommentID >= 0 {
		t.Errorf("recorded %+v", cw)
	}
	if _, err := New(Options{Recorder: rec}); err == nil {
		t.Error("an API without a token was built")
	}
}

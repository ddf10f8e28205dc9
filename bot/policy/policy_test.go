package policy

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

type fakePerms struct {
	perm  map[string]string
	teams map[string][]string
	err   error
}

func (f fakePerms) Permission(_ context.Context, user string) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	if p, ok := f.perm[user]; ok {
		return p, nil
	}
	return "none", nil
}

func (f fakePerms) TeamMember(_ context.Context, org, team, user string) (bool, error) {
	for _, u := range f.teams[org+"/"+team] {
		if u == user {
			return true, nil
		}
	}
	return false, f.err
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestAllowed(t *testing.T) {
	ctx := context.Background()
	perms := fakePerms{perm: map[string]string{"admin1": "admin", "maint": "maintain", "writer": "write", "triager": "triage", "reader": "read"},
		teams: map[string][]string{"org/reviewers": {"teamie"}}}
	p, err := New(ctx, Config{AllowedUsers: []string{"Guest"}, AllowedTeams: []string{"org/reviewers"}}, perms, openDB(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user    string
		allowed bool
		reason  string
	}{
		{"admin1", true, ""}, {"maint", true, ""}, {"writer", true, ""},
		{"guest", true, ""}, // configured user, case-insensitive
		{"teamie", true, ""},
		{"triager", false, "@triager has triage permission"},
		{"reader", false, "@reader has read permission"},
		{"stranger", false, "@stranger has none permission on this repository; commands need write, maintain or admin (or to be listed"},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			ref, err := p.Allowed(ctx, tc.user)
			if err != nil {
				t.Fatal(err)
			}
			if (ref == nil) != tc.allowed || (ref != nil && !strings.Contains(ref.Reason, tc.reason)) {
				t.Errorf("Allowed(%s) = %v, want allowed=%v reason %q", tc.user, ref, tc.allowed, tc.reason)
			}
		})
	}
	// An API outage is an error, never a yes.
	p.perms = fakePerms{err: errors.New("GitHub is down")}
	if ref, err := p.Allowed(ctx, "writer"); err == nil {
		t.Errorf("outage: refusal %v, err nil; want an error", ref)
	}
}

func TestCooldownPersists(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cfg := Config{Cooldowns: map[string]time.Duration{"UPDATE": 10 * time.Minute}}
	p, err := New(ctx, cfg, fakePerms{}, db, clock)
	if err != nil {
		t.Fatal(err)
	}
	if ref, err := p.Take(ctx, 7, "update", 1); ref != nil || err != nil {
		t.Fatalf("first UPDATE refused: %v %v", ref, err)
	}
	now = now.Add(4 * time.Minute)
	// A new Policy on the same database (a restart) still knows.
	p, _ = New(ctx, cfg, fakePerms{}, db, clock)
	if ref, _ := p.Take(ctx, 7, "UPDATE", 1); ref != nil {
		t.Errorf("the same comment (a retried job) was refused: %v", ref)
	}
	ref, err := p.Take(ctx, 7, "UPDATE", 2)
	if err != nil || ref == nil {
		t.Fatalf("second UPDATE within the cooldown allowed: %v", err)
	}
	if want := "UPDATE ran on this PR 4m0s ago; it can run again in 6m0s (at 10:10 UTC)"; ref.Reason != want {
		t.Errorf("reason %q, want %q", ref.Reason, want)
	}
	if !ref.RetryAt.Equal(time.Date(2026, 11, 23, 10, 10, 0, 0, time.UTC)) {
		t.Errorf("RetryAt = %v", ref.RetryAt)
	}
	if ref, _ := p.Take(ctx, 8, "UPDATE", 3); ref != nil {
		t.Errorf("another PR is cooling down too: %v", ref)
	}
	if ref, _ := p.Take(ctx, 7, "PLAN", 4); ref != nil {
		t.Errorf("a verb without a cooldown was refused: %v", ref)
	}
	now = now.Add(6 * time.Minute)
	if ref, _ := p.Take(ctx, 7, "UPDATE", 5); ref != nil {
		t.Errorf("UPDATE after the cooldown refused: %v", ref)
	}
	if err := p.Release(ctx, 7, "UPDATE"); err != nil {
		t.Fatal(err)
	}
	if ref, _ := p.Take(ctx, 7, "UPDATE", 6); ref != nil {
		t.Errorf("UPDATE after Release refused: %v", ref)
	}
}

package policy

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/store"
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

func openStore(t *testing.T) *store.Store {
	t.Helper()
	return openStoreAt(t, filepath.Join(t.TempDir(), "p.db"))
}

func openStoreAt(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestAllowed(t *testing.T) {
	ctx := context.Background()
	perms := fakePerms{perm: map[string]string{"admin1": "admin", "maint": "maintain", "writer": "write", "triager": "triage", "reader": "read"},
		teams: map[string][]string{"org/reviewers": {"teamie"}}}
	p := New(Config{AllowedUsers: []string{"Guest"}, AllowedTeams: []string{"org/reviewers"}}, perms, openStore(t), nil)
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
	path := filepath.Join(t.TempDir(), "p.db")
	st := openStoreAt(t, path)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cfg := Config{Cooldowns: map[string]time.Duration{"UPDATE": 10 * time.Minute}}
	p := New(cfg, fakePerms{}, st, clock)
	if ref, err := p.Take(ctx, 7, "update", 1); ref != nil || err != nil {
		t.Fatalf("first UPDATE refused: %v %v", ref, err)
	}
	now = now.Add(4 * time.Minute)
	// A restart: the database opened again, a new Policy on it.
	st.Close()
	p = New(cfg, fakePerms{}, openStoreAt(t, path), clock)
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
	// Another comment cannot give comment 5's cooldown back; comment 5 can.
	if err := p.Release(ctx, 7, "UPDATE", 6); err != nil {
		t.Fatal(err)
	}
	if ref, _ := p.Take(ctx, 7, "UPDATE", 6); ref == nil {
		t.Error("a refused comment gave back a cooldown it did not hold")
	}
	if err := p.Release(ctx, 7, "UPDATE", 5); err != nil {
		t.Fatal(err)
	}
	if ref, _ := p.Take(ctx, 7, "UPDATE", 6); ref != nil {
		t.Errorf("UPDATE after Release refused: %v", ref)
	}
}

package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWithoutVariables(t *testing.T) {
	env := []string{"PATH=/usr/bin", "GITHUB_TOKEN=ghp_x", "HOME=/var/lib/refbot", "PGPASSWORD=pw", "GITHUB_TOKEN_OLD=keep=me", "EMPTY="}
	got := withoutVariables(env, []string{"GITHUB_TOKEN", "PGPASSWORD", "EMPTY"})
	want := []string{"PATH=/usr/bin", "HOME=/var/lib/refbot", "GITHUB_TOKEN_OLD=keep=me"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("withoutVariables (-want +got):\n%s", d)
	}
	if len(env) != 6 {
		t.Error("withoutVariables changed its argument")
	}
}

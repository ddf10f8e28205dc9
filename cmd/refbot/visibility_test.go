package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/webauth"
	"github.com/refbot/refbot/config"
)

// TestFollowVisibility: with pages.access auto the pages follow the
// repository's visibility, from GitHub's event and from a regular look; a
// look GitHub does not answer changes nothing; with access configured
// outright nothing follows.
func TestFollowVisibility(t *testing.T) {
	auth, err := webauth.New(webauth.Options{Mode: webauth.Public, Repo: "o/r"})
	if err != nil {
		t.Fatal(err)
	}
	type reply struct {
		private bool
		err     error
	}
	var answer atomic.Pointer[reply]
	answer.Store(&reply{})
	isPrivate := func(context.Context) (bool, error) { a := answer.Load(); return a.private, a.err }
	cfg := &config.Config{}
	cfg.Pages.Access = config.PagesAuto
	onEvent, watch := followVisibility(cfg, auth, isPrivate, 5*time.Millisecond, zap.NewNop())
	if onEvent == nil || watch == nil {
		t.Fatal("pages.access auto follows nothing")
	}
	onEvent(true)
	if auth.Mode() != webauth.Private {
		t.Fatalf("after a privatized event: %s", auth.Mode())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); watch(ctx) }()
	defer func() { cancel(); <-done }()
	waitMode := func(want webauth.Mode) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); auth.Mode() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("mode %s, want %s", auth.Mode(), want)
			}
		}
	}
	waitMode(webauth.Public) // GitHub says public: the event was undone since
	answer.Store(&reply{err: errors.New("GitHub is down")})
	onEvent(true)
	time.Sleep(50 * time.Millisecond) // several looks, none answered
	if auth.Mode() != webauth.Private {
		t.Errorf("looks GitHub did not answer changed the mode to %s", auth.Mode())
	}
	answer.Store(&reply{})
	waitMode(webauth.Public)

	cfg.Pages.Access = config.PagesPublic
	if onEvent, watch := followVisibility(cfg, auth, isPrivate, time.Millisecond, zap.NewNop()); onEvent != nil || watch != nil {
		t.Error("pages.access public follows the repository's visibility")
	}
}

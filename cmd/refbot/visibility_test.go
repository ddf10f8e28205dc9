package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/webauth"
	"github.com/refbot/refbot/config"
)

// fakeVisibility answers refbot's question "is the repository private?"
// as a test says, one look at a time: each look waits for its answer.
type fakeVisibility struct {
	asked   chan struct{}
	answers chan visibilityAnswer
}

type visibilityAnswer struct {
	private bool
	err     error
}

func (f *fakeVisibility) isPrivate(ctx context.Context) (bool, error) {
	select {
	case f.asked <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case a := <-f.answers:
		return a.private, a.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// TestFollowVisibility: with pages.access auto the pages follow the
// repository's visibility. A privatized event closes them at once; every
// event makes refbot ask GitHub, whose answer decides, so a replayed
// event opens nothing; a look an event overtook is asked again, never
// applied; a look GitHub does not answer changes nothing; the regular
// look asks too. With access configured outright nothing follows.
func TestFollowVisibility(t *testing.T) {
	auth, err := webauth.New(webauth.Options{Mode: webauth.Public, Repo: "o/r"})
	if err != nil {
		t.Fatal(err)
	}
	gh := &fakeVisibility{asked: make(chan struct{}), answers: make(chan visibilityAnswer)}
	cfg := &config.Config{}
	cfg.Pages.Access = config.PagesAuto
	onEvent, watch := followVisibility(cfg, auth, gh.isPrivate, time.Hour, zap.NewNop())
	if onEvent == nil || watch == nil {
		t.Fatal("pages.access auto follows nothing")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); watch(ctx) }()
	defer cancel()
	asked := func(what string) {
		t.Helper()
		select {
		case <-gh.asked:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: refbot did not ask GitHub", what)
		}
	}
	answer := func(a visibilityAnswer) {
		t.Helper()
		select {
		case gh.answers <- a:
		case <-time.After(10 * time.Second):
			t.Fatal("refbot stopped waiting for GitHub's answer")
		}
	}
	settled := func(want webauth.Mode) {
		t.Helper()
		// The look that got the answer sets the mode just after.
		for deadline := time.Now().Add(10 * time.Second); auth.Mode() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("mode %s, want %s", auth.Mode(), want)
			}
		}
	}

	// privatized: closed at once, then GitHub confirms.
	onEvent(true)
	if auth.Mode() != webauth.Private {
		t.Fatalf("after a privatized event: %s, want private at once", auth.Mode())
	}
	asked("privatized")
	answer(visibilityAnswer{private: true})
	settled(webauth.Private)

	// publicized, replayed: nothing opens until GitHub says public, and
	// GitHub says private.
	onEvent(false)
	if auth.Mode() != webauth.Private {
		t.Fatalf("a publicized event opened the pages before GitHub was asked")
	}
	asked("publicized")
	answer(visibilityAnswer{private: true})
	settled(webauth.Private)

	// A look overtaken by an event is asked again: its "public" is older
	// than the privatized event and must not reopen the pages.
	onEvent(false)
	asked("publicized, for real")
	onEvent(true) // while GitHub is answering the first look
	answer(visibilityAnswer{private: false})
	asked("the overtaken look, again")
	if auth.Mode() != webauth.Private {
		t.Fatalf("the overtaken look's answer was applied: %s", auth.Mode())
	}
	answer(visibilityAnswer{private: true})
	settled(webauth.Private)

	// GitHub does not answer: the access stays as it is.
	onEvent(false)
	asked("publicized, GitHub down")
	answer(visibilityAnswer{err: errors.New("GitHub is down")})
	onEvent(false)
	asked("publicized, GitHub back")
	if auth.Mode() != webauth.Private {
		t.Fatalf("a look GitHub did not answer changed the mode to %s", auth.Mode())
	}
	answer(visibilityAnswer{private: false})
	settled(webauth.Public)

	// The regular look.
	cancel()
	<-done
	_, regular := followVisibility(cfg, auth, gh.isPrivate, 10*time.Millisecond, zap.NewNop())
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { defer close(done2); regular(ctx2) }()
	defer func() { cancel2(); <-done2 }()
	asked("the regular look")
	answer(visibilityAnswer{private: true})
	settled(webauth.Private)

	cfg.Pages.Access = config.PagesPublic
	if onEvent, watch := followVisibility(cfg, auth, gh.isPrivate, time.Millisecond, zap.NewNop()); onEvent != nil || watch != nil {
		t.Error("pages.access public follows the repository's visibility")
	}
}

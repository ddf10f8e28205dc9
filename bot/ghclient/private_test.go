package ghclient

import (
	"context"
	"testing"

	"github.com/refbot/refbot/internal/fakegithub"
)

func TestRepoPrivate(t *testing.T) {
	ctx := context.Background()
	e := setup(t, nil)
	if private, err := e.c.RepoPrivate(ctx); err != nil || private {
		t.Errorf("public repository: private %v, %v", private, err)
	}
	e.gh.SetPrivate(true)
	e.gh.SetPermission("refbot", fakegithub.PermWrite)
	e.gh.SetTokenScopes(e.gh.Token(), "repo")
	if private, err := e.c.RepoPrivate(ctx); err != nil || !private {
		t.Errorf("private repository: private %v, %v", private, err)
	}
}

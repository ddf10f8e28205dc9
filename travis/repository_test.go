package travis_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/travis"
	"github.com/refbot/refbot/travis/travistest"
)

// TestRepository reads a repository and its newest build's permissions as
// the fake renders them, with permissions taken away, and unknown or
// refused repositories.
func TestRepository(t *testing.T) {
	ctx := context.Background()
	s := travistest.NewServer(t)
	const slug = "octo-org/octo-repo"
	s.AddRepo(slug)
	c, err := travis.New(s.URL, s.Token, nil)
	if err != nil {
		t.Fatal(err)
	}

	perms, err := c.NewestBuildPermissions(ctx, slug)
	if err != nil || perms != nil {
		t.Errorf("without builds: NewestBuildPermissions = %v, %v; want nil, nil", perms, err)
	}
	s.AddBuild(travistest.Build{Repo: slug, State: "passed"})
	newest := s.AddBuild(travistest.Build{Repo: slug, State: "failed"})
	s.SetPermission(slug, "restart", false)
	s.SetPermission(slug, "create_request", false)
	s.SetActive(slug, false)

	repo, err := c.Repository(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	if repo.Slug != slug || repo.Active || !repo.Permissions["read"] || repo.Permissions["create_request"] {
		t.Errorf("Repository = %+v; want %s, inactive, read but not create_request", repo, slug)
	}
	perms, err = c.NewestBuildPermissions(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"read": true, "cancel": true, "restart": false}, perms); diff != "" {
		t.Errorf("NewestBuildPermissions (-want +got):\n%s", diff)
	}

	if err := c.Restart(ctx, newest.ID); !errors.Is(err, travis.ErrUnauthorized) || s.Restarts(newest.ID) != 0 {
		t.Errorf("restart without the permission: %v, %d restarts; want ErrUnauthorized, none", err, s.Restarts(newest.ID))
	}

	if _, err := c.Repository(ctx, "octo-org/unknown"); !errors.Is(err, travis.ErrNotFound) {
		t.Errorf("unknown repository: %v, want ErrNotFound", err)
	}
	wrong, err := travis.New(s.URL, "wrong-token", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Repository(ctx, slug); !errors.Is(err, travis.ErrUnauthorized) {
		t.Errorf("wrong token: %v, want ErrUnauthorized", err)
	}
}

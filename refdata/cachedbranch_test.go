package refdata

import (
	"context"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestCachedBranch: CachedBranch answers from the cache's copy of a branch,
// as the last fetch or push left it, and never contacts the server.
func TestCachedBranch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var pushed, theirs string
	steps := []struct {
		name   string
		do     func(t *testing.T)
		branch string
		want   func() string // the tip expected, "" for none
		build  string        // its Refbot-Build trailer
	}{
		{name: "nothing fetched yet", branch: "master", want: func() string { return "" }},
		{name: "after refbot's push", do: func(t *testing.T) {
			res, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Trailers: Trailers{PR: 1, Build: "b1"},
				Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "1\n"})}}})
			if err != nil {
				t.Fatal(err)
			}
			pushed = res.Commit.String()
		}, branch: "PR1", want: func() string { return pushed }, build: "b1"},
		{name: "the base as the push's fetch left it", branch: "master", want: func() string { return f.git(t, "rev-parse", "master") }},
		{name: "someone else pushed: still refbot's copy", do: func(t *testing.T) {
			theirs = f.commitOnServer(t, "PR1", map[string]string{"data/theirs.txt": "x\n"})
		}, branch: "PR1", want: func() string { return pushed }, build: "b1"},
		{name: "after a fetch", do: func(t *testing.T) {
			if _, err := f.repo.Branch(ctx, "PR1"); err != nil {
				t.Fatal(err)
			}
		}, branch: "PR1", want: func() string { return theirs }},
		{name: "after refbot deleted it", do: func(t *testing.T) {
			if _, err := f.repo.DeleteBranch(ctx, "PR1"); err != nil {
				t.Fatal(err)
			}
		}, branch: "PR1", want: func() string { return "" }},
		{name: "a branch that never was", branch: "PR404", want: func() string { return "" }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.do != nil {
				st.do(t)
			}
			before := f.gs.Requests()
			info, err := f.repo.CachedBranch(ctx, st.branch)
			if err != nil {
				t.Fatal(err)
			}
			if n := f.gs.Requests() - before; n != 0 {
				t.Errorf("%d requests to the server, want none", n)
			}
			want := st.want()
			if info.Exists != (want != "") || (want != "" && info.Tip != plumbing.NewHash(want)) {
				t.Errorf("CachedBranch(%s) = exists %v, tip %s; want tip %q", st.branch, info.Exists, info.Tip, want)
			}
			if got := info.Trailers["Refbot-Build"]; got != st.build {
				t.Errorf("Refbot-Build = %q, want %q", got, st.build)
			}
			if want != "" {
				parent := plumbing.NewHash(f.git(t, "log", "-1", "--format=%P", want)) // zero for the seed
				if info.Base != parent {
					t.Errorf("Base = %s, want the tip's parent %s", info.Base, parent)
				}
			}
		})
	}
	if _, err := f.repo.CachedBranch(ctx, "PR1..x"); err == nil {
		t.Error("an invalid branch name was accepted")
	}
}

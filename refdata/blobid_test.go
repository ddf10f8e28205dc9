package refdata

import (
	"context"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/refbot/refbot/internal/testenv"
)

// TestKnownBlobsAreBlobs: KnownBlobs names the files of the base branch
// and of the branch, never their folders.
func TestKnownBlobsAreBlobs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"new/n.txt": "n\n"})}}}); err != nil {
		t.Fatal(err)
	}
	known, err := f.repo.KnownBlobs(ctx, "PR1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rev  string
		want bool
	}{
		{"master:README.md", true},
		{"master:data/a.txt", true},
		{"master:data/sub/c.txt", true},
		{"PR1:data/new/n.txt", true},
		{"master^{tree}", false},
		{"master:data", false},
		{"master:data/sub", false},
		{"PR1^{tree}", false},
		{"PR1:data/new", false},
		{"master", false},
	} {
		if got := known[plumbing.NewHash(f.git(t, "rev-parse", tc.rev))]; got != tc.want {
			t.Errorf("KnownBlobs has %s: %v, want %v", tc.rev, got, tc.want)
		}
	}
}

// TestUpdateRefusesNonBlobIDs: a file whose "git blob id" (from a
// manifest, which a hostile upload could write) names a tree or a commit is
// refused with an error naming it, in a dry run too, and nothing is
// pushed; without the check, a tree the remote has would be committed as
// the file's content.
func TestUpdateRefusesNonBlobIDs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := func(rev string) plumbing.Hash { return plumbing.NewHash(f.git(t, "rev-parse", rev)) }
	a := id("master:data/a.txt")
	// The tree the update below makes for its folder d/ (d/x.txt = a).
	made, err := newNewObjects().add(&object.Tree{Entries: []object.TreeEntry{{Name: "x.txt", Mode: filemode.Regular, Hash: a}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		blob  plumbing.Hash
		local bool
		dry   bool
		want  string
	}{
		{name: "a folder of the base", blob: id("master:data/sub"), want: "names a tree"},
		{name: "the base's root tree", blob: id("master^{tree}"), want: "names a tree"},
		{name: "a folder of the base, dry run", blob: id("master:data/sub"), dry: true, want: "names a tree"},
		{name: "a folder of the base, with contents", blob: id("master:data/sub"), local: true, want: "names a tree"},
		{name: "a folder the update makes", blob: made, want: "names a tree"},
		{name: "the base's commit", blob: id("master"), want: "names a commit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := []File{{Path: "a.txt", Blob: a, Size: 3}, {Path: "d/x.txt", Blob: a, Size: 3}, {Path: "z.txt", Blob: tc.blob, Size: 3}}
			if tc.local {
				files[2].Local = testenv.Tree(t, map[string]string{"z.txt": "zzz"}) + "/z.txt"
			}
			before := f.gs.Requests()
			_, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", DryRun: tc.dry, Parts: []Part{{Files: files}}})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "z.txt") {
				t.Errorf("err = %v, want it to say z.txt %s", err, tc.want)
			}
			if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR1"); out != "" {
				t.Errorf("PR1 was created at %s", out)
			}
			if n := f.gs.Requests() - before; n > 2 { // the fetch: advertisement and pack
				t.Errorf("%d requests to the server; nothing but a fetch was expected", n)
			}
		})
	}
}

package refdata

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/config"
	"github.com/refbot/refbot/internal/testenv"
)

// topSeed is a data repo with its data at the top, beside the files it
// keeps for itself.
var topSeed = map[string]string{
	"README.md":                 "# reference data\n",
	"LICENSE":                   "CC0\n",
	".github/workflows/x.yml":   "on: push\n",
	".gitattributes":            "*.png binary\n",
	"a.txt":                     "a1\n",
	"b.txt":                     "b1\n",
	"sub/c.txt":                 "c1\n",
	"linux/out.txt":             "l1\n",
	"README-not-a-folder/x.txt": "hmm\n",
}

// protectedPaths are topSeed's paths that are not data.
var protectedPaths = []string{"README.md", "LICENSE", ".github/workflows/x.yml", ".gitattributes", "README-not-a-folder/x.txt"}

// newTopFixture serves topSeed and opens it with DataRoot "." and the
// default protection.
func newTopFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixtureWith(t, topSeed)
	f.repo = f.openWith(t, Options{DataRoot: ".", Protect: config.DefaultProtect})
	return f
}

func (f *fixture) openWith(t *testing.T, o Options) *Repo {
	t.Helper()
	o.URL, o.Token, o.CacheDir = f.gs.URL("data.git"), f.gs.Token, filepath.Join(t.TempDir(), "cache")
	r, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// amendOnServer replaces the tip commit of branch with one that also
// writes files, as someone pushing to the data branch by hand would.
func (f *fixture) amendOnServer(t *testing.T, branch string, files map[string]string) {
	t.Helper()
	work := t.TempDir()
	testenv.Git(t, work, "clone", "--quiet", "--branch", branch, f.bare, ".")
	mustWrite(t, work, files)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "--quiet", "--amend", "--no-edit")
	testenv.Git(t, work, "push", "--quiet", "--force", "origin", branch)
}

// sameProtected checks that rev holds master's protected files, byte for
// byte (the same blobs).
func (f *fixture) sameProtected(t *testing.T, rev, base string) {
	t.Helper()
	for _, p := range protectedPaths {
		if got, want := f.git(t, "rev-parse", rev+":"+p), f.git(t, "rev-parse", base+":"+p); got != want {
			t.Errorf("%s:%s is %s, want %s's %s", rev, p, got, base, want)
		}
	}
}

// TestDataAtTop: with DataRoot "." every operation treats the protected
// top-level entries as not data: kept from the base byte for byte, never
// listed as changes, never counted, never carried from a data branch.
func TestDataAtTop(t *testing.T) {
	ctx := context.Background()
	newData := map[string]string{"a.txt": "a2\n", "sub/c.txt": "c1\n", "new.txt": "n\n"}
	tests := []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"an update replacing the data keeps the protected files", func(t *testing.T, f *fixture) {
			res, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, newData)}}})
			if err != nil {
				t.Fatal(err)
			}
			f.sameProtected(t, "PR1", "master")
			want := map[string]string{"a.txt": "a2", "sub/c.txt": "c1", "new.txt": "n"}
			for _, p := range protectedPaths {
				want[p] = strings.TrimSuffix(topSeed[p], "\n")
			}
			if diff := cmp.Diff(want, f.files(t, "PR1")); diff != "" {
				t.Errorf("PR1 (-want +got):\n%s", diff)
			}
			wantChanges := []string{"modified a.txt", "removed b.txt", "removed linux/out.txt", "added new.txt"}
			if diff := cmp.Diff(wantChanges, changes(res.Changes)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"a.txt", "b.txt", "linux/out.txt", "new.txt"}, res.FromBase); diff != "" {
				t.Errorf("FromBase (-want +got):\n%s", diff)
			}
			if res.Files != 3 || res.FilesBefore != 4 {
				t.Errorf("Files = %d, FilesBefore = %d; want 3 and 4 (data files only)", res.Files, res.FilesBefore)
			}
			f.fsck(t)
		}},
		{"a variant update keeps them too", func(t *testing.T, f *fixture) {
			res, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Variant: "linux", Dir: dataDir(t, map[string]string{"out.txt": "l2\n"})}}})
			if err != nil {
				t.Fatal(err)
			}
			f.sameProtected(t, "PR1", "master")
			if diff := cmp.Diff([]string{"modified linux/out.txt"}, changes(res.Changes)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if res.Files != 1 || res.FilesBefore != 1 {
				t.Errorf("Files = %d, FilesBefore = %d; want 1 and 1", res.Files, res.FilesBefore)
			}
		}},
		{"the base's new README reaches the branch, and is no change of it", func(t *testing.T, f *fixture) {
			if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, newData)}}}); err != nil {
				t.Fatal(err)
			}
			f.commitOnServer(t, "master", map[string]string{"README.md": "# moved\n"})
			res, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, newData)}}})
			if err != nil {
				t.Fatal(err)
			}
			f.sameProtected(t, "PR1", "master")
			if len(res.Changes) != 0 {
				t.Errorf("changes = %v, want none: only the README moved", changes(res.Changes))
			}
		}},
		{"a data branch's own change to a protected file is not promoted", func(t *testing.T, f *fixture) {
			if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, newData)}}}); err != nil {
				t.Fatal(err)
			}
			f.amendOnServer(t, "PR1", map[string]string{"README.md": "# by hand\n", "LICENSE": "mine\n"})
			before := f.git(t, "rev-parse", "master")
			res, err := f.repo.Promote(ctx, "PR1", false)
			if err != nil {
				t.Fatal(err)
			}
			f.sameProtected(t, "master", before)
			if got := f.files(t, "master")["a.txt"]; got != "a2" {
				t.Errorf("master:a.txt = %q, want the promoted a2", got)
			}
			for _, c := range res.Changes {
				if c.Path == "README.md" || c.Path == "LICENSE" {
					t.Errorf("promotion lists %s", c.Path)
				}
			}
		}},
		{"a rebase takes the base's protected files without conflict", func(t *testing.T, f *fixture) {
			if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, newData)}}}); err != nil {
				t.Fatal(err)
			}
			f.amendOnServer(t, "PR1", map[string]string{"README.md": "# by hand\n"})
			f.commitOnServer(t, "master", map[string]string{"README.md": "# moved\n", "LICENSE": "CC-BY\n"})
			if _, err := f.repo.Rebase(ctx, "PR1"); err != nil {
				t.Fatal(err)
			}
			f.sameProtected(t, "PR1", "master")
		}},
		{"overlaps are about data", func(t *testing.T, f *fixture) {
			for _, b := range []string{"PR1", "PR2"} {
				if _, err := f.repo.Update(ctx, UpdateRequest{Branch: b, Parts: []Part{{Dir: dataDir(t, newData)}}}); err != nil {
					t.Fatal(err)
				}
			}
			f.amendOnServer(t, "PR2", map[string]string{"README.md": "# by hand\n"})
			got, err := f.repo.Overlaps(ctx, "PR1", []string{"README.md", "a.txt"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string][]string{"PR2": {"a.txt"}}, got); diff != "" {
				t.Errorf("overlaps (-want +got):\n%s", diff)
			}
		}},
		{"a base build against an older base keeps the protected files", func(t *testing.T, f *fixture) {
			d0 := f.git(t, "rev-parse", "master")
			f.commitOnServer(t, "master", map[string]string{"README.md": "# moved\n", "b.txt": "b on master\n"})
			build := map[string]string{"a.txt": "a2\n", "b.txt": "b1\n", "sub/c.txt": "c1\n", "linux/out.txt": "l1\n"} // D0's data, a changed
			res, err := f.repo.Update(ctx, UpdateRequest{Branch: "master", Against: plumbing.NewHash(d0), Parts: []Part{{Dir: dataDir(t, build)}}})
			if err != nil {
				t.Fatal(err)
			}
			f.sameProtected(t, "master", "master^")
			got := f.files(t, "master")
			if got["README.md"] != "# moved" || got["b.txt"] != "b on master" || got["a.txt"] != "a2" {
				t.Errorf("master = %v", got)
			}
			if diff := cmp.Diff([]string{"modified a.txt"}, changes(res.Changes)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newTopFixture(t)) })
	}
}

// TestDataAtTopRefusesProtectedNames: a build (or a variant) whose
// top-level name is protected is refused with an error naming it, in a
// dry run too, and nothing is pushed.
func TestDataAtTopRefusesProtectedNames(t *testing.T) {
	ctx := context.Background()
	f := newTopFixture(t)
	tests := []struct {
		name  string
		parts []Part
		want  string
	}{
		{"a README of its own", []Part{{Dir: dataDir(t, map[string]string{"a.txt": "a\n", "README.md": "mine\n"})}}, "README.md is protected"},
		{"a licence", []Part{{Dir: dataDir(t, map[string]string{"LICENSE.txt": "mine\n"})}}, "LICENSE.txt is protected"},
		{"GitHub settings", []Part{{Dir: dataDir(t, map[string]string{".github/workflows/evil.yml": "on: push\n"})}}, ".github/ is protected"},
		{"a .gitignore", []Part{{Dir: dataDir(t, map[string]string{".gitignore": "*\n"})}}, ".gitignore is protected"},
		{"a file where the repo keeps a protected folder", []Part{{Files: []File{{Path: ".github", Blob: plumbing.NewHash(f.git(t, "rev-parse", "master:a.txt")), Size: 3}}}}, ".github is protected"},
		{"a protected variant", []Part{{Variant: "README", Dir: dataDir(t, map[string]string{"x.txt": "x\n"})}}, "README/ is protected"},
		{"a variant named .github", []Part{{Variant: ".github", Dir: dataDir(t, map[string]string{"x.txt": "x\n"})}}, ".github/ is protected"},
	}
	for _, tc := range tests {
		for _, dry := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{true: ", dry run"}[dry], func(t *testing.T) {
				_, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: tc.parts, DryRun: dry})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want %q", err, tc.want)
				}
				if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR1"); out != "" {
					t.Errorf("PR1 was created at %s", out)
				}
			})
		}
	}
}

// TestOpenDataRoot: "" stays "data", "." is the top, other roots must be
// plain folders; Protect is checked only where it means something.
func TestOpenDataRoot(t *testing.T) {
	tests := []struct {
		name     string
		root     string
		protect  []string
		wantRoot string
		wantErr  string
	}{
		{name: "default", root: "", wantRoot: "data"},
		{name: "a folder", root: "ref/data", wantRoot: "ref/data"},
		{name: "a trailing slash", root: "data/", wantRoot: "data"},
		{name: "the top", root: ".", protect: config.DefaultProtect, wantRoot: "."},
		{name: "a slash alone", root: "/", wantErr: "not a plain folder"},
		{name: "up", root: "../x", wantErr: "not a plain folder"},
		{name: "unclean", root: "a//b", wantErr: "not a plain folder"},
		{name: "inside .git", root: ".git/x", wantErr: "not a plain folder"},
		{name: "a bad pattern at the top", root: ".", protect: []string{"[x"}, wantErr: "syntax error in pattern"},
		{name: "a nested pattern at the top", root: ".", protect: []string{"docs/README"}, wantErr: "top-level name"},
		{name: "a bad pattern elsewhere is ignored", root: "data", protect: []string{"[x"}, wantRoot: "data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(Options{URL: "http://127.0.0.1:1/data.git", CacheDir: t.TempDir(), DataRoot: tc.root, Protect: tc.protect})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.opts.DataRoot != tc.wantRoot {
				t.Errorf("DataRoot = %q, want %q", r.opts.DataRoot, tc.wantRoot)
			}
		})
	}
}

// TestProtectIgnoredBelowTheTop: with the data in a folder, Protect
// changes nothing: a README inside the data folder is data.
func TestProtectIgnoredBelowTheTop(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r := f.openWith(t, Options{DataRoot: "data", Protect: config.DefaultProtect})
	res, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"README.md": "data readme\n"})}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"added data/README.md", "removed data/a.txt", "removed data/b.txt", "removed data/sub/c.txt"}
	if diff := cmp.Diff(want, changes(res.Changes)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

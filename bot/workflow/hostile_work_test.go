package workflow

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

// TestUpdateThroughPlantedLinks: symlinks planted before an UPDATE where
// refbot downloads (the artifacts folder, and the PR's work folder),
// pointing to sentinel folders outside: the UPDATE succeeds, nothing is
// written through them, and the folders are real ones afterwards.
func TestUpdateThroughPlantedLinks(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{HeadRepo: "carol/octo-repo", Actions: true, Outputs: "artifacts"})
	f.finishedRun(t, artifactZip(t, bChanged, nil), "failure")

	artifacts := f.bot.out.(*ArtifactOutputs).WorkDir
	prWork := f.bot.workDir(12)
	sentinels := map[string]string{artifacts: t.TempDir(), prWork: t.TempDir()}
	before := map[string]map[string]string{}
	for dir, sentinel := range sentinels {
		if err := os.WriteFile(filepath.Join(sentinel, "keep.txt"), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(sentinel, dir); err != nil {
			t.Fatal(err)
		}
		before[sentinel] = listing(t, sentinel)
	}

	if err := f.post(t, "alice", "BUILDBOT: UPDATE"); err != nil {
		t.Fatal(err)
	}
	if f.branch(t) == "" {
		t.Fatalf("nothing pushed; the reply:\n%s", f.gh.lastComment())
	}
	if got := testenv.Git(t, f.bare, "show", "PR12:data/b.txt"); got != "b changed" {
		t.Errorf("data/b.txt on PR12 = %q", got)
	}
	for dir, sentinel := range sentinels {
		if diff := cmp.Diff(before[sentinel], listing(t, sentinel)); diff != "" {
			t.Errorf("the sentinel behind %s changed (-before +after):\n%s", dir, diff)
		}
		if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
			t.Errorf("%s is not a real folder: %v", dir, err)
		}
	}
}

// listing is every path under dir with its content (files) or type, and
// dir's modification time.
func listing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if p == dir {
			// A file made and removed again changes the folder's time.
			fi, err := d.Info()
			if err != nil {
				return err
			}
			out[rel] = "modified " + fi.ModTime().String()
			return nil
		}
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		} else {
			out[rel] = d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

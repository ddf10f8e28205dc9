package publish

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// snapshot lists what is under dir without following links: each path
// with its type and, for files and links, content or target; and dir's
// modification time.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case p == dir:
			// A file made and removed again changes the folder's time.
			fi, err := d.Info()
			if err != nil {
				return err
			}
			out[rel] = "modified " + fi.ModTime().String()
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link " + target
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			out[rel] = "file " + string(b)
		default:
			out[rel] = d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// treeModes returns the git mode of every file in rev of the bare repo.
func treeModes(t *testing.T, bare, rev string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for line := range strings.Lines(testenv.Git(t, bare, "ls-tree", "-r", rev)) {
		meta, p, _ := strings.Cut(strings.TrimSpace(line), "\t")
		out[p] = strings.Fields(meta)[0]
	}
	return out
}

// checkNoLinkModes fails if rev holds anything under data/ that is not a
// plain or executable file: no symlink (120000), no submodule (160000).
func checkNoLinkModes(t *testing.T, bare, rev string) {
	t.Helper()
	for p, mode := range treeModes(t, bare, rev) {
		if strings.HasPrefix(p, "data/") && mode != "100644" && mode != "100755" {
			t.Errorf("%s:%s has mode %s; a build commits only files", rev, p, mode)
		}
	}
}

// TestPublishThroughPlantedLinks: a symlink (or a pipe) planted in the
// work folder before a publish, at the PR's folder, a folder below it or
// a file's place, pointing to a sentinel folder outside: the publish
// succeeds, writes nothing through it (the sentinel is unchanged), and
// commits the build's files as plain files.
func TestPublishThroughPlantedLinks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tests := []struct {
		name  string
		plant func(t *testing.T, work, sentinel string) // work is the PR's work folder
	}{
		{name: "link at the PR's work folder", plant: func(t *testing.T, work, sentinel string) {
			symlink(t, sentinel, work)
		}},
		{name: "link at the downloads folder", plant: func(t *testing.T, work, sentinel string) {
			mkdir(t, work)
			symlink(t, sentinel, filepath.Join(work, "files"))
		}},
		{name: "link at the variant's folder", plant: func(t *testing.T, work, sentinel string) {
			mkdir(t, filepath.Join(work, "files"))
			symlink(t, sentinel, filepath.Join(work, "files", "_default"))
		}},
		{name: "relative link at the state folder", plant: func(t *testing.T, work, sentinel string) {
			mkdir(t, work)
			rel, _ := filepath.Rel(work, sentinel)
			symlink(t, rel, filepath.Join(work, "state"))
		}},
		{name: "links where a file and a folder go", plant: func(t *testing.T, work, sentinel string) {
			dir := filepath.Join(work, "files", "_default")
			mkdir(t, dir)
			symlink(t, filepath.Join(sentinel, "keep.txt"), filepath.Join(dir, "a.txt"))
			symlink(t, sentinel, filepath.Join(dir, "sub"))
		}},
		{name: "named pipe where a file goes", plant: func(t *testing.T, work, sentinel string) {
			dir := filepath.Join(work, "files", "_default")
			mkdir(t, dir)
			if err := syscall.Mkfifo(filepath.Join(dir, "a.txt"), 0o644); err != nil {
				t.Skip("no named pipes here:", err)
			}
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A PR and content of its own, so that every case downloads.
			pr, build := 10+i, fmt.Sprint(100+i)
			files := map[string]string{"a.txt": fmt.Sprintf("a of case %d\n", i), "sub/b.txt": fmt.Sprintf("b of case %d\n", i)}
			f.upload(t, build, pr, "", files)
			sentinel := t.TempDir()
			if err := os.WriteFile(filepath.Join(sentinel, "keep.txt"), []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			mkdir(t, filepath.Join(sentinel, "sub"))
			work := filepath.Join(f.work, fmt.Sprintf("pr%d", pr))
			tc.plant(t, work, sentinel)
			before := snapshot(t, sentinel)

			branch := fmt.Sprintf("PR%d", pr)
			res, err := Publish(ctx, f.store, f.repo, Request{Build: build, Want: s3cache.Want{Source: s3cache.Source{PR: pr}},
				Branch: branch, WorkDir: work, Subject: "update", Trailers: refdata.Trailers{PR: pr, Build: build}})
			if err != nil {
				t.Fatal(err)
			}
			if st := res.Variants[0].Download; st.Fetched != 2 {
				t.Errorf("fetched %d files, want 2", st.Fetched)
			}
			if diff := cmp.Diff(before, snapshot(t, sentinel)); diff != "" {
				t.Errorf("sentinel changed (-before +after):\n%s", diff)
			}
			want := map[string]string{"README.md": "data", "data/a.txt": strings.TrimSpace(files["a.txt"]),
				"data/sub/b.txt": strings.TrimSpace(files["sub/b.txt"])}
			if diff := cmp.Diff(want, f.tree(t, branch)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", branch, diff)
			}
			checkNoLinkModes(t, f.bare, branch)
		})
	}
}

// TestBuildNeverCommitsLinkMode: where the base holds symlinks (committed
// by hand), a build's files replace them as plain files; no commit refbot
// makes from a build holds mode 120000.
func TestBuildNeverCommitsLinkMode(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// Put two symlinks on master: one where the build has a file, one it
	// does not have.
	clone := t.TempDir()
	testenv.Git(t, clone, "clone", "--quiet", f.bare, ".")
	symlink(t, "/etc/passwd", filepath.Join(clone, "data", "link"))
	if err := os.Remove(filepath.Join(clone, "data", "a.txt")); err != nil {
		t.Fatal(err)
	}
	symlink(t, "b.txt", filepath.Join(clone, "data", "a.txt"))
	testenv.Git(t, clone, "add", "-A")
	testenv.Git(t, clone, "commit", "--quiet", "-m", "links by hand")
	testenv.Git(t, clone, "push", "--quiet", "origin", "master")
	if modes := treeModes(t, f.bare, "master"); modes["data/link"] != "120000" || modes["data/a.txt"] != "120000" {
		t.Fatalf("master's modes = %v, want the two links", modes)
	}

	f.upload(t, "1", 5, "", map[string]string{"a.txt": "a\n", "link": "a file now\n"})
	_, err := Publish(ctx, f.store, f.repo, Request{Build: "1", Want: s3cache.Want{Source: s3cache.Source{PR: 5}},
		Branch: "PR5", WorkDir: filepath.Join(f.work, "pr5"), Subject: "update", Trailers: refdata.Trailers{PR: 5, Build: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	checkNoLinkModes(t, f.bare, "PR5")
	if got := testenv.Git(t, f.bare, "show", "PR5:data/link"); got != "a file now" {
		t.Errorf("PR5:data/link = %q", got)
	}
}

// shortManifestStore reads builds whose manifest lists b.txt one byte
// shorter than its object in S3: a build changed behind refbot's back.
type shortManifestStore struct{ *s3cache.Store }

func (s shortManifestStore) Open(ctx context.Context, id string, want s3cache.Want) (*s3cache.Build, error) {
	b, err := s.Store.Open(ctx, id, want)
	if err != nil {
		return nil, err
	}
	for _, m := range b.Manifests {
		for i := range m.Files {
			if m.Files[i].Path == "b.txt" {
				m.Files[i].Size--
			}
		}
	}
	return b, nil
}

// TestPublishRefusesObjectLongerThanListed: an object in S3 longer than
// its manifest entry fails the publish clearly (Unusable, naming the file),
// leaves the branch as it was and the work folder without a partial or
// temporary file.
func TestPublishRefusesObjectLongerThanListed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.upload(t, "1", 5, "", map[string]string{"a.txt": "a new\n", "b.txt": "b new\n"})
	work := filepath.Join(f.work, "pr5")
	_, err := Publish(ctx, shortManifestStore{f.store}, f.repo, Request{Build: "1", Want: s3cache.Want{Source: s3cache.Source{PR: 5}},
		Branch: "PR5", WorkDir: work, Subject: "update", Trailers: refdata.Trailers{PR: 5, Build: "1"}})
	if !errors.Is(err, s3cache.ErrChecksum) || !s3cache.Unusable(err) || !strings.Contains(err.Error(), "b.txt in S3 is longer than the 5 bytes") {
		t.Fatalf("err = %v, want the oversize object named", err)
	}
	if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR5"); out != "" {
		t.Errorf("PR5 was created at %s", out)
	}
	for p := range snapshot(t, filepath.Join(work, "files")) {
		if strings.Contains(p, "b.txt") {
			t.Errorf("left %s in the work folder", p)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

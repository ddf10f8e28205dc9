package refdata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// fixture is a data repo served by git http-backend, seeded with a master
// branch holding README.md and data/{a.txt,b.txt,sub/c.txt}.
type fixture struct {
	gs   *testenv.GitServer
	bare string
	repo *Repo
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, map[string]string{
		"README.md":      "reference data\n",
		"data/a.txt":     "a1\n",
		"data/b.txt":     "b1\n",
		"data/sub/c.txt": "c1\n",
	})
}

// newFixtureWith is newFixture with master holding seed (path → content).
func newFixtureWith(t *testing.T, seed map[string]string) *fixture {
	t.Helper()
	gs := testenv.NewGitServer(t)
	bare := gs.CreateSeededRepo(t, "data.git", seed)
	f := &fixture{gs: gs, bare: bare}
	f.repo = f.open(t, gs.Token)
	return f
}

func (f *fixture) open(t *testing.T, token string) *Repo {
	t.Helper()
	r, err := Open(Options{URL: f.gs.URL("data.git"), Token: token, CacheDir: filepath.Join(t.TempDir(), "cache"), KeepBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) git(t *testing.T, args ...string) string {
	t.Helper()
	return testenv.Git(t, f.bare, args...)
}

// fsck checks the server's repository is sound.
func (f *fixture) fsck(t *testing.T) {
	t.Helper()
	f.git(t, "fsck", "--strict", "--no-progress")
}

// files lists path → content of a branch on the server.
func (f *fixture) files(t *testing.T, rev string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(f.git(t, "ls-tree", "-r", "--name-only", rev), "\n") {
		if line != "" {
			out[line] = f.git(t, "show", rev+":"+line)
		}
	}
	return out
}

// commitOnServer adds a commit to branch directly in the bare repository,
// as another pusher would.
func (f *fixture) commitOnServer(t *testing.T, branch string, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	testenv.Git(t, work, "clone", "--quiet", "--branch", branch, f.bare, ".")
	mustWrite(t, work, files)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "--quiet", "-m", "someone else")
	testenv.Git(t, work, "push", "--quiet", "origin", branch)
	return testenv.Git(t, work, "rev-parse", "HEAD")
}

func dataDir(t *testing.T, files map[string]string) string { return testenv.Tree(t, files) }

func changes(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c.Action)+" "+c.Path)
	}
	return out
}

func TestUpdateCreatesAndAmendsPRBranch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	master := f.git(t, "rev-parse", "master")

	res, err := f.repo.Update(ctx, UpdateRequest{
		Branch:   "PR7",
		Subject:  "Update reference data for PR #7",
		Trailers: Trailers{PR: 7, Build: "1234", Commit: strings.Repeat("ab", 20), ApprovedBy: "alice", Comment: "https://github.com/o/r/pull/7#issuecomment-1"},
		Parts:    []Part{{Dir: dataDir(t, map[string]string{"a.txt": "a2\n", "sub/c.txt": "c1\n", "new/d.png": "\x89PNG data"})}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.fsck(t)
	if got := f.git(t, "rev-parse", "PR7"); got != res.Commit.String() {
		t.Errorf("PR7 = %s, result says %s", got, res.Commit)
	}
	if parent := f.git(t, "rev-parse", "PR7^"); parent != master {
		t.Errorf("PR7's parent = %s, want master %s", parent, master)
	}
	want := map[string]string{"README.md": "reference data", "data/a.txt": "a2", "data/sub/c.txt": "c1", "data/new/d.png": "\x89PNG data"}
	if diff := cmp.Diff(want, f.files(t, "PR7")); diff != "" {
		t.Errorf("PR7 tree (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"modified data/a.txt", "removed data/b.txt", "added data/new/d.png"}, changes(res.Changes)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if res.Files != 3 || res.FilesBefore != 3 {
		t.Errorf("Files = %d, FilesBefore = %d; want 3 and 3", res.Files, res.FilesBefore)
	}
	// The cache is blobless: it fetched commits and trees only.
	iter, err := f.repo.store.IterEncodedObjects(plumbing.BlobObject)
	if err != nil {
		t.Fatal(err)
	}
	blobs := 0
	iter.ForEach(func(plumbing.EncodedObject) error { blobs++; return nil })
	if blobs != 0 {
		t.Errorf("the cache holds %d blobs; it should fetch with filter blob:none", blobs)
	}
	trailers := f.git(t, "log", "-1", "--format=%(trailers)", "PR7")
	for _, line := range []string{"Refbot-PR: 7", "Refbot-Build: 1234", "Refbot-Commit: " + strings.Repeat("ab", 20), "Refbot-Approved-By: alice", "Refbot-Comment: https://github.com/o/r/pull/7#issuecomment-1"} {
		if !strings.Contains(trailers, line) {
			t.Errorf("trailers %q lack %q", trailers, line)
		}
	}

	info, err := f.repo.Branch(ctx, "PR7")
	if err != nil || !info.Exists || info.Tip != res.Commit || info.Trailers["Refbot-Build"] != "1234" || info.Base.String() != master {
		t.Errorf("Branch(PR7) = %+v, %v", info, err)
	}
	if info, err := f.repo.Branch(ctx, "PR404"); err != nil || info.Exists {
		t.Errorf("Branch(PR404) = %+v, %v; want not there", info, err)
	}

	// Amend three more times: always master + 1, backups bounded to 2.
	var tips []string
	for i := range 3 {
		tips = append(tips, f.git(t, "rev-parse", "PR7"))
		res, err = f.repo.Update(ctx, UpdateRequest{Branch: "PR7", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": fmt.Sprintf("a%d\n", i+3)})}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Previous.String() != tips[i] {
			t.Errorf("update %d: previous = %s, want %s", i, res.Previous, tips[i])
		}
	}
	f.fsck(t)
	if n := f.git(t, "rev-list", "--count", "master..PR7"); n != "1" {
		t.Errorf("PR7 is master + %s commits, want 1", n)
	}
	backups := strings.Fields(f.git(t, "for-each-ref", "--format=%(objectname)", "--sort=refname", "refs/refbot/backup/PR7/"))
	if diff := cmp.Diff(tips[1:], backups); diff != "" {
		t.Errorf("backup refs (-want +got):\n%s", diff)
	}
	// The same content again changes nothing and pushes nothing.
	before := f.git(t, "rev-parse", "PR7")
	res, err = f.repo.Update(ctx, UpdateRequest{Branch: "PR7", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "a5\n"})}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.NoChange || res.Pushed || f.git(t, "rev-parse", "PR7") != before {
		t.Errorf("repeat update: NoChange=%v Pushed=%v, tip moved: %v", res.NoChange, res.Pushed, f.git(t, "rev-parse", "PR7") != before)
	}
}

// TestIncrementalPush: a warm update with one changed file sends that blob,
// the trees above it and the commit, nothing else.
func TestIncrementalPush(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("d%d/f%d.txt", i%10, i)] = fmt.Sprintf("content %d\n", i)
	}
	dir := dataDir(t, files)
	state := filepath.Join(t.TempDir(), "state")
	res, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dir, StatePath: state}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != 200+10+1+1+1 { // blobs, 10 folders, data/, root, commit
		t.Errorf("first push sent %d objects, want 213", res.Objects)
	}
	mustWrite(t, dir, map[string]string{"d3/f3.txt": "changed\n"})
	res, err = f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dir, StatePath: state}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != 5 { // the blob, d3/, data/, root, commit
		t.Errorf("warm push sent %d objects, want 5", res.Objects)
	}
	if diff := cmp.Diff([]string{"modified data/d3/f3.txt"}, changes(res.Changes)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	f.fsck(t)
}

func TestUpdateFollowsMovedBase(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR2", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "pr\n"})}}}); err != nil {
		t.Fatal(err)
	}
	newMaster := f.commitOnServer(t, "master", map[string]string{"README.md": "moved\n"})
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR2", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "pr2\n"})}}}); err != nil {
		t.Fatal(err)
	}
	if parent := f.git(t, "rev-parse", "PR2^"); parent != newMaster {
		t.Errorf("PR2 built on %s, want the moved master %s", parent, newMaster)
	}
	want := map[string]string{"README.md": "moved", "data/a.txt": "pr2"}
	if diff := cmp.Diff(want, f.files(t, "PR2")); diff != "" {
		t.Errorf("PR2 (-want +got):\n%s", diff)
	}
}

func TestVariantUpdateKeepsOtherVariants(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, v := range []string{"linux", "macos"} {
		if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR3", Parts: []Part{{Variant: v, Dir: dataDir(t, map[string]string{"out.txt": v + "\n"})}}}); err != nil {
			t.Fatal(err)
		}
	}
	got := f.files(t, "PR3")
	for _, p := range []string{"data/linux/out.txt", "data/macos/out.txt", "data/a.txt"} {
		if _, ok := got[p]; !ok {
			t.Errorf("PR3 lacks %s: %v", p, got)
		}
	}
	if n := f.git(t, "rev-list", "--count", "master..PR3"); n != "1" {
		t.Errorf("PR3 is master + %s commits, want 1", n)
	}
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR3", Parts: []Part{{Variant: "../x", Dir: t.TempDir()}}}); err == nil {
		t.Error("variant ../x accepted")
	}

	// The base changes one variant's file (another PR was promoted); an
	// update of that variant keeps the PR's other variant.
	f.commitOnServer(t, "master", map[string]string{"data/linux/out.txt": "linux on master\n"})
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR3", Parts: []Part{{Variant: "linux", Dir: dataDir(t, map[string]string{"out.txt": "linux 2\n"})}}}); err != nil {
		t.Fatal(err)
	}
	got = f.files(t, "PR3")
	if got["data/macos/out.txt"] != "macos" || got["data/linux/out.txt"] != "linux 2" {
		t.Errorf("after the base moved, PR3 = %v; want macos kept and linux replaced", got)
	}
}

// TestUpdateSeveralVariants: a matrix build's variants go into one commit,
// pushed once; a variant the update does not name is carried over.
func TestUpdateSeveralVariants(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR4", Parts: []Part{{Variant: "windows", Dir: dataDir(t, map[string]string{"out.txt": "windows\n"})}}}); err != nil {
		t.Fatal(err)
	}
	before := f.git(t, "rev-parse", "PR4")
	res, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR4", Parts: []Part{
		{Variant: "linux", Dir: dataDir(t, map[string]string{"out.txt": "linux\n", "more.txt": "m\n"})},
		{Variant: "macos", Files: []File{{Path: "out.txt", Blob: plumbing.NewHash(f.git(t, "rev-parse", "master:data/a.txt")), Size: 3}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := f.files(t, "PR4")
	if got["data/linux/out.txt"] != "linux" || got["data/linux/more.txt"] != "m" || got["data/macos/out.txt"] != "a1" || got["data/windows/out.txt"] != "windows" {
		t.Errorf("PR4 = %v", got)
	}
	if n := f.git(t, "rev-list", "--count", "master..PR4"); n != "1" {
		t.Errorf("PR4 is master + %s commits, want 1", n)
	}
	if res.Previous.String() != before || len(res.Changes) != 3 || res.Files != 3 || res.FilesBefore != 0 {
		t.Errorf("result: previous %s (want %s), %d changes, %d files, %d before", res.Previous, before[:7], len(res.Changes), res.Files, res.FilesBefore)
	}
	// One push: the backup refs hold the tips before each push.
	if n := len(strings.Fields(f.git(t, "for-each-ref", "--format=%(refname)", "refs/refbot/backup/PR4/"))); n != 1 {
		t.Errorf("%d backups of PR4, want 1 (one push after the first update)", n)
	}
	for name, parts := range map[string][]Part{
		"root and a variant": {{Variant: "", Dir: t.TempDir()}, {Variant: "linux", Dir: t.TempDir()}},
		"a variant twice":    {{Variant: "linux", Dir: t.TempDir()}, {Variant: "linux", Dir: t.TempDir()}},
		"dir and files":      {{Variant: "linux", Dir: t.TempDir(), Files: []File{}}},
		"no content":         nil,
	} {
		if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR4", Parts: parts}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLeaseRace: another push lands between refbot's fetch and its push.
// refbot reports it with a *LeaseError and the other push stays.
func TestLeaseRace(t *testing.T) {
	for _, when := range []string{"before the push starts", "while the pack is sent"} {
		t.Run(when, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR4", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "1\n"})}}}); err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			var theirs string
			f.gs.BeforeRequest(func(r *http.Request) {
				hit := r.URL.Query().Get("service") == "git-receive-pack" // the advertisement
				if when == "while the pack is sent" {
					hit = r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack")
				}
				if hit {
					once.Do(func() { theirs = f.commitOnServer(t, "PR4", map[string]string{"data/theirs.txt": "x\n"}) })
				}
			})
			_, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR4", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "2\n"})}}})
			var lease *LeaseError
			if !errors.As(err, &lease) || !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("err = %v, want a *LeaseError", err)
			}
			if lease.Actual.String() != theirs {
				t.Errorf("LeaseError.Actual = %s, want their commit %s", lease.Actual, theirs)
			}
			if got := f.git(t, "rev-parse", "PR4"); got != theirs {
				t.Errorf("PR4 = %s: their push was overwritten (want %s)", got, theirs)
			}
			f.fsck(t)
		})
	}
}

func TestPromote(t *testing.T) {
	ctx := context.Background()
	t.Run("base not moved", func(t *testing.T) {
		f := newFixture(t)
		res, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR5", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "new\n"})}}})
		if err != nil {
			t.Fatal(err)
		}
		oldMaster := f.git(t, "rev-parse", "master")
		p, err := f.repo.Promote(ctx, "PR5", false)
		if err != nil {
			t.Fatal(err)
		}
		// A commit of its own on master, with the branch's tree: never a
		// fast-forward, whose date would be the UPDATE's.
		if got := f.git(t, "rev-parse", "master"); got != p.Commit.String() || got == res.Commit.String() ||
			f.git(t, "rev-parse", "master^") != oldMaster || f.git(t, "rev-parse", "master^{tree}") != f.git(t, "rev-parse", "PR5^{tree}") {
			t.Errorf("promote: %+v, master = %s", p, got)
		}
		if got := f.git(t, "for-each-ref", "--format=%(objectname)", "refs/refbot/backup/master/"); got != oldMaster {
			t.Errorf("backup of master = %q, want %s", got, oldMaster)
		}
		f.fsck(t)
	})
	t.Run("base moved elsewhere", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR6", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "pr\n", "b.txt": "b1\n", "sub/c.txt": "c1\n"})}}}); err != nil {
			t.Fatal(err)
		}
		moved := f.commitOnServer(t, "master", map[string]string{"data/b.txt": "b-master\n", "README.md": "moved\n"})
		if _, err := f.repo.Promote(ctx, "PR6", false); err != nil {
			t.Fatal(err)
		}
		if parent := f.git(t, "rev-parse", "master^"); parent != moved {
			t.Errorf("promotion commit's parent = %s, want %s", parent, moved)
		}
		want := map[string]string{"README.md": "moved", "data/a.txt": "pr", "data/b.txt": "b-master", "data/sub/c.txt": "c1"}
		if diff := cmp.Diff(want, f.files(t, "master")); diff != "" {
			t.Errorf("master after promotion (-want +got):\n%s", diff)
		}
		if msg := f.git(t, "log", "-1", "--format=%B", "master"); !strings.Contains(msg, "Refbot-Promoted-From: PR6") {
			t.Errorf("promotion message %q lacks Refbot-Promoted-From", msg)
		}
		f.fsck(t)
	})
	t.Run("conflict", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR8", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "pr\n", "b.txt": "b1\n", "sub/c.txt": "c-pr\n"})}}}); err != nil {
			t.Fatal(err)
		}
		moved := f.commitOnServer(t, "master", map[string]string{"data/a.txt": "master\n", "data/sub/c.txt": "c-master\n"})
		_, err := f.repo.Promote(ctx, "PR8", false)
		var conflict *ConflictError
		if !errors.As(err, &conflict) || !errors.Is(err, ErrConflict) {
			t.Fatalf("err = %v, want a *ConflictError", err)
		}
		if diff := cmp.Diff([]string{"data/a.txt", "data/sub/c.txt"}, conflict.Files); diff != "" {
			t.Errorf("conflicting files (-want +got):\n%s", diff)
		}
		if got := f.git(t, "rev-parse", "master"); got != moved {
			t.Errorf("master moved to %s on a conflict", got)
		}
	})
	t.Run("no branch", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.repo.Promote(ctx, "PR404", false); !errors.Is(err, ErrNoBranch) {
			t.Errorf("err = %v, want ErrNoBranch", err)
		}
	})
}

func TestDeleteAndSnapshot(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	res, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR9", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "x\n"})}}})
	if err != nil {
		t.Fatal(err)
	}
	tip, err := f.repo.DeleteBranch(ctx, "PR9")
	if err != nil {
		t.Fatal(err)
	}
	if tip != res.Commit {
		t.Errorf("deleted tip %s, want %s", tip, res.Commit)
	}
	if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR9"); out != "" {
		t.Errorf("PR9 still exists at %s", out)
	}
	if got := f.git(t, "for-each-ref", "--format=%(objectname)", "refs/refbot/archive/PR9/"); got != res.Commit.String() {
		t.Errorf("archive ref = %q, want %s", got, res.Commit)
	}
	if tip, err := f.repo.DeleteBranch(ctx, "PR9"); err != nil || !tip.IsZero() {
		t.Errorf("deleting again: %s, %v; want nothing done", tip, err)
	}
	if _, err := f.repo.DeleteBranch(ctx, "master"); err == nil {
		t.Error("deleting the base branch was allowed")
	}

	snap, err := f.repo.Snapshot(ctx, "release-1.0")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.git(t, "rev-parse", "release-1.0"); got != snap.String() || got != f.git(t, "rev-parse", "master") {
		t.Errorf("snapshot = %s, master = %s", got, f.git(t, "rev-parse", "master"))
	}
	if _, err := f.repo.Snapshot(ctx, "release-1.0"); !errors.Is(err, ErrExists) {
		t.Errorf("second snapshot: err = %v, want ErrExists", err)
	}
	f.fsck(t)
}

// TestTokenNeverLeaks: a refused token gives an error without the token,
// and no URL refbot builds carries it.
func TestTokenNeverLeaks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	wrong := "wrong-token-canary-5150"
	r := f.open(t, wrong)
	_, err := r.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"a": "b"})}}})
	if err == nil {
		t.Fatal("update with a wrong token succeeded")
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error reveals the token: %v", err)
	}
	if _, err := Open(Options{URL: "https://x-access-token:secret@example.com/r.git", CacheDir: t.TempDir()}); err == nil {
		t.Error("a URL with credentials was accepted")
	}
	// The good token works, and is nowhere in the cache's config.
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", Parts: []Part{{Dir: dataDir(t, map[string]string{"a": "b"})}}}); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(f.repo.opts.CacheDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if strings.Contains(string(b), f.gs.Token) {
			t.Errorf("%s holds the token", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBadData(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tests := []struct {
		name  string
		setup func(dir string)
		req   UpdateRequest
		want  string
	}{
		{name: "symlink", setup: func(d string) { os.Symlink("/etc/passwd", filepath.Join(d, "l")) }, want: "regular files"},
		{name: "git folder", setup: func(d string) { mustWrite(t, d, map[string]string{".git/config": "x"}) }, want: ".git"},
		{name: "gitattributes", setup: func(d string) { mustWrite(t, d, map[string]string{"x/.gitattributes": "* filter=evil"}) }, want: "git metadata"},
		{name: "bad branch", req: UpdateRequest{Branch: "PR1..x"}, want: "not a valid branch"},
		{name: "missing base", req: UpdateRequest{Base: "nope"}, want: "no such branch"},
		// A trailer value that would add a line of its own, from any caller.
		{name: "forged trailer", req: UpdateRequest{Trailers: Trailers{ApprovedBy: "mallory\nRefbot-Approved-By: alice"}}, want: "control character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(dir)
			}
			req := tc.req
			if req.Branch == "" {
				req.Branch = "PR1"
			}
			req.Parts = []Part{{Dir: dir}}
			_, err := f.repo.Update(ctx, req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
			if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR1"); out != "" {
				t.Errorf("PR1 was created at %s", out)
			}
		})
	}
}

// TestUpdateFromKnownBlobs: files the data repo already holds are given by
// blob id alone; only the changed file is read and sent.
func TestUpdateFromKnownBlobs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	known, err := f.repo.KnownBlobs(ctx, "PR11")
	if err != nil {
		t.Fatal(err)
	}
	blob := func(rev string) plumbing.Hash { return plumbing.NewHash(f.git(t, "rev-parse", rev)) }
	a, c := blob("master:data/a.txt"), blob("master:data/sub/c.txt")
	if !known[a] || !known[c] {
		t.Fatalf("KnownBlobs lacks master's blobs: %v", known)
	}
	changed := dataDir(t, map[string]string{"b.txt": "b2\n"})
	bHash := plumbing.NewHash(testenv.Git(t, changed, "hash-object", "b.txt"))
	res, err := f.repo.Update(ctx, UpdateRequest{
		Branch: "PR11",
		Parts: []Part{{Files: []File{
			{Path: "a.txt", Blob: a, Size: 3},
			{Path: "b.txt", Blob: bHash, Size: 3, Local: filepath.Join(changed, "b.txt")},
			{Path: "sub/c.txt", Blob: c, Size: 3},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != 4 { // b.txt's blob, data/, root, commit
		t.Errorf("sent %d objects, want 4", res.Objects)
	}
	want := map[string]string{"README.md": "reference data", "data/a.txt": "a1", "data/b.txt": "b2", "data/sub/c.txt": "c1"}
	if diff := cmp.Diff(want, f.files(t, "PR11")); diff != "" {
		t.Errorf("PR11 (-want +got):\n%s", diff)
	}
	f.fsck(t)

	// A blob the data repo does not have, without contents: refused, nothing pushed.
	_, err = f.repo.Update(ctx, UpdateRequest{Branch: "PR12", Parts: []Part{{Files: []File{{Path: "x.txt", Blob: plumbing.NewHash(strings.Repeat("1", 40)), Size: 1}}}}})
	if err == nil || !strings.Contains(err.Error(), "neither on the remote nor in the data folder") {
		t.Errorf("err = %v, want a refusal of the unknown blob", err)
	}
	if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR12"); out != "" {
		t.Errorf("PR12 was created at %s", out)
	}
}

func TestOverlaps(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for branch, files := range map[string]map[string]string{
		"PR1": {"a.txt": "pr1\n", "b.txt": "b1\n", "sub/c.txt": "c1\n"},          // changes a.txt
		"PR2": {"a.txt": "a1\n", "b.txt": "pr2\n", "sub/c.txt": "pr2\n"},         // changes b.txt, sub/c.txt
		"PR3": {"a.txt": "a1\n", "b.txt": "b1\n", "sub/c.txt": "c1\n", "x": "y"}, // adds x
	} {
		if _, err := f.repo.Update(ctx, UpdateRequest{Branch: branch, Parts: []Part{{Dir: dataDir(t, files)}}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.repo.Overlaps(ctx, "PR1", []string{"data/a.txt", "data/b.txt", "data/sub/c.txt"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"PR2": {"data/b.txt", "data/sub/c.txt"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("overlaps (-want +got):\n%s", diff)
	}
}

// TestPushRefusedByServer: a server (or proxy) answering the push with an
// HTTP error is reported with its status, and nothing changes.
func TestPushRefusedByServer(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	answered := make(chan struct{})
	f.gs.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			http.Error(w, "request entity too large", http.StatusRequestEntityTooLarge)
			w.(http.Flusher).Flush()
			close(answered)
			return true
		}
		return false
	})
	// The server answers while the pack is being sent: the pack writer
	// stops after its first write (256 KiB) until the answer is out, and a
	// second more, by when Go's server has closed the connection (it waits
	// 500 ms after answering a request whose body it did not read). The
	// rest of the 16 MiB pack, more than loopback's 4 MiB send buffer
	// takes, then meets the closed connection, and the writer an error
	// that must not hide the 413. (The code before the fix reported
	// "send pack: io: read/write on closed pipe" here.)
	big := make([]byte, 16<<20)
	rand.Read(big)
	held := false
	hold := func(sent int64) {
		if !held {
			held = true
			select {
			case <-answered:
				time.Sleep(time.Second)
			case <-time.After(30 * time.Second):
				t.Error("the server never answered while the pack was held")
			}
		}
	}
	_, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR1", PushProgress: hold, Parts: []Part{{Dir: dataDir(t, map[string]string{"big.bin": string(big)})}}})
	if !held {
		t.Error("the pack was never held: the race was not forced")
	}
	if err == nil || !strings.Contains(err.Error(), "HTTP 413") || strings.Contains(err.Error(), "closed pipe") {
		t.Errorf("err = %v, want the server's HTTP 413", err)
	}
	if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR1"); out != "" {
		t.Errorf("PR1 was created at %s", out)
	}
}

// TestCacheSharedByTwoRepos: two Repos on one cache (serve and a
// maintainer's CLI) take turns; their updates both land, one after the other.
func TestCacheSharedByTwoRepos(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	cache := f.repo.opts.CacheDir
	other, err := Open(Options{URL: f.gs.URL("data.git"), Token: f.gs.Token, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for i, r := range []*Repo{f.repo, other} {
		go func() {
			_, err := r.Update(ctx, UpdateRequest{Branch: fmt.Sprintf("PR%d", 20+i), Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": fmt.Sprint(i)})}}})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, b := range []string{"PR20", "PR21"} {
		if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+b); out == "" {
			t.Errorf("%s was not pushed", b)
		}
	}
	f.fsck(t)
}

func TestRebase(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR30", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "pr30\n", "b.txt": "b1\n", "sub/c.txt": "c1\n"})}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR31", Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": "pr31\n", "b.txt": "b1\n", "sub/c.txt": "c1\n"})}}}); err != nil {
		t.Fatal(err)
	}
	if res, err := f.repo.Rebase(ctx, "PR30"); err != nil || !res.UpToDate {
		t.Fatalf("rebase before anything moved: %+v, %v", res, err)
	}
	// Another PR's change to another file lands on master.
	moved := f.commitOnServer(t, "master", map[string]string{"data/b.txt": "b on master\n"})
	res, err := f.repo.Rebase(ctx, "PR30")
	if err != nil {
		t.Fatal(err)
	}
	if parent := f.git(t, "rev-parse", "PR30^"); parent != moved || res.UpToDate {
		t.Errorf("PR30 built on %s, want %s", parent, moved)
	}
	want := map[string]string{"README.md": "reference data", "data/a.txt": "pr30", "data/b.txt": "b on master", "data/sub/c.txt": "c1"}
	if diff := cmp.Diff(want, f.files(t, "PR30")); diff != "" {
		t.Errorf("PR30 (-want +got):\n%s", diff)
	}
	// PR30 is promoted; PR31 changed the same file: a conflict, nothing moves.
	if _, err := f.repo.Promote(ctx, "PR30", false); err != nil {
		t.Fatal(err)
	}
	before := f.git(t, "rev-parse", "PR31")
	var conflict *ConflictError
	if _, err := f.repo.Rebase(ctx, "PR31"); !errors.As(err, &conflict) || conflict.Files[0] != "data/a.txt" {
		t.Errorf("err = %v, want a conflict on data/a.txt", err)
	}
	if f.git(t, "rev-parse", "PR31") != before {
		t.Error("a conflicting rebase moved the branch")
	}
	f.fsck(t)
}

// TestBlobs: blobs the blobless cache lacks are read by id, including one
// no branch reaches any more; a pack over the limit and an unknown id are
// clear errors.
func TestBlobs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := plumbing.NewHash(f.git(t, "rev-parse", "master:data/a.txt"))
	noise := make([]byte, 128<<10)
	rand.Read(noise)
	var table strings.Builder
	for i := range 400 {
		fmt.Fprintf(&table, "row %d,%d\n", i, i*i)
	}
	files := map[string]string{
		"data/a.txt":     "a2\n",
		"data/big.txt":   hex.EncodeToString(noise),           // 256 KiB that compresses to about half
		"data/zeros.bin": string(make([]byte, 8<<20)),         // 8 MiB that compresses to a few KiB
		"data/t1.csv":    table.String(),                      // about 5 KiB …
		"data/t2.csv":    table.String() + "row 400,160000\n", // … and a version a delta away
		"data/t3.csv":    strings.Repeat(table.String(), 4),   // a delta away too, but 20 KiB
	}
	work := t.TempDir()
	f.git(t, "--git-dir", f.bare, "branch", "-q", "tmp", "master") // a branch to push over and delete
	testenv.Git(t, work, "clone", "--quiet", "--branch", "tmp", f.bare, ".")
	mustWrite(t, work, files)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "--quiet", "-m", "change")
	testenv.Git(t, work, "push", "--quiet", "origin", "tmp")
	f.git(t, "--git-dir", f.bare, "repack", "-adq") // deltas, as a server's packs have
	id := map[string]plumbing.Hash{}
	for p := range files {
		id[p] = plumbing.NewHash(testenv.Git(t, work, "rev-parse", "HEAD:"+p))
	}
	f.git(t, "--git-dir", f.bare, "branch", "-q", "-D", "tmp") // unreachable now: still served

	blobs := func(maxObject, maxPack int64, names ...string) (map[string]string, error) {
		ids := []plumbing.Hash{old}
		for _, n := range names {
			ids = append(ids, id[n])
		}
		got, err := f.repo.Blobs(ctx, ids, maxObject, maxPack)
		out := map[string]string{}
		for n, h := range id {
			if b, ok := got[h]; ok {
				out[n] = string(b)
			}
		}
		if b, ok := got[old]; ok {
			out["old"] = string(b)
		}
		return out, err
	}
	got, err := blobs(16<<10, 1<<20, "data/a.txt", "data/t1.csv", "data/t2.csv", "data/t3.csv", "data/zeros.bin")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"old": "a1\n", "data/a.txt": "a2\n", "data/t1.csv": files["data/t1.csv"], "data/t2.csv": files["data/t2.csv"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blobs of at most 16 KiB (-want +got):\n%s", diff)
	}
	if _, err := blobs(16<<10, 64<<10, "data/a.txt", "data/big.txt"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a pack over the limit: %v", err)
	}
	missing := plumbing.NewHash("0123456789012345678901234567890123456789")
	_, err = f.repo.Blobs(ctx, []plumbing.Hash{missing}, 1<<20, 1<<20)
	if err == nil || strings.Contains(err.Error(), f.gs.Token) {
		t.Errorf("an unknown blob: %v", err)
	}
}

func mustWrite(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := testenv.WriteFiles(dir, files); err != nil {
		t.Fatal(err)
	}
}

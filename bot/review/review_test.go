package review

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

const (
	headA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	headB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

type fixture struct {
	store *s3cache.Store
	repo  *refdata.Repo
	head  map[int]string
	r     *Reviewer
	work  string
}

// newFixture: a data repo whose base holds data/{a,b,c}.txt, a MinIO
// bucket, and a Reviewer that knows the heads in f.head.
func newFixture(t *testing.T, seed map[string]string) *fixture {
	t.Helper()
	ctx := context.Background()
	mc := testenv.MinIO(t)
	store, err := s3cache.New(ctx, s3cache.Options{Bucket: mc.BucketName(t), Endpoint: mc.Endpoint, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	gs := testenv.NewGitServer(t)
	if seed == nil {
		seed = map[string]string{"README.md": "data\n", "data/a.txt": "a\n", "data/b.txt": "b\n", "data/c.txt": "c\n"}
	}
	gs.CreateSeededRepo(t, "data.git", seed)
	repo, err := refdata.Open(refdata.Options{URL: gs.URL("data.git"), Token: gs.Token, CacheDir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	// The pages read refbot's copy only: fetch the base into it.
	if _, err := repo.Branch(ctx, "master"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, repo: repo, head: map[int]string{}, work: t.TempDir()}
	f.r = New(Options{Builds: store, Repo: repo, BaseBranch: "master",
		Head: func(_ context.Context, pr int) (string, error) { return f.head[pr], nil }})
	return f
}

func (f *fixture) upload(t *testing.T, build string, pr int, commit, variant string, files map[string]string) {
	t.Helper()
	_, err := f.store.Upload(context.Background(), s3cache.UploadRequest{Build: build, Source: s3cache.Source{PR: pr},
		Commit: commit, Variant: variant, Dir: testenv.Tree(t, files)})
	if err != nil {
		t.Fatal(err)
	}
}

// publish makes build the data branch of pr, as UPDATE does.
func (f *fixture) publish(t *testing.T, build string, pr int, commit string) {
	t.Helper()
	_, err := publish.Publish(context.Background(), f.store, f.repo, publish.Request{Build: build,
		Want: s3cache.Want{Source: s3cache.Source{PR: pr}, Commit: commit}, Branch: refdata.PRBranch(pr), WorkDir: f.work,
		Subject: "update", Trailers: refdata.Trailers{PR: pr, Build: build, Commit: commit}})
	if err != nil {
		t.Fatal(err)
	}
}

type change struct {
	Path, Action string
	Kind         Kind
	OldSize      int64
	NewSize      int64
}

func changes(rev *Review) []change {
	var out []change
	for _, f := range rev.Files {
		out = append(out, change{f.Path, f.Action, f.Kind, f.OldSize, f.NewSize})
	}
	return out
}

func TestReview(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.head[5] = headA

	// No head known, no build: said, not guessed.
	if _, err := f.r.Review(ctx, 6, AgainstBranch); !errors.Is(err, ErrNoHead) {
		t.Errorf("PR without a head: %v", err)
	}
	if _, err := f.r.Review(ctx, 5, AgainstBranch); !errors.Is(err, ErrNoBuild) {
		t.Errorf("head without a build: %v", err)
	}

	// Build 1: a the same, b changed, c gone, plots/p.png added. With no
	// data branch it is compared with the base.
	f.upload(t, "1", 5, headA, "", map[string]string{"a.txt": "a\n", "b.txt": "b changed\n", "plots/p.png": "\x89PNG-1"})
	f.r.listed.at = f.r.listed.at.Add(-missedListFor) // seconds later
	rev, err := f.r.Review(ctx, 5, AgainstBranch)
	if err != nil {
		t.Fatal(err)
	}
	want := []change{{"b.txt", Changed, KindText, -1, 10}, {"c.txt", Removed, KindText, -1, 0}, {"plots/p.png", Added, KindImage, 0, 6}}
	if d := cmp.Diff(want, changes(rev)); d != "" {
		t.Errorf("changes against the base (-want +got):\n%s", d)
	}
	if rev.Against != "master" || rev.Build != "1" || rev.Head != headA || rev.Unchanged != 1 || rev.Holds ||
		rev.Added != 1 || rev.Changed != 1 || rev.Removed != 1 {
		t.Errorf("review: %+v", rev)
	}
	wantFolders := []Folder{{Path: "", Changed: 1, Removed: 1, OldBytes: -1, NewBytes: 10}, {Path: "plots", Added: 1, NewBytes: 6}}
	if d := cmp.Diff(wantFolders, rev.Folders); d != "" {
		t.Errorf("folders (-want +got):\n%s", d)
	}
	b, _ := rev.File("b.txt")
	if got, err := f.r.ReadOld(ctx, b, 1<<10); err != nil || string(got) != "b\n" {
		t.Errorf("old side of b.txt: %q, %v", got, err)
	}
	if got, err := f.r.ReadNew(ctx, rev, b, 1<<10); err != nil || string(got) != "b changed\n" {
		t.Errorf("new side of b.txt: %q, %v", got, err)
	}
	if _, err := f.r.ReadNew(ctx, rev, b, 5); !errors.Is(err, s3cache.ErrTooLarge) {
		t.Errorf("a file over the cap: %v", err)
	}
	p, _ := rev.File("plots/p.png")
	if _, err := f.r.ReadOld(ctx, p, 1<<10); !errors.Is(err, ErrNoSuchSide) {
		t.Errorf("old side of an added file: %v", err)
	}

	// UPDATE took build 1: the branch holds it, nothing is left to review
	// against it, and the base still shows what the PR changes.
	f.publish(t, "1", 5, headA)
	rev, err = f.r.Review(ctx, 5, AgainstBranch)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Against != "PR5" || !rev.Holds || len(rev.Files) != 0 || rev.AgainstBuild != "1" || rev.AgainstCommit == "" {
		t.Errorf("review against the branch holding the build: %+v", rev)
	}
	base, err := f.r.Review(ctx, 5, AgainstBase)
	if err != nil {
		t.Fatal(err)
	}
	if base.Against != "master" || len(base.Files) != 3 {
		t.Errorf("against the base: %+v", changes(base))
	}

	// A newer build of the same head: compared with the branch, and the
	// old sides' sizes come from build 1's manifests.
	f.upload(t, "2", 5, headA, "", map[string]string{"a.txt": "a\n", "b.txt": "b changed again\n", "plots/p.png": "\x89PNG-1"})
	f.r.listed.at = f.r.listed.at.Add(-f.r.o.ListFor)
	rev, err = f.r.Review(ctx, 5, AgainstBranch)
	if err != nil {
		t.Fatal(err)
	}
	want = []change{{"b.txt", Changed, KindText, 10, 16}}
	if d := cmp.Diff(want, changes(rev)); d != "" || rev.Build != "2" || rev.Holds {
		t.Errorf("build 2 against PR5 (build %s, holds %v) (-want +got):\n%s", rev.Build, rev.Holds, d)
	}

	// The head moved and its build is not there yet: a build of the older
	// head is never shown as the new head's.
	f.head[5] = headB
	f.r.listed.builds = nil // as after ListFor
	if _, err := f.r.Review(ctx, 5, AgainstBranch); !errors.Is(err, ErrNoBuild) {
		t.Errorf("after the head moved: %v", err)
	}
	// Another PR's build is never taken either.
	f.upload(t, "3", 7, headB, "", map[string]string{"a.txt": "x\n"})
	f.r.listed.builds = nil
	if _, err := f.r.Review(ctx, 5, AgainstBranch); !errors.Is(err, ErrNoBuild) {
		t.Errorf("another PR's build of the same commit: %v", err)
	}
}

func TestReviewVariants(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, map[string]string{"data/linux/a.txt": "a\n", "data/linux/gone.txt": "g\n", "data/mac/a.txt": "m\n"})
	f.head[9] = headA
	// The linux variant alone: mac's files are not the build's to remove.
	f.upload(t, "11", 9, headA, "linux", map[string]string{"a.txt": "a2\n", "new.txt": "n\n"})
	rev, err := f.r.Review(ctx, 9, AgainstBranch)
	if err != nil {
		t.Fatal(err)
	}
	want := []change{{"linux/a.txt", Changed, KindText, -1, 3}, {"linux/gone.txt", Removed, KindText, -1, 0},
		{"linux/new.txt", Added, KindText, 0, 2}}
	if d := cmp.Diff(want, changes(rev)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	a, _ := rev.File("linux/a.txt")
	if got, err := f.r.ReadNew(ctx, rev, a, 100); err != nil || string(got) != "a2\n" {
		t.Errorf("new side of a variant's file: %q %v", got, err)
	}
	if !strings.Contains(rev.Folders[0].Path, "linux") {
		t.Errorf("folders: %+v", rev.Folders)
	}
}

// TestSmallFilesCache: small contents are kept by their git blob id, and a
// manifest naming a wrong id for a content does not put that content under
// another blob's name.
func TestSmallFilesCache(t *testing.T) {
	r := New(Options{})
	good := []byte("a\n")
	id := plumbing.ComputeHash(plumbing.BlobObject, good).String()
	r.keepSmall(id, good)
	if b, ok := r.small.Get(id); !ok || string(b) != "a\n" {
		t.Errorf("a small content under its own id: %q %v", b, ok)
	}
	r.keepSmall(id, []byte("forged\n"))
	if b, _ := r.small.Get(id); string(b) != "a\n" {
		t.Errorf("a content under another's id replaced it: %q", b)
	}
	big := bytes.Repeat([]byte("x"), smallFile+1)
	bigID := plumbing.ComputeHash(plumbing.BlobObject, big).String()
	r.keepSmall(bigID, big)
	if _, ok := r.small.Get(bigID); ok {
		t.Error("a large content was kept in memory")
	}
}

// forged is a build store whose manifests name other blob ids than their
// files' (a PR's CI can write any manifest).
type forged struct {
	*s3cache.Store
	git map[string]string // path → the id the manifest claims
}

func (s forged) Open(ctx context.Context, id string, want s3cache.Want) (*s3cache.Build, error) {
	b, err := s.Store.Open(ctx, id, want)
	if err != nil {
		return nil, err
	}
	for _, m := range b.Manifests {
		for i, f := range m.Files {
			if g, ok := s.git[f.Path]; ok {
				m.Files[i].Git = g
			}
		}
	}
	return b, nil
}

func TestForgedBlobIDs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.head[8] = headA
	// The manifest says b.txt's new content is the base's a.txt ("a\n"),
	// and ships other bytes.
	aID := plumbing.ComputeHash(plumbing.BlobObject, []byte("a\n")).String()
	f.r.o.Builds = forged{f.store, map[string]string{"b.txt": aID}}
	f.upload(t, "80", 8, headA, "", map[string]string{"a.txt": "a\n", "b.txt": "evil\n", "c.txt": "c\n"})
	rev, err := f.r.Review(ctx, 8, AgainstBranch)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := rev.File("b.txt")
	if !ok || b.New != aID {
		t.Fatalf("review: %+v", changes(rev))
	}
	if got, err := f.r.ReadNew(ctx, rev, b, 1<<10); !errors.Is(err, s3cache.ErrBadManifest) {
		t.Errorf("a content under another blob's id was read: %q, %v", got, err)
	}
	if got, ok := f.r.small.Get(aID); ok && string(got) != "a\n" {
		t.Errorf("the forged content was kept under a.txt's id: %q", got)
	}
}

// TestReviewOfABuildUploadedAgain: a restarted CI build uploads again under
// its id. Named by the cache status (BuildOf), the build is read again
// when its upload time has changed: the review shows what the new upload
// changes, not what the first did.
func TestReviewOfABuildUploadedAgain(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.head[5] = headA
	f.r.o.BuildOf = func(_ context.Context, pr int, head string) (string, error) { return "30", nil }
	f.upload(t, "30", 5, headA, "", map[string]string{"a.txt": "a\n", "b.txt": "b changed\n", "c.txt": "c\n"})
	rev, err := f.r.Review(ctx, 5, AgainstBranch)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]change{{"b.txt", Changed, KindText, -1, 10}}, changes(rev)); d != "" {
		t.Fatalf("first upload (-want +got):\n%s", d)
	}
	time.Sleep(5 * time.Millisecond) // S3's times are to the millisecond
	f.upload(t, "30", 5, headA, "", map[string]string{"a.txt": "a\n", "b.txt": "b\n", "c.txt": "c changed\n"})
	rev, err = f.r.Review(ctx, 5, AgainstBranch)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]change{{"c.txt", Changed, KindText, -1, 10}}, changes(rev)); d != "" {
		t.Fatalf("the upload again under the same id (-want +got):\n%s", d)
	}
	c, _ := rev.File("c.txt")
	if got, err := f.r.ReadNew(ctx, rev, c, 1<<10); err != nil || string(got) != "c changed\n" {
		t.Errorf("new side of c.txt: %q, %v", got, err)
	}
}

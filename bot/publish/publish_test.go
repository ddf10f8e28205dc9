package publish

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

type fixture struct {
	store *s3cache.Store
	repo  *refdata.Repo
	bare  string
	work  string
}

func newFixture(t *testing.T) *fixture {
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
	bare := gs.CreateSeededRepo(t, "data.git", map[string]string{"README.md": "data\n", "data/a.txt": "a\n", "data/b.txt": "b\n"})
	repo, err := refdata.Open(refdata.Options{URL: gs.URL("data.git"), Token: gs.Token, CacheDir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: store, repo: repo, bare: bare, work: t.TempDir()}
}

func (f *fixture) upload(t *testing.T, build string, pr int, variant string, files map[string]string) {
	t.Helper()
	_, err := f.store.Upload(context.Background(), s3cache.UploadRequest{Build: build, Source: s3cache.Source{PR: pr}, Variant: variant, Dir: testenv.Tree(t, files)})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) tree(t *testing.T, rev string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range strings.Fields(testenv.Git(t, f.bare, "ls-tree", "-r", "--name-only", rev)) {
		out[p] = testenv.Git(t, f.bare, "show", rev+":"+p)
	}
	return out
}

func TestPublishDownloadsOnlyWhatTheDataRepoLacks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.upload(t, "1", 5, "", map[string]string{"a.txt": "a\n", "b.txt": "b changed\n", "plots/new.png": "\x89PNG"})
	req := Request{Build: "1", Want: s3cache.Want{Source: s3cache.Source{PR: 5}}, Branch: "PR5", WorkDir: f.work,
		Subject: "Update reference data for PR #5", Trailers: refdata.Trailers{PR: 5, Build: "1"}}

	// A dry run reads the manifest and the trees only.
	dry := req
	dry.DryRun = true
	res, err := Publish(ctx, f.store, f.repo, dry)
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Variants[0].Download; st.Fetched != 0 {
		t.Errorf("dry run downloaded %d files", st.Fetched)
	}
	if out, _ := testenv.GitEnv(f.bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/PR5"); out != "" {
		t.Errorf("dry run created PR5")
	}
	var got []string
	for _, c := range res.Update.Changes {
		got = append(got, string(c.Action)+" "+c.Path)
	}
	if diff := cmp.Diff([]string{"modified data/b.txt", "added data/plots/new.png"}, got); diff != "" {
		t.Errorf("planned changes (-want +got):\n%s", diff)
	}

	res, err = Publish(ctx, f.store, f.repo, req)
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Variants[0].Download; st.Fetched != 2 { // a.txt is on master already
		t.Errorf("fetched %d files, want 2 (b.txt, new.png)", st.Fetched)
	}
	want := map[string]string{"README.md": "data", "data/a.txt": "a", "data/b.txt": "b changed", "data/plots/new.png": "\x89PNG"}
	if diff := cmp.Diff(want, f.tree(t, "PR5")); diff != "" {
		t.Errorf("PR5 (-want +got):\n%s", diff)
	}

	// The next build changes one file: one file is fetched.
	f.upload(t, "2", 5, "", map[string]string{"a.txt": "a\n", "b.txt": "b changed\n", "plots/new.png": "\x89PNG v2"})
	req.Build = "2"
	res, err = Publish(ctx, f.store, f.repo, req)
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Variants[0].Download; st.Fetched != 1 {
		t.Errorf("fetched %d files, want 1", st.Fetched)
	}
	if n := testenv.Git(t, f.bare, "rev-list", "--count", "master..PR5"); n != "1" {
		t.Errorf("PR5 is master + %s commits", n)
	}
	testenv.Git(t, f.bare, "fsck", "--strict", "--no-progress")

	// A BeforePush error stops before the push.
	f.upload(t, "3", 5, "", map[string]string{"a.txt": "a\n", "b.txt": "never pushed\n"})
	stop := req
	stop.Build = "3"
	stop.BeforePush = func(context.Context) error { return errors.New("head moved") }
	before := testenv.Git(t, f.bare, "rev-parse", "PR5")
	if _, err := Publish(ctx, f.store, f.repo, stop); err == nil || err.Error() != "head moved" {
		t.Errorf("err = %v, want the BeforePush error", err)
	}
	if after := testenv.Git(t, f.bare, "rev-parse", "PR5"); after != before {
		t.Errorf("PR5 moved from %s to %s although BeforePush refused", before, after)
	}

	// A build of another PR is refused before anything is fetched.
	req.Want = s3cache.Want{Source: s3cache.Source{PR: 6}}
	if _, err := Publish(ctx, f.store, f.repo, req); !errors.Is(err, s3cache.ErrProvenance) {
		t.Errorf("err = %v, want ErrProvenance", err)
	}
}

func TestPublishVariants(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.upload(t, "9", 3, "linux", map[string]string{"out.txt": "linux\n"})
	f.upload(t, "9", 3, "macos", map[string]string{"out.txt": "macos\n"})
	req := Request{Build: "9", Want: s3cache.Want{Source: s3cache.Source{PR: 3}}, Branch: "PR3", WorkDir: f.work}
	res, err := Publish(ctx, f.store, f.repo, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Variants) != 2 || len(res.Update.Changes) != 2 {
		t.Fatalf("published %d variants with %d changes, want 2 and 2", len(res.Variants), len(res.Update.Changes))
	}
	got := f.tree(t, "PR3")
	if got["data/linux/out.txt"] != "linux" || got["data/macos/out.txt"] != "macos" {
		t.Errorf("PR3 = %v", got)
	}
	// Both variants in one commit, pushed once: no backup of a first
	// variant's push was needed.
	if n := testenv.Git(t, f.bare, "rev-list", "--count", "master..PR3"); n != "1" {
		t.Errorf("PR3 is master + %s commits", n)
	}
	if refs := testenv.Git(t, f.bare, "for-each-ref", "refs/refbot/backup/"); refs != "" {
		t.Errorf("backups after the first publish: %s", refs)
	}
	req.Variants = []string{"windows"}
	if _, err := Publish(ctx, f.store, f.repo, req); !errors.Is(err, s3cache.ErrNotFound) || !strings.Contains(err.Error(), "no variant") {
		t.Errorf("err = %v, want a refusal of the unknown variant", err)
	}
}

// countingStore counts how often a build is read and checked in S3.
type countingStore struct {
	*s3cache.Store
	opens int
}

func (c *countingStore) Open(ctx context.Context, id string, want s3cache.Want) (*s3cache.Build, error) {
	c.opens++
	return c.Store.Open(ctx, id, want)
}

// TestOpenedBuildIsReused: a publish after a dry run of the same build
// (UPDATE's large-change guard, then its push) reads the build in S3 once.
func TestOpenedBuildIsReused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.upload(t, "1", 5, "", map[string]string{"a.txt": "a\n", "b.txt": "b2\n"})
	store := &countingStore{Store: f.store}
	req := Request{Build: "1", Want: s3cache.Want{Source: s3cache.Source{PR: 5}}, Branch: "PR5", WorkDir: f.work, DryRun: true}
	plan, err := Publish(ctx, store, f.repo, req)
	if err != nil {
		t.Fatal(err)
	}
	req.DryRun, req.Opened = false, plan.Build
	if _, err := Publish(ctx, store, f.repo, req); err != nil {
		t.Fatal(err)
	}
	if store.opens != 1 {
		t.Errorf("the build was read %d times, want once", store.opens)
	}
	if got := testenv.Git(t, f.bare, "show", "PR5:data/b.txt"); got != "b2" {
		t.Errorf("PR5:data/b.txt = %q", got)
	}
}

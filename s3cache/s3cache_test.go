package s3cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func newStore(t *testing.T, lim Limits) *Store {
	t.Helper()
	mc := testenv.MinIO(t)
	ctx := context.Background()
	s, err := New(ctx, Options{
		Bucket: mc.BucketName(t), Prefix: "ci/builds", Region: mc.Region,
		Endpoint: mc.Endpoint, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey,
		Limits: lim, Concurrency: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// readTree returns every regular file under dir as path → content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

const headSHA = "0123456789abcdef0123456789abcdef01234567"

func TestUploadOpenDownloadRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	files := map[string]string{
		"plots/a.png":       strings.Repeat("\x89PNG", 1000),
		"plots/deep/b.json": `{"x": 1}`,
		"index.html":        "<html></html>",
		"empty.txt":         "",
	}
	m, err := s.Upload(ctx, UploadRequest{Build: "1001", Source: Source{PR: 42}, Commit: headSHA, Dir: testenv.Tree(t, files), Repo: "o/r"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 4 {
		t.Fatalf("manifest has %d files, want 4", len(m.Files))
	}
	// The git blob ids are git's own.
	src := testenv.Tree(t, files)
	for _, f := range m.Files {
		if want := testenv.Git(t, src, "hash-object", f.Path); f.Git != want {
			t.Errorf("%s: manifest git id %s, git hash-object says %s", f.Path, f.Git, want)
		}
	}
	b, err := s.Open(ctx, "1001", Want{Source: Source{PR: 42}, Commit: headSHA})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{""}, b.Variants); diff != "" {
		t.Errorf("variants (-want +got):\n%s", diff)
	}
	dir := t.TempDir()
	st, err := s.Download(ctx, b.Manifests[""], dir, DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(files, readTree(t, dir)); diff != "" {
		t.Errorf("downloaded tree (-want +got):\n%s", diff)
	}
	if st.Fetched != 4 || st.Kept != 0 {
		t.Errorf("stats = %+v, want 4 fetched", st)
	}
	// The build is listed, complete, with its source.
	got, err := s.ListBuilds(ctx)
	if err != nil || len(got) != 1 || got[0].ID != "1001" || got[0].Source != (Source{PR: 42}) || !got[0].Complete() {
		t.Errorf("ListBuilds = %v, %v", got, err)
	}
}

func TestVariantsStaySeparate(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	for _, v := range []string{"linux-py3.12", "macos"} {
		_, err := s.Upload(ctx, UploadRequest{Build: "77", Source: Source{Branch: "master"}, Variant: v,
			Dir: testenv.Tree(t, map[string]string{"same/name.txt": "from " + v})})
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := s.Open(ctx, "77", Want{Source: Source{Branch: "master"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"linux-py3.12", "macos"} {
		dir := t.TempDir()
		if _, err := s.Download(ctx, b.Manifests[v], dir, DownloadOptions{}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"same/name.txt": "from " + v}, readTree(t, dir)); diff != "" {
			t.Errorf("variant %s (-want +got):\n%s", v, diff)
		}
	}
	// A default upload cannot be mixed into a build with variants.
	_, err = s.Upload(ctx, UploadRequest{Build: "77", Source: Source{Branch: "master"}, Dir: testenv.Tree(t, map[string]string{"x": "y"})})
	if err == nil || !strings.Contains(err.Error(), "variant") {
		t.Errorf("mixed upload: err = %v, want a refusal naming the variants", err)
	}
}

func TestReuploadReplacesBuild(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	up := func(files map[string]string) {
		t.Helper()
		if _, err := s.Upload(ctx, UploadRequest{Build: "5", Source: Source{PR: 1}, Dir: testenv.Tree(t, files)}); err != nil {
			t.Fatal(err)
		}
	}
	up(map[string]string{"old.txt": "old", "keep.txt": "v1"})
	up(map[string]string{"keep.txt": "v2", "new.txt": "new"})
	keys, err := s.dataKeys(ctx, "5", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range keys {
		names = append(names, filepath.Base(k))
	}
	if diff := cmp.Diff([]string{"keep.txt", "new.txt"}, names, sortStrings); diff != "" {
		t.Errorf("objects after re-upload (-want +got):\n%s", diff)
	}
}

// TestUploadedTimes: a restarted CI build uploads again under the same id;
// a variant whose job did not upload again keeps the first run's manifest,
// and Uploaded, by S3's clock, tells it apart.
func TestUploadedTimes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	up := func(variant string) {
		t.Helper()
		_, err := s.Upload(ctx, UploadRequest{Build: "31", Source: Source{PR: 3}, Commit: headSHA, Variant: variant,
			Dir: testenv.Tree(t, map[string]string{"out.txt": "from " + variant})})
		if err != nil {
			t.Fatal(err)
		}
	}
	open := func() *Build {
		t.Helper()
		b, err := s.Open(ctx, "31", Want{Source: Source{PR: 3}, Commit: headSHA})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// MinIO runs on this machine, so its clock is ours give or take rounding.
	before := time.Now().Add(-time.Second)
	up("linux")
	up("macos")
	first := open().Uploaded
	if len(first) != 2 || first["linux"].Before(before) || first["macos"].Before(first["linux"]) {
		t.Fatalf("after the first run, Uploaded = %v, want linux then macos, both after %v", first, before)
	}

	// The second run: linux uploads again, macos's job fails before it can.
	up("linux")
	second := open().Uploaded
	if !second["linux"].After(first["linux"]) || !second["linux"].After(second["macos"]) {
		t.Errorf("after the second run's linux upload, Uploaded = %v; want linux newer than in the first run (%v) and than macos",
			second, first["linux"])
	}
	if !second["macos"].Equal(first["macos"]) {
		t.Errorf("macos, not uploaded again, moved from %v to %v", first["macos"], second["macos"])
	}

	// A build without variants has one entry, "".
	if _, err := s.Upload(ctx, UploadRequest{Build: "32", Source: Source{PR: 3}, Dir: testenv.Tree(t, map[string]string{"a": "b"})}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(ctx, "32", Want{Source: Source{PR: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Uploaded[""]; len(b.Uploaded) != 1 || !ok {
		t.Errorf("default upload: Uploaded = %v, want one entry for \"\"", b.Uploaded)
	}
}

// withoutAWSCredentials leaves the AWS SDK's default chain nothing to find:
// no AWS_* variables, empty shared files, and no instance metadata service
// (so nothing is tried off this machine).
func withoutAWSCredentials(t *testing.T) (configFile string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	configFile = filepath.Join(dir, "config")
	credentials := filepath.Join(dir, "credentials")
	for _, f := range []string{configFile, credentials} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", configFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credentials)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return configFile
}

func TestCheckCredentials(t *testing.T) {
	ctx := context.Background()
	mc := testenv.MinIO(t)
	awsConfig := withoutAWSCredentials(t)
	check := func(o Options) error {
		t.Helper()
		o.Bucket, o.Endpoint, o.PathStyle = "b", mc.Endpoint, true
		s, err := New(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return s.CheckCredentials(ctx)
	}

	if err := check(Options{}); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("no credentials anywhere: err = %v, want ErrNoCredentials", err)
	}
	if err := check(Options{AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey}); err != nil {
		t.Errorf("credentials in Options: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", mc.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", mc.SecretKey)
	if err := check(Options{}); err != nil {
		t.Errorf("credentials in the environment: %v", err)
	}
	os.Unsetenv("AWS_ACCESS_KEY_ID")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")

	// A source that is configured but fails is that failure, not "none".
	if err := os.WriteFile(awsConfig, []byte("[default]\ncredential_process = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := check(Options{}); err == nil || errors.Is(err, ErrNoCredentials) {
		t.Errorf("failing credential_process: err = %v, want its own error", err)
	}
}

var sortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestDownloadIsIncremental(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("d%d/f%d.txt", i%5, i)] = strings.Repeat(fmt.Sprint(i), 100)
	}
	open := func(build string) *Manifest {
		t.Helper()
		if _, err := s.Upload(ctx, UploadRequest{Build: build, Source: Source{PR: 9}, Dir: testenv.Tree(t, files)}); err != nil {
			t.Fatal(err)
		}
		b, err := s.Open(ctx, build, Want{Source: Source{PR: 9}})
		if err != nil {
			t.Fatal(err)
		}
		return b.Manifests[""]
	}
	dir := filepath.Join(t.TempDir(), "data")
	state := filepath.Join(t.TempDir(), "state")
	m1 := open("1")
	if st, err := s.Download(ctx, m1, dir, DownloadOptions{StatePath: state}); err != nil || st.Fetched != 50 {
		t.Fatalf("first download: %+v, %v", st, err)
	}
	// A local stray file and a locally damaged file.
	os.WriteFile(filepath.Join(dir, "stray.bin"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "d0", "f0.txt"), []byte(strings.Repeat("X", 100)), 0o644)
	// The next build changes one file and removes another.
	files["d1/f1.txt"] = "changed"
	delete(files, "d2/f2.txt")
	m2 := open("2")
	st, err := s.Download(ctx, m2, dir, DownloadOptions{StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	want := DownloadStats{Fetched: 2, FetchedBytes: 100 + 7, Kept: 47, Removed: 2}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("second download (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(files, readTree(t, dir)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}

// TestBadUploads: each is refused before anything is sent.
func TestBadUploads(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{MaxFileBytes: 100, MaxBuildBytes: 150})
	tests := []struct {
		name  string
		setup func(dir string)
		req   UploadRequest
		want  error
		text  string
	}{
		{name: "file over the per-file cap", setup: func(d string) { os.WriteFile(filepath.Join(d, "big"), make([]byte, 101), 0o644) }, want: ErrTooLarge},
		{name: "build over the total cap", setup: func(d string) {
			os.WriteFile(filepath.Join(d, "a"), make([]byte, 80), 0o644)
			os.WriteFile(filepath.Join(d, "b"), make([]byte, 80), 0o644)
		}, want: ErrTooLarge},
		{name: "symlink", setup: func(d string) { os.Symlink("/etc/passwd", filepath.Join(d, "link")) }, want: ErrUnsafePath, text: "symlink"},
		{name: "git folder", setup: func(d string) {
			os.MkdirAll(filepath.Join(d, "sub", ".git", "hooks"), 0o755)
			os.WriteFile(filepath.Join(d, "sub", ".git", "hooks", "pre-commit"), []byte("x"), 0o755)
		}, want: ErrUnsafePath, text: ".git"},
		{name: "gitattributes", setup: func(d string) { os.WriteFile(filepath.Join(d, ".gitattributes"), []byte("* filter=x"), 0o644) }, want: ErrUnsafePath},
		{name: "case collision", setup: func(d string) {
			os.WriteFile(filepath.Join(d, "A.png"), []byte("1"), 0o644)
			os.WriteFile(filepath.Join(d, "a.png"), []byte("2"), 0o644)
		}, want: ErrBadManifest, text: "collide"},
		{name: "bad build id", req: UploadRequest{Build: "../x"}, text: "build id"},
		{name: "bad variant", req: UploadRequest{Variant: "a/b"}, text: "variant"},
		{name: "bad commit", req: UploadRequest{Commit: "abc1234"}, text: "full hex"},
		{name: "no source", req: UploadRequest{Source: Source{}}, text: "source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(dir)
			}
			req := tc.req
			if req.Build == "" {
				req.Build = "9"
			}
			if req.Source == (Source{}) && tc.name != "no source" {
				req.Source = Source{PR: 3}
			}
			req.Dir = dir
			_, err := s.Upload(ctx, req)
			if err == nil {
				t.Fatal("upload succeeded, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v, want it to mention %q", err, tc.text)
			}
			if keys, _ := s.dataKeys(ctx, req.Build, ""); len(keys) != 0 {
				t.Errorf("%d objects were uploaded", len(keys))
			}
		})
	}
}

// putManifest writes a hand-made manifest (and SOURCE) straight into S3, as a
// hostile or broken uploader could.
func putManifest(t *testing.T, s *Store, m Manifest, source string) {
	t.Helper()
	ctx := context.Background()
	b, _ := json.Marshal(m)
	if err := s.putSmall(ctx, s.key(m.Build, sourceName), "text/plain", []byte(source)); err != nil {
		t.Fatal(err)
	}
	if err := s.putSmall(ctx, s.key(m.Build, manifestName(m.Variant)), "application/json", b); err != nil {
		t.Fatal(err)
	}
}

// TestHostileManifests: a manifest in S3 that tries to write outside the
// target folder, into git metadata, or in two places at once is refused, and
// nothing is written anywhere.
func TestHostileManifests(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{MaxFileBytes: 1000})
	sum := strings.Repeat("a", 64)
	tests := []struct {
		name  string
		files []File
		want  error
	}{
		{"parent dir", []File{{Path: "../x", Size: 1, SHA256: sum}}, ErrUnsafePath},
		{"nested escape", []File{{Path: "a/../../x", Size: 1, SHA256: sum}}, ErrUnsafePath},
		{"absolute", []File{{Path: "/etc/x", Size: 1, SHA256: sum}}, ErrUnsafePath},
		{"dot dot alone", []File{{Path: "..", Size: 1, SHA256: sum}}, ErrUnsafePath},
		{"backslash", []File{{Path: `a\..\b`, Size: 1, SHA256: sum}}, ErrUnsafePath},
		{"git hooks", []File{{Path: ".git/hooks/pre-commit", Size: 1, SHA256: sum}}, ErrUnsafePath},
		{"git in other case", []File{{Path: "sub/.GIT/config", Size: 1, SHA256: sum}}, ErrUnsafePath},
		{"gitmodules", []File{{Path: ".gitmodules", Size: 1, SHA256: sum}}, ErrUnsafePath},
		{"empty element", []File{{Path: "a//b", Size: 1, SHA256: sum}}, ErrUnsafePath},
		{"newline", []File{{Path: "a\nb", Size: 1, SHA256: sum}}, ErrUnsafePath},
		{"case collision", []File{{Path: "A", Size: 1, SHA256: sum}, {Path: "a", Size: 1, SHA256: sum}}, ErrBadManifest},
		{"file and folder", []File{{Path: "a", Size: 1, SHA256: sum}, {Path: "a/b", Size: 1, SHA256: sum}}, ErrBadManifest},
		{"bad checksum", []File{{Path: "a", Size: 1, SHA256: "xyz"}}, ErrBadManifest},
		{"over the file cap", []File{{Path: "a", Size: 1001, SHA256: sum}}, ErrTooLarge},
	}
	parent := t.TempDir()
	target := filepath.Join(parent, "target")
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprint(500 + i)
			putManifest(t, s, Manifest{Version: ManifestVersion, Build: id, PR: 4, Files: tc.files}, "4\n")
			_, err := s.Open(ctx, id, Want{Source: Source{PR: 4}})
			if !errors.Is(err, tc.want) {
				t.Errorf("Open: err = %v, want %v", err, tc.want)
			}
			_, err = s.Download(ctx, &Manifest{Version: ManifestVersion, Build: id, PR: 4, Files: tc.files}, target, DownloadOptions{})
			if !errors.Is(err, tc.want) {
				t.Errorf("Download: err = %v, want %v", err, tc.want)
			}
		})
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 0 {
		t.Errorf("something was written beside the target: %v", entries)
	}
}

func TestIncompleteAndWrongBuilds(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	m, err := s.Upload(ctx, UploadRequest{Build: "10", Source: Source{PR: 5}, Commit: headSHA,
		Dir: testenv.Tree(t, map[string]string{"a.txt": "aaa", "b.txt": "bbb"})})
	if err != nil {
		t.Fatal(err)
	}
	// A partial upload: data but no manifest yet.
	if err := s.putSmall(ctx, s.dataKey("11", "", "a.txt"), "text/plain", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.putSmall(ctx, s.key("11", sourceName), "text/plain", []byte("5\n")); err != nil {
		t.Fatal(err)
	}
	// A manifest listing a file that is not there.
	lying := *m
	lying.Build = "12"
	lying.Files = append([]File{}, m.Files...)
	putManifest(t, s, lying, "5\n")
	s.deleteKeys(ctx, []string{s.dataKey("12", "", "a.txt")})
	for _, f := range m.Files {
		if f.Path == "b.txt" {
			s.putSmall(ctx, s.dataKey("12", "", "b.txt"), "text/plain", []byte("bbb"))
		}
	}

	tests := []struct {
		name  string
		build string
		want  Want
		err   error
		text  string
	}{
		{"not there", "999", Want{Source: Source{PR: 5}}, ErrNotFound, ""},
		{"no manifest yet", "11", Want{Source: Source{PR: 5}}, ErrIncomplete, "MANIFEST"},
		{"listed file missing", "12", Want{Source: Source{PR: 5}}, ErrIncomplete, "a.txt (missing)"},
		{"other PR", "10", Want{Source: Source{PR: 6}}, ErrProvenance, `names "5"`},
		{"branch instead of PR", "10", Want{Source: Source{Branch: "master"}}, ErrProvenance, ""},
		{"other head commit", "10", Want{Source: Source{PR: 5}, Commit: strings.Repeat("f", 40)}, ErrProvenance, "tested commit 0123456789ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Open(ctx, tc.build, tc.want)
			if !errors.Is(err, tc.err) || !strings.Contains(fmt.Sprint(err), tc.text) {
				t.Errorf("err = %v, want %v mentioning %q", err, tc.err, tc.text)
			}
		})
	}
}

// TestTamperedObject: a file changed in S3 after the manifest was written is
// caught by its checksum and never replaces the good local copy.
func TestTamperedObject(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	if _, err := s.Upload(ctx, UploadRequest{Build: "20", Source: Source{PR: 8},
		Dir: testenv.Tree(t, map[string]string{"a.txt": "good", "b.txt": "fine"})}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(ctx, "20", Want{Source: Source{PR: 8}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := s.Download(ctx, b.Manifests[""], dir, DownloadOptions{}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "b.txt"))
	t.Run("wrong git id in the manifest", func(t *testing.T) {
		m := *b.Manifests[""]
		m.Files = append([]File(nil), m.Files...)
		for i := range m.Files {
			m.Files[i].Git = strings.Repeat("0", 40)
		}
		if _, err := s.Download(ctx, &m, dir, DownloadOptions{}); !errors.Is(err, ErrChecksum) {
			t.Fatalf("err = %v, want ErrChecksum", err)
		}
	})
	for name, body := range map[string]string{"same size": "evil", "longer": "evil and more"} {
		t.Run(name, func(t *testing.T) {
			s.putSmall(ctx, s.dataKey("20", "", "b.txt"), "text/plain", []byte(body))
			_, err := s.Download(ctx, b.Manifests[""], dir, DownloadOptions{})
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("err = %v, want ErrChecksum", err)
			}
			if diff := cmp.Diff(map[string]string{"a.txt": "good"}, readTree(t, dir)); diff != "" {
				t.Errorf("folder after refused download (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	up := func(id string, src Source) {
		t.Helper()
		if _, err := s.Upload(ctx, UploadRequest{Build: id, Source: src, Dir: testenv.Tree(t, map[string]string{"f": id})}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // distinct modification times
	}
	for _, id := range []string{"101", "102", "103", "104"} {
		up(id, Source{PR: 1})
	}
	for _, id := range []string{"201", "202", "203"} {
		up(id, Source{Branch: "master"})
	}
	up("301", Source{PR: 2})
	if err := s.Pin(ctx, "101", "release 1.0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, "555", "no such build"); !errors.Is(err, ErrNotFound) {
		t.Errorf("pinning a build that is not there: %v", err)
	}
	// A folder with data but no SOURCE yet: never judged.
	s.putSmall(ctx, s.dataKey("999", "", "x"), "text/plain", []byte("x"))
	protect := func(b BuildInfo) bool { return b.ID == "102" }

	ids := func(bs []BuildInfo) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.ID)
		}
		return out
	}
	dry, err := s.Prune(ctx, Retention{PerPR: 1, PerBranch: 2}, protect, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"103", "201"}, ids(dry.Deleted), sortStrings); diff != "" {
		t.Errorf("dry run would delete (-want +got):\n%s", diff)
	}
	if got, _ := s.ListBuilds(ctx); len(got) != 9 {
		t.Errorf("dry run deleted something: %d builds left", len(got))
	}
	res, err := s.Prune(ctx, Retention{PerPR: 1, PerBranch: 2}, protect, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"999"}, ids(res.Skipped)); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	left, _ := s.ListBuilds(ctx)
	if diff := cmp.Diff([]string{"101", "102", "104", "202", "203", "301", "999"}, ids(left), sortStrings); diff != "" {
		t.Errorf("builds left (-want +got):\n%s", diff)
	}
	if _, err := s.Prune(ctx, Retention{}, nil, false); err == nil {
		t.Error("retention of zero builds was accepted")
	}
}

// TestOutage: with S3 unreachable, every call fails with an error that names
// the store, and nothing is written locally.
func TestOutage(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	s, err := New(ctx, Options{Bucket: "b", Endpoint: "http://" + addr, PathStyle: true,
		AccessKeyID: "k", SecretAccessKey: "s", MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, "1", Want{Source: Source{PR: 1}}); err == nil || !strings.Contains(err.Error(), "s3://b") {
		t.Errorf("Open: err = %v, want an error naming s3://b", err)
	}
	_, err = s.Upload(ctx, UploadRequest{Build: "1", Source: Source{PR: 1}, Dir: testenv.Tree(t, map[string]string{"a": "b"})})
	if err == nil {
		t.Error("Upload succeeded against a dead endpoint")
	}
	dir := t.TempDir()
	m := &Manifest{Version: ManifestVersion, Build: "1", Files: []File{{Path: "a", Size: 1, SHA256: strings.Repeat("a", 64)}}}
	if _, err := s.Download(ctx, m, dir, DownloadOptions{}); err == nil {
		t.Error("Download succeeded against a dead endpoint")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v in the folder", entries)
	}
}

// TestLargeFileGoesMultipart: a file over the multipart threshold is sent in
// parts and comes back intact.
func TestLargeFileGoesMultipart(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	big := make([]byte, multipartThreshold+8<<20)
	for i := range big {
		big[i] = byte(i * 7 / 5)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(ctx, UploadRequest{Build: "31", Source: Source{PR: 2}, Dir: src}); err != nil {
		t.Fatal(err)
	}
	// S3 marks objects assembled from parts with an ETag ending in -N.
	key := s.dataKey("31", "", "big.bin")
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	if etag := aws.ToString(head.ETag); !strings.Contains(etag, "-") {
		t.Errorf("ETag %s: the object was not uploaded in parts", etag)
	}
	b, err := s.Open(ctx, "31", Want{Source: Source{PR: 2}})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := s.Download(ctx, b.Manifests[""], dst, DownloadOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dst, "big.bin"))
	if !bytes.Equal(got, big) {
		t.Error("the large file came back different")
	}
}

// TestDownloadKeepUnlisted: a staging download leaves other files alone.
func TestDownloadKeepUnlisted(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	if _, err := s.Upload(ctx, UploadRequest{Build: "41", Source: Source{PR: 2}, Dir: testenv.Tree(t, map[string]string{"a": "1", "b": "2"})}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(ctx, "41", Want{Source: Source{PR: 2}})
	if err != nil {
		t.Fatal(err)
	}
	dir := testenv.Tree(t, map[string]string{"old/stale.txt": "x", "a": "wrong"})
	m := *b.Manifests[""]
	m.Files = m.Files[:1] // only "a"
	st, err := s.Download(ctx, &m, dir, DownloadOptions{KeepUnlisted: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1", "old/stale.txt": "x"}, readTree(t, dir)); diff != "" {
		t.Errorf("folder (-want +got):\n%s", diff)
	}
	if st.Removed != 0 || st.Fetched != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// TestStagingDropsTempFiles: temporary files an interrupted download left
// in a staging folder are removed even though other files are kept.
func TestStagingDropsTempFiles(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	if _, err := s.Upload(ctx, UploadRequest{Build: "51", Source: Source{PR: 2}, Dir: testenv.Tree(t, map[string]string{"a": "1"})}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(ctx, "51", Want{Source: Source{PR: 2}})
	if err != nil {
		t.Fatal(err)
	}
	dir := testenv.Tree(t, map[string]string{"kept.txt": "x", "sub/.refbot-tmp-a-0123": "half"})
	if _, err := s.Download(ctx, b.Manifests[""], dir, DownloadOptions{KeepUnlisted: true}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1", "kept.txt": "x"}, readTree(t, dir)); diff != "" {
		t.Errorf("folder (-want +got):\n%s", diff)
	}
}

// TestUnusable: the build's own problems are the asker's; an outage is not.
func TestUnusable(t *testing.T) {
	for _, e := range []error{ErrNotFound, ErrIncomplete, ErrProvenance, ErrUnsafePath, ErrTooLarge, ErrChecksum, ErrBadManifest} {
		if !Unusable(fmt.Errorf("build 7: %w", e)) {
			t.Errorf("%v is not unusable", e)
		}
	}
	if Unusable(errors.New("s3: connection refused")) || Unusable(nil) {
		t.Error("an outage (or no error) counted as unusable")
	}
}

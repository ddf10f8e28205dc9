package s3cache

// Hostile artifacts and data beyond path traversal (docs/reliability.md):
// names that collide under case folding or Unicode normalisation, links,
// pipes and devices, the file-count and size caps, and an S3 object longer
// than its manifest entry.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

// Two spellings of "café": NFC (é as one code point) and NFD (e and a
// combining acute accent). Linux file systems and git keep both apart;
// macOS merges them.
const (
	cafeNFC = "caf\u00e9"
	cafeNFD = "cafe\u0301"
)

// TestValidateCollisions: paths that a macOS or Windows checkout would
// merge are refused, with both named (escaped, so that two spellings of
// one name can be told apart) and the reason given.
func TestValidateCollisions(t *testing.T) {
	sum := strings.Repeat("a", 64)
	tests := []struct {
		name  string
		paths []string
		text  string // "" when the paths are fine
	}{
		{name: "NFC and NFD", paths: []string{cafeNFC + ".png", cafeNFD + ".png"},
			text: `"caf\u00e9.png" and "cafe\u0301.png" collide: they differ only in Unicode normalisation (NFC/NFD)`},
		{name: "NFC and NFD folders", paths: []string{cafeNFC + "/a.png", cafeNFD + "/a.png"}, text: "Unicode normalisation"},
		{name: "case", paths: []string{"Plot.png", "plot.png"}, text: `"Plot.png" and "plot.png" collide: they differ only in case`},
		{name: "case of a folder", paths: []string{"Out/a.png", "out/a.png"}, text: "differ only in case"},
		{name: "case and normalisation", paths: []string{"CAF\u00c9", cafeNFD}, text: "differ only in case and Unicode normalisation"},
		{name: "full case folding", paths: []string{"stra\u00dfe.txt", "STRASSE.txt"}, text: "collide"},
		{name: "a file and a folder, in other cases", paths: []string{"a", "A/b"}, text: "needs it to be a folder"},
		{name: "NFD alone is fine", paths: []string{cafeNFD + ".png", "cafe.png"}},
		{name: "different letters are fine", paths: []string{"a.png", "b.png", "\u00e9.png", "\u00e8.png"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Manifest{Version: ManifestVersion, Build: "1"}
			for _, p := range tc.paths {
				m.Files = append(m.Files, File{Path: p, Size: 1, SHA256: sum})
			}
			err := m.Validate(DefaultLimits)
			if tc.text == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadManifest) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v, want ErrBadManifest mentioning %q", err, tc.text)
			}
		})
	}
}

// TestCollisionsRefusedEverywhere: names colliding under normalisation or
// case are refused by `refbot upload` before anything is sent, by
// IngestArtifact before S3 is written, and by Open and Download (what
// publishing reads a build with) before anything is written locally.
func TestCollisionsRefusedEverywhere(t *testing.T) {
	ctx := context.Background()
	pairs := map[string][2]string{
		"NFC and NFD": {cafeNFC + ".png", cafeNFD + ".png"},
		"case":        {"Plot.png", "plot.png"},
	}
	for name, pair := range pairs {
		t.Run(name+"/upload", func(t *testing.T) {
			s := newStore(t, Limits{})
			dir := testenv.Tree(t, map[string]string{pair[0]: "one", pair[1]: "two"})
			if entries, _ := os.ReadDir(dir); len(entries) != 2 {
				t.Skipf("this file system merges %+q and %+q", pair[0], pair[1])
			}
			_, err := s.Upload(ctx, UploadRequest{Build: "1", Source: Source{PR: 3}, Dir: dir})
			checkCollision(t, err, pair)
			if keys, _ := s.dataKeys(ctx, "1", ""); len(keys) != 0 {
				t.Errorf("%d objects were uploaded", len(keys))
			}
		})
		t.Run(name+"/ingest", func(t *testing.T) {
			s, wc := newIngestStore(t, Limits{}, ZipLimits{})
			zipPath := writeZip(t, artifactEntries(map[string]string{pair[0]: "one", pair[1]: "two"}, "", nil))
			_, err := s.IngestArtifact(ctx, zipPath, Provenance{PR: 5, Commit: headSHA, Build: "300", Attempt: 1})
			checkCollision(t, err, pair)
			if n := wc.writes.Load(); n != 0 {
				t.Errorf("%d writes to S3", n)
			}
		})
		t.Run(name+"/publish", func(t *testing.T) {
			s := newStore(t, Limits{})
			sum, git := checksums("x")
			m := Manifest{Version: ManifestVersion, Build: "7", PR: 4, Files: []File{
				{Path: pair[0], Size: 1, SHA256: sum, Git: git}, {Path: pair[1], Size: 1, SHA256: sum, Git: git}}}
			putManifest(t, s, m, "4\n")
			_, err := s.Open(ctx, "7", Want{Source: Source{PR: 4}})
			checkCollision(t, err, pair)
			target := filepath.Join(t.TempDir(), "target")
			_, err = s.Download(ctx, &m, target, DownloadOptions{})
			checkCollision(t, err, pair)
			if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the target folder was made: %v", err)
			}
		})
	}
}

func checkCollision(t *testing.T, err error, pair [2]string) {
	t.Helper()
	if !errors.Is(err, ErrBadManifest) || !Unusable(err) {
		t.Fatalf("err = %v, want ErrBadManifest", err)
	}
	for _, p := range pair {
		if q := fmt.Sprintf("%+q", p); !strings.Contains(err.Error(), q) {
			t.Errorf("err = %v, want it to name %s", err, q)
		}
	}
}

// TestSpecialZipEntries: an artifact zip can mark an entry (in its
// external attributes) as a symlink, a pipe, a device or a socket; each is
// refused before anything is inflated or written, including the tricks of
// a link followed by a file of the same name or a file below it. (A zip
// has no way to say "hard link".)
func TestSpecialZipEntries(t *testing.T) {
	ctx := context.Background()
	good := artifactEntries(map[string]string{"a.txt": "alpha"}, "", nil)
	tests := []struct {
		name  string
		extra []zipEntry
		text  string
	}{
		{name: "symlink to /etc", extra: []zipEntry{{name: "data/etc", body: "/etc", mode: fs.ModeSymlink | 0o777}}, text: `"data/etc" is a symlink`},
		{name: "symlink then a file of the same name", extra: []zipEntry{
			{name: "data/b.txt", body: "/tmp/planted", mode: fs.ModeSymlink | 0o777}, {name: "data/b.txt", body: "write through"}},
			text: `"data/b.txt" is a symlink`},
		{name: "symlink to a folder then a file below it", extra: []zipEntry{
			{name: "data/sub", body: "/tmp", mode: fs.ModeSymlink | 0o777}, {name: "data/sub/evil.txt", body: "x"}},
			text: `"data/sub" is a symlink`},
		{name: "named pipe", extra: []zipEntry{{name: "data/pipe", mode: fs.ModeNamedPipe | 0o644}}, text: `"data/pipe" is a named pipe`},
		{name: "character device", extra: []zipEntry{{name: "data/null", mode: fs.ModeDevice | fs.ModeCharDevice | 0o644}}, text: `"data/null" is a device`},
		{name: "block device", extra: []zipEntry{{name: "data/sda", mode: fs.ModeDevice | 0o644}}, text: `"data/sda" is a device`},
		{name: "socket", extra: []zipEntry{{name: "data/sock", mode: fs.ModeSocket | 0o644}}, text: `"data/sock" is a socket`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, wc := newIngestStore(t, Limits{}, ZipLimits{})
			zipPath := writeZip(t, append(append([]zipEntry(nil), good...), tc.extra...))
			_, err := s.IngestArtifact(ctx, zipPath, Provenance{PR: 5, Commit: headSHA, Build: "300", Attempt: 1})
			if !errors.Is(err, ErrUnsafePath) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want ErrUnsafePath mentioning %q", err, tc.text)
			}
			if n := wc.writes.Load(); n != 0 {
				t.Errorf("%d writes to S3", n)
			}
			if entries, _ := os.ReadDir(filepath.Dir(zipPath)); len(entries) != 1 {
				t.Errorf("beside the zip: %v, want the zip alone", entries)
			}
		})
	}
}

// TestUploadSpecialFiles: in a `refbot upload` folder, a named pipe or a
// device is refused before anything is sent (and never opened: a pipe
// would block), and a hard link to a file outside the folder is sent as
// that file's content, leaving the file as it was.
func TestUploadSpecialFiles(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Limits{})
	refused := []struct {
		name string
		make func(p string) error
		text string
	}{
		{name: "named pipe", make: func(p string) error { return syscall.Mkfifo(p, 0o644) }, text: "is a named pipe"},
		// /dev/null's numbers (1, 3); making one needs root.
		{name: "device", make: func(p string) error { return syscall.Mknod(p, syscall.S_IFCHR|0o644, 1<<8|3) }, text: "is a device"},
	}
	for i, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			dir := testenv.Tree(t, map[string]string{"ok.txt": "fine"})
			if err := tc.make(filepath.Join(dir, "special")); err != nil {
				t.Skipf("cannot make a %s here: %v", tc.name, err)
			}
			build := fmt.Sprint(60 + i)
			_, err := s.Upload(ctx, UploadRequest{Build: build, Source: Source{PR: 3}, Dir: dir})
			if !errors.Is(err, ErrUnsafePath) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want ErrUnsafePath mentioning %q", err, tc.text)
			}
			if keys, _ := s.dataKeys(ctx, build, ""); len(keys) != 0 {
				t.Errorf("%d objects were uploaded", len(keys))
			}
		})
	}
	t.Run("hard link to a file outside", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "secret.txt")
		if err := os.WriteFile(outside, []byte("outside"), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := testenv.Tree(t, map[string]string{"ok.txt": "fine"})
		if err := os.Link(outside, filepath.Join(dir, "linked.txt")); err != nil {
			t.Skip("no hard links here:", err)
		}
		m, err := s.Upload(ctx, UploadRequest{Build: "70", Source: Source{PR: 3}, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Open(ctx, "70", Want{Source: Source{PR: 3}})
		if err != nil {
			t.Fatal(err)
		}
		got := filepath.Join(t.TempDir(), "got")
		if _, err := s.Download(ctx, b.Manifests[""], got, DownloadOptions{}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"ok.txt": "fine", "linked.txt": "outside"}, readTree(t, got)); diff != "" {
			t.Errorf("downloaded (-want +got):\n%s", diff)
		}
		if fi, err := os.Lstat(filepath.Join(got, "linked.txt")); err != nil || !fi.Mode().IsRegular() || linkCount(fi) != 1 {
			t.Errorf("downloaded linked.txt: %v, %v; want a plain file of its own", fi, err)
		}
		if len(m.Files) != 2 {
			t.Errorf("manifest lists %d files", len(m.Files))
		}
		if b, _ := os.ReadFile(outside); string(b) != "outside" {
			t.Errorf("the file outside now holds %q", b)
		}
	})
}

func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// TestFileCountCap: a build with more files than Limits.MaxFiles (the
// s3.max_files key) is refused by upload, ingest and download before
// anything is sent or written.
func TestFileCountCap(t *testing.T) {
	ctx := context.Background()
	lim := Limits{MaxFiles: 3}
	files := map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}
	t.Run("upload", func(t *testing.T) {
		s := newStore(t, lim)
		_, err := s.Upload(ctx, UploadRequest{Build: "1", Source: Source{PR: 3}, Dir: testenv.Tree(t, files)})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 3 files") {
			t.Fatalf("err = %v, want the cap named", err)
		}
		if keys, _ := s.dataKeys(ctx, "1", ""); len(keys) != 0 {
			t.Errorf("%d objects were uploaded", len(keys))
		}
	})
	t.Run("ingest", func(t *testing.T) {
		s, wc := newIngestStore(t, lim, ZipLimits{})
		_, err := s.IngestArtifact(ctx, writeZip(t, artifactEntries(files, "", nil)), Provenance{PR: 5, Commit: headSHA, Build: "300", Attempt: 1})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "4 files, limit 3") {
			t.Fatalf("err = %v, want the cap named", err)
		}
		if n := wc.writes.Load(); n != 0 {
			t.Errorf("%d writes to S3", n)
		}
	})
	t.Run("download", func(t *testing.T) {
		s, gets := newCountingStore(t, Limits{})
		if _, err := s.Upload(ctx, UploadRequest{Build: "1", Source: Source{PR: 3}, Dir: testenv.Tree(t, files)}); err != nil {
			t.Fatal(err)
		}
		b, err := s.Open(ctx, "1", Want{Source: Source{PR: 3}})
		if err != nil {
			t.Fatal(err)
		}
		s.limits = lim // as a refbot with a lower s3.max_files reads it
		gets.objects.Store(0)
		target := filepath.Join(t.TempDir(), "target")
		_, err = s.Download(ctx, b.Manifests[""], target, DownloadOptions{})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "4 files, limit 3") {
			t.Fatalf("err = %v, want the cap named", err)
		}
		if n := gets.objects.Load(); n != 0 {
			t.Errorf("%d data objects read", n)
		}
		if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the target folder was made: %v", err)
		}
	})
}

// readCounter counts the data objects S3 was asked for and the body bytes
// read from its answers.
type readCounter struct {
	base    http.RoundTripper
	objects atomic.Int64
	bytes   atomic.Int64
}

func (c *readCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err != nil || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/data/") {
		return resp, err
	}
	c.objects.Add(1)
	resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.bytes}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// newCountingStore is newStore counting what is read of data objects.
func newCountingStore(t *testing.T, lim Limits) (*Store, *readCounter) {
	t.Helper()
	mc := testenv.MinIO(t)
	ctx := context.Background()
	t.Setenv("AWS_CA_BUNDLE", "") // see newIngestStore
	rc := &readCounter{base: http.DefaultTransport}
	s, err := New(ctx, Options{
		Bucket: mc.BucketName(t), Prefix: "ci/builds", Region: mc.Region,
		Endpoint: mc.Endpoint, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey,
		Limits: lim, Concurrency: 8,
		HTTPClient: &http.Client{Transport: rc},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	return s, rc
}

// TestDownloadSizeCaps: a manifest over the build's size cap is refused
// before any object is read; an object in S3 longer than its manifest
// entry (replaced behind refbot's back, or a server sending more than it
// should) is read one byte past the listed size and no further, and the
// download fails naming it, with the folder as it was: no partial file,
// no temporary file, earlier files in place.
func TestDownloadSizeCaps(t *testing.T) {
	ctx := context.Background()
	s, reads := newCountingStore(t, Limits{})
	up := func(build string, files map[string]string) *Manifest {
		t.Helper()
		if _, err := s.Upload(ctx, UploadRequest{Build: build, Source: Source{PR: 3}, Dir: testenv.Tree(t, files)}); err != nil {
			t.Fatal(err)
		}
		b, err := s.Open(ctx, build, Want{Source: Source{PR: 3}})
		if err != nil {
			t.Fatal(err)
		}
		return b.Manifests[""]
	}

	t.Run("manifest over the build cap", func(t *testing.T) {
		m := up("1", map[string]string{"a.txt": strings.Repeat("a", 80), "b.txt": strings.Repeat("b", 80)})
		saved := s.limits
		s.limits.MaxBuildBytes = 150
		defer func() { s.limits = saved }()
		reads.objects.Store(0)
		target := filepath.Join(t.TempDir(), "target")
		_, err := s.Download(ctx, m, target, DownloadOptions{})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "build is 160 bytes, limit 150") {
			t.Fatalf("err = %v, want the build cap named", err)
		}
		if n := reads.objects.Load(); n != 0 {
			t.Errorf("%d data objects read", n)
		}
	})

	t.Run("object longer than its manifest entry", func(t *testing.T) {
		dir := t.TempDir()
		m1 := up("2", map[string]string{"a.txt": "alpha"})
		if _, err := s.Download(ctx, m1, dir, DownloadOptions{}); err != nil {
			t.Fatal(err)
		}
		m2 := up("3", map[string]string{"b.txt": "beta!"})
		// b.txt's object grows to 1 MiB; its manifest still says 5 bytes.
		if err := s.putSmall(ctx, s.dataKey("3", "", "b.txt"), "text/plain", []byte(strings.Repeat("B", 1<<20))); err != nil {
			t.Fatal(err)
		}
		reads.bytes.Store(0)
		_, err := s.Download(ctx, m2, dir, DownloadOptions{KeepUnlisted: true})
		if !errors.Is(err, ErrChecksum) || !Unusable(err) ||
			!strings.Contains(err.Error(), "b.txt in S3 is longer than the 5 bytes the manifest lists") {
			t.Fatalf("err = %v, want the oversize object named", err)
		}
		// One byte past the listed size tells it is longer.
		if n := reads.bytes.Load(); n > 6 {
			t.Errorf("read %d bytes of a 1 MiB object listed at 5", n)
		}
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if diff := cmp.Diff([]string{"a.txt"}, names); diff != "" {
			t.Errorf("folder after the refusal (-want +got):\n%s", diff)
		}
	})
}

// BenchmarkValidate50k is the cost of checking a 50,000-file manifest,
// collisions under case folding and normalisation included: ASCII names,
// and names with an accent (the slower path).
func BenchmarkValidate50k(b *testing.B) {
	for _, name := range []string{"cafe", "caf\u00e9"} {
		b.Run(map[bool]string{true: "ascii", false: "accented"}[name == "cafe"], func(b *testing.B) {
			m := Manifest{Version: ManifestVersion, Build: "1"}
			sum := strings.Repeat("a", 64)
			for i := range 50_000 {
				m.Files = append(m.Files, File{Path: fmt.Sprintf("plots/run%03d/%s-%05d.png", i%500, name, i), Size: 1, SHA256: sum})
			}
			for b.Loop() {
				if err := m.Validate(DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

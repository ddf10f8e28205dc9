package s3cache

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/refbot/refbot/internal/testenv"
)

// writeCounter counts the requests that change S3: anything but GET and
// HEAD.
type writeCounter struct {
	base   http.RoundTripper
	writes atomic.Int64
}

func (c *writeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		c.writes.Add(1)
	}
	return c.base.RoundTrip(r)
}

// newIngestStore is newStore with zip limits and a count of its writes,
// starting at zero once the bucket exists.
func newIngestStore(t *testing.T, lim Limits, zl ZipLimits) (*Store, *writeCounter) {
	t.Helper()
	mc := testenv.MinIO(t)
	ctx := context.Background()
	// The SDK refuses a custom CA bundle with an *http.Client it did not
	// build; MinIO here is plain HTTP and needs none.
	t.Setenv("AWS_CA_BUNDLE", "")
	wc := &writeCounter{base: http.DefaultTransport}
	s, err := New(ctx, Options{
		Bucket: mc.BucketName(t), Prefix: "ci/builds", Region: mc.Region,
		Endpoint: mc.Endpoint, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey,
		Limits: lim, Zip: zl, Concurrency: 8,
		HTTPClient: &http.Client{Transport: wc},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	wc.writes.Store(0)
	return s, wc
}

// checksums computes a file's sha256 and git blob id the long way, apart
// from the code under test.
func checksums(content string) (sha, git string) {
	s := sha256.Sum256([]byte(content))
	g := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(content), content)))
	return hex.EncodeToString(s[:]), hex.EncodeToString(g[:])
}

// zipDir zips a folder the way actions/upload-artifact zips its path, into
// a file.
func zipDir(t *testing.T, dir string) string {
	t.Helper()
	data, err := testenv.ZipFolder(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return writeZipBytes(t, data)
}

// zipEntry is one entry of a hand-made zip.
type zipEntry struct {
	name   string
	body   string
	mode   fs.FileMode // 0: a regular file, or a folder when name ends in "/"
	stored bool        // not deflated
	flags  uint16
}

func zipBytes(t *testing.T, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Flags: e.flags}
		if e.stored {
			h.Method = zip.Store
		}
		switch {
		case e.mode != 0:
			h.SetMode(e.mode)
		case strings.HasSuffix(e.name, "/"):
			h.SetMode(fs.ModeDir | 0o755)
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeZip writes the entries as a zip alone in a new folder.
func writeZip(t *testing.T, entries []zipEntry) string {
	t.Helper()
	return writeZipBytes(t, zipBytes(t, entries))
}

func writeZipBytes(t *testing.T, b []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "refbot-outputs.zip")
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// artifactEntries are the entries of a well-formed artifact of files, its
// manifest first; edit, if set, changes the manifest before it is written.
func artifactEntries(files map[string]string, variant string, edit func(*Manifest)) []zipEntry {
	m := Manifest{Version: ManifestVersion, Build: "1", Variant: variant}
	base := "data/"
	if variant != "" {
		base += variant + "/"
	}
	var data []zipEntry
	for _, p := range slices.Sorted(maps.Keys(files)) {
		sha, git := checksums(files[p])
		m.Files = append(m.Files, File{Path: p, Size: int64(len(files[p])), SHA256: sha, Git: git})
		data = append(data, zipEntry{name: base + p, body: files[p]})
	}
	if edit != nil {
		edit(&m)
	}
	body, _ := json.Marshal(m)
	return append([]zipEntry{{name: manifestName(variant), body: string(body)}}, data...)
}

// noise is n bytes that do not compress.
func noise(n int) string {
	var b []byte
	for sum := sha256.Sum256(nil); len(b) < n; sum = sha256.Sum256(sum[:]) {
		b = append(b, sum[:]...)
	}
	return string(b[:n])
}

// prepareZip prepares an artifact of files and zips it as
// actions/upload-artifact would.
func prepareZip(t *testing.T, files map[string]string, variant string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "artifact")
	_, err := PrepareArtifact(context.Background(), PrepareRequest{Dir: testenv.Tree(t, files), Out: out, Variant: variant, Build: "1"})
	if err != nil {
		t.Fatal(err)
	}
	return zipDir(t, out)
}

// TestArtifactRoundTrip: outputs prepared in CI, zipped as
// actions/upload-artifact zips them and ingested come out of S3 as a
// complete build with the API's provenance, whatever the artifact claimed.
func TestArtifactRoundTrip(t *testing.T) {
	ctx := context.Background()
	files := map[string]string{
		"plots/a.png":       strings.Repeat("\x89PNG", 1000),
		"plots/deep/b.json": `{"x": 1}`,
		"index.html":        "<html></html>",
		"empty.txt":         "",
	}
	for _, variant := range []string{"", "linux-py3.12"} {
		t.Run("variant "+variant, func(t *testing.T) {
			s, _ := newIngestStore(t, Limits{}, ZipLimits{})
			src := testenv.Tree(t, files)
			out := filepath.Join(t.TempDir(), "artifact")
			// The artifact's provenance is whatever the fork's workflow says.
			lie := PrepareRequest{Dir: src, Out: out, Variant: variant, Build: "1", Commit: strings.Repeat("f", 40),
				Repo: "fork/evil", PR: 999, Attempt: 7, Provider: "travis"}
			pm, err := PrepareArtifact(ctx, lie)
			if err != nil {
				t.Fatal(err)
			}

			// The folder mirrors an S3 build folder without SOURCE.
			prefix := "data/"
			if variant != "" {
				prefix += variant + "/"
			}
			want := map[string]string{}
			for p, c := range files {
				want[prefix+p] = c
			}
			got := readTree(t, out)
			manifestJSON, ok := got[manifestName(variant)]
			delete(got, manifestName(variant))
			if !ok {
				t.Fatalf("no %s in %v", manifestName(variant), slices.Sorted(maps.Keys(got)))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("artifact folder (-want +got):\n%s", diff)
			}
			var written Manifest
			if err := json.Unmarshal([]byte(manifestJSON), &written); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(pm, &written); diff != "" {
				t.Errorf("written manifest differs from the returned one (-want +got):\n%s", diff)
			}
			for _, f := range pm.Files {
				sha, _ := checksums(files[f.Path])
				if git := testenv.Git(t, src, "hash-object", f.Path); f.Git != git || f.SHA256 != sha || f.Size != int64(len(files[f.Path])) {
					t.Errorf("%s: manifest says %d bytes, sha256 %s, git %s; want %d, %s, %s",
						f.Path, f.Size, f.SHA256, f.Git, len(files[f.Path]), sha, git)
				}
			}
			if pm.PR != 999 || pm.Attempt != 7 || pm.Variant != variant {
				t.Errorf("prepared manifest = %+v, want the request's provenance", pm)
			}

			zipPath := zipDir(t, out)
			prov := Provenance{Repo: "o/r", PR: 42, Commit: headSHA, Build: "9001", Attempt: 2, Provider: "github-actions", Variant: variant}
			m, err := s.IngestArtifact(ctx, zipPath, prov)
			if err != nil {
				t.Fatal(err)
			}
			wantM := &Manifest{Version: ManifestVersion, Repo: "o/r", PR: 42, Commit: headSHA, Build: "9001",
				Variant: variant, Provider: "github-actions", Attempt: 2, Files: pm.Files}
			if diff := cmp.Diff(wantM, m, cmpopts.IgnoreFields(Manifest{}, "Created")); diff != "" {
				t.Errorf("stored manifest (-want +got):\n%s", diff)
			}
			b, err := s.Open(ctx, "9001", Want{Source: Source{PR: 42}, Commit: headSHA})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(m, b.Manifests[variant]); diff != "" {
				t.Errorf("Open's manifest (-ingested +opened):\n%s", diff)
			}
			dir := t.TempDir()
			if _, err := s.Download(ctx, b.Manifests[variant], dir, DownloadOptions{}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(files, readTree(t, dir)); diff != "" {
				t.Errorf("downloaded tree (-want +got):\n%s", diff)
			}
			// The unpacked copy is gone; the zip stays for its owner.
			if entries, _ := os.ReadDir(filepath.Dir(zipPath)); len(entries) != 1 {
				t.Errorf("beside the zip: %v, want the zip alone", entries)
			}
		})
	}
}

// TestArtifactProvenanceLie: an artifact's manifest claiming another build,
// commit, PR, repository, attempt and provider (even invalid ones) is taken
// for its files only.
func TestArtifactProvenanceLie(t *testing.T) {
	ctx := context.Background()
	s, _ := newIngestStore(t, Limits{}, ZipLimits{})
	zipPath := writeZip(t, artifactEntries(map[string]string{"a.txt": "alpha"}, "", func(m *Manifest) {
		m.Build, m.Commit, m.Repo, m.Provider = "../../etc", "not-a-sha", "evil/evil", "travis"
		m.PR, m.Branch, m.Attempt = 999, "main", 99
	}))
	prov := Provenance{Repo: "o/r", Branch: "feature/x", Commit: headSHA, Build: "77", Attempt: 1, Provider: "github-actions"}
	if _, err := s.IngestArtifact(ctx, zipPath, prov); err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(ctx, "77", Want{Source: Source{Branch: "feature/x"}, Commit: headSHA})
	if err != nil {
		t.Fatal(err)
	}
	m := b.Manifests[""]
	got := Provenance{Repo: m.Repo, PR: m.PR, Branch: m.Branch, Commit: m.Commit, Build: m.Build, Attempt: m.Attempt, Provider: m.Provider}
	if diff := cmp.Diff(prov, got); diff != "" {
		t.Errorf("stored provenance (-API +stored):\n%s", diff)
	}
}

// headerLiesZip is an artifact whose data/a.txt declares 5 bytes, and the
// manifest agrees, but whose deflated data inflate to a megabyte.
func headerLiesZip(t *testing.T) string {
	t.Helper()
	entries := artifactEntries(map[string]string{"a.txt": "alpha"}, "", nil)
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(bytes.Repeat([]byte("x"), 1<<20))
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create(entries[0].name)
	w.Write([]byte(entries[0].body))
	h := &zip.FileHeader{Name: "data/a.txt", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE([]byte("alpha")),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: 5}
	h.SetMode(0o644)
	w, err := zw.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeZipBytes(t, buf.Bytes())
}

// overlappingZip is an artifact whose data/b.txt points at data/a.txt's
// data: the trick of zip bombs that reuse one compressed block. Its
// manifest is right for both, so only the overlap gives it away.
func overlappingZip(t *testing.T) string {
	t.Helper()
	b := zipBytes(t, artifactEntries(map[string]string{"a.txt": "same", "b.txt": "same"}, "", nil))
	// The central directory's headers: signature PK\1\2, the name's length
	// at 28, the local header's offset at 42, the name at 46.
	offsets := map[string]int{}
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("PK\x01\x02"))
		if j < 0 {
			break
		}
		i += j
		n := int(binary.LittleEndian.Uint16(b[i+28:]))
		offsets[string(b[i+46:i+46+n])] = i + 42
		i += 46
	}
	a, bb := offsets["data/a.txt"], offsets["data/b.txt"]
	if a == 0 || bb == 0 {
		t.Fatalf("central directory entries not found: %v", offsets)
	}
	copy(b[bb:bb+4], b[a:a+4])
	return writeZipBytes(t, b)
}

// TestIngestArtifactRefusals: each hostile or broken artifact is refused
// with an error that says what is wrong and where, counts as Unusable, and
// leaves S3 untouched.
func TestIngestArtifactRefusals(t *testing.T) {
	ctx := context.Background()
	good := map[string]string{"a.txt": "alpha", "sub/b.txt": "beta"}
	with := func(extra ...zipEntry) func(t *testing.T) string {
		return func(t *testing.T) string { return writeZip(t, append(artifactEntries(good, "", nil), extra...)) }
	}
	edited := func(edit func(*Manifest)) func(t *testing.T) string {
		return func(t *testing.T) string { return writeZip(t, artifactEntries(good, "", edit)) }
	}
	of := func(files map[string]string, variant string) func(t *testing.T) string {
		return func(t *testing.T) string { return writeZip(t, artifactEntries(files, variant, nil)) }
	}
	zeros := map[string]string{}
	for i := range 64 {
		zeros[fmt.Sprintf("z%02d.bin", i)] = strings.Repeat("\x00", 256<<10)
	}
	otherSum, otherGit := checksums("other")
	tests := []struct {
		name string
		lim  Limits
		zl   ZipLimits
		zip  func(t *testing.T) string
		want error
		text string
	}{
		{name: "zip slip", zip: with(zipEntry{name: "../x", body: "x"}), want: ErrUnsafePath, text: `"../x"`},
		{name: "zip slip inside data", zip: with(zipEntry{name: "data/../../x", body: "x"}), want: ErrUnsafePath, text: `"data/../../x"`},
		{name: "absolute path", zip: with(zipEntry{name: "/etc/x", body: "x"}), want: ErrUnsafePath, text: "absolute"},
		{name: "backslash", zip: with(zipEntry{name: `data\..\x`, body: "x"}), want: ErrUnsafePath, text: "backslash"},
		{name: "symlink entry", zip: with(zipEntry{name: "data/link", body: "/etc/passwd", mode: fs.ModeSymlink | 0o777}),
			want: ErrUnsafePath, text: `"data/link" is a symlink`},
		{name: "git folder", zip: with(zipEntry{name: "data/.git/config", body: "[core]"}), want: ErrUnsafePath, text: ".git"},
		{name: "gitattributes", zip: with(zipEntry{name: "data/sub/.gitattributes", body: "* filter=x"}), want: ErrUnsafePath, text: ".gitattributes"},
		{name: "unsafe path in the manifest only", zip: edited(func(m *Manifest) { m.Files[0].Path = "../a.txt" }),
			want: ErrUnsafePath, text: `"../a.txt"`},
		{name: "case collision", zip: of(map[string]string{"A.png": "1", "a.png": "2"}, ""), want: ErrBadManifest, text: "collide"},
		{name: "over the per-file cap", lim: Limits{MaxFileBytes: 100}, zip: of(map[string]string{"big": strings.Repeat("x", 101)}, ""),
			want: ErrTooLarge, text: "big is 101 bytes"},
		{name: "over the total cap", lim: Limits{MaxBuildBytes: 150},
			zip:  of(map[string]string{"a": strings.Repeat("a", 80), "b": strings.Repeat("b", 80)}, ""),
			want: ErrTooLarge, text: "160 bytes"},
		{name: "zip bomb: one file", zip: of(map[string]string{"zeros.bin": strings.Repeat("\x00", 20<<20)}, ""),
			want: ErrTooLarge, text: `"data/zeros.bin" inflates to over 100 times its compressed size`},
		{name: "zip bomb: many small files", zip: of(zeros, ""), want: ErrTooLarge, text: "the zip inflates to over 100 times its size"},
		{name: "zip bomb: lower ratio", zl: ZipLimits{MaxRatio: 2}, zip: of(map[string]string{"x.txt": strings.Repeat("ab", 1<<20)}, ""),
			want: ErrTooLarge, text: "over 2 times"},
		{name: "header lies about the size", zip: headerLiesZip, want: ErrChecksum, text: `"data/a.txt" inflates past the 5 bytes its header declares`},
		{name: "overlapping entries", zip: overlappingZip, want: ErrBadManifest, text: "overlap"},
		{name: "zip larger than any artifact within the limits", lim: Limits{MaxBuildBytes: 1000, MaxFiles: 2}, zl: ZipLimits{MaxEntries: 3},
			zip: of(map[string]string{"noise.bin": noise(100 << 10)}, ""), want: ErrTooLarge, text: "an artifact within the limits is at most"},
		{name: "too many entries", zl: ZipLimits{MaxEntries: 3}, zip: of(map[string]string{"a": "1", "b": "2", "c": "3"}, ""),
			want: ErrTooLarge, text: "4 entries, limit 3"},
		{name: "no manifest", zip: func(t *testing.T) string { return writeZip(t, artifactEntries(good, "", nil)[1:]) },
			want: ErrIncomplete, text: "MANIFEST.json"},
		{name: "a site", zip: edited(func(m *Manifest) { m.Kind = KindWebsite }), want: ErrBadManifest,
			text: `MANIFEST.json says kind "website"; an artifact holds test outputs`},
		{name: "two manifests", zip: with(artifactEntries(nil, "linux", nil)[0]), want: ErrBadManifest, text: "two manifests"},
		{name: "file not in the manifest", zip: with(zipEntry{name: "data/extra.txt", body: "x"}), want: ErrBadManifest,
			text: `"extra.txt" is in the zip but not in MANIFEST.json`},
		{name: "listed file missing", zip: func(t *testing.T) string { return writeZip(t, artifactEntries(good, "", nil)[:2]) },
			want: ErrIncomplete, text: `"sub/b.txt" is in MANIFEST.json but not in the zip`},
		{name: "size mismatch", zip: edited(func(m *Manifest) { m.Files[0].Size = 4 }), want: ErrChecksum, text: `"a.txt" is 5 bytes in the zip`},
		{name: "sha256 mismatch", zip: edited(func(m *Manifest) { m.Files[0].SHA256 = otherSum }), want: ErrChecksum, text: `"data/a.txt" has sha256`},
		{name: "git blob id mismatch", zip: edited(func(m *Manifest) { m.Files[1].Git = otherGit }), want: ErrChecksum,
			text: `"data/sub/b.txt" has git blob id`},
		{name: "no git blob id", zip: edited(func(m *Manifest) { m.Files[0].Git = "" }), want: ErrBadManifest, text: "no git blob id"},
		{name: "manifest not JSON", zip: func(t *testing.T) string {
			e := artifactEntries(good, "", nil)
			e[0].body = "{"
			return writeZip(t, e)
		}, want: ErrBadManifest, text: "MANIFEST.json"},
		{name: "manifest names another variant", zip: func(t *testing.T) string {
			e := artifactEntries(good, "linux", func(m *Manifest) { m.Variant = "macos" })
			return writeZip(t, e)
		}, want: ErrBadManifest, text: `names variant "macos"`},
		{name: "variant data outside its folder", zip: func(t *testing.T) string {
			e := artifactEntries(good, "linux", nil)
			e[1].name = "data/a.txt"
			return writeZip(t, e)
		}, want: ErrBadManifest, text: "outside data/linux/"},
		{name: "something else at the top level", zip: with(zipEntry{name: "README.md", body: "hi"}), want: ErrBadManifest, text: "top level"},
		{name: "folder outside data", zip: with(zipEntry{name: "logs/"}), want: ErrBadManifest, text: `folder "logs" is outside data/`},
		{name: "data is a file", zip: func(t *testing.T) string {
			return writeZip(t, append(artifactEntries(nil, "", nil), zipEntry{name: "data", body: "x"}))
		}, want: ErrBadManifest, text: "data is a file"},
		{name: "entry twice", zip: with(zipEntry{name: "data/a.txt", body: "alpha"}), want: ErrBadManifest, text: "twice"},
		{name: "encrypted entry", zip: func(t *testing.T) string {
			e := artifactEntries(good, "", nil)
			e[1].flags = 0x1
			return writeZip(t, e)
		}, want: ErrBadManifest, text: "encrypted"},
		{name: "not a zip", zip: func(t *testing.T) string { return writeZipBytes(t, []byte("this is no zip at all")) },
			want: ErrBadManifest, text: "not a readable zip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, wc := newIngestStore(t, tc.lim, tc.zl)
			zipPath := tc.zip(t)
			prov := Provenance{PR: 5, Commit: headSHA, Build: "300", Attempt: 1, Provider: "github-actions"}
			_, err := s.IngestArtifact(ctx, zipPath, prov)
			if !errors.Is(err, tc.want) || !Unusable(err) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), "refbot-outputs.zip") {
				t.Errorf("err = %v, want it to name the zip and mention %q", err, tc.text)
			}
			if n := wc.writes.Load(); n != 0 {
				t.Errorf("%d writes to S3", n)
			}
			if builds, err := s.ListBuilds(ctx); err != nil || len(builds) != 0 {
				t.Errorf("builds in S3: %v, %v", builds, err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(zipPath)); len(entries) != 1 {
				t.Errorf("beside the zip: %v, want the zip alone", entries)
			}
		})
	}
}

// TestIngestArtifactAttempts: ingesting is level-triggered. The same
// attempt again writes nothing; a newer attempt replaces the build; an older
// one, or another upload under the same attempt, is refused; a build left
// without its manifest (a crash midway) is written again.
func TestIngestArtifactAttempts(t *testing.T) {
	ctx := context.Background()
	s, wc := newIngestStore(t, Limits{}, ZipLimits{})
	first := prepareZip(t, map[string]string{"a.txt": "one", "old.txt": "old"}, "linux")
	second := prepareZip(t, map[string]string{"a.txt": "two", "new.txt": "new"}, "linux")
	attempt1 := Provenance{PR: 7, Commit: headSHA, Build: "555", Attempt: 1, Provider: "github-actions", Variant: "linux"}
	attempt2 := attempt1
	attempt2.Attempt = 2
	ingest := func(zipPath string, prov Provenance) (*Manifest, int64) {
		t.Helper()
		wc.writes.Store(0)
		m, err := s.IngestArtifact(ctx, zipPath, prov)
		if err != nil {
			t.Fatal(err)
		}
		return m, wc.writes.Load()
	}
	refused := func(zipPath string, prov Provenance, text string) {
		t.Helper()
		wc.writes.Store(0)
		_, err := s.IngestArtifact(ctx, zipPath, prov)
		if !errors.Is(err, ErrProvenance) || !strings.Contains(fmt.Sprint(err), text) {
			t.Errorf("err = %v, want ErrProvenance mentioning %q", err, text)
		}
		if n := wc.writes.Load(); n != 0 {
			t.Errorf("%d writes to S3", n)
		}
	}
	stored := func() map[string]string {
		t.Helper()
		b, err := s.Open(ctx, "555", Want{Source: Source{PR: 7}, Commit: headSHA})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if _, err := s.Download(ctx, b.Manifests["linux"], dir, DownloadOptions{}); err != nil {
			t.Fatal(err)
		}
		return readTree(t, dir)
	}

	m1, writes := ingest(first, attempt1)
	if writes == 0 || m1.Attempt != 1 {
		t.Fatalf("first ingest: %d writes, attempt %d", writes, m1.Attempt)
	}
	again, writes := ingest(first, attempt1)
	if writes != 0 {
		t.Errorf("the same attempt again: %d writes, want none", writes)
	}
	if diff := cmp.Diff(m1, again); diff != "" {
		t.Errorf("the same attempt again (-first +again):\n%s", diff)
	}
	refused(second, attempt1, "different upload of attempt 1")

	m2, writes := ingest(second, attempt2)
	if writes == 0 || m2.Attempt != 2 {
		t.Errorf("newer attempt: %d writes, attempt %d", writes, m2.Attempt)
	}
	if diff := cmp.Diff(map[string]string{"a.txt": "two", "new.txt": "new"}, stored()); diff != "" {
		t.Errorf("after the newer attempt (-want +got):\n%s", diff)
	}
	keys, _ := s.dataKeys(ctx, "555", "linux")
	if len(keys) != 2 {
		t.Errorf("data objects after the newer attempt: %v, want the 2 of attempt 2", keys)
	}
	refused(first, attempt1, "holds attempt 2, newer than 1")
	// A late job for attempt 1 whose outputs equal attempt 2's finds it done.
	if m, writes := ingest(second, attempt1); writes != 0 || m.Attempt != 2 {
		t.Errorf("older attempt with the same files: %d writes, attempt %d; want none and 2", writes, m.Attempt)
	}

	// A crash before the manifest was written: done again.
	if err := s.deleteKeys(ctx, []string{s.key("555", manifestName("linux"))}); err != nil {
		t.Fatal(err)
	}
	if _, writes := ingest(second, attempt2); writes == 0 {
		t.Error("a build without its manifest was not written again")
	}
	// A data object lost since: done again.
	if err := s.deleteKeys(ctx, []string{s.dataKey("555", "linux", "new.txt")}); err != nil {
		t.Fatal(err)
	}
	if _, writes := ingest(second, attempt2); writes == 0 {
		t.Error("a build missing a data object was not written again")
	}
	if diff := cmp.Diff(map[string]string{"a.txt": "two", "new.txt": "new"}, stored()); diff != "" {
		t.Errorf("after the repairs (-want +got):\n%s", diff)
	}
}

// TestIngestArtifactVariantMix: an artifact of a variant cannot join a
// build that has a default upload, as with Upload; nor can an artifact
// hold another variant than its name says. Nothing is written.
func TestIngestArtifactVariantMix(t *testing.T) {
	ctx := context.Background()
	s, wc := newIngestStore(t, Limits{}, ZipLimits{})
	prov := Provenance{PR: 3, Commit: headSHA, Build: "600", Attempt: 1}
	if _, err := s.IngestArtifact(ctx, prepareZip(t, map[string]string{"a": "1"}, ""), prov); err != nil {
		t.Fatal(err)
	}
	wc.writes.Store(0)
	prov.Variant = "macos"
	_, err := s.IngestArtifact(ctx, prepareZip(t, map[string]string{"a": "1"}, "macos"), prov)
	if !errors.Is(err, ErrBadManifest) || !strings.Contains(err.Error(), "already has a default") {
		t.Errorf("err = %v, want ErrBadManifest saying the build has a default upload", err)
	}
	if n := wc.writes.Load(); n != 0 {
		t.Errorf("%d writes to S3", n)
	}
	prov.Build, prov.Variant = "601", "linux"
	_, err = s.IngestArtifact(ctx, prepareZip(t, map[string]string{"a": "1"}, "macos"), prov)
	if !errors.Is(err, ErrBadManifest) || !strings.Contains(err.Error(), "holds variant macos, and the artifact's name says variant linux") {
		t.Errorf("err = %v, want ErrBadManifest: the artifact named for linux holds macos", err)
	}
	if n := wc.writes.Load(); n != 0 {
		t.Errorf("%d writes to S3", n)
	}
}

// TestIngestArtifactBadProvenance: the caller's provenance is checked
// first; a mistake there is the caller's, not the artifact's.
func TestIngestArtifactBadProvenance(t *testing.T) {
	s, wc := newIngestStore(t, Limits{}, ZipLimits{})
	zipPath := writeZip(t, artifactEntries(map[string]string{"a": "1"}, "", nil))
	ok := Provenance{PR: 1, Commit: headSHA, Build: "1", Attempt: 1}
	tests := []struct {
		name string
		edit func(*Provenance)
		text string
	}{
		{"bad build id", func(p *Provenance) { p.Build = "../1" }, "build id"},
		{"no source", func(p *Provenance) { p.PR = 0 }, "PR or the branch"},
		{"PR and branch", func(p *Provenance) { p.Branch = "main" }, "PR or the branch"},
		{"branch that reads as a PR", func(p *Provenance) { p.PR, p.Branch = 0, "123" }, "not a branch name"},
		{"no commit", func(p *Provenance) { p.Commit = "" }, "commit"},
		{"short commit", func(p *Provenance) { p.Commit = "abc1234" }, "commit"},
		{"negative attempt", func(p *Provenance) { p.Attempt = -1 }, "attempt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prov := ok
			tc.edit(&prov)
			_, err := s.IngestArtifact(context.Background(), zipPath, prov)
			if err == nil || Unusable(err) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v, want a plain error mentioning %q", err, tc.text)
			}
		})
	}
	if n := wc.writes.Load(); n != 0 {
		t.Errorf("%d writes to S3", n)
	}
}

// TestPrepareArtifactLinksOrCopies: files are hard-linked where they can
// be, copied where not, with the same manifest either way.
func TestPrepareArtifactLinksOrCopies(t *testing.T) {
	ctx := context.Background()
	files := map[string]string{"a.txt": "alpha", "sub/b.bin": strings.Repeat("\x01\x02", 5000)}
	src := testenv.Tree(t, files)
	prepare := func() (string, *Manifest) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "artifact")
		m, err := PrepareArtifact(ctx, PrepareRequest{Dir: src, Out: out, Variant: "v1", Build: "3"})
		if err != nil {
			t.Fatal(err)
		}
		return out, m
	}
	same := func(out, p string) bool {
		t.Helper()
		a, err := os.Stat(filepath.Join(src, p))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.Stat(filepath.Join(out, "data", "v1", p))
		if err != nil {
			t.Fatal(err)
		}
		return os.SameFile(a, b)
	}
	linked, lm := prepare()
	link = func(string, string) error { return errors.New("cross-device link") }
	t.Cleanup(func() { link = os.Link })
	copied, cm := prepare()
	for p := range files {
		if !same(linked, p) {
			t.Errorf("%s was not hard-linked", p)
		}
		if same(copied, p) {
			t.Errorf("%s was linked although linking failed", p)
		}
	}
	if diff := cmp.Diff(readTree(t, linked), readTree(t, copied), cmpopts.IgnoreMapEntries(func(k, _ string) bool {
		return strings.HasPrefix(k, "MANIFEST")
	})); diff != "" {
		t.Errorf("linked and copied artifacts differ (-linked +copied):\n%s", diff)
	}
	if diff := cmp.Diff(lm.Files, cm.Files); diff != "" {
		t.Errorf("manifests differ (-linked +copied):\n%s", diff)
	}
}

// TestPrepareArtifactFileChanged: a file that changes while it is being
// prepared is refused, and the artifact folder is left empty.
func TestPrepareArtifactFileChanged(t *testing.T) {
	src := testenv.Tree(t, map[string]string{"a.txt": "alpha", "sub/b.txt": "beta"})
	out := t.TempDir()
	link = func(_, dst string) error { return os.WriteFile(dst, []byte("rewritten meanwhile"), 0o644) }
	t.Cleanup(func() { link = os.Link })
	_, err := PrepareArtifact(context.Background(), PrepareRequest{Dir: src, Out: out, Build: "1"})
	if err == nil || !strings.Contains(err.Error(), "changed while being prepared") {
		t.Errorf("err = %v, want the change named", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("left %v in the artifact folder", entries)
	}
}

// TestPrepareArtifactRefusals: what Upload refuses, and an artifact folder
// that is not fresh, are refused before the folder is filled.
func TestPrepareArtifactRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (out string)
		req   PrepareRequest
		want  error
		text  string
	}{
		{name: "symlink", setup: func(t *testing.T, d string) string {
			os.Symlink("/etc/passwd", filepath.Join(d, "link"))
			return ""
		}, want: ErrUnsafePath, text: "symlink"},
		{name: "gitmodules", setup: func(t *testing.T, d string) string {
			os.WriteFile(filepath.Join(d, ".gitmodules"), []byte("x"), 0o644)
			return ""
		}, want: ErrUnsafePath, text: ".gitmodules"},
		{name: "case collision", setup: func(t *testing.T, d string) string {
			os.WriteFile(filepath.Join(d, "A"), []byte("1"), 0o644)
			os.WriteFile(filepath.Join(d, "a"), []byte("2"), 0o644)
			return ""
		}, want: ErrBadManifest, text: "collide"},
		{name: "over the per-file cap", req: PrepareRequest{Limits: Limits{MaxFileBytes: 1}}, want: ErrTooLarge},
		{name: "artifact folder not empty", setup: func(t *testing.T, d string) string {
			return testenv.Tree(t, map[string]string{"stale": "x"})
		}, text: "not empty"},
		{name: "artifact folder inside the outputs", setup: func(t *testing.T, d string) string {
			return filepath.Join(d, "artifact")
		}, text: "inside the outputs folder"},
		{name: "artifact folder is the outputs", setup: func(t *testing.T, d string) string { return d }, text: "inside the outputs folder"},
		{name: "bad build id", req: PrepareRequest{Build: "a/b"}, text: "build id"},
		{name: "bad variant", req: PrepareRequest{Variant: "../x"}, text: "variant"},
		{name: "short commit", req: PrepareRequest{Commit: "abc"}, text: "full hex"},
		{name: "branch that reads as a PR", req: PrepareRequest{Branch: "12"}, text: "branch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := testenv.Tree(t, map[string]string{"ok.txt": "fine"})
			out := ""
			if tc.setup != nil {
				out = tc.setup(t, dir)
			}
			if out == "" {
				out = filepath.Join(t.TempDir(), "artifact")
			}
			before := readTree(t, filepath.Dir(out))
			req := tc.req
			req.Dir, req.Out = dir, out
			if req.Build == "" {
				req.Build = "1"
			}
			_, err := PrepareArtifact(ctx, req)
			if err == nil {
				t.Fatal("PrepareArtifact succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v, want it to mention %q", err, tc.text)
			}
			if diff := cmp.Diff(before, readTree(t, filepath.Dir(out))); diff != "" {
				t.Errorf("files written (-before +after):\n%s", diff)
			}
		})
	}
}

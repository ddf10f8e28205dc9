package s3cache

// The zip is read with the standard library's archive/zip, on purpose: it
// reads at random from the file (the manifest first, then entries in
// parallel), exposes the central directory's names, modes and sizes for
// checking before any data is inflated, and checks each entry's CRC-32 and
// declared size while inflating. The other Go zip readers
// (klauspost/compress/zip, a fork of it with a faster inflater; archive
// wrappers such as mholt/archives) add no check refbot needs, only code to
// vet.

import (
	"archive/zip"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
)

// ZipLimits bound what IngestArtifact reads from a zip, beyond the Limits
// every build is held to.
type ZipLimits struct {
	// MaxEntries caps the zip's entries, files and folders; 0 means twice
	// Limits.MaxFiles, plus the manifest and the data folders.
	MaxEntries int
	// MaxRatio caps how many times its compressed size a file may inflate
	// to (once it passes 1 MiB), and the whole zip to how many times the
	// zip's size; 0 means DefaultMaxRatio.
	MaxRatio int64
}

// DefaultMaxRatio is the compression ratio past which an artifact is taken
// for a zip bomb. Test outputs (text, images, numbers) compress well under
// it; a run of zeros inflates a thousandfold.
const DefaultMaxRatio = 100

const (
	// ratioFloor is how far a file, or the whole zip, may inflate before
	// the ratio cap applies: a small file of zeros is not a bomb.
	ratioFloor = 1 << 20
	// maxArtifactManifest bounds the manifest, as readManifest does.
	maxArtifactManifest = 256 << 20
	// maxManifestEntry is the most one file takes in a manifest: the
	// longest path, every byte escaped by JSON (\u0026), and the checksums.
	maxManifestEntry = 6*4096 + 256
	// maxZipEntryOverhead is the most a zip spends on one entry besides its
	// data: local and central headers with the longest name ValidPath
	// allows under data/VARIANT/, and room for extra fields.
	maxZipEntryOverhead = int64(2*(len(dataDir)+1+64+1+4096) + 512)
)

func (s *Store) zipLimits() ZipLimits {
	z := s.zip
	if z.MaxEntries <= 0 {
		z.MaxEntries = 2*s.limits.MaxFiles + 3
	}
	if z.MaxRatio <= 0 {
		z.MaxRatio = DefaultMaxRatio
	}
	return z
}

// MaxArtifactBytes is the size past which IngestArtifact refuses a zip
// unread: no artifact of a build within the limits can be larger. A caller
// downloading artifacts should refuse larger ones before downloading them
// (GitHub gives an artifact's size): archive/zip holds the whole central
// directory in memory, some 200 bytes an entry, before the entries can be
// counted.
func (s *Store) MaxArtifactBytes() int64 {
	z := s.zipLimits()
	// Deflate's stored blocks cost 5 bytes in 64 KiB on incompressible data.
	data := satAdd(s.limits.MaxBuildBytes, s.limits.MaxBuildBytes/1024)
	manifest := min(satAdd(satMul(int64(s.limits.MaxFiles), maxManifestEntry), 4096), maxArtifactManifest)
	return satAdd(satAdd(data, satMul(int64(z.MaxEntries), maxZipEntryOverhead)), manifest)
}

// Provenance is what GitHub's API says about the run that made an artifact.
// IngestArtifact records it in place of anything the artifact claims.
type Provenance struct {
	Repo     string // owner/name of the repository the run belongs to
	PR       int    // the pull request, or
	Branch   string // the branch of a push run
	Commit   string // the head sha the run tested
	Build    string // the run id
	Attempt  int    // the run's attempt
	Provider string // e.g. github-actions
	// Variant is the variant the artifact's name says it holds ("" for
	// none): its manifest must be of that variant, so that one artifact
	// cannot stand in for another.
	Variant string
}

func (p Provenance) source() (Source, error) {
	if err := ValidBuildID(p.Build); err != nil {
		return Source{}, fmt.Errorf("ingest artifact: %w", err)
	}
	if (p.PR > 0) == (p.Branch != "") || p.PR < 0 {
		return Source{}, fmt.Errorf("ingest artifact: give the PR or the branch (got PR %d, branch %q)", p.PR, p.Branch)
	}
	src := Source{PR: p.PR, Branch: p.Branch}
	if parsed, err := ParseSource(src.String()); err != nil || parsed != src {
		return Source{}, fmt.Errorf("ingest artifact: %q is not a branch name", p.Branch)
	}
	if !commitPattern.MatchString(p.Commit) {
		return Source{}, fmt.Errorf("ingest artifact: commit %q is not a full hex object id", p.Commit)
	}
	if p.Attempt < 0 {
		return Source{}, fmt.Errorf("ingest artifact: negative attempt %d", p.Attempt)
	}
	return src, nil
}

// IngestArtifact checks the artifact zip at zipPath and writes it into S3
// as build prov.Build, as Upload would (data files in parallel, SOURCE, the
// manifest last), with the provenance taken from prov, never from the
// artifact.
//
// Before anything is written, the zip is checked as strictly as an S3
// build: every name safe (ValidPath), only regular files and folders, one
// manifest and data/ at the top level and nothing else, the data under
// data/VARIANT/ for the manifest's variant, no entries overlapping, the
// entry count, the compression ratio and the Limits (counted while
// inflating, never taken from the headers), and the manifest listing
// exactly the files present, each with its size, sha256 and git blob id.
// A refusal wraps ErrUnsafePath, ErrTooLarge, ErrChecksum, ErrBadManifest or
// ErrIncomplete (so Unusable is true), names the file, and leaves S3 as it
// was. Refusals of S3's state wrap ErrProvenance: the build already holds a
// newer attempt of this variant with other files, or another upload of the
// same attempt.
//
// It is safe to repeat: when S3 already holds the build's variant, complete,
// from this attempt or a newer one, with the same commit and files, it
// returns that manifest and writes nothing, without inflating the data. A
// newer attempt replaces an older one. A crash midway leaves no manifest,
// so the next call does it again.
//
// The files are inflated into a temporary folder beside zipPath, removed
// before returning; memory stays bounded however large the build.
func (s *Store) IngestArtifact(ctx context.Context, zipPath string, prov Provenance) (*Manifest, error) {
	if s.kind != KindOutputs {
		return nil, fmt.Errorf("ingest artifact: %s keeps website builds, and an artifact holds test outputs", s)
	}
	src, err := prov.source()
	if err != nil {
		return nil, err
	}
	a, err := s.openArtifact(zipPath)
	if err != nil {
		return nil, err
	}
	defer a.zip.Close()
	if err := a.checkEntries(); err != nil {
		return nil, a.errorf(err)
	}
	claimed, err := a.readManifest(ctx)
	if err != nil {
		return nil, a.errorf(err)
	}
	m := &Manifest{
		Version: ManifestVersion, Repo: prov.Repo, PR: prov.PR, Branch: prov.Branch, Commit: prov.Commit,
		Build: prov.Build, Variant: a.variant, Provider: prov.Provider, Attempt: prov.Attempt,
		Files: slices.Clone(claimed.Files),
	}
	slices.SortFunc(m.Files, func(x, y File) int { return strings.Compare(x.Path, y.Path) })
	if err := m.Validate(s.limits); err != nil {
		return nil, a.errorf(fmt.Errorf("%s: %w", a.manifest.Name, err))
	}
	if err := a.matchManifest(m); err != nil {
		return nil, a.errorf(err)
	}
	if a.variant != prov.Variant {
		return nil, a.errorf(fmt.Errorf("%w: %s holds %s, and the artifact's name says %s", ErrBadManifest, a.manifest.Name,
			describeVariant(a.variant), describeVariant(prov.Variant)))
	}

	stored, err := s.ingested(ctx, m, src)
	if err != nil || stored != nil {
		return stored, err
	}
	if err := s.checkIngestVariant(ctx, m); err != nil {
		return nil, a.errorf(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(zipPath), ".refbot-ingest-")
	if err != nil {
		return nil, fmt.Errorf("ingest artifact: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := a.extract(ctx, m, tmp, s.concurrency); err != nil {
		return nil, a.errorf(err)
	}

	up, err := s.Upload(ctx, UploadRequest{
		Build: m.Build, Source: src, Commit: m.Commit, Variant: m.Variant, Repo: m.Repo,
		Provider: m.Provider, Attempt: m.Attempt, Dir: tmp,
	})
	if err != nil {
		return nil, fmt.Errorf("ingest artifact %s: %w", a.name, err)
	}
	// Upload hashed the files again as it sent them: they are the ones
	// checked, unless something wrote into the private folder meanwhile.
	if !slices.Equal(up.Files, m.Files) {
		return nil, fmt.Errorf("ingest artifact %s: the unpacked files changed while being uploaded", a.name)
	}
	return up, nil
}

// artifact is an opened zip and what its names say.
type artifact struct {
	name     string // the zip's file name, for errors
	size     int64
	zip      *zip.ReadCloser
	lim      ZipLimits
	manifest *zip.File
	variant  string
	data     map[string]*zip.File // by path under data/ (or data/VARIANT/)
	dirs     []string             // folder entries, without the trailing slash
	inflated atomic.Int64         // bytes inflated so far, all entries
}

func (a *artifact) errorf(err error) error {
	return fmt.Errorf("artifact %s: %w", a.name, err)
}

// openArtifact opens the zip, refusing it unread when it is larger than any
// artifact within the limits, or has too many entries.
func (s *Store) openArtifact(zipPath string) (*artifact, error) {
	a := &artifact{name: filepath.Base(zipPath), lim: s.zipLimits(), data: map[string]*zip.File{}}
	fi, err := os.Stat(zipPath)
	if err != nil {
		return nil, fmt.Errorf("ingest artifact: %w", err)
	}
	a.size = fi.Size()
	if limit := s.MaxArtifactBytes(); a.size > limit {
		return nil, a.errorf(fmt.Errorf("%w: the zip is %d bytes; an artifact within the limits is at most %d", ErrTooLarge, a.size, limit))
	}
	zr, err := zip.OpenReader(zipPath)
	// ErrInsecurePath (with GODEBUG=zipinsecurepath=0) comes with a usable
	// reader; checkEntries refuses those names and more, naming them.
	if errors.Is(err, zip.ErrInsecurePath) {
		err = nil
	}
	if errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, a.errorf(fmt.Errorf("%w: not a readable zip: %v", ErrBadManifest, err))
	}
	if err != nil {
		return nil, fmt.Errorf("ingest artifact: %w", err)
	}
	a.zip = zr
	if n := len(zr.File); n > a.lim.MaxEntries {
		zr.Close()
		return nil, a.errorf(fmt.Errorf("%w: %d entries, limit %d", ErrTooLarge, n, a.lim.MaxEntries))
	}
	return a, nil
}

// checkEntries goes through the central directory: safe names, regular
// files and folders only, one manifest and data/ at the top level.
func (a *artifact) checkEntries() error {
	seen := make(map[string]bool, len(a.zip.File))
	var manifests []*zip.File
	var dataFiles []*zip.File
	for _, f := range a.zip.File {
		if !utf8.ValidString(f.Name) {
			return fmt.Errorf("%w: %q: name is not UTF-8", ErrUnsafePath, f.Name)
		}
		isDir := strings.HasSuffix(f.Name, "/")
		p := strings.TrimSuffix(f.Name, "/")
		if err := ValidPath(p); err != nil {
			return err
		}
		if seen[p] {
			return fmt.Errorf("%w: %q is in the zip twice", ErrBadManifest, p)
		}
		seen[p] = true
		switch typ := f.Mode().Type(); {
		case !isDir && typ == fs.ModeDir:
			return fmt.Errorf("%w: %q is a folder without the trailing slash", ErrBadManifest, p)
		case isDir && typ != fs.ModeDir, !isDir && typ != 0:
			return fmt.Errorf("%w: %q is a %s; an artifact holds only files and folders", ErrUnsafePath, p, describeMode(typ&^fs.ModeDir))
		case f.Flags&0x1 != 0:
			return fmt.Errorf("%w: %q is encrypted", ErrBadManifest, p)
		case f.Method != zip.Store && f.Method != zip.Deflate:
			return fmt.Errorf("%w: %q uses compression method %d; only stored and deflated entries are read", ErrBadManifest, p, f.Method)
		case isDir && f.UncompressedSize64 != 0:
			return fmt.Errorf("%w: folder %q has content", ErrBadManifest, p)
		}
		top, _, nested := strings.Cut(p, "/")
		switch {
		case top != dataDir && isDir:
			return fmt.Errorf("%w: folder %q is outside data/", ErrBadManifest, p)
		case top != dataDir && !nested:
			if _, ok := variantOfManifest(p); !ok {
				return fmt.Errorf("%w: %q at the top level; an artifact holds one manifest and data/", ErrBadManifest, p)
			}
			manifests = append(manifests, f)
		case isDir:
			a.dirs = append(a.dirs, p)
		case !nested:
			return fmt.Errorf("%w: data is a file, not a folder", ErrBadManifest)
		default:
			dataFiles = append(dataFiles, f)
		}
	}
	switch len(manifests) {
	case 0:
		return fmt.Errorf("%w: no %s or %s at the top level", ErrIncomplete, manifestName(""), manifestName("VARIANT"))
	case 1:
	default:
		return fmt.Errorf("%w: two manifests, %q and %q; an artifact holds one build or one variant", ErrBadManifest,
			manifests[0].Name, manifests[1].Name)
	}
	a.manifest = manifests[0]
	a.variant, _ = variantOfManifest(a.manifest.Name)
	// The data of a variant lies under data/VARIANT/, as in S3.
	prefix := dataDir + "/"
	if a.variant != "" {
		prefix += a.variant + "/"
	}
	for _, d := range a.dirs {
		// data/ itself, data/VARIANT/, or a folder inside.
		if !strings.HasPrefix(prefix, d+"/") && !strings.HasPrefix(d, prefix) {
			return fmt.Errorf("%w: folder %q is outside %s", ErrBadManifest, d, prefix)
		}
	}
	for _, f := range dataFiles {
		rel, ok := strings.CutPrefix(f.Name, prefix)
		if !ok {
			return fmt.Errorf("%w: %q is outside %s, the folder of %s", ErrBadManifest, f.Name, prefix, a.manifest.Name)
		}
		a.data[rel] = f
	}
	return a.checkOverlap()
}

// checkOverlap refuses entries whose data overlap or lie outside the zip:
// the trick of zip bombs that inflate one compressed block many times over
// under different names.
func (a *artifact) checkOverlap() error {
	type span struct {
		name       string
		start, end int64
	}
	spans := make([]span, 0, len(a.data)+1)
	for _, f := range append(slices.Collect(maps.Values(a.data)), a.manifest) {
		off, err := f.DataOffset()
		if err != nil {
			return fmt.Errorf("%w: %q: %v", ErrBadManifest, f.Name, err)
		}
		if f.CompressedSize64 > uint64(a.size) || off < 0 || off+int64(f.CompressedSize64) > a.size {
			return fmt.Errorf("%w: %q: data outside the zip", ErrBadManifest, f.Name)
		}
		spans = append(spans, span{f.Name, off, off + int64(f.CompressedSize64)})
	}
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.start, y.start) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return fmt.Errorf("%w: the data of %q and %q overlap", ErrBadManifest, spans[i-1].name, spans[i].name)
		}
	}
	return nil
}

// readManifest inflates and decodes the artifact's manifest. Only its
// version, variant and files count; its provenance is ignored.
func (a *artifact) readManifest(ctx context.Context) (*Manifest, error) {
	f := a.manifest
	if f.UncompressedSize64 > maxArtifactManifest {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, f.Name, f.UncompressedSize64, maxArtifactManifest)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadManifest, f.Name, err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(a.guard(ctx, f, rc), maxArtifactManifest+1))
	if err != nil {
		return nil, a.readError(ctx, f, err)
	}
	if len(raw) > maxArtifactManifest {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, f.Name, maxArtifactManifest)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadManifest, f.Name, err)
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("%w: %s: version %d, want %d", ErrBadManifest, f.Name, m.Version, ManifestVersion)
	}
	if m.Variant != a.variant {
		return nil, fmt.Errorf("%w: %s names variant %q", ErrBadManifest, f.Name, m.Variant)
	}
	// Artifacts carry test outputs; a site in one would be taken for them.
	if m.Kind != KindOutputs {
		return nil, fmt.Errorf("%w: %s says kind %q; an artifact holds test outputs", ErrBadManifest, f.Name, m.Kind)
	}
	for _, file := range m.Files {
		if file.Git == "" {
			return nil, fmt.Errorf("%w: %s: %q has no git blob id", ErrBadManifest, f.Name, file.Path)
		}
	}
	return &m, nil
}

// matchManifest checks that m lists exactly the data files present, each
// with the size the zip declares (which inflating then holds it to).
func (a *artifact) matchManifest(m *Manifest) error {
	listed := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		listed[f.Path] = true
		zf, ok := a.data[f.Path]
		if !ok {
			return fmt.Errorf("%w: %q is in %s but not in the zip", ErrIncomplete, f.Path, a.manifest.Name)
		}
		if zf.UncompressedSize64 != uint64(f.Size) {
			return fmt.Errorf("%w: %q is %d bytes in the zip, %s says %d", ErrChecksum, f.Path, zf.UncompressedSize64, a.manifest.Name, f.Size)
		}
	}
	extra := slices.Sorted(func(yield func(string) bool) {
		for p := range a.data {
			if !listed[p] && !yield(p) {
				return
			}
		}
	})
	if len(extra) > 0 {
		return fmt.Errorf("%w: %q is in the zip but not in %s", ErrBadManifest, extra[0], a.manifest.Name)
	}
	return nil
}

// extract inflates m's files into dir, in parallel, each checked against
// its size, sha256 and git blob id as it is written.
func (a *artifact) extract(ctx context.Context, m *Manifest, dir string, concurrency int) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	// Folders first, so that the files can go in any order.
	for _, f := range m.Files {
		if d := path.Dir(f.Path); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, min(concurrency, runtime.GOMAXPROCS(0))))
	for _, f := range m.Files {
		g.Go(func() error { return a.extractFile(gctx, root, f) })
	}
	return g.Wait()
}

func (a *artifact) extractFile(ctx context.Context, root *os.Root, f File) error {
	zf := a.data[f.Path]
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadManifest, zf.Name, err)
	}
	defer rc.Close()
	w, err := root.OpenFile(f.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer w.Close()
	h := newFileHasher(f.Size)
	// One byte past the listed size is enough to tell it is too long.
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(a.guard(ctx, zf, rc), f.Size+1))
	if err != nil {
		return a.readError(ctx, zf, err)
	}
	if n != f.Size {
		return fmt.Errorf("%w: %q inflates to %d bytes or more, %s says %d", ErrChecksum, zf.Name, n, a.manifest.Name, f.Size)
	}
	sum, git := h.sums()
	if sum != f.SHA256 {
		return fmt.Errorf("%w: %q has sha256 %s, %s says %s", ErrChecksum, zf.Name, sum[:12], a.manifest.Name, f.SHA256[:12])
	}
	if git != f.Git {
		return fmt.Errorf("%w: %q has git blob id %s, %s says %s", ErrChecksum, zf.Name, git[:12], a.manifest.Name, f.Git[:12])
	}
	return w.Close()
}

// readError says why inflating an entry stopped: the caller's context, a
// cap (already one of ours), or a broken entry (bad deflate data, a CRC or
// size that does not match its header), which is the artifact's fault.
func (a *artifact) readError(ctx context.Context, f *zip.File, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case Unusable(err):
		return err
	case errors.Is(err, zip.ErrFormat): // archive/zip's word for "longer than declared"
		return fmt.Errorf("%w: %q inflates past the %d bytes its header declares", ErrChecksum, f.Name, f.UncompressedSize64)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %q ends before the %d bytes its header declares", ErrChecksum, f.Name, f.UncompressedSize64)
	case errors.Is(err, zip.ErrChecksum):
		return fmt.Errorf("%w: %q does not match its CRC-32", ErrChecksum, f.Name)
	}
	return fmt.Errorf("%w: %q: %v", ErrChecksum, f.Name, err)
}

// guard counts what an entry inflates to and stops it, and the whole zip,
// at the ratio cap.
func (a *artifact) guard(ctx context.Context, f *zip.File, r io.Reader) io.Reader {
	return &inflateGuard{
		ctx: ctx, r: r, name: f.Name, total: &a.inflated,
		maxFile:  max(satMul(int64(f.CompressedSize64), a.lim.MaxRatio), ratioFloor),
		maxTotal: max(satMul(a.size, a.lim.MaxRatio), ratioFloor),
		ratio:    a.lim.MaxRatio,
	}
}

type inflateGuard struct {
	ctx               context.Context
	r                 io.Reader
	name              string
	n                 int64
	maxFile, maxTotal int64
	total             *atomic.Int64
	ratio             int64
}

func (g *inflateGuard) Read(p []byte) (int, error) {
	if err := g.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	if g.n > g.maxFile {
		return n, fmt.Errorf("%w: %q inflates to over %d times its compressed size (a zip bomb?)", ErrTooLarge, g.name, g.ratio)
	}
	if g.total.Add(int64(n)) > g.maxTotal {
		return n, fmt.Errorf("%w: the zip inflates to over %d times its size (a zip bomb?)", ErrTooLarge, g.ratio)
	}
	return n, err
}

// ingested returns the build variant's manifest when S3 already holds it,
// complete, with this attempt or a newer one and the same source, commit
// and files; nil when the artifact is to be written. A newer attempt with
// other files, or another upload of the same attempt, is refused.
func (s *Store) ingested(ctx context.Context, m *Manifest, src Source) (*Manifest, error) {
	old, err := s.readManifest(ctx, m.Build, m.Variant)
	if errors.Is(err, ErrNotFound) || Unusable(err) {
		return nil, nil // none, or a broken one, which Upload replaces
	}
	if err != nil {
		return nil, err
	}
	what := "build " + m.Build
	if m.Variant != "" {
		what += " variant " + m.Variant
	}
	oldFiles := slices.Clone(old.Files)
	slices.SortFunc(oldFiles, func(x, y File) int { return strings.Compare(x.Path, y.Path) })
	same := old.PR == m.PR && old.Branch == m.Branch && old.Commit == m.Commit && slices.Equal(oldFiles, m.Files)
	switch {
	case old.Attempt < m.Attempt:
		return nil, nil
	case !same && old.Attempt > m.Attempt:
		return nil, fmt.Errorf("ingest artifact: %s: %w: S3 holds attempt %d, newer than %d", what, ErrProvenance, old.Attempt, m.Attempt)
	case !same:
		return nil, fmt.Errorf("ingest artifact: %s: %w: S3 holds a different upload of attempt %d", what, ErrProvenance, m.Attempt)
	}
	// Done, unless its SOURCE or data went missing since.
	info, _, err := s.buildInfo(ctx, m.Build)
	if err != nil {
		return nil, err
	}
	if info.Source != src {
		return nil, nil
	}
	if err := s.checkObjects(ctx, m.Build, old); err != nil {
		if Unusable(err) {
			return nil, nil
		}
		return nil, err
	}
	return old, nil
}

// checkIngestVariant refuses, as Upload would, to mix variant data with
// default data in one build; here it is the artifact's fault.
func (s *Store) checkIngestVariant(ctx context.Context, m *Manifest) error {
	variants, err := s.variants(ctx, m.Build)
	if err != nil {
		return err
	}
	for _, v := range variants {
		if (v == "") != (m.Variant == "") {
			return fmt.Errorf("%w: build %s already has %s, and the artifact is %s; a build holds one default upload or named variants",
				ErrBadManifest, m.Build, describeVariant(v), describeVariant(m.Variant))
		}
	}
	return nil
}

func satMul(a, b int64) int64 {
	if a > 0 && b > 0 && a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

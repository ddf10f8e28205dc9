// Package s3cache is refbot's view of the artifact store: the S3 layout
// (docs/design.md, "S3 layout": one folder per CI build holding SOURCE,
// MANIFEST.json and data/...), uploading a build, checking that one is
// complete and comes from where it claims, downloading it safely, and
// pruning old builds.
//
// Layout under s3://BUCKET/PREFIX/:
//
//	BUILD/SOURCE                 one line: the PR number or the branch name
//	BUILD/MANIFEST.json          written last; lists every data file
//	BUILD/data/PATH              the files (a build without variants)
//	BUILD/MANIFEST.VARIANT.json  one manifest per variant of a matrix build
//	BUILD/data/VARIANT/PATH      that variant's files
//	BUILD/PINNED                 present: never pruned
//
// A store keeps builds of one kind (Options.Kind): CI builds' test outputs,
// or the sites of WEBSITE's docs builds, in a folder of their own, and
// refuses a build of the other kind. Publish copies a site into a preview
// location that a web server serves (publish.go).
//
// Nothing else in refbot imports the AWS SDK.
package s3cache

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Errors callers branch on. The concrete errors wrap these with the object
// they are about.
var (
	ErrNotFound    = errors.New("not found")
	ErrIncomplete  = errors.New("build upload is incomplete")
	ErrProvenance  = errors.New("build provenance does not match")
	ErrUnsafePath  = errors.New("unsafe path")
	ErrTooLarge    = errors.New("over the size limit")
	ErrChecksum    = errors.New("checksum mismatch")
	ErrBadManifest = errors.New("bad manifest")
)

// Unusable says whether err is one of the errors above: the build cannot be
// used as asked (missing, incomplete, not the expected one, unsafe or
// tampered with). Retrying will not help; the uploader or the asker has to
// act, unlike an S3 outage.
func Unusable(err error) bool {
	for _, e := range []error{ErrNotFound, ErrIncomplete, ErrProvenance, ErrUnsafePath, ErrTooLarge, ErrChecksum, ErrBadManifest} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

const (
	sourceName   = "SOURCE"
	pinnedName   = "PINNED"
	dataDir      = "data"
	manifestBase = "MANIFEST"

	// ManifestVersion is the manifest format written by this refbot.
	ManifestVersion = 1
)

var (
	idPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	variantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
	sha256Pattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	gitPattern     = regexp.MustCompile(`^[0-9a-f]{40}$`)
	commitPattern  = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
	// A branch name as SOURCE: git's rules, simplified to what CI systems use.
	branchPattern = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,200}$`)
)

// Manifest describes one uploaded build (or one variant of it). Its presence
// in S3 means the upload finished.
type Manifest struct {
	Version  int       `json:"version"`
	Repo     string    `json:"repo,omitempty"`
	PR       int       `json:"pr,omitempty"`
	Branch   string    `json:"branch,omitempty"`
	Commit   string    `json:"commit,omitempty"`
	Build    string    `json:"build"`
	Variant  string    `json:"variant,omitempty"`
	Provider string    `json:"provider,omitempty"`
	Attempt  int       `json:"attempt,omitempty"` // Actions' run_attempt (a re-run keeps the run id); 0 on Travis
	Kind     string    `json:"kind,omitempty"`    // KindOutputs or KindWebsite
	Created  time.Time `json:"created"`
	Files    []File    `json:"files"`
}

// The kinds of build a manifest can describe.
const (
	// KindOutputs is a CI build's test outputs, which UPDATE commits to the
	// data repo. Its manifests leave kind out, as they did before there
	// were kinds.
	KindOutputs = ""
	// KindWebsite is a docs build's site, which WEBSITE publishes as a
	// preview. It has no variants.
	KindWebsite = "website"
)

func validKind(kind string) error {
	if kind != KindOutputs && kind != KindWebsite {
		return fmt.Errorf("kind %q: a build holds test outputs (kind left out) or a website (%q)", kind, KindWebsite)
	}
	return nil
}

// describeKind names a kind of build in messages.
func describeKind(kind string) string {
	if kind == KindWebsite {
		return `a website build (kind "` + KindWebsite + `")`
	}
	return "a build of test outputs (no kind)"
}

// File is one data file: Path is relative to the build's (or variant's) data
// folder, slash-separated.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Git is the file's git blob id (sha1 of "blob SIZE\x00" + content).
	// With it refbot can tell, from the data repo's trees alone, which
	// files it already holds and need not be downloaded.
	Git string `json:"git,omitempty"`
}

// TotalSize is the sum of the files' sizes.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Source is what a build's SOURCE file names: a PR or a branch.
type Source struct {
	PR     int
	Branch string
}

func (s Source) String() string {
	if s.PR > 0 {
		return fmt.Sprint(s.PR)
	}
	return s.Branch
}

// ParseSource reads the one-line SOURCE format: digits are a PR number,
// anything else a branch name.
func ParseSource(text string) (Source, error) {
	line := strings.TrimSpace(text)
	if strings.ContainsAny(line, "\n\r") {
		return Source{}, fmt.Errorf("SOURCE has more than one line")
	}
	if line == "" {
		return Source{}, fmt.Errorf("SOURCE is empty")
	}
	var pr int
	if _, err := fmt.Sscanf(line, "%d", &pr); err == nil && fmt.Sprint(pr) == line {
		if pr <= 0 {
			return Source{}, fmt.Errorf("SOURCE names PR %d", pr)
		}
		return Source{PR: pr}, nil
	}
	if !branchPattern.MatchString(line) || strings.Contains(line, "..") {
		return Source{}, fmt.Errorf("SOURCE %q is neither a PR number nor a branch name", line)
	}
	return Source{Branch: line}, nil
}

// ValidBuildID reports whether id can name a build folder.
func ValidBuildID(id string) error {
	if !idPattern.MatchString(id) || strings.Contains(id, "..") {
		return fmt.Errorf("build id %q: use letters, digits, '.', '_' or '-'", id)
	}
	return nil
}

// ValidVariant reports whether name can name a variant ("" is the default).
func ValidVariant(name string) error {
	if name == "" {
		return nil
	}
	if !variantPattern.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("variant %q: use letters, digits, '.', '_', '+' or '-'", name)
	}
	return nil
}

func manifestName(variant string) string {
	if variant == "" {
		return manifestBase + ".json"
	}
	return manifestBase + "." + variant + ".json"
}

// variantOfManifest returns the variant a manifest object name is for.
func variantOfManifest(name string) (string, bool) {
	if name == manifestBase+".json" {
		return "", true
	}
	if strings.HasPrefix(name, manifestBase+".") && strings.HasSuffix(name, ".json") {
		v := strings.TrimSuffix(strings.TrimPrefix(name, manifestBase+"."), ".json")
		return v, ValidVariant(v) == nil && v != ""
	}
	return "", false
}

// ValidPath checks that p, a path from a manifest or an upload folder, stays
// inside its target folder when written there and into the data repo: a
// relative slash path with no empty, "." or ".." parts, no backslashes or
// control characters, and nothing that git treats specially (.git,
// .gitmodules, .gitattributes, in any case).
func ValidPath(p string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %q: %s", ErrUnsafePath, p, why) }
	switch {
	case p == "":
		return bad("empty path")
	case strings.HasPrefix(p, "/"):
		return bad("absolute path")
	case strings.Contains(p, `\`):
		return bad("backslash in path")
	case len(p) > 4096:
		return bad("path longer than 4096 bytes")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return bad("control character in path")
		}
	}
	for _, part := range strings.Split(p, "/") {
		switch lower := strings.ToLower(part); {
		case part == "":
			return bad("empty path element")
		case part == "." || part == "..":
			return bad("'.' or '..' path element")
		case lower == ".git" || lower == ".gitmodules" || lower == ".gitattributes":
			return bad("git metadata name " + part)
		case len(part) > 255:
			return bad("path element longer than 255 bytes")
		}
	}
	return nil
}

// Validate checks a manifest read from S3 (or about to be written) against
// the limits: safe unique paths, no file that is also a folder, sane sizes
// and checksums.
func (m *Manifest) Validate(lim Limits) error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrBadManifest, m.Version, ManifestVersion)
	}
	if err := ValidBuildID(m.Build); err != nil {
		return fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if err := ValidVariant(m.Variant); err != nil {
		return fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if err := validKind(m.Kind); err != nil {
		return fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if m.Kind == KindWebsite && m.Variant != "" {
		return fmt.Errorf("%w: a website build has no variants, and this one names variant %q", ErrBadManifest, m.Variant)
	}
	if m.Commit != "" && !commitPattern.MatchString(m.Commit) {
		return fmt.Errorf("%w: commit %q is not a full hex object id", ErrBadManifest, m.Commit)
	}
	if m.Attempt < 0 {
		return fmt.Errorf("%w: negative attempt %d", ErrBadManifest, m.Attempt)
	}
	if lim.MaxFiles > 0 && len(m.Files) > lim.MaxFiles {
		return fmt.Errorf("%w: %d files, limit %d", ErrTooLarge, len(m.Files), lim.MaxFiles)
	}
	seen := make(map[string]string, len(m.Files))
	folder := newPathFolder()
	var total int64
	for _, f := range m.Files {
		if err := ValidPath(f.Path); err != nil {
			return err
		}
		if f.Git != "" && !gitPattern.MatchString(f.Git) {
			return fmt.Errorf("%w: %s: git blob id %q is not 40 lowercase hex digits", ErrBadManifest, f.Path, f.Git)
		}
		if !sha256Pattern.MatchString(f.SHA256) {
			return fmt.Errorf("%w: %s: sha256 %q is not 64 lowercase hex digits", ErrBadManifest, f.Path, f.SHA256)
		}
		if f.Size < 0 {
			return fmt.Errorf("%w: %s: negative size", ErrBadManifest, f.Path)
		}
		if lim.MaxFileBytes > 0 && f.Size > lim.MaxFileBytes {
			return fmt.Errorf("%w: %s is %d bytes, per-file limit %d", ErrTooLarge, f.Path, f.Size, lim.MaxFileBytes)
		}
		total += f.Size
		// Paths that differ only in case or in Unicode normalisation
		// collide on macOS and Windows checkouts; a path that is a file and
		// a folder cannot be written.
		fold := folder.key(f.Path)
		if other, ok := seen[fold]; ok {
			return collision(other, f.Path)
		}
		seen[fold] = f.Path
	}
	if lim.MaxBuildBytes > 0 && total > lim.MaxBuildBytes {
		return fmt.Errorf("%w: build is %d bytes, limit %d", ErrTooLarge, total, lim.MaxBuildBytes)
	}
	for fold, p := range seen {
		for dir := fold; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if other, ok := seen[dir]; ok {
				return fmt.Errorf("%w: %q is a file and %q needs it to be a folder", ErrBadManifest, other, p)
			}
		}
	}
	return nil
}

// pathFolder maps a path to the key under which case-insensitive,
// normalisation-insensitive file systems see it: macOS folds case and
// Unicode normalisation (APFS, HFS+ stores NFD), Windows folds case. It
// uses full Unicode case folding (so "ß" meets "ss"), a little stricter
// than any one of them, then NFC. A Caser keeps state: one per Validate.
type pathFolder struct{ fold cases.Caser }

func newPathFolder() *pathFolder { return &pathFolder{fold: cases.Fold()} }

func (f *pathFolder) key(p string) string {
	// Most paths are ASCII, which both forms leave alone and which folds
	// to its lower case; the fast path counts with 200,000 files.
	if isASCII(p) {
		return strings.ToLower(p)
	}
	return norm.NFC.String(f.fold.String(norm.NFD.String(p)))
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// collision is the error for two paths with the same pathFolder key. Names
// that differ only in normalisation look the same when printed, so the
// message shows them with non-ASCII characters escaped (%+q).
func collision(a, b string) error {
	why := "they differ only in case, and a checkout on macOS or Windows would merge them"
	switch {
	case norm.NFC.String(a) == norm.NFC.String(b):
		why = "they differ only in Unicode normalisation (NFC/NFD), and a checkout on macOS would merge them"
	case norm.NFC.IsNormalString(a) != norm.NFC.IsNormalString(b):
		why = "they differ only in case and Unicode normalisation (NFC/NFD), and a checkout on macOS or Windows would merge them"
	}
	return fmt.Errorf("%w: %+q and %+q collide: %s", ErrBadManifest, a, b, why)
}

// Limits bound what refbot uploads or downloads.
type Limits struct {
	MaxFileBytes  int64 // per file; 0 means no limit
	MaxBuildBytes int64 // per build or variant; 0 means no limit
	MaxFiles      int   // per build or variant; 0 means no limit
}

// DefaultLimits are used when Options leaves Limits zero.
var DefaultLimits = Limits{MaxFileBytes: 512 << 20, MaxBuildBytes: 10 << 30, MaxFiles: 200_000}

func hexRand() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fileHasher computes both checksums a manifest records in one pass.
type fileHasher struct {
	sha256 hash.Hash
	git    hash.Hash
}

func newFileHasher(size int64) *fileHasher {
	h := &fileHasher{sha256: sha256.New(), git: sha1.New()}
	fmt.Fprintf(h.git, "blob %d\x00", size)
	return h
}

func (h *fileHasher) Write(p []byte) (int, error) {
	h.sha256.Write(p)
	return h.git.Write(p)
}

func (h *fileHasher) sums() (sha string, git string) {
	return hex.EncodeToString(h.sha256.Sum(nil)), hex.EncodeToString(h.git.Sum(nil))
}

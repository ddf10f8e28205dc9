// Package review works out what a build would change in a pull request's
// data branch, for the review pages (docs/design.md, "Review pages"): the
// files the newest build of the PR's head adds, changes and removes
// against what the data branch (or the base branch) holds. It compares the
// build's manifests, which name each file's git blob id, with the trees of
// refbot's copy of the data repo, so nothing is downloaded to list a
// build's changes; a file's contents are read only when a page shows them
// (Old from the data repo, New from S3), and image differences are
// computed once and kept in a disk cache.
package review

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// The actions of a File.
const (
	Added   = "added"
	Changed = "changed"
	Removed = "removed"
)

// Kind says how a page shows a file.
type Kind string

// The kinds of file.
const (
	KindImage Kind = "image" // PNG, JPEG, GIF or SVG: side by side, with a difference image
	KindText  Kind = "text"  // shown as a diff when small enough
	KindOther Kind = "other" // sizes only
)

// File is one file a build changes.
type File struct {
	// Path is the file's path under the data root of the data repo
	// (variant/… when the build has variants), slash-separated.
	Path   string
	Folder string // path.Dir(Path), "" at the top
	Action string // Added, Changed or Removed
	Kind   Kind
	// Old and New are the git blob ids of both sides ("" on the side
	// without the file). A manifest of an older uploader has no git
	// ids: New is "" then, and NewSHA256 (the manifest's sha256 of the
	// new side, always there) names the content instead (NewID).
	Old, New  string
	NewSHA256 string
	// OldSize is -1 when unknown: the data repo's cache holds no blobs,
	// and the size is known only from the manifest of the build that
	// made the old side, when that is still in S3.
	OldSize, NewSize int64
	// Variant is the build's variant the new side is in; Name its path
	// in that variant's manifest.
	Variant, Name string
}

// NewID names f's new side by its content: its git blob id, or else
// "sha256-" and its sha256; "" when there is none.
func (f File) NewID() string {
	switch {
	case f.New != "":
		return f.New
	case f.NewSHA256 != "" && f.Action != Removed:
		return "sha256-" + f.NewSHA256
	}
	return ""
}

// Folder sums up the changes in one folder (not counting its subfolders).
type Folder struct {
	Path                    string
	Added, Changed, Removed int
	// OldBytes and NewBytes sum the sizes of the files listed; OldBytes
	// is -1 when the old size of any of them is unknown.
	OldBytes, NewBytes int64
}

// Review is what one build would change.
type Review struct {
	PR        int
	Head      string // the commit the build tested: the PR's head when it was computed
	Build     string
	BuildTime time.Time // when its upload finished
	Variants  []string
	// Against is the branch the build is compared with: the PR's data
	// branch, or the base branch when the PR has none or the page asked
	// for the base. AgainstCommit is that branch's commit in refbot's
	// copy of the data repo, AgainstBuild its Refbot-Build trailer.
	Against       string
	AgainstCommit string
	AgainstBuild  string
	// Holds says the data branch holds this build already (the files
	// then list nothing; comparing with the base shows what the PR
	// changes).
	Holds bool
	Files []File // sorted by path
	// Folders in path order.
	Folders                            []Folder
	Added, Changed, Removed, Unchanged int
	Computed                           time.Time

	build *s3cache.Build // where the new sides are
}

// Errors of Review.
var (
	// ErrNoHead: refbot knows no head of the PR.
	ErrNoHead = errors.New("refbot knows no head of this pull request")
	// ErrNoBuild: no complete build of the head is in S3 (not built
	// yet, still uploading, or pruned).
	ErrNoBuild = errors.New("no complete build of this head in S3")
	// ErrNoSuchSide: the file has no such side in this review (an added
	// file's old side, a build that no longer lists it).
	ErrNoSuchSide = errors.New("no such file in this review")
	// ErrUploadedAgain: the build was uploaded again under its id since
	// a link to one of its files was made, with another content there.
	ErrUploadedAgain = errors.New("the build was uploaded again since, with another content")
)

// Against names what a review compares with.
type Against string

// The choices of Against.
const (
	AgainstBranch Against = ""     // the PR's data branch, or the base when it has none
	AgainstBase   Against = "base" // the base branch
)

// Reviewer computes and caches reviews.
type Reviewer struct {
	o       Options
	reviews *lru.Cache[string, *Review]
	builds  *lru.Cache[string, *s3cache.Build] // opened builds, by id and upload time
	sizes   *lru.Cache[string, map[string]int64]
	small   *lru.Cache[string, []byte] // small files' contents by blob id
	// pixels is the budget of pixels decoded at once (MaxPixelsInFlight).
	pixels *semaphore.Weighted
	listed struct {
		sync.Mutex
		at     time.Time
		builds []s3cache.BuildInfo
	}
}

// Builds is what a Reviewer reads of the builds in S3 (*s3cache.Store).
type Builds interface {
	ListBuilds(ctx context.Context) ([]s3cache.BuildInfo, error)
	Info(ctx context.Context, id string) (s3cache.BuildInfo, error)
	Open(ctx context.Context, id string, want s3cache.Want) (*s3cache.Build, error)
	Manifests(ctx context.Context, id string) (map[string]*s3cache.Manifest, error)
	ReadFile(ctx context.Context, m *s3cache.Manifest, f s3cache.File, limit int64) ([]byte, error)
}

// Repo is what a Reviewer reads of the data repo (*refdata.Repo).
type Repo interface {
	CachedFiles(ctx context.Context, branch string) (refdata.BranchInfo, map[string]plumbing.Hash, error)
	Blobs(ctx context.Context, ids []plumbing.Hash, maxObject, maxPack int64) (map[plumbing.Hash][]byte, error)
}

// Cache keeps computed results by key (*diskcache.Cache).
type Cache interface {
	Get(key string) ([]byte, bool)
	Put(key string, data []byte) error
	// GetOrCompute computes a missing value once, however many ask.
	GetOrCompute(ctx context.Context, key string, compute func(ctx context.Context) ([]byte, error)) ([]byte, error)
}

// Options configure a Reviewer.
type Options struct {
	Builds     Builds
	Repo       Repo
	BaseBranch string
	// Head returns the newest head refbot knows of pr, "" if none.
	Head func(ctx context.Context, pr int) (string, error)
	// BuildOf, if set, names the newest complete build of pr's head
	// that refbot knows of already (the cache status records it), ""
	// if none: it saves listing the builds in S3.
	BuildOf func(ctx context.Context, pr int, head string) (string, error)
	// Cache keeps difference images and thumbnails (a
	// *diskcache.Cache); nil computes them every time.
	Cache Cache
	// The largest image compared, in bytes (each side) and pixels;
	// defaults 20 MB and 40 million.
	MaxImageBytes  int64
	MaxImagePixels int64
	// MaxPixelsInFlight bounds the pixels decoded and compared at once,
	// over every request together (default MaxImagePixels: at most about
	// 500 MB of images in memory). A difference or thumbnail past it
	// waits for its turn, or until its request gives up.
	MaxPixelsInFlight int64
	// ListFor is how long a listing of the builds in S3 is used
	// (default 10 s): a build uploaded since is not seen for that long
	// unless BuildOf names it.
	ListFor time.Duration
	Logger  *zap.Logger
	Now     func() time.Time
}

// New returns a Reviewer.
func New(o Options) *Reviewer {
	if o.MaxImageBytes <= 0 {
		o.MaxImageBytes = 20 << 20
	}
	if o.MaxImagePixels <= 0 {
		o.MaxImagePixels = 40_000_000
	}
	if o.MaxPixelsInFlight <= 0 {
		o.MaxPixelsInFlight = o.MaxImagePixels
	}
	if o.ListFor <= 0 {
		o.ListFor = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Reviewer{o: o, pixels: semaphore.NewWeighted(o.MaxPixelsInFlight)}
	r.reviews, _ = lru.New[string, *Review](64)
	r.builds, _ = lru.New[string, *s3cache.Build](64)
	r.sizes, _ = lru.New[string, map[string]int64](16)
	r.small, _ = lru.New[string, []byte](smallFiles)
	return r
}

// Review returns what the newest complete build of pr's head changes
// against the data branch (or the base). Reviews are cached by build and
// data commit: the same question costs nothing the second time.
func (r *Reviewer) Review(ctx context.Context, pr int, against Against) (*Review, error) {
	head, err := r.o.Head(ctx, pr)
	if err != nil {
		return nil, err
	}
	if head == "" {
		return nil, ErrNoHead
	}
	b, err := r.newestBuild(ctx, pr, head)
	if err != nil {
		return nil, err
	}
	branch := refdata.PRBranch(pr)
	if against == AgainstBase {
		branch = r.o.BaseBranch
	}
	info, files, err := r.o.Repo.CachedFiles(ctx, branch)
	if err != nil {
		return nil, err
	}
	if !info.Exists && branch != r.o.BaseBranch {
		branch = r.o.BaseBranch
		if info, files, err = r.o.Repo.CachedFiles(ctx, branch); err != nil {
			return nil, err
		}
	}
	key := fmt.Sprintf("%d %s %s %s %s", pr, b.ID, b.Modified.Format(time.RFC3339Nano), branch, info.Tip)
	if rev, ok := r.reviews.Get(key); ok {
		return rev, nil
	}
	rev := r.compare(ctx, pr, head, b, branch, info, files)
	r.reviews.Add(key, rev)
	return rev, nil
}

// newestBuild opens the newest complete build of head.
func (r *Reviewer) newestBuild(ctx context.Context, pr int, head string) (*s3cache.Build, error) {
	want := s3cache.Want{Source: s3cache.Source{PR: pr}, Commit: head}
	if r.o.BuildOf != nil {
		id, err := r.o.BuildOf(ctx, pr, head)
		if err != nil {
			return nil, err
		}
		if id != "" {
			// A restarted build uploads again under its id: its upload
			// time says whether the build opened before is still it.
			info, err := r.o.Builds.Info(ctx, id)
			if err != nil {
				return nil, err
			}
			if b, err := r.open(ctx, id, info.Modified, want); err == nil {
				return b, nil
			} else if !s3cache.Unusable(err) && !errors.Is(err, s3cache.ErrNotFound) {
				return nil, err
			}
			// Pruned, or uploaded again and now incomplete: look.
		}
	}
	// A listing a few seconds old is looked at again when it has no
	// build of this head: the build may have arrived since.
	for _, fresh := range []time.Duration{r.o.ListFor, missedListFor} {
		builds, listed, err := r.listBuilds(ctx, fresh)
		if err != nil {
			return nil, err
		}
		for _, info := range builds {
			if info.Source.PR != pr || !info.Complete() {
				continue
			}
			b, err := r.open(ctx, info.ID, info.Modified, want)
			if err == nil {
				return b, nil
			}
			if !s3cache.Unusable(err) && !errors.Is(err, s3cache.ErrNotFound) {
				return nil, err
			}
		}
		if listed {
			break
		}
	}
	return nil, ErrNoBuild
}

// missedListFor is how old a listing of the builds may be to say that a
// head has no build.
const missedListFor = 5 * time.Second

// open opens build id, from the cache when it was opened before with the
// same upload time.
func (r *Reviewer) open(ctx context.Context, id string, modified time.Time, want s3cache.Want) (*s3cache.Build, error) {
	if b, ok := r.builds.Get(id); ok && !modified.IsZero() && b.Modified.Equal(modified) && b.Source == want.Source {
		if m := anyManifest(b); m != nil && m.Commit == want.Commit {
			return b, nil
		}
	}
	b, err := r.o.Builds.Open(ctx, id, want)
	if err != nil {
		return nil, err
	}
	r.builds.Add(id, b)
	return b, nil
}

func anyManifest(b *s3cache.Build) *s3cache.Manifest {
	for _, v := range b.Variants {
		return b.Manifests[v]
	}
	return nil
}

// listBuilds lists the builds in S3, or returns the last listing when it
// is younger than fresh; listed says it listed now.
func (r *Reviewer) listBuilds(ctx context.Context, fresh time.Duration) (builds []s3cache.BuildInfo, listed bool, err error) {
	r.listed.Lock()
	defer r.listed.Unlock()
	if r.listed.builds != nil && r.o.Now().Sub(r.listed.at) < fresh {
		return r.listed.builds, false, nil
	}
	if builds, err = r.o.Builds.ListBuilds(ctx); err != nil {
		return nil, true, err
	}
	r.listed.builds, r.listed.at = builds, r.o.Now()
	return builds, true, nil
}

// compare lists what build b changes against files, the data root of
// branch at info.Tip. A build with variants replaces only its variants'
// folders; one without replaces the whole data root (refdata.Part).
func (r *Reviewer) compare(ctx context.Context, pr int, head string, b *s3cache.Build, branch string,
	info refdata.BranchInfo, files map[string]plumbing.Hash) *Review {
	rev := &Review{PR: pr, Head: head, Build: b.ID, BuildTime: b.Modified, Variants: b.Variants,
		Against: branch, Computed: r.o.Now(), build: b}
	if info.Exists {
		rev.AgainstCommit = info.Tip.String()
		rev.AgainstBuild = info.Trailers["Refbot-Build"]
		rev.Holds = rev.AgainstBuild == b.ID && info.Trailers["Refbot-Commit"] == head
	}
	oldSizes := r.oldSizes(ctx, rev.AgainstBuild)
	seen := map[string]bool{}
	for _, v := range b.Variants {
		m := b.Manifests[v]
		for _, f := range m.Files {
			p := path.Join(v, f.Path)
			seen[p] = true
			nf := File{Path: p, Folder: folderOf(p), Kind: kindOf(p), New: f.Git, NewSHA256: f.SHA256, NewSize: f.Size, OldSize: -1,
				Variant: v, Name: f.Path}
			old, had := files[p]
			switch {
			case !had:
				nf.Action = Added
				nf.OldSize = 0
			case f.Git != "" && old.String() == f.Git:
				rev.Unchanged++
				continue
			default:
				// A manifest without git ids (an old upload) cannot be
				// compared without downloading: it is listed as changed.
				nf.Action, nf.Old = Changed, old.String()
				if size, ok := oldSizes[nf.Old]; ok {
					nf.OldSize = size
				}
			}
			rev.Files = append(rev.Files, nf)
		}
	}
	for p, old := range files {
		if seen[p] || !replaces(b.Variants, p) {
			continue
		}
		f := File{Path: p, Folder: folderOf(p), Kind: kindOf(p), Action: Removed, Old: old.String(), OldSize: -1}
		if size, ok := oldSizes[f.Old]; ok {
			f.OldSize = size
		}
		rev.Files = append(rev.Files, f)
	}
	sort.Slice(rev.Files, func(i, j int) bool { return rev.Files[i].Path < rev.Files[j].Path })
	folders := map[string]*Folder{}
	for _, f := range rev.Files {
		d := folders[f.Folder]
		if d == nil {
			d = &Folder{Path: f.Folder}
			folders[f.Folder] = d
		}
		switch f.Action {
		case Added:
			rev.Added++
			d.Added++
		case Changed:
			rev.Changed++
			d.Changed++
		case Removed:
			rev.Removed++
			d.Removed++
		}
		switch {
		case f.OldSize < 0 || d.OldBytes < 0:
			d.OldBytes = -1 // unknown when any of its files' is
		default:
			d.OldBytes += f.OldSize
		}
		d.NewBytes += f.NewSize
	}
	for _, d := range folders {
		rev.Folders = append(rev.Folders, *d)
	}
	sort.Slice(rev.Folders, func(i, j int) bool { return rev.Folders[i].Path < rev.Folders[j].Path })
	return rev
}

// replaces says whether a build of these variants replaces the file at p:
// every file when the build has no variants, else those in its variants'
// folders.
func replaces(variants []string, p string) bool {
	for _, v := range variants {
		if v == "" || strings.HasPrefix(p, v+"/") {
			return true
		}
	}
	return false
}

// oldSizes are the sizes the manifests of build id give, by blob id: what
// is known of the old side's sizes (the data repo's cache holds no
// blobs). None when the build is gone from S3.
func (r *Reviewer) oldSizes(ctx context.Context, id string) map[string]int64 {
	if id == "" || s3cache.ValidBuildID(id) != nil {
		return nil
	}
	if sizes, ok := r.sizes.Get(id); ok {
		return sizes
	}
	ms, err := r.o.Builds.Manifests(ctx, id)
	if err != nil {
		r.o.Logger.Debug("review: sizes of the data branch's build", zap.String("build", id), zap.Error(err))
		return nil
	}
	sizes := map[string]int64{}
	for _, m := range ms {
		for _, f := range m.Files {
			if f.Git != "" {
				sizes[f.Git] = f.Size
			}
		}
	}
	r.sizes.Add(id, sizes)
	return sizes
}

func folderOf(p string) string {
	if d := path.Dir(p); d != "." {
		return d
	}
	return ""
}

// imageExts are the images a page shows side by side.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".svg": true}

// binaryExts are never shown as text.
var binaryExts = map[string]bool{".webp": true, ".bmp": true, ".tif": true, ".tiff": true, ".ico": true, ".pdf": true,
	".gz": true, ".zip": true, ".bz2": true, ".xz": true, ".zst": true, ".npy": true, ".npz": true, ".h5": true,
	".hdf5": true, ".nc": true, ".fits": true, ".parquet": true, ".pkl": true, ".pickle": true, ".bin": true}

// kindOf tells a file's kind by its name; a file taken for text that is
// not is found out when its diff is made.
func kindOf(p string) Kind {
	ext := strings.ToLower(path.Ext(p))
	switch {
	case imageExts[ext]:
		return KindImage
	case binaryExts[ext]:
		return KindOther
	}
	return KindText
}

// File returns the file at p of rev, if rev lists it.
func (rev *Review) File(p string) (File, bool) {
	i := sort.Search(len(rev.Files), func(i int) bool { return rev.Files[i].Path >= p })
	if i < len(rev.Files) && rev.Files[i].Path == p {
		return rev.Files[i], true
	}
	return File{}, false
}

// ReadOld reads the old side of f from the data repo, at most max bytes
// (a larger file is an error wrapping refdata.ErrTooLarge).
func (r *Reviewer) ReadOld(ctx context.Context, f File, max int64) ([]byte, error) {
	if f.Old == "" {
		return nil, fmt.Errorf("%s has no old side: %w", f.Path, ErrNoSuchSide)
	}
	return r.blob(ctx, f.Old, max)
}

// blob reads one blob of the data repo by id.
func (r *Reviewer) blob(ctx context.Context, id string, max int64) ([]byte, error) {
	h := plumbing.NewHash(id)
	if h.IsZero() || h.String() != id {
		return nil, fmt.Errorf("blob %q: %w", id, ErrNoSuchSide)
	}
	if b, ok := r.small.Get(id); ok && int64(len(b)) <= max {
		return b, nil
	}
	got, err := r.o.Repo.Blobs(ctx, []plumbing.Hash{h}, max, max+(1<<20))
	if err != nil {
		return nil, err
	}
	b, ok := got[h]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w: more than %d bytes, or not in the data repo", id[:12], refdata.ErrTooLarge, max)
	}
	r.keepSmall(id, b)
	return b, nil
}

// Small files' contents (text diffs read both sides of every text file a
// page shows, each time it is shown) are kept in memory by blob id: a
// content's name, so never stale. smallFiles × smallFile bounds it.
const (
	smallFile  = 64 << 10
	smallFiles = 512
)

// keepSmall keeps b under id if it is small and id is its git blob id: a
// build's manifest, which names the new sides' ids, comes from the PR's CI
// and must not put another content under a blob's name.
func (r *Reviewer) keepSmall(id string, b []byte) {
	if id != "" && len(b) <= smallFile && plumbing.ComputeHash(plumbing.BlobObject, b).String() == id {
		r.small.Add(id, b)
	}
}

// ReadNew reads the new side of f from the build in S3, at most max bytes.
func (r *Reviewer) ReadNew(ctx context.Context, rev *Review, f File, max int64) ([]byte, error) {
	if f.New == "" && f.Action == Removed {
		return nil, fmt.Errorf("%s has no new side: %w", f.Path, ErrNoSuchSide)
	}
	if rev.build == nil {
		return nil, fmt.Errorf("%s: %w", f.Path, ErrNoSuchSide)
	}
	m := rev.build.Manifests[f.Variant]
	if m == nil {
		return nil, fmt.Errorf("%s: build %s has no variant %q: %w", f.Path, rev.Build, f.Variant, ErrNoSuchSide)
	}
	for _, mf := range m.Files {
		if mf.Path == f.Name {
			if b, ok := r.small.Get(mf.Git); ok && mf.Git != "" && int64(len(b)) <= max {
				return b, nil
			}
			b, err := r.o.Builds.ReadFile(ctx, m, mf, max)
			if err != nil {
				return nil, err
			}
			// The manifest comes from the PR's CI: the blob id it gives
			// names this content in the caches of every review (and
			// of the thumbnails), so it must be the content's.
			if mf.Git != "" && plumbing.ComputeHash(plumbing.BlobObject, b).String() != mf.Git {
				return nil, fmt.Errorf("build %s: %s: %w: its git blob id is not the manifest's", rev.Build, f.Path, s3cache.ErrBadManifest)
			}
			r.keepSmall(mf.Git, b)
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s is not in build %s: %w", f.Path, rev.Build, ErrNoSuchSide)
}

// ImageDiff is how two versions of an image differ, as refbot computed it.
type ImageDiff struct {
	OldWidth, OldHeight, NewWidth, NewHeight int
	Changed, Total                           int     // pixels
	Share                                    float64 // Changed / Total
	// Identical: no pixel differs, though the bytes do (a re-encoding,
	// different metadata).
	Identical bool
	PNG       []byte // the difference image
}

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
	"time"
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
	// without the file).
	Old, New string
	// OldSize is -1 when unknown: the data repo's cache holds no blobs,
	// and the size is known only from the manifest of the build that
	// made the old side, when that is still in S3.
	OldSize, NewSize int64
	// Variant is the build's variant the new side is in; Name its path
	// in that variant's manifest.
	Variant, Name string
}

// Folder sums up the changes in one folder (not counting its subfolders).
type Folder struct {
	Path                    string
	Added, Changed, Removed int
	OldBytes, NewBytes      int64 // of the changed files, as far as known
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
	Folders                           []Folder
	Added, Changed, Removed, Unchanged int
	Computed                          time.Time
}

// Errors of Review.
var (
	// ErrNoHead: refbot knows no head of the PR.
	ErrNoHead = errors.New("refbot knows no head of this pull request")
	// ErrNoBuild: no complete build of the head is in S3 (not built
	// yet, still uploading, or pruned).
	ErrNoBuild = errors.New("no complete build of this head in S3")
)

// Against names what a review compares with.
type Against string

// The choices of Against.
const (
	AgainstBranch Against = ""     // the PR's data branch, or the base when it has none
	AgainstBase   Against = "base" // the base branch
)

// Reviewer computes and caches reviews.
type Reviewer struct{ o Options }

// Options configure a Reviewer; see New.
type Options struct{}

// New returns a Reviewer.
func New(o Options) *Reviewer { return &Reviewer{o: o} }

// Review returns what the newest complete build of pr's head changes
// against the data branch (or the base). Reviews are cached by build and
// data commit: the same question costs nothing the second time.
func (r *Reviewer) Review(ctx context.Context, pr int, against Against) (*Review, error) {
	return nil, errors.New("review: not built yet")
}

// ReadOld reads the old side of f from the data repo, at most max bytes
// (a larger file is an error wrapping refdata.ErrTooLarge).
func (r *Reviewer) ReadOld(ctx context.Context, f File, max int64) ([]byte, error) {
	return nil, errors.New("review: not built yet")
}

// ReadNew reads the new side of f from the build in S3, at most max bytes.
func (r *Reviewer) ReadNew(ctx context.Context, rev *Review, f File, max int64) ([]byte, error) {
	return nil, errors.New("review: not built yet")
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

// ImageDiff compares the two sides of a changed image file of rev,
// computing it once: the result is kept in the disk cache under the two
// blob ids.
func (r *Reviewer) ImageDiff(ctx context.Context, rev *Review, f File) (*ImageDiff, error) {
	return nil, errors.New("review: not built yet")
}

// Thumbnail is a small PNG of f: old | new | difference for a changed
// image, the new image alone for an added one. Cached as ImageDiff is.
func (r *Reviewer) Thumbnail(ctx context.Context, rev *Review, f File) ([]byte, error) {
	return nil, errors.New("review: not built yet")
}

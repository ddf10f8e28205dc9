package pages

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/refbot/refbot/bot/review"
	"github.com/refbot/refbot/internal/imgdiff"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// Reviewer is what the review section and its routes need of
// *review.Reviewer.
type Reviewer interface {
	Review(ctx context.Context, pr int, against review.Against) (*review.Review, error)
	ReadOld(ctx context.Context, f review.File, max int64) ([]byte, error)
	ReadNew(ctx context.Context, rev *review.Review, f review.File, max int64) ([]byte, error)
	ImageDiff(ctx context.Context, rev *review.Review, f review.File) (*review.ImageDiff, error)
	// ImageDiffs compares the changed images among files, keyed by
	// File.Path; those not done when ctx ends are left out.
	ImageDiffs(ctx context.Context, rev *review.Review, files []review.File) map[string]*review.ImageDiff
	// ThumbnailOf is the thumbnail of the image at p of build id of pr
	// against the data repo's blob old ("": an added image), whether or
	// not the build is still the newest; nw, when set, names the new side
	// (named: the answer is nw's, cacheable for good).
	ThumbnailOf(ctx context.Context, pr int, id, p, old, nw string) (thumb []byte, named bool, err error)
	// ThumbnailByIDs is the thumbnail of two blobs of the data repo (one
	// may be "": an added or removed image).
	ThumbnailByIDs(ctx context.Context, old, new string) ([]byte, error)
}

// Limits of the review section and its routes.
const (
	filesPerPage = 25
	// openTextDiffs text diffs of a page are shown open; the rest are
	// folded in <details>.
	openTextDiffs = 3
	// maxTextShown caps each side of a text diff on the page.
	maxTextShown = 256 << 10
	// maxServed caps a file the raw routes serve.
	maxServed = 50 << 20
	// A page waits for the review this long, and for its images'
	// differences and its text files this long after: what is not done
	// by then is said, and the page is not held up.
	reviewWait = 4 * time.Second
	detailWait = 3 * time.Second
	// imageWait bounds one difference image or thumbnail request.
	imageWait = time.Minute
)

// rawCSP is the policy of every file served from a build or the data
// repo: nothing in it runs (sandbox gives it an opaque origin, so an SVG
// opened directly cannot script refbot's), and it can reach nothing but
// inline styles and images of its own.
const rawCSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"

// immutable marks answers named by content: a blob id, or a build's file
// with ?new= naming its content (a restarted build uploads again under its
// id, so a build's file alone names nothing for good).
const immutable = "private, max-age=31536000, immutable"

var (
	blobPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// sha256Pattern is review.File.NewID of a side without a git id.
	sha256Pattern = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)
)

// reviewRoutes adds the review's own routes (file contents, difference
// images, thumbnails) to mux.
func (p *Pages) reviewRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /pr/{n}/old/{blob}", p.rawOld)
	mux.HandleFunc("GET /pr/{n}/new/{build}/{path...}", p.rawNew)
	mux.HandleFunc("GET /pr/{n}/diff/{build}/{path...}", p.diffImage)
	mux.HandleFunc("GET /pr/{n}/thumb/{build}/{path...}", p.thumb)
	mux.HandleFunc("GET /thumb/{ids}", p.thumbByIDs)
}

// reviewView is what templates/review.html shows.
type reviewView struct {
	PR int
	// Error, when set, is shown instead of the rest; Rev is then nil.
	Error string
	Rev   *review.Review
	// OnBranch: compared with the PR's data branch; AskedBase: the page
	// asked for the base.
	OnBranch, AskedBase bool
	// BaseURL and BranchURL are this page compared with the base and
	// with the data branch.
	BaseURL, BranchURL string
	Command            string
	// NewerHead is the PR's head refbot knows of when it is not the one
	// the build tested.
	NewerHead string
	Folders   []folderView
	Files     []fileView
	// Matching counts the files the filters let through; First and Last
	// number the page's ones (1-based).
	Matching, First, Last int
	Page, Pages           int
	Prev, Next            string
	Kinds, Actions        []filterLink
	Kind, Action          string
}

type folderView struct {
	review.Folder
	Name, OldBytes, NewBytes string
}

type filterLink struct {
	Label, URL string
	Current    bool
}

// fileView is one file of the page.
type fileView struct {
	review.File
	OldSize, NewSize string
	// URLs of the sides and the difference image, relative to /pr/.
	OldURL, NewURL, DiffURL string
	// Images: Diff is refbot's comparison, nil while it is being
	// computed.
	Diff  *review.ImageDiff
	Share string
	// Text files.
	Text *textView
	Open bool
}

// textView is a text file's change (review.Text's diff), or why it is
// not shown.
type textView struct {
	Diff     *review.TextDiff
	Lines    []lineView // of Diff, for json and text
	TooLarge int64      // the size of a side too large to show
	NotText  bool
	Error    string
}

// lineView is a line of a unified diff, cut into the parts that changed
// (Mark) and those that did not.
type lineView struct {
	Kind     string
	Old, New int
	Parts    []linePart
}

type linePart struct {
	Text string
	Mark bool
}

// reviewSection computes the review section of /pr/{n}: nil without a
// Reviewer.
func (p *Pages) reviewSection(ctx context.Context, r *http.Request, n int) *reviewView {
	if p.o.Reviewer == nil {
		return nil
	}
	q := r.URL.Query()
	v := &reviewView{PR: n, AskedBase: q.Get("against") == string(review.AgainstBase),
		Kind: q.Get("kind"), Action: q.Get("action")}
	v.BaseURL = pageURL(n, q, "against", string(review.AgainstBase))
	v.BranchURL = pageURL(n, q, "against", "")
	rctx, cancel := context.WithTimeout(ctx, reviewWait)
	defer cancel()
	rev, err := p.o.Reviewer.Review(rctx, n, against(q))
	if err != nil {
		v.Error = p.reviewError(n, err)
		return v
	}
	v.Rev = rev
	v.OnBranch = rev.Against == refdata.PRBranch(n)
	v.Command = "BUILDBOT: UPDATE " + rev.Head
	if p.o.Head != nil {
		if head, err := p.o.Head(ctx, n); err != nil {
			p.o.Logger.Warn("page: read the head", zap.Int("pr", n), zap.Error(err))
		} else if head != "" && head != rev.Head {
			v.NewerHead = head
		}
	}
	for _, f := range rev.Folders {
		name := f.Path
		if name == "" {
			name = "(top)"
		}
		v.Folders = append(v.Folders, folderView{Folder: f, Name: name, OldBytes: size(f.OldBytes), NewBytes: size(f.NewBytes)})
	}
	v.filters(q)
	p.details(ctx, v)
	return v
}

// reviewError says why there is no review, never with the error's text.
func (p *Pages) reviewError(n int, err error) string {
	switch {
	case errors.Is(err, review.ErrNoHead):
		return "refbot knows no head of this pull request yet."
	case errors.Is(err, review.ErrNoBuild):
		return "There is no complete build of this pull request's head in S3 yet (not built, still uploading, or pruned)."
	case errors.Is(err, context.DeadlineExceeded):
		return "The review is being computed: reload the page in a moment."
	}
	p.o.Logger.Warn("page: review", zap.Int("pr", n), zap.Error(err))
	return "The review could not be computed just now; the reason is in refbot's log."
}

// filters picks the page's files by ?kind=, ?action= and ?page=, and
// makes the links to the other pages and filters.
func (v *reviewView) filters(q url.Values) {
	var matching []review.File
	for _, f := range v.Rev.Files {
		if (v.Kind == "" || string(f.Kind) == v.Kind) && (v.Action == "" || f.Action == v.Action) {
			matching = append(matching, f)
		}
	}
	v.Matching = len(matching)
	v.Pages = max(1, (len(matching)+filesPerPage-1)/filesPerPage)
	v.Page, _ = strconv.Atoi(q.Get("page"))
	v.Page = min(max(v.Page, 1), v.Pages)
	from, to := (v.Page-1)*filesPerPage, min(v.Page*filesPerPage, len(matching))
	v.First, v.Last = from+1, to
	if v.Page > 1 {
		v.Prev = pageURL(v.PR, q, "page", strconv.Itoa(v.Page-1))
	}
	if v.Page < v.Pages {
		v.Next = pageURL(v.PR, q, "page", strconv.Itoa(v.Page+1))
	}
	for _, k := range []string{"", string(review.KindImage), string(review.KindText), string(review.KindOther)} {
		v.Kinds = append(v.Kinds, filterLink{Label: cmp.Or(k, "all"), URL: pageURL(v.PR, q, "kind", k), Current: k == v.Kind})
	}
	for _, a := range []string{"", review.Added, review.Changed, review.Removed} {
		v.Actions = append(v.Actions, filterLink{Label: cmp.Or(a, "all"), URL: pageURL(v.PR, q, "action", a), Current: a == v.Action})
	}
	for _, f := range matching[from:to] {
		fv := fileView{File: f, OldSize: size(f.OldSize), NewSize: size(f.NewSize)}
		if f.Old != "" {
			fv.OldURL = fmt.Sprintf("%d/old/%s%s", v.PR, f.Old, againstQuery(v.AskedBase, "", ""))
		}
		if f.Action != review.Removed {
			fv.NewURL = fmt.Sprintf("%d/new/%s/%s%s", v.PR, url.PathEscape(v.Rev.Build), escapePath(f.Path), againstQuery(v.AskedBase, "", f.NewID()))
		}
		if f.Kind == review.KindImage && f.Action == review.Changed {
			fv.DiffURL = fmt.Sprintf("%d/diff/%s/%s%s", v.PR, url.PathEscape(v.Rev.Build), escapePath(f.Path), againstQuery(v.AskedBase, f.Old, f.NewID()))
		}
		v.Files = append(v.Files, fv)
	}
}

// details fills in the page's image differences and text diffs, each
// within detailWait: the page's changed images in one call to the
// Reviewer, its text files read a few at a time.
func (p *Pages) details(ctx context.Context, v *reviewView) {
	ctx, cancel := context.WithTimeout(ctx, detailWait)
	defer cancel()
	var images []review.File
	for _, f := range v.Files {
		if f.DiffURL != "" {
			images = append(images, f.File)
		}
	}
	var diffs map[string]*review.ImageDiff
	var wg sync.WaitGroup
	if len(images) > 0 {
		wg.Go(func() { diffs = p.o.Reviewer.ImageDiffs(ctx, v.Rev, images) })
	}
	var g errgroup.Group
	g.SetLimit(4)
	shown := 0
	for i := range v.Files {
		fv := &v.Files[i]
		if fv.Kind != review.KindText {
			continue
		}
		fv.Open = shown < openTextDiffs
		shown++
		fv.Text = &textView{}
		g.Go(func() error {
			p.readText(ctx, v.Rev, fv.File, fv.Text)
			return nil
		})
	}
	g.Wait()
	wg.Wait()
	for i := range v.Files {
		fv := &v.Files[i]
		if d := diffs[fv.Path]; d != nil && fv.DiffURL != "" {
			fv.Diff = d
			fv.Share = share(d)
		}
	}
}

// readText reads both sides of a text file and diffs them into t, or
// says why not.
func (p *Pages) readText(ctx context.Context, rev *review.Review, f review.File, t *textView) {
	if f.NewSize > maxTextShown {
		t.TooLarge = f.NewSize
		return
	}
	if f.OldSize > maxTextShown {
		t.TooLarge = f.OldSize
		return
	}
	read := func(side string, b []byte, err error) bool {
		switch {
		case err == nil:
			return true
		case errors.Is(err, refdata.ErrTooLarge):
			// An old side of unknown size.
			t.TooLarge = maxTextShown + 1
		case ctx.Err() != nil:
			t.Error = "was not read in time: reload the page"
		default:
			p.o.Logger.Warn("page: read a file", zap.Int("pr", rev.PR), zap.String("path", f.Path), zap.String("side", side), zap.Error(err))
			t.Error = "could not be read just now"
		}
		return false
	}
	var old, new []byte
	if f.Old != "" {
		b, err := p.o.Reviewer.ReadOld(ctx, f, maxTextShown)
		if !read("old", b, err) {
			return
		}
		if b == nil {
			b = []byte{} // an empty file, not an absent side
		}
		old = b
	}
	if f.Action != review.Removed {
		b, err := p.o.Reviewer.ReadNew(ctx, rev, f, maxTextShown)
		if !read("new", b, err) {
			return
		}
		if b == nil {
			b = []byte{}
		}
		new = b
	}
	d, err := review.Text(f.Path, old, new, review.DiffOptions{MaxBytes: maxTextShown})
	switch {
	case errors.Is(err, review.ErrTooLarge):
		t.TooLarge = int64(max(len(old), len(new)))
	case errors.Is(err, review.ErrNotText):
		t.NotText = true
	case err != nil:
		p.o.Logger.Warn("page: text diff", zap.Int("pr", rev.PR), zap.String("path", f.Path), zap.Error(err))
		t.Error = "could not be compared"
	default:
		t.Diff = d
		for _, l := range d.Lines {
			t.Lines = append(t.Lines, lineView{Kind: l.Kind, Old: l.Old, New: l.New, Parts: parts(l.Text, l.Spans)})
		}
	}
}

// parts cuts text at spans, byte ranges in order, marking what they hold.
func parts(text string, spans []review.Span) []linePart {
	var out []linePart
	at := 0
	for _, s := range spans {
		if s.From < at || s.To > len(text) || s.From >= s.To {
			continue // not in order or out of the line: ignored
		}
		if s.From > at {
			out = append(out, linePart{Text: text[at:s.From]})
		}
		out = append(out, linePart{Text: text[s.From:s.To], Mark: true})
		at = s.To
	}
	if at < len(text) || len(out) == 0 {
		out = append(out, linePart{Text: text[at:]})
	}
	return out
}

// rawOld serves GET /pr/{n}/old/{blob}: the old side of a file of the
// PR's current review.
func (p *Pages) rawOld(w http.ResponseWriter, r *http.Request) {
	blob := r.PathValue("blob")
	if !blobPattern.MatchString(blob) {
		http.Error(w, "not a git blob id", http.StatusBadRequest)
		return
	}
	rev, n, ok := p.currentReview(w, r)
	if !ok {
		return
	}
	i := slices.IndexFunc(rev.Files, func(f review.File) bool { return f.Old == blob })
	if i < 0 {
		http.Error(w, "no file of this pull request's review has this blob", http.StatusNotFound)
		return
	}
	f := rev.Files[i]
	ctx, cancel := context.WithTimeout(r.Context(), imageWait)
	defer cancel()
	b, err := p.o.Reviewer.ReadOld(ctx, f, maxServed)
	p.serveFile(w, r, n, f, b, err, immutable)
}

// rawNew serves GET /pr/{n}/new/{build}/{path...}: the new side of a file
// of the PR's current review. With ?new= naming its content (as the page's
// links do) it is cached for good; a content that changed since (the
// build uploaded again) is a 404.
func (p *Pages) rawNew(w http.ResponseWriter, r *http.Request) {
	rev, f, n, ok := p.reviewFile(w, r)
	if !ok {
		return
	}
	if f.Action == review.Removed {
		http.Error(w, "the build removes this file", http.StatusNotFound)
		return
	}
	cache, ok := contentCache(w, r, "new", f.NewID())
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), imageWait)
	defer cancel()
	b, err := p.o.Reviewer.ReadNew(ctx, rev, f, maxServed)
	p.serveFile(w, r, n, f, b, err, cache)
}

// contentCache reads the query parameter key, which names the content a
// link was made for: an answer for that content is immutable, one
// without it no-cache, and one for a content that is not the current one
// (want) is answered 404 here (ok false).
func contentCache(w http.ResponseWriter, r *http.Request, key, want string) (cache string, ok bool) {
	got := r.URL.Query().Get(key)
	switch {
	case got == "":
		return "no-cache", true
	case got != want:
		http.Error(w, "the build was uploaded again since: reload the page", http.StatusNotFound)
		return "", false
	}
	return immutable, true
}

// diffImage serves GET /pr/{n}/diff/{build}/{path...}: refbot's
// difference image of a changed image. With ?old= and ?new= naming both
// sides' contents (as the page's links do) the answer is cached for good;
// a side that changed since is a 404.
func (p *Pages) diffImage(w http.ResponseWriter, r *http.Request) {
	rev, f, n, ok := p.reviewFile(w, r)
	if !ok {
		return
	}
	old := r.URL.Query().Get("old")
	switch {
	case f.Kind != review.KindImage || f.Action != review.Changed:
		http.Error(w, "only a changed image has a difference image", http.StatusNotFound)
		return
	case old != "" && old != f.Old:
		http.Error(w, "the data branch moved since: reload the page", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), imageWait)
	defer cancel()
	cache, ok := contentCache(w, r, "new", f.NewID())
	if !ok {
		return
	}
	if old == "" {
		cache = "no-cache"
	}
	d, err := p.o.Reviewer.ImageDiff(ctx, rev, f)
	if err != nil {
		p.imageError(w, n, f.Path, err)
		return
	}
	if d.Identical || len(d.PNG) == 0 {
		http.Error(w, "no pixel differs", http.StatusNotFound)
		return
	}
	servePNG(w, d.PNG, cache)
}

// thumb serves GET /pr/{n}/thumb/{build}/{path...}?old={blob}&new={id}: a
// small old | new | difference picture of an image of a build of the PR
// against the old side's blob (none: an added image), for the replies of
// PLAN. It does not need the build to be the newest: a reply's thumbnails
// stay as they were, and named by both contents they are cached for good;
// a build uploaded again since with another new side is a 404.
func (p *Pages) thumb(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	build, name, old, nw := r.PathValue("build"), r.PathValue("path"), r.URL.Query().Get("old"), r.URL.Query().Get("new")
	switch {
	case err != nil || n <= 0:
		http.Error(w, "no such pull request", http.StatusNotFound)
		return
	case s3cache.ValidBuildID(build) != nil || s3cache.ValidPath(name) != nil || (old != "" && !blobPattern.MatchString(old)) ||
		(nw != "" && !blobPattern.MatchString(nw) && !sha256Pattern.MatchString(nw)):
		http.Error(w, "want a build id, a file path and, for a changed image, ?old= its old side's blob id (and ?new= the new side's)", http.StatusBadRequest)
		return
	case p.o.Reviewer == nil:
		http.Error(w, "reviews are not set up", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), imageWait)
	defer cancel()
	b, named, err := p.o.Reviewer.ThumbnailOf(ctx, n, build, name, old, nw)
	if err != nil {
		p.imageError(w, n, name, err)
		return
	}
	cache := "no-cache"
	if named {
		cache = immutable
	}
	servePNG(w, b, cache)
}

// thumbByIDs serves GET /thumb/{old}-{new}.png: the thumbnail of two
// blobs of the data repo (either may be empty), for pushed data.
func (p *Pages) thumbByIDs(w http.ResponseWriter, r *http.Request) {
	ids, ok := strings.CutSuffix(r.PathValue("ids"), ".png")
	old, new, ok2 := strings.Cut(ids, "-")
	valid := func(id string) bool { return id == "" || blobPattern.MatchString(id) }
	if !ok || !ok2 || !valid(old) || !valid(new) || old+new == "" {
		http.Error(w, "want /thumb/OLD-NEW.png with git blob ids", http.StatusBadRequest)
		return
	}
	if p.o.Reviewer == nil {
		http.Error(w, "reviews are not set up", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), imageWait)
	defer cancel()
	b, err := p.o.Reviewer.ThumbnailByIDs(ctx, old, new)
	if err != nil {
		p.imageError(w, 0, ids, err)
		return
	}
	servePNG(w, b, immutable)
}

// currentReview reads the review of the request's PR (?against=base: with
// the base), answering the request itself when there is none.
func (p *Pages) currentReview(w http.ResponseWriter, r *http.Request) (*review.Review, int, bool) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n <= 0 {
		http.Error(w, "no such pull request", http.StatusNotFound)
		return nil, 0, false
	}
	if p.o.Reviewer == nil {
		http.Error(w, "reviews are not set up", http.StatusNotFound)
		return nil, 0, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), imageWait)
	defer cancel()
	rev, err := p.o.Reviewer.Review(ctx, n, against(r.URL.Query()))
	switch {
	case errors.Is(err, review.ErrNoHead) || errors.Is(err, review.ErrNoBuild):
		http.Error(w, "this pull request has no build to review", http.StatusNotFound)
	case err != nil:
		p.o.Logger.Warn("page: review", zap.Int("pr", n), zap.Error(err))
		http.Error(w, "the review could not be computed just now", http.StatusServiceUnavailable)
	default:
		return rev, n, true
	}
	return nil, 0, false
}

// reviewFile is currentReview and the file the request's {build} and
// {path...} name in it.
func (p *Pages) reviewFile(w http.ResponseWriter, r *http.Request) (*review.Review, review.File, int, bool) {
	build, name := r.PathValue("build"), r.PathValue("path")
	if s3cache.ValidBuildID(build) != nil || s3cache.ValidPath(name) != nil {
		http.Error(w, "not a build id and a file path", http.StatusBadRequest)
		return nil, review.File{}, 0, false
	}
	rev, n, ok := p.currentReview(w, r)
	if !ok {
		return nil, review.File{}, 0, false
	}
	if rev.Build != build {
		http.Error(w, "a newer build replaced it", http.StatusNotFound)
		return nil, review.File{}, 0, false
	}
	f, found := rev.File(name)
	if !found {
		http.Error(w, "the build does not change this file", http.StatusNotFound)
		return nil, review.File{}, 0, false
	}
	return rev, f, n, true
}

// serveFile answers with a side of f, with headers that keep whatever it
// holds from acting in refbot's origin.
func (p *Pages) serveFile(w http.ResponseWriter, r *http.Request, n int, f review.File, b []byte, err error, cache string) {
	switch {
	case errors.Is(err, refdata.ErrTooLarge):
		http.Error(w, fmt.Sprintf("larger than refbot serves (%d bytes)", maxServed), http.StatusRequestEntityTooLarge)
		return
	case errors.Is(err, review.ErrNoSuchSide):
		http.Error(w, "the build does not change this file", http.StatusNotFound)
		return
	case err != nil:
		p.o.Logger.Warn("page: read a file", zap.Int("pr", n), zap.String("path", f.Path), zap.Error(err))
		http.Error(w, "the file could not be read just now", http.StatusServiceUnavailable)
		return
	case int64(len(b)) > maxServed:
		http.Error(w, fmt.Sprintf("larger than refbot serves (%d bytes)", maxServed), http.StatusRequestEntityTooLarge)
		return
	}
	h := w.Header()
	safeHeaders(h)
	ct := contentType(f)
	h.Set("Content-Type", ct)
	if ct == "application/octet-stream" {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(f.Path)}))
	}
	h.Set("Cache-Control", cache)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// imageError answers a failed difference image or thumbnail.
func (p *Pages) imageError(w http.ResponseWriter, n int, name string, err error) {
	switch {
	case errors.Is(err, refdata.ErrTooLarge) || errors.Is(err, imgdiff.ErrTooLarge) || errors.Is(err, s3cache.ErrTooLarge):
		http.Error(w, "the image is larger than refbot compares", http.StatusRequestEntityTooLarge)
	case errors.Is(err, review.ErrUploadedAgain):
		http.Error(w, "the build was uploaded again since: this image is not in it any more", http.StatusNotFound)
	case errors.Is(err, review.ErrNoSuchSide) || s3cache.Unusable(err):
		// Pruned, not the PR's, or no such image in it.
		http.Error(w, "no such image in the build", http.StatusNotFound)
	case errors.Is(err, imgdiff.ErrUnsupported):
		http.Error(w, "refbot cannot read this image", http.StatusUnprocessableEntity)
	default:
		p.o.Logger.Warn("page: image difference", zap.Int("pr", n), zap.String("path", name), zap.Error(err))
		http.Error(w, "the difference could not be computed just now", http.StatusServiceUnavailable)
	}
}

func servePNG(w http.ResponseWriter, b []byte, cache string) {
	h := w.Header()
	safeHeaders(h)
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", cache)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func safeHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", rawCSP)
}

// contentType is the type f is served as: one of a few that browsers
// show without running anything, given the CSP; anything else is a
// download.
func contentType(f review.File) string {
	switch strings.ToLower(path.Ext(f.Path)) {
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".gif":
		return "image/gif"
	case ".svg":
		return "image/svg+xml"
	}
	if f.Kind == review.KindText {
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// against is the comparison the query asks for.
func against(q url.Values) review.Against {
	if q.Get("against") == string(review.AgainstBase) {
		return review.AgainstBase
	}
	return review.AgainstBranch
}

// againstQuery is the query of a raw route's link: the comparison when it
// is with the base, and the contents of the sides it was made for.
func againstQuery(base bool, old, new string) string {
	q := url.Values{}
	if base {
		q.Set("against", string(review.AgainstBase))
	}
	if old != "" {
		q.Set("old", old)
	}
	if new != "" {
		q.Set("new", new)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// pageURL is the link to PR n's page with q's parameters but key set to
// value ("" drops it); a new filter or comparison starts at page 1.
func pageURL(n int, q url.Values, key, value string) string {
	c := url.Values{}
	for _, k := range []string{"against", "kind", "action", "page"} {
		if v := q.Get(k); v != "" {
			c.Set(k, v)
		}
	}
	if key != "page" {
		c.Del("page")
	}
	if value == "" {
		c.Del(key)
	} else {
		c.Set(key, value)
	}
	u := strconv.Itoa(n)
	if len(c) > 0 {
		u += "?" + c.Encode()
	}
	return u + "#review"
}

// escapePath escapes each element of a slash path for a URL.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// size says a size in bytes for people; -1 is unknown.
func size(n int64) string {
	switch {
	case n < 0:
		return "—"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// share says which part of an image's pixels changed, never rounding a
// change to nothing.
func share(d *review.ImageDiff) string {
	pct := d.Share * 100
	switch {
	case d.Identical || d.Changed == 0:
		return "0 %"
	case pct < 0.01:
		return "< 0.01 %"
	case pct > 99.99 && d.Changed < d.Total:
		return "> 99.99 %"
	}
	return strconv.FormatFloat(math.Round(pct*100)/100, 'f', 2, 64) + " %"
}

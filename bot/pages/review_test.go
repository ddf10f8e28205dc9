package pages

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/bot/review"
	"github.com/refbot/refbot/internal/imgdiff"
	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/refdata"
	"github.com/refbot/refbot/s3cache"
)

// fakeReviewer answers with fixed reviews and contents, and records what
// the pages ask.
type fakeReviewer struct {
	reviews map[review.Against]*review.Review
	err     error
	old     map[string][]byte // by blob id
	new     map[string][]byte // by path
	diffs   map[string]*review.ImageDiff
	// pending images are left out of ImageDiffs' answer, as if not done
	// in time.
	pending map[string]bool

	mu        sync.Mutex
	diffCalls [][]string // the paths of each ImageDiffs call
}

func (f *fakeReviewer) Review(_ context.Context, pr int, against review.Against) (*review.Review, error) {
	if f.err != nil {
		return nil, f.err
	}
	rev := f.reviews[against]
	if rev == nil || rev.PR != pr {
		return nil, review.ErrNoHead
	}
	return rev, nil
}

func (f *fakeReviewer) ReadOld(_ context.Context, file review.File, max int64) ([]byte, error) {
	b, ok := f.old[file.Old]
	if !ok {
		return nil, review.ErrNoSuchSide
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("blob %s: %w", file.Old, refdata.ErrTooLarge)
	}
	return b, nil
}

func (f *fakeReviewer) ReadNew(_ context.Context, _ *review.Review, file review.File, max int64) ([]byte, error) {
	b, ok := f.new[file.Path]
	if !ok {
		return nil, review.ErrNoSuchSide
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w", file.Path, refdata.ErrTooLarge)
	}
	return b, nil
}

func (f *fakeReviewer) ImageDiff(_ context.Context, _ *review.Review, file review.File) (*review.ImageDiff, error) {
	if d := f.diffs[file.Path]; d != nil {
		return d, nil
	}
	return nil, fmt.Errorf("decode %s: not an image", file.Path)
}

func (f *fakeReviewer) ImageDiffs(_ context.Context, _ *review.Review, files []review.File) map[string]*review.ImageDiff {
	f.mu.Lock()
	defer f.mu.Unlock()
	var paths []string
	got := map[string]*review.ImageDiff{}
	for _, file := range files {
		paths = append(paths, file.Path)
		if d := f.diffs[file.Path]; d != nil && !f.pending[file.Path] {
			got[file.Path] = d
		}
	}
	f.diffCalls = append(f.diffCalls, paths)
	return got
}

func (f *fakeReviewer) ThumbnailOf(_ context.Context, pr int, id, p, old, nw string) ([]byte, bool, error) {
	switch {
	case id == "gone":
		return nil, false, fmt.Errorf("build %s: %w", id, s3cache.ErrNotFound)
	case strings.HasSuffix(p, ".txt"):
		return nil, false, fmt.Errorf("%s: %w", p, review.ErrNoSuchSide)
	case p == "bad.png":
		return nil, false, fmt.Errorf("%s: %w", p, imgdiff.ErrUnsupported)
	case nw != "" && nw != blobID("new "+p):
		return nil, false, fmt.Errorf("%s: %w", p, review.ErrUploadedAgain)
	}
	return fmt.Appendf(nil, "thumb of #%d %s %s against %q", pr, id, p, old), nw != "", nil
}

func (f *fakeReviewer) ThumbnailByIDs(_ context.Context, old, new string) ([]byte, error) {
	return []byte("thumb of " + old + "-" + new), nil
}

// blobID is a made-up git blob id.
func blobID(s string) string { return fmt.Sprintf("%x", sha1.Sum([]byte(s))) }

const (
	reviewHead  = "0123456789abcdef0123456789abcdef01234567"
	reviewBuild = "1001"
)

// newReview is a review of PR 12 listing files, with totals and folders
// worked out as the review package does.
func newReview(files ...review.File) *review.Review {
	rev := &review.Review{PR: 12, Head: reviewHead, Build: reviewBuild, BuildTime: time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC),
		Variants: []string{""}, Against: "PR12", AgainstCommit: strings.Repeat("c", 40), AgainstBuild: "998", Unchanged: 40}
	slices.SortFunc(files, func(a, b review.File) int { return strings.Compare(a.Path, b.Path) })
	folders := map[string]*review.Folder{}
	var order []string
	for i := range files {
		f := &files[i]
		f.Folder = ""
		if i := strings.LastIndex(f.Path, "/"); i >= 0 {
			f.Folder = f.Path[:i]
		}
		d := folders[f.Folder]
		if d == nil {
			d = &review.Folder{Path: f.Folder}
			folders[f.Folder] = d
			order = append(order, f.Folder)
		}
		switch f.Action {
		case review.Added:
			rev.Added++
			d.Added++
		case review.Changed:
			rev.Changed++
			d.Changed++
		case review.Removed:
			rev.Removed++
			d.Removed++
		}
		d.OldBytes += max(f.OldSize, 0)
		d.NewBytes += f.NewSize
	}
	slices.Sort(order)
	for _, p := range order {
		rev.Folders = append(rev.Folders, *folders[p])
	}
	rev.Files = files
	return rev
}

func changed(p string, kind review.Kind) review.File {
	return review.File{Path: p, Action: review.Changed, Kind: kind, Old: blobID("old " + p), New: blobID("new " + p),
		OldSize: 2048, NewSize: 3072}
}

func added(p string, kind review.Kind) review.File {
	return review.File{Path: p, Action: review.Added, Kind: kind, New: blobID("new " + p), NewSize: 100}
}

func removed(p string, kind review.Kind) review.File {
	return review.File{Path: p, Action: review.Removed, Kind: kind, Old: blobID("old " + p), OldSize: -1}
}

func reviewPages(r *fakeReviewer, head string) *Pages {
	o := Options{Repo: "o/r", BaseBranch: "master", Branches: branches{}, Jobs: jobs{},
		Known: func(context.Context, int) (bool, error) { return true, nil }, Reviewer: r}
	if head != "" {
		o.Head = func(context.Context, int) (string, error) { return head, nil }
	}
	return New(o)
}

func fetch(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func mustLack(t *testing.T, body string, lacks ...string) {
	t.Helper()
	for _, lack := range lacks {
		if strings.Contains(body, lack) {
			t.Errorf("page shows %q", lack)
		}
	}
}

func TestReviewHeader(t *testing.T) {
	r := &fakeReviewer{reviews: map[review.Against]*review.Review{
		review.AgainstBranch: newReview(changed("plots/a.png", review.KindImage), added("plots/b.png", review.KindImage),
			added("tables/t.csv", review.KindText), removed("tables/old.csv", review.KindText), changed("top.bin", review.KindOther)),
	}}
	r.reviews[review.AgainstBranch].Folders[1].OldBytes = 5 << 20 // plots, after the top
	w := fetch(t, reviewPages(r, reviewHead), "/pr/12")
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	mustContain(t, body,
		"Build <code>1001</code>, uploaded 2026-11-23 09:30 UTC",
		`tested head <code title="`+reviewHead+`">0123456789ab</code>`,
		"this pull request's data branch <code>PR12</code> at <code title=\""+strings.Repeat("c", 40)+`">cccccccccccc</code> (<code>Refbot-Build: 998</code>)`,
		"<strong>2</strong> added, <strong>2</strong> changed, <strong>1</strong> removed, <strong>40</strong> unchanged",
		`<a href="12?against=base#review">Compare with the base branch instead</a>`,
		// The folder table: counts and sizes.
		"<tr><td><code>plots</code></td><td>1</td><td>1</td><td>0</td><td>5.0 MiB</td><td>3.1 KiB</td></tr>",
		"<tr><td><code>tables</code></td><td>1</td><td>0</td><td>1</td><td>0 B</td><td>100 B</td></tr>",
		"<tr><td><code>(top)</code></td>",
		// The copy box names the head the build tested.
		`<input type="text" id="rv-command" readonly value="BUILDBOT: UPDATE `+reviewHead+`"`,
		"bound to head <code",
		// An unknown old size.
		"old —",
	)
	mustLack(t, body, "rv-newer-head", "holds this build already")

	// The head moved since the build.
	newer := "fedcba9876543210fedcba9876543210fedcba98"
	body = fetch(t, reviewPages(r, newer), "/pr/12").Body.String()
	mustContain(t, body, `id="rv-newer-head"`, `head is now <code title="`+newer+`">fedcba987654</code>`,
		"an UPDATE of <code>0123456789ab</code> would be refused",
		// The command stays that of the build's head.
		`value="BUILDBOT: UPDATE `+reviewHead+`"`)

	// Compared with the base, as asked; a data branch holding the build.
	base := newReview(changed("plots/a.png", review.KindImage))
	base.Against, base.AgainstBuild = "master", ""
	held := newReview()
	held.Holds = true
	r.reviews = map[review.Against]*review.Review{review.AgainstBranch: held, review.AgainstBase: base}
	body = fetch(t, reviewPages(r, ""), "/pr/12?against=base").Body.String()
	mustContain(t, body, "the base branch <code>master</code>", `as asked: <a href="12#review">compare with the data branch</a>`)
	mustLack(t, body, "Refbot-Build:", ": this pull request has no data branch")
	body = fetch(t, reviewPages(r, ""), "/pr/12").Body.String()
	mustContain(t, body, `The data branch holds this build already: <a href="12?against=base#review">compare with the base</a>`)

	// No data branch: the base, said so.
	base.AgainstCommit = ""
	r.reviews = map[review.Against]*review.Review{review.AgainstBranch: base}
	body = fetch(t, reviewPages(r, ""), "/pr/12").Body.String()
	mustContain(t, body, "the base branch <code>master</code>: this pull request has no data branch")
}

func TestReviewErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"no build", fmt.Errorf("build of %s: %w", reviewHead, review.ErrNoBuild), "no complete build of this pull request&#39;s head"},
		{"no head", review.ErrNoHead, "knows no head"},
		{"slow", context.DeadlineExceeded, "being computed: reload"},
		{"broken", fmt.Errorf("read s3://secret-bucket: token xyz"), "could not be computed just now"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := fetch(t, reviewPages(&fakeReviewer{err: c.err}, ""), "/pr/12")
			if w.Code != 200 {
				t.Errorf("status %d, want 200: the rest of the page is shown", w.Code)
			}
			body := w.Body.String()
			mustContain(t, body, c.want, "refbot's jobs for this pull request")
			mustLack(t, body, "secret-bucket", "rv-command")
		})
	}
	// Without a Reviewer there is no section.
	body := fetch(t, New(Options{Repo: "o/r", Branches: branches{}, Jobs: jobs{},
		Known: func(context.Context, int) (bool, error) { return true, nil }}), "/pr/12").Body.String()
	mustLack(t, body, `id="review"`)
}

// pageFiles are the paths of the files a review page shows.
var pageFilePattern = regexp.MustCompile(`<article class="rv-file[^"]*" data-path="([^"]*)"`)

func pageFiles(body string) []string {
	var paths []string
	for _, m := range pageFilePattern.FindAllStringSubmatch(body, -1) {
		paths = append(paths, html.UnescapeString(m[1]))
	}
	return paths
}

// articles are the page's files' sections, by path.
func articles(body string) map[string]string {
	sections := map[string]string{}
	for _, part := range strings.Split(body, "<article")[1:] {
		if m := regexp.MustCompile(`data-path="([^"]*)"`).FindStringSubmatch(part); m != nil {
			sections[html.UnescapeString(m[1])] = part
		}
	}
	return sections
}

func TestReviewPagination(t *testing.T) {
	var files []review.File
	for i := range 40 {
		files = append(files, changed(fmt.Sprintf("img/%02d.png", i), review.KindImage))
	}
	for i := range 12 {
		files = append(files, added(fmt.Sprintf("txt/%02d.txt", i), review.KindText))
	}
	files = append(files, removed("txt/gone.txt", review.KindText), changed("data.bin", review.KindOther))
	r := &fakeReviewer{reviews: map[review.Against]*review.Review{review.AgainstBranch: newReview(files...),
		review.AgainstBase: newReview(files...)}, diffs: map[string]*review.ImageDiff{}}
	h := reviewPages(r, "")
	rev := r.reviews[review.AgainstBranch]
	paths := func(from, to int) []string {
		var p []string
		for _, f := range rev.Files[from:to] {
			p = append(p, f.Path)
		}
		return p
	}

	for _, c := range []struct {
		name, url  string
		want       []string
		prev, next string
		says       string
	}{
		{"first page", "/pr/12", paths(0, 25), "", `href="12?page=2#review" rel="next"`, "Files 1–25 of 54, page 1 of 3."},
		{"last page", "/pr/12?page=3", paths(50, 54), `href="12?page=2#review" rel="prev"`, "", "Files 51–54 of 54, page 3 of 3."},
		{"past the end", "/pr/12?page=99", paths(50, 54), `href="12?page=2#review" rel="prev"`, "", "page 3 of 3"},
		{"not a number", "/pr/12?page=x", paths(0, 25), "", `href="12?page=2#review" rel="next"`, "page 1 of 3"},
		{"images, page 2, against the base", "/pr/12?kind=image&page=2&against=base", paths(26, 41),
			`href="12?against=base&amp;kind=image&amp;page=1#review" rel="prev"`, "", "Files 26–40 of 40, page 2 of 2."},
		{"added text", "/pr/12?kind=text&action=added", paths(41, 53), "", "", "Files 1–12 of 12, page 1 of 1."},
		{"removed", "/pr/12?action=removed", []string{"txt/gone.txt"}, "", "", "Files 1–1 of 1"},
		{"nothing matches", "/pr/12?kind=other&action=added", nil, "", "", "No file matches these filters."},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := fetch(t, h, c.url)
			body := w.Body.String()
			if diff := cmp.Diff(c.want, pageFiles(body)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			mustContain(t, body, c.says)
			for _, l := range []struct{ want, rel string }{{c.prev, `rel="prev"`}, {c.next, `rel="next"`}} {
				if l.want != "" {
					mustContain(t, body, l.want)
				} else if strings.Contains(body, l.rel) {
					t.Errorf("page links a %s page", l.rel)
				}
			}
		})
	}

	// Filter links keep the other parameters and start at page 1.
	body := fetch(t, h, "/pr/12?kind=image&page=2&against=base").Body.String()
	mustContain(t, body,
		`<a href="12?action=removed&amp;against=base&amp;kind=image#review">removed</a>`,
		`<a href="12?against=base#review">all</a>`,
		`<a href="12?against=base&amp;kind=image#review" aria-current="true">image</a>`,
		`<a href="12?against=base&amp;kind=text#review">text</a>`)

	// The page's images are compared in one call: only the page's
	// changed ones.
	r.diffCalls = nil
	fetch(t, h, "/pr/12?page=2")
	if diff := cmp.Diff([][]string{paths(25, 41)}, r.diffCalls); diff != "" {
		t.Errorf("ImageDiffs calls (-want +got):\n%s", diff)
	}
	r.diffCalls = nil
	fetch(t, h, "/pr/12?kind=text")
	if len(r.diffCalls) != 0 {
		t.Errorf("ImageDiffs called for a page without images: %v", r.diffCalls)
	}
}

func TestReviewImages(t *testing.T) {
	files := []review.File{changed("p/changed.png", review.KindImage), changed("p/same.png", review.KindImage),
		changed("p/slow.png", review.KindImage), added("p/new.svg", review.KindImage), removed("p/gone.jpg", review.KindImage)}
	r := &fakeReviewer{reviews: map[review.Against]*review.Review{review.AgainstBranch: newReview(files...)},
		diffs: map[string]*review.ImageDiff{
			"p/changed.png": {OldWidth: 10, OldHeight: 10, NewWidth: 10, NewHeight: 10, Changed: 31, Total: 10000, Share: 0.0031, PNG: []byte("diff")},
			"p/same.png":    {OldWidth: 10, OldHeight: 10, NewWidth: 10, NewHeight: 10, Total: 100, Identical: true},
			"p/slow.png":    {Changed: 1, Total: 2, Share: .5, PNG: []byte("diff")},
		},
		pending: map[string]bool{"p/slow.png": true}}
	sections := articles(fetch(t, reviewPages(r, ""), "/pr/12").Body.String())
	old := func(p string) string { return "12/old/" + blobID("old "+p) }
	newSide := func(p string) string { return "12/new/1001/" + p + "?new=" + blobID("new "+p) }
	mustContain(t, sections["p/changed.png"], "0.31 % of pixels changed (31 of 10000)",
		`src="`+old("p/changed.png")+`"`, `src="`+newSide("p/changed.png")+`"`,
		`class="rv-diff" src="12/diff/1001/p/changed.png?new=`+blobID("new p/changed.png")+`&amp;old=`+blobID("old p/changed.png")+`"`,
		`class="rv-slider"`, `class="rv-toggle"`, `class="rv-new" src="`+newSide("p/changed.png")+`"`)
	mustLack(t, sections["p/changed.png"], "ooks identical")
	mustContain(t, sections["p/same.png"], "Looks identical (bytes differ)")
	mustLack(t, sections["p/same.png"], "rv-diff", "/diff/", "of pixels changed")
	// Not done in time: said, and its image still loads from the route.
	mustContain(t, sections["p/slow.png"], "Difference being computed — reload", `class="rv-diff" src="12/diff/1001/p/slow.png?new=`)
	mustLack(t, sections["p/slow.png"], "of pixels changed")
	mustContain(t, sections["p/new.svg"], `src="`+newSide("p/new.svg")+`"`, "new 100 B")
	mustLack(t, sections["p/new.svg"], "/old/", "/diff/", "rv-slider")
	mustContain(t, sections["p/gone.jpg"], `src="`+old("p/gone.jpg")+`"`, "old —")
	mustLack(t, sections["p/gone.jpg"], "/new/", "/diff/", "rv-slider")
}

func TestReviewText(t *testing.T) {
	var files []review.File
	r := &fakeReviewer{old: map[string][]byte{}, new: map[string][]byte{}}
	for i := range 5 {
		f := changed(fmt.Sprintf("t/%d.json", i), review.KindText)
		f.OldSize, f.NewSize = -1, 20
		r.old[f.Old] = fmt.Appendf(nil, `{"v": %d, "s": "<b>old</b>"}`, i)
		r.new[f.Path] = fmt.Appendf(nil, `{"s": "<b>old</b>", "v": %d}`, i+1)
		files = append(files, f)
	}
	csvFile := changed("t/table.csv", review.KindText)
	r.old[csvFile.Old] = []byte("name,value\nalpha,1\nbeta,2\n")
	r.new[csvFile.Path] = []byte("name,value\nalpha,1\nbeta,3\n")
	bin := added("t/blob.dat", review.KindText)
	r.new[bin.Path] = []byte("\x00\x01binary")
	big := changed("t/big.csv", review.KindText)
	big.NewSize = 1 << 20
	// An old side of unknown size, too large when read.
	bigOld := changed("t/bigold.csv", review.KindText)
	bigOld.OldSize, bigOld.NewSize = -1, 10
	r.old[bigOld.Old] = make([]byte, maxTextShown+10)
	r.new[bigOld.Path] = []byte("a,b\n")
	files = append(files, csvFile, bin, big, bigOld)
	r.reviews = map[review.Against]*review.Review{review.AgainstBranch: newReview(files...)}
	body := fetch(t, reviewPages(r, ""), "/pr/12?kind=text").Body.String()
	if n := strings.Count(body, `<details class="rv-text-diff" open>`); n != openTextDiffs {
		t.Errorf("%d text diffs open, want %d", n, openTextDiffs)
	}
	// Six diffs shown: five JSON files and the CSV.
	if n := strings.Count(body, `<details class="rv-text-diff">`); n != 6-openTextDiffs {
		t.Errorf("%d text diffs folded, want %d", n, 6-openTextDiffs)
	}
	mustContain(t, body,
		// JSON compared in canonical form: only the value changed.
		"<summary>diff (json)",
		`<tr class="rv-line-del"><td class="num">3</td><td class="num"></td><td><code>-  &#34;v&#34;: <mark>0</mark></code></td></tr>`,
		`<tr class="rv-line-add"><td class="num"></td><td class="num">3</td><td><code>+  &#34;v&#34;: <mark>1</mark></code></td></tr>`,
		"&lt;b&gt;old&lt;/b&gt;",
		// CSV: the changed cell.
		"<summary>diff (csv)", "<th>name</th><th>value</th>", `<td class="rv-cell-changed"><del>2</del><ins>3</ins></td>`,
		"Not a UTF-8 text file",
		"Too large to show, 1048576 bytes.", fmt.Sprintf("Too large to show, %d bytes.", maxTextShown+1))
	mustLack(t, body, "<b>old</b>", `&#34;s&#34;: &#34;&lt;b&gt;old&lt;/b&gt;&#34;</code></td></tr>`+"\n"+`<tr class="rv-line-add">`)
}

// hostile are file names that try to break out of the page's text,
// attributes and URLs.
var hostile = []review.File{
	changed(`x/<img src=x onerror=alert(1)>.png`, review.KindImage),
	added(`x/a"b'c d.txt`, review.KindText),
	added(`x/?#%&.png`, review.KindImage),
	removed(`x/javascript:alert(2).svg`, review.KindImage),
}

func TestReviewEscaping(t *testing.T) {
	r := &fakeReviewer{reviews: map[review.Against]*review.Review{review.AgainstBranch: newReview(hostile...)},
		old: map[string][]byte{}, new: map[string][]byte{}, diffs: map[string]*review.ImageDiff{}}
	for _, f := range hostile {
		r.old[f.Old] = []byte("old " + f.Path)
		r.new[f.Path] = []byte("new " + f.Path + " <script>alert(3)</script>")
	}
	h := reviewPages(r, "")
	body := fetch(t, h, "/pr/12").Body.String()
	mustLack(t, body, "<img src=x", "<script>alert", `a"b'c`)
	mustContain(t, body,
		"<code>x/&lt;img src=x onerror=alert(1)&gt;.png</code>",
		`src="12/new/1001/x/%3Cimg%20src=x%20onerror=alert%281%29%3E.png?new=`+blobID("new x/<img src=x onerror=alert(1)>.png")+`"`,
		"<code>x/a&#34;b&#39;c d.txt</code>",
		`src="12/new/1001/x/%3F%23%25&amp;.png?new=`+blobID("new x/?#%&.png")+`"`,
		"&lt;script&gt;alert(3)&lt;/script&gt;")

	// Every link of the page to a file serves that file, whether the
	// page compares with the data branch or (another review, here with
	// the same files) the base.
	r.reviews[review.AgainstBase] = r.reviews[review.AgainstBranch]
	for _, page := range []string{"/pr/12", "/pr/12?against=base"} {
		body := fetch(t, h, page).Body.String()
		links := regexp.MustCompile(`(?:src|href)="(12/(?:new|old)/[^"]*)"`).FindAllStringSubmatch(body, -1)
		seen := map[string]bool{}
		for _, l := range links {
			u := strings.ReplaceAll(l[1], "&amp;", "&")
			if seen[u] {
				continue
			}
			seen[u] = true
			if strings.Contains(page, "against=base") != strings.Contains(u, "against=base") {
				t.Errorf("%s links %s", page, u)
			}
			w := fetch(t, h, "/pr/"+u)
			if w.Code != 200 {
				t.Errorf("%s: %s: status %d", page, u, w.Code)
				continue
			}
			if !strings.HasPrefix(w.Body.String(), "old x/") && !strings.HasPrefix(w.Body.String(), "new x/") {
				t.Errorf("%s: %s served %q", page, u, w.Body.String())
			}
		}
		if len(seen) != 5 {
			t.Errorf("%s: %d distinct file links, want 5: %v", page, len(seen), seen)
		}
	}
}

func TestRawRoutes(t *testing.T) {
	svg := added("p/evil.svg", review.KindImage)
	files := []review.File{changed("p/a.png", review.KindImage), changed("p/b.JPG", review.KindImage),
		changed("p/same.png", review.KindImage), svg, added("t/page.html", review.KindText), added(`o/x"y.bin`, review.KindOther),
		removed("p/gone.gif", review.KindImage)}
	r := &fakeReviewer{reviews: map[review.Against]*review.Review{review.AgainstBranch: newReview(files...)},
		old: map[string][]byte{}, new: map[string][]byte{},
		diffs: map[string]*review.ImageDiff{"p/a.png": {Changed: 1, Total: 4, Share: .25, PNG: []byte("\x89PNG diff")},
			"p/same.png": {Total: 4, Identical: true}}}
	for _, f := range files {
		r.old[f.Old] = []byte("old " + f.Path)
		r.new[f.Path] = []byte("new " + f.Path)
	}
	r.new[svg.Path] = []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>document.title="pwned"</script></svg>`)
	h := reviewPages(r, "")
	aOld, aNew := blobID("old p/a.png"), blobID("new p/a.png")

	for _, c := range []struct {
		name, url string
		code      int
		body      string
		headers   map[string]string
	}{
		{"png", "/pr/12/new/1001/p/a.png", 200, "new p/a.png", map[string]string{"Content-Type": "image/png", "Cache-Control": "no-cache"}},
		{"png named by its content", "/pr/12/new/1001/p/a.png?new=" + aNew, 200, "new p/a.png", map[string]string{"Cache-Control": immutable}},
		{"png uploaded again since", "/pr/12/new/1001/p/a.png?new=" + blobID("earlier upload"), 404, "uploaded again", nil},
		{"jpeg by any case", "/pr/12/new/1001/p/b.JPG", 200, "new p/b.JPG", map[string]string{"Content-Type": "image/jpeg"}},
		{"svg", "/pr/12/new/1001/p/evil.svg", 200, "<svg", map[string]string{"Content-Type": "image/svg+xml"}},
		{"html as text", "/pr/12/new/1001/t/page.html", 200, "new t/page.html", map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{"other: a download", "/pr/12/new/1001/o/x%22y.bin", 200, `new o/x"y.bin`, map[string]string{"Content-Type": "application/octet-stream",
			"Content-Disposition": `attachment; filename="x\"y.bin"`}},
		{"old side", "/pr/12/old/" + aOld, 200, "old p/a.png", map[string]string{"Content-Type": "image/png", "Cache-Control": immutable}},
		{"removed file's old side", "/pr/12/old/" + blobID("old p/gone.gif"), 200, "old p/gone.gif", map[string]string{"Content-Type": "image/gif"}},
		{"diff", "/pr/12/diff/1001/p/a.png?old=" + aOld + "&new=" + aNew, 200, "\x89PNG diff", map[string]string{"Content-Type": "image/png", "Cache-Control": immutable}},
		{"diff naming the old side only", "/pr/12/diff/1001/p/a.png?old=" + aOld, 200, "\x89PNG diff", map[string]string{"Cache-Control": "no-cache"}},
		{"diff of a build uploaded again since", "/pr/12/diff/1001/p/a.png?old=" + aOld + "&new=" + blobID("earlier upload"), 404, "uploaded again", nil},
		{"diff of the current old side", "/pr/12/diff/1001/p/a.png", 200, "\x89PNG diff", map[string]string{"Cache-Control": "no-cache"}},
		{"thumb", "/pr/12/thumb/1001/p/a.png?old=" + aOld + "&new=" + aNew, 200, "thumb of #12 1001 p/a.png against \"" + aOld + "\"",
			map[string]string{"Content-Type": "image/png", "Cache-Control": immutable}},
		{"thumb not naming its new side", "/pr/12/thumb/1001/p/a.png?old=" + aOld, 200, "thumb of #12 1001 p/a.png", map[string]string{"Cache-Control": "no-cache"}},
		{"thumb of a build uploaded again since", "/pr/12/thumb/1001/p/a.png?old=" + aOld + "&new=" + blobID("earlier upload"), 404, "uploaded again", nil},
		{"thumb with a bad new", "/pr/12/thumb/1001/p/a.png?new=xyz", 400, "?new=", nil},
		{"thumb of an older build, added", "/pr/12/thumb/900/p/%3Cb%3E.png", 200, "thumb of #12 900 p/<b>.png against \"\"", nil},
		{"thumb by ids", "/thumb/" + aOld + "-" + blobID("x") + ".png", 200, "thumb of " + aOld + "-" + blobID("x"),
			map[string]string{"Content-Type": "image/png", "Cache-Control": immutable}},
		{"thumb of an added image by id", "/thumb/-" + blobID("x") + ".png", 200, "thumb of -" + blobID("x"), nil},

		{"a newer build", "/pr/12/new/1000/p/a.png", 404, "a newer build replaced it", nil},
		{"a newer build's diff", "/pr/12/diff/1000/p/a.png", 404, "a newer build replaced it", nil},
		{"not in the review", "/pr/12/new/1001/p/zzz.png", 404, "does not change this file", nil},
		{"removed has no new side", "/pr/12/new/1001/p/gone.gif", 404, "removes", nil},
		{"old moved", "/pr/12/diff/1001/p/a.png?old=" + blobID("other"), 404, "moved", nil},
		{"identical: no diff", "/pr/12/diff/1001/p/same.png", 404, "no pixel differs", nil},
		{"added: no diff", "/pr/12/diff/1001/p/evil.svg", 404, "only a changed image", nil},
		{"blob of no file", "/pr/12/old/" + blobID("nothing"), 404, "no file", nil},
		{"another PR", "/pr/13/new/1001/p/a.png", 404, "no build", nil},
		{"PR not a number", "/pr/x/new/1001/p/a.png", 404, "no such pull request", nil},
		{"short blob", "/pr/12/old/abc", 400, "not a git blob id", nil},
		{"upper-case blob", "/pr/12/old/" + strings.ToUpper(aOld), 400, "not a git blob id", nil},
		{"bad build id", "/pr/12/new/10%2001/p/a.png", 400, "not a build id", nil},
		{"dot-dot in path", "/pr/12/new/1001/p/%2E%2E/a.png", 400, "not a build id and a file path", nil},
		{"git metadata", "/pr/12/new/1001/.git/config", 400, "not a build id", nil},
		{"thumb of a pruned build", "/pr/12/thumb/gone/p/a.png", 404, "no such image", nil},
		{"thumb of a text file", "/pr/12/thumb/1001/t/page.txt", 404, "no such image", nil},
		{"thumb of a broken image", "/pr/12/thumb/1001/bad.png", 422, "cannot read", nil},
		{"thumb with a bad old", "/pr/12/thumb/1001/p/a.png?old=xyz", 400, "?old=", nil},
		{"thumb with a bad path", "/pr/12/thumb/1001/p/%2E%2E/a.png", 400, "file path", nil},
		{"thumb ids bad", "/thumb/" + aOld + ".png", 400, "OLD-NEW", nil},
		{"thumb ids empty", "/thumb/-.png", 400, "OLD-NEW", nil},
		{"thumb ids not png", "/thumb/" + aOld + "-" + aOld, 400, "OLD-NEW", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := fetch(t, h, c.url)
			if w.Code != c.code {
				t.Errorf("status %d, want %d (%s)", w.Code, c.code, w.Body.String())
			}
			if !strings.Contains(w.Body.String(), c.body) {
				t.Errorf("body %q lacks %q", w.Body.String(), c.body)
			}
			if c.code != 200 {
				return
			}
			for k, v := range c.headers {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			// Whatever a file says, it runs nothing in refbot's origin.
			if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if got := w.Header().Get("Content-Security-Policy"); got != rawCSP || !strings.HasSuffix(got, "; sandbox") {
				t.Errorf("Content-Security-Policy %q", got)
			}
		})
	}
}

func TestRawRoutesSizeCap(t *testing.T) {
	f := added("big.png", review.KindImage)
	r := &fakeReviewer{reviews: map[review.Against]*review.Review{review.AgainstBranch: newReview(f)},
		new: map[string][]byte{"big.png": make([]byte, maxServed+1)}}
	w := fetch(t, reviewPages(r, ""), "/pr/12/new/1001/big.png")
	if w.Code != http.StatusRequestEntityTooLarge || w.Body.Len() > 1000 {
		t.Errorf("status %d, %d bytes: a file over the cap is served", w.Code, w.Body.Len())
	}
}

func TestShare(t *testing.T) {
	for _, c := range []struct {
		d    review.ImageDiff
		want string
	}{
		{review.ImageDiff{Changed: 31, Total: 10000, Share: 0.0031}, "0.31 %"},
		{review.ImageDiff{Changed: 1, Total: 1 << 30, Share: 1.0 / (1 << 30)}, "< 0.01 %"},
		{review.ImageDiff{Changed: 1<<30 - 1, Total: 1 << 30, Share: 1 - 1.0/(1<<30)}, "> 99.99 %"},
		{review.ImageDiff{Changed: 4, Total: 4, Share: 1}, "100.00 %"},
		{review.ImageDiff{Total: 4, Identical: true}, "0 %"},
	} {
		if got := share(&c.d); got != c.want {
			t.Errorf("share of %d/%d: %q, want %q", c.d.Changed, c.d.Total, got, c.want)
		}
	}
}

// TestMain stops the MinIO server the integration tests start.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// The review package's Reviewer is what the pages need.
var _ Reviewer = (*review.Reviewer)(nil)

// TestReviewIntegration: the page and the file routes against the real
// parts: a build in MinIO compared with a data branch served by git
// http-backend.
func TestReviewIntegration(t *testing.T) {
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
	gs.CreateSeededRepo(t, "data.git", map[string]string{"README.md": "data\n", "data/keep.txt": "kept\n"})
	repo, err := refdata.Open(refdata.Options{URL: gs.URL("data.git"), Token: gs.Token, CacheDir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Branch(ctx, "master"); err != nil {
		t.Fatal(err)
	}
	const pr, headA, headB = 7, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	upload := func(build, commit string, files map[string]string) {
		t.Helper()
		if _, err := store.Upload(ctx, s3cache.UploadRequest{Build: build, Source: s3cache.Source{PR: pr}, Commit: commit,
			Dir: testenv.Tree(t, files)}); err != nil {
			t.Fatal(err)
		}
	}
	oldPNG, newPNG := plotPNG(t, false, png.DefaultCompression), plotPNG(t, true, png.DefaultCompression)
	hostileName := `plots/<img src=x onerror=alert(1)> "q".png`
	upload("2001", headA, map[string]string{"keep.txt": "kept\n", "plots/a.png": string(oldPNG), hostileName: string(oldPNG),
		"t/x.txt": "one\ntwo\n", "t/gone.txt": "bye\n"})
	// The data branch holds build 2001, as UPDATE makes it.
	if _, err := publish.Publish(ctx, store, repo, publish.Request{Build: "2001",
		Want: s3cache.Want{Source: s3cache.Source{PR: pr}, Commit: headA}, Branch: refdata.PRBranch(pr), WorkDir: t.TempDir(),
		Subject: "update", Trailers: refdata.Trailers{PR: pr, Build: "2001", Commit: headA}}); err != nil {
		t.Fatal(err)
	}
	upload("2002", headB, map[string]string{"keep.txt": "kept\n", "plots/a.png": string(newPNG),
		hostileName: string(plotPNG(t, false, png.NoCompression)), "plots/b.svg": evilSVG, "t/x.txt": "one\nthree\n"})
	rv := review.New(review.Options{Builds: store, Repo: repo, BaseBranch: "master",
		Head: func(context.Context, int) (string, error) { return headB, nil }})
	h := New(Options{Repo: "o/r", BaseBranch: "master", Branches: branches{}, Jobs: jobs{},
		Known: func(context.Context, int) (bool, error) { return true, nil }, Reviewer: rv,
		Head: func(context.Context, int) (string, error) { return headB, nil }})

	w := fetch(t, h, "/pr/7")
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	mustContain(t, body, "Build <code>2002</code>", "data branch <code>PR7</code>", "<code>Refbot-Build: 2001</code>",
		"<strong>1</strong> added, <strong>3</strong> changed, <strong>1</strong> removed, <strong>1</strong> unchanged",
		`value="BUILDBOT: UPDATE `+headB+`"`,
		// The text file's diff, read from git and S3.
		`<code>-t<mark>wo</mark></code>`, `<code>+t<mark>hree</mark></code>`,
		"<code>plots/&lt;img src=x onerror=alert(1)&gt; &#34;q&#34;.png</code>")
	mustLack(t, body, "<img src=x", "rv-newer-head")
	// The images' differences, computed by the Reviewer for the page.
	sections := articles(body)
	mustContain(t, sections["plots/a.png"], "3.26 % of pixels changed (100 of 3072)", `class="rv-diff"`)
	mustContain(t, sections[hostileName], "Looks identical (bytes differ)")
	mustLack(t, sections[hostileName], "rv-diff")
	if diff := cmp.Diff([]string{"plots/<img src=x onerror=alert(1)> \"q\".png", "plots/a.png", "plots/b.svg", "t/gone.txt", "t/x.txt"},
		pageFiles(body)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}

	// The page's links serve the sides' bytes, from git and from S3.
	rev, err := rv.Review(ctx, pr, review.AgainstBranch)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, side string
		want       []byte
	}{{"plots/a.png", "old", oldPNG}, {"plots/a.png", "new", newPNG}, {hostileName, "old", oldPNG}, {"plots/b.svg", "new", []byte(evilSVG)}} {
		f, _ := rev.File(c.path)
		link := "7/new/2002/" + escapePath(f.Path) + "?new=" + f.NewID()
		if c.side == "old" {
			link = "7/old/" + f.Old
		}
		if !strings.Contains(body, `src="`+link+`"`) {
			t.Errorf("the page does not show %s", link)
		}
		w := fetch(t, h, "/pr/"+link)
		if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), c.want) {
			t.Errorf("%s: status %d, %d bytes, want the %s side (%d bytes)", link, w.Code, w.Body.Len(), c.side, len(c.want))
		}
		if got := w.Header().Get("Content-Security-Policy"); got != rawCSP {
			t.Errorf("%s: CSP %q", link, got)
		}
	}
	a, _ := rev.File("plots/a.png")
	w = fetch(t, h, "/pr/7/diff/2002/plots/a.png?old="+a.Old)
	if img, err := png.Decode(bytes.NewReader(w.Body.Bytes())); w.Code != 200 || err != nil || img.Bounds().Dx() != 64 {
		t.Errorf("difference image: status %d, %v", w.Code, err)
	}
	w = fetch(t, h, "/pr/7/thumb/2002/plots/a.png?old="+a.Old)
	if _, err := png.Decode(bytes.NewReader(w.Body.Bytes())); w.Code != 200 || err != nil {
		t.Errorf("thumbnail: status %d, %v", w.Code, err)
	}
	// Build 2001 is no longer the review's.
	if w := fetch(t, h, "/pr/7/new/2001/plots/a.png"); w.Code != 404 || !strings.Contains(w.Body.String(), "a newer build replaced it") {
		t.Errorf("the older build's file: %d %q", w.Code, w.Body.String())
	}
}

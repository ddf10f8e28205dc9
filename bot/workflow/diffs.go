package workflow

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"path"
	"strings"
	"unicode/utf8"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/refdata"
)

// The limits of the text diffs in an UPDATE reply: a reviewer reads a few
// small files' diffs; the rest of a large change is in the file list, and
// a GitHub comment holds at most 65,536 characters.
const (
	maxDiffFileSize = 16 << 10 // either side of a file shown as a diff
	maxDiffs        = 10
	maxDiffLines    = 80 // per diff; the rest is cut
	maxDiffChars    = 24 << 10
	maxDiffFetch    = 1 << 20 // the pack of old and new contents
)

// fileDiff is a small text file's unified diff.
type fileDiff struct {
	Path  string
	Diff  string
	Fence string // longer than any run of backticks in Diff
	Cut   int    // lines left out
}

// binaryExts are never shown as text, whatever their size.
var binaryExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".webp": true, ".bmp": true,
	".tif": true, ".tiff": true, ".ico": true, ".pdf": true, ".gz": true, ".zip": true, ".bz2": true, ".xz": true,
	".zst": true, ".npy": true, ".npz": true, ".h5": true, ".hdf5": true, ".nc": true, ".fits": true, ".parquet": true}

// textDiffs returns the unified diffs of the small text files an update
// added or changed, in the order of the reply's file list. The contents
// come from the data repo after the push, both sides in one request. A
// failure to read them leaves the diffs out: the data is pushed, and the
// reply still lists every file.
func (b *Bot) textDiffs(ctx context.Context, res *publish.Result) []fileDiff {
	sizes := map[plumbing.Hash]int64{}
	if res.Build != nil {
		for _, m := range res.Build.Manifests {
			for _, f := range m.Files {
				if f.Git != "" {
					sizes[plumbing.NewHash(f.Git)] = f.Size
				}
			}
		}
	}
	var picked []refdata.Change
	var ids []plumbing.Hash
	for _, c := range res.Update.Changes {
		size, known := sizes[c.New]
		if len(picked) == maxDiffs || c.Action == refdata.Removed || !known || size > maxDiffFileSize ||
			binaryExts[strings.ToLower(path.Ext(c.Path))] {
			continue
		}
		picked = append(picked, c)
		ids = append(ids, c.New)
		if !c.Old.IsZero() {
			ids = append(ids, c.Old)
		}
	}
	if len(picked) == 0 {
		return nil
	}
	// Blobs leaves out any over maxDiffFileSize, whatever the manifest said.
	blobs, err := b.repo.Blobs(ctx, ids, maxDiffFileSize, maxDiffFetch)
	if errors.Is(err, refdata.ErrTooLarge) {
		// A large old version must not cost the other files their diffs:
		// ask file by file.
		blobs, err = map[plumbing.Hash][]byte{}, nil
		for _, c := range picked {
			got, ferr := b.repo.Blobs(ctx, []plumbing.Hash{c.Old, c.New}, maxDiffFileSize, maxDiffFetch)
			if ferr != nil && !errors.Is(ferr, refdata.ErrTooLarge) {
				err = ferr
				break
			}
			maps.Copy(blobs, got)
		}
	}
	if err != nil {
		b.logc(ctx).Warn("text diffs left out of the reply", zap.Error(err))
		return nil
	}
	var out []fileDiff
	chars := 0
	for _, c := range picked {
		after, ok := blobs[c.New]
		before, hadOld := blobs[c.Old]
		if !ok || (!c.Old.IsZero() && !hadOld) || !isText(before) || !isText(after) {
			continue
		}
		from := "a/" + c.Path
		if c.Old.IsZero() {
			from = "/dev/null"
		}
		d := unified(c.Path, from, string(before), string(after))
		if d.Diff == "" || chars+len(d.Diff) > maxDiffChars {
			continue
		}
		chars += len(d.Diff)
		out = append(out, d)
	}
	return out
}

// unified renders one file's diff, cut to maxDiffLines.
func unified(p, from, before, after string) fileDiff {
	text := udiff.Unified(from, "b/"+p, before, after)
	// The ---/+++ header repeats what the reply already names.
	lines := strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) >= 2 && strings.HasPrefix(lines[0], "--- ") && strings.HasPrefix(lines[1], "+++ ") {
		lines = lines[2:]
	}
	d := fileDiff{Path: p}
	if len(lines) > maxDiffLines {
		d.Cut = len(lines) - maxDiffLines
		lines = lines[:maxDiffLines]
	}
	d.Diff = strings.TrimSuffix(strings.Join(lines, ""), "\n")
	d.Fence = fence(d.Diff)
	return d
}

// fence is a code fence longer than any run of backticks in s.
func fence(s string) string { return strings.Repeat("`", max(3, longestBackticks(s)+1)) }

// longestBackticks is the longest run of backticks in s.
func longestBackticks(s string) int {
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// isText: valid UTF-8 with no NUL byte (what git also calls binary).
func isText(b []byte) bool {
	return !bytes.ContainsRune(b, 0) && utf8.Valid(b)
}

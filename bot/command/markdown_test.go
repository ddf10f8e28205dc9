package command

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// reference is goldmark as GitHub-like as it gets, without this package's
// changes: every inline parser, no depth limit, goldmark's own reader.
var reference = parser.NewParser(
	parser.WithBlockParsers(append(parser.DefaultBlockParsers(),
		util.Prioritized(extension.NewFootnoteBlockParser(), 999))...),
	parser.WithInlineParsers(parser.DefaultInlineParsers()...),
	parser.WithParagraphTransformers(append(parser.DefaultParagraphTransformers(),
		util.Prioritized(extension.NewTableParagraphTransformer(), 200))...),
)

// referenceLines are the line numbers that the reference parse lets stand on
// their own.
func referenceLines(src string) map[int]bool {
	set := map[int]bool{}
	for _, l := range linesOf(src, reference.Parse(text.NewReader([]byte(src)))) {
		set[l.number] = true
	}
	return set
}

// checkAgainstReference checks that every line this package lets stand on
// its own does so in the reference parse too: the narrower parser may hide
// more lines, never fewer. Comments with an inline link or a full reference
// link are left out: without the link parser a backtick or "<" inside a
// link's destination, title or label can pair differently (see markdown).
func checkAgainstReference(t *testing.T, src string) {
	t.Helper()
	if strings.Contains(src, "](") || strings.Contains(src, "][") {
		return
	}
	ref := referenceLines(src)
	for _, l := range standaloneLines(src) {
		if !ref[l.number] {
			t.Errorf("line %d %q stands on its own here but not in the reference parse of %q", l.number, l.text, src)
		}
	}
}

func TestAgainstReference(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			checkAgainstReference(t, normalizeNewlines(tc.body))
		})
	}
}

// TestBlockParsers checks that blockParsers are goldmark's defaults with the
// same priorities, so an upgrade of goldmark that adds one is noticed.
func TestBlockParsers(t *testing.T) {
	name := func(v util.PrioritizedValue) string {
		if d, ok := v.Value.(depthLimited); ok {
			return fmt.Sprintf("%d %s", v.Priority, reflect.TypeOf(d.BlockParser))
		}
		return fmt.Sprintf("%d %s", v.Priority, reflect.TypeOf(v.Value))
	}
	var want, got []string
	for _, v := range append(parser.DefaultBlockParsers(), util.Prioritized(extension.NewFootnoteBlockParser(), 999)) {
		want = append(want, name(v))
	}
	for _, v := range blockParsers() {
		got = append(got, name(v))
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("block parsers (-goldmark +ours):\n%s", diff)
	}
}

// checkingReader checks columnReader's LineOffset against goldmark's own
// at every call of a parse.
type checkingReader struct {
	*columnReader
	t *testing.T
}

func (r checkingReader) LineOffset() int {
	got, want := r.columnReader.LineOffset(), r.columnReader.Reader.LineOffset()
	if got != want {
		_, pos := r.Position()
		r.t.Errorf("LineOffset at %+v = %d, goldmark's reader says %d", pos, got, want)
	}
	return want
}

func checkColumns(t *testing.T, src string) {
	t.Helper()
	markdown.Parse(checkingReader{newColumnReader([]byte(src)), t})
}

func TestColumnReader(t *testing.T) {
	extra := []string{
		"\t> \tcode\n>\t\t- a\n \t  - b\n\n\t\tc",
		"- a\n\t- b\n\t\t- c\n\n\t\td",
		">\t>\t> x\n>\t>\ty",
		"1.\tone\n\n\ttwo\n\n  \t three",
		"```\n\tx\n```\n\t",
		"  - \t\n\t\n",
	}
	for i, src := range extra {
		t.Run(fmt.Sprint("extra ", i), func(t *testing.T) { checkColumns(t, src) })
	}
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) { checkColumns(t, normalizeNewlines(tc.body)) })
	}
}

// TestDepthLimitAgainstReference checks, on comments that nest around
// maxNesting deep, that the depth limit only ever hides lines.
func TestDepthLimitAgainstReference(t *testing.T) {
	markers := []string{">", "> ", "- ", "1. ", "* ", "  ", "\t", "[^a]: ", ">\t"}
	tails := []string{"```", "a", "    code", "<div>", "", "BUILDBOT: UPDATE", "---", "===", "`a", "<!--", "-->", "| a |\n| - |"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for i := range 3000 {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			depth := rng.IntN(2 * maxNesting)
			if rng.IntN(2) == 0 {
				depth = rng.IntN(4)
			}
			m := pick(markers)
			for range depth {
				if rng.IntN(4) == 0 {
					m = pick(markers)
				}
				b.WriteString(m)
			}
			b.WriteString(pick(tails))
			b.WriteString("\n")
			if rng.IntN(3) == 0 {
				b.WriteString("BUILDBOT: UPDATE\n")
			}
		}
		src := b.String()
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkAgainstReference(t, src) })
	}
}

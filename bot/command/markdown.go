package command

import (
	"sort"
	"strings"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// markdown finds the block structure of a comment the way GitHub lays it out,
// and the inlines that hide text from a command: code spans and raw HTML.
//
// Blocks are CommonMark's plus the two GitHub extensions that change which
// lines form a paragraph: tables and footnote definitions. Containers nest
// at most maxNesting deep (see depthLimited).
//
// Inlines are only those that decide where code spans and raw HTML are:
// code spans, autolinks and raw HTML, which CommonMark ranks above links and
// emphasis. Emphasis never changes them. Links change them only where a
// backtick or "<" sits inside an inline link's destination or title, or a
// reference link's label, which the link consumes; here that character is
// text and may pair with another, so such a comment can differ from
// GitHub's rendering in which lines are code. Leaving the link parser out
// is still the better trade: goldmark's is quadratic (32 KiB of "[a]("
// takes a quarter of a second, 64 KiB a second), while the difference
// needs a maintainer to put backticks in a URL and a command in code.
//
// The parser is safe for concurrent use: its set-up runs once, under a
// sync.Once, and each Parse has its own context.
var markdown = parser.NewParser(
	parser.WithBlockParsers(blockParsers()...),
	parser.WithInlineParsers(
		util.Prioritized(parser.NewCodeSpanParser(), 100),
		util.Prioritized(parser.NewAutoLinkParser(), 300),
		util.Prioritized(parser.NewRawHTMLParser(), 400)),
	parser.WithParagraphTransformers(append(parser.DefaultParagraphTransformers(),
		util.Prioritized(extension.NewTableParagraphTransformer(), 200))...),
)

// blockParsers are goldmark's defaults, with their priorities, and GitHub's
// footnote definitions; the containers are depth-limited.
// TestBlockParsers checks them against parser.DefaultBlockParsers.
func blockParsers() []util.PrioritizedValue {
	return []util.PrioritizedValue{
		util.Prioritized(parser.NewSetextHeadingParser(), 100),
		util.Prioritized(parser.NewThematicBreakParser(), 200),
		util.Prioritized(depthLimited{parser.NewListParser()}, 300),
		util.Prioritized(parser.NewListItemParser(), 400), // only inside a list
		util.Prioritized(parser.NewCodeBlockParser(), 500),
		util.Prioritized(parser.NewATXHeadingParser(), 600),
		util.Prioritized(parser.NewFencedCodeBlockParser(), 700),
		util.Prioritized(depthLimited{parser.NewBlockquoteParser()}, 800),
		util.Prioritized(parser.NewHTMLBlockParser(), 900),
		util.Prioritized(depthLimited{extension.NewFootnoteBlockParser()}, 999),
		util.Prioritized(parser.NewParagraphParser(), 1000),
	}
}

// maxNesting is how many blocks deep, the document included, a container
// (quote, list, list item, footnote) may open. Real comments nest a few
// levels; an email thread quoted in full perhaps ten.
const maxNesting = 32

// depthLimited refuses to open a container below maxNesting levels, so the
// rest of the line becomes paragraph text at that depth. goldmark checks
// every open container for every line, lazy continuation lines included,
// so 16,000 nested list items followed by 16,000 one-letter lines cost
// 16,000² steps (half a second for 64 KiB); with the limit a line costs at
// most maxNesting checks.
//
// Past the limit the parse differs from GitHub's, and only by keeping a
// paragraph open where GitHub would have deeper blocks: following lines
// that GitHub lays out inside those blocks or as top-level text may be
// read as lazy continuation lines here, which are never commands. So the
// limit can cost a command written after absurd nesting, but does not run
// one that GitHub buries; TestDepthLimitAgainstReference checks that on
// thousands of deeply nested comments against goldmark without the limit.
type depthLimited struct{ parser.BlockParser }

func (b depthLimited) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	line, pos := reader.Position()
	node, state := b.BlockParser.Open(parent, reader, pc)
	if node == nil || !deeperThan(parent, maxNesting-1) {
		return node, state
	}
	// Open ran, so that context keys it consumes (the list parser's
	// "skip" flag) are consumed as goldmark expects; undo its reading.
	// Advance(0) drops the reader's cached line, which SetPosition keeps.
	reader.SetPosition(line, pos)
	reader.Advance(0)
	return nil, parser.NoChildren
}

// deeperThan reports whether n has more than limit ancestors and itself.
func deeperThan(n ast.Node, limit int) bool {
	for d := 0; n != nil; n = n.Parent() {
		if d++; d > limit {
			return true
		}
	}
	return false
}

// columnReader is goldmark's source reader with a LineOffset that costs
// O(1). goldmark's own counts the columns from the start of the line at
// every call, and the block parsers call it for every container they open,
// so a line of 30,000 ">" (or list markers) costs 30,000² steps. This one
// looks the column up in a table made in one pass.
//
// It relies on what goldmark's reader does: the position's line head is
// the start of the source line holding it (goldmark moves the head only at
// a new line, and its block parsers set positions only within the current
// line), tabs advance to the next multiple of 4, and other bytes count one
// column each. TestColumnReader checks that against goldmark's reader.
type columnReader struct {
	text.Reader
	col []int32 // col[i] is the column of byte i within its line
}

func newColumnReader(src []byte) *columnReader {
	col := make([]int32, len(src)+1)
	var c int32
	for i, b := range src {
		col[i] = c
		switch b {
		case '\n':
			c = 0
		case '\t':
			c += 4 - c%4
		default:
			c++
		}
	}
	col[len(src)] = c
	return &columnReader{Reader: text.NewReader(src), col: col}
}

func (r *columnReader) LineOffset() int {
	_, pos := r.Position()
	// At the end of the source goldmark's head may be past the last line;
	// its own count is cheap there.
	if pos.Start < 0 || pos.Start >= len(r.col)-1 {
		return r.Reader.LineOffset()
	}
	return int(r.col[pos.Start]) - pos.Padding
}

// line is a line of the comment that stands on its own.
type line struct {
	number int    // 1-based
	text   string // without the newline
}

// standaloneLines returns, in order, the lines of src (newlines normalized to
// \n) that a reader sees as a line of ordinary text of the comment itself: a
// line of a paragraph at the top level of the document, with no part of it in
// a code span or inline HTML. That rules out code blocks, quotes (lazy
// continuation lines included, which CommonMark puts in the quote), HTML
// blocks and comments, list items, headings and tables, because none of them
// is a top-level paragraph.
func standaloneLines(src string) []line {
	return linesOf(src, markdown.Parse(newColumnReader([]byte(src))))
}

// linesOf does the work of standaloneLines on doc, the parse of src.
func linesOf(src string, doc ast.Node) []line {
	starts := lineStarts(src)
	var out []line
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		p, ok := n.(*ast.Paragraph)
		if !ok {
			continue
		}
		hidden := inlineHiddenLines(p, starts)
		segs := p.Lines()
		for i := range segs.Len() {
			seg := segs.At(i)
			idx := lineIndex(starts, seg.Start)
			if hidden[idx] {
				continue
			}
			start, end := starts[idx], lineEnd(src, starts, idx)
			// A top-level paragraph line has only indentation before its
			// text; check it rather than trust it, since the whole line
			// must be the command.
			if strings.Trim(src[start:seg.Start], " \t") != "" {
				continue
			}
			out = append(out, line{number: idx + 1, text: src[start:end]})
		}
	}
	return out
}

// inlineHiddenLines returns the indexes of the lines of p that a code span
// or inline HTML (a comment, a tag) touches. Such a line is not a command
// even if the command's words are outside the span: "BUILDBOT: UPDATE
// <!-- not yet -->" is one way to write a command down without running it.
func inlineHiddenLines(p *ast.Paragraph, starts []int) map[int]bool {
	var hidden map[int]bool
	mark := func(from, to int) { // byte range [from, to)
		if to <= from {
			return
		}
		if hidden == nil {
			hidden = map[int]bool{}
		}
		for i := lineIndex(starts, from); i <= lineIndex(starts, to-1); i++ {
			hidden[i] = true
		}
	}
	_ = ast.Walk(p, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.CodeSpan:
			// The span's text is in its children. Pos is the opening
			// backtick, which may be alone at the end of its line; the
			// closing one ends a line that the children reach already.
			from, to := n.Pos(), -1
			for c := n.FirstChild(); c != nil; c = c.NextSibling() {
				if t, ok := c.(*ast.Text); ok {
					if from < 0 || t.Segment.Start < from {
						from = t.Segment.Start
					}
					to = max(to, t.Segment.Stop)
				}
			}
			mark(from, to)
			return ast.WalkSkipChildren, nil
		case *ast.RawHTML:
			segs := n.Segments
			if segs != nil && segs.Len() > 0 {
				mark(segs.At(0).Start, segs.At(segs.Len()-1).Stop)
			}
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	return hidden
}

// lineStarts returns the byte offset at which each line of src begins.
func lineStarts(src string) []int {
	starts := make([]int, 1, strings.Count(src, "\n")+1)
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// lineIndex returns the 0-based index of the line holding byte offset pos.
func lineIndex(starts []int, pos int) int {
	return sort.Search(len(starts), func(i int) bool { return starts[i] > pos }) - 1
}

func lineEnd(src string, starts []int, idx int) int {
	if idx+1 < len(starts) {
		return starts[idx+1] - 1
	}
	return len(src)
}

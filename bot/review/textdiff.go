package review

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/aymanbagabas/go-udiff/lcs"
)

// The ways Text compares two files (TextDiff.Format).
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatText = "text"
)

// The kinds of a DiffLine.
const (
	LineSame = "same"
	LineAdd  = "add"
	LineDel  = "del"
	LineHunk = "hunk" // starts a hunk; Text is its "@@ -a,b +c,d @@" header
)

// The kinds of a CSVRow.
const (
	RowSame    = "same"
	RowAdd     = "add"
	RowDel     = "del"
	RowChanged = "changed"
)

// The defaults of DiffOptions.
const (
	DefaultDiffMaxBytes     = 256 << 10
	DefaultDiffMaxLines     = 400
	DefaultDiffContext      = 3
	DefaultDiffMaxLineBytes = 1000
)

// sniffBytes is how much of a file must look like text: what git reads to
// call a file binary.
const sniffBytes = 8 << 10

// ellipsis marks where a long line or cell was cut.
const ellipsis = "…"

// Errors of Text.
var (
	// ErrNotText: a side has a NUL byte or invalid UTF-8 in its first
	// 8 KB.
	ErrNotText = errors.New("not a UTF-8 text file")
	// ErrTooLarge: a side is over DiffOptions.MaxBytes.
	ErrTooLarge = errors.New("too large to show as a diff")
)

// TextDiff is what a text file's change looks like on a review page. It is
// plain data: a page escapes every string in it.
type TextDiff struct {
	Format string     // FormatJSON, FormatCSV or FormatText: how the sides were compared
	Lines  []DiffLine // for json and text: hunks of a unified diff, each after a LineHunk line
	Table  *CSVDiff   // for csv
	// Cut counts the lines (or rows) left out because of MaxLines.
	Cut int
	// Note says what a reader should know about the comparison: JSON
	// compared in canonical form, CSV that fell back to text and why,
	// line endings or a final newline that differ, long lines cut.
	Note string
}

// DiffLine is one line of a unified diff.
type DiffLine struct {
	Kind string // LineSame, LineAdd, LineDel or LineHunk
	// Old and New are 1-based line numbers, 0 on the side without the
	// line. A LineHunk has the first line numbers of its hunk.
	Old, New int
	Text     string // without its line ending
	// Spans are the bytes of Text that differ from the line it replaces
	// or is replaced by (the n-th deleted line of a hunk's block is paired
	// with its n-th added line); none when the lines share nothing.
	Spans []Span
}

// Span is the byte range [From, To) of a DiffLine's Text.
type Span struct{ From, To int }

// CSVDiff is a CSV (or TSV) file's change row by row: the rows that
// changed and up to Context unchanged rows around them, in file order. A
// gap in the row numbers is where unchanged rows were left out.
type CSVDiff struct {
	Header []string // the new side's first row (the old side's for a removed file)
	Rows   []CSVRow
}

// CSVRow is one row of a CSVDiff.
type CSVRow struct {
	Kind string // RowSame, RowAdd, RowDel or RowChanged
	// Old and New are 1-based record numbers, the header being 1 (a
	// quoted field may span lines, so they are not line numbers); 0 on
	// the side without the row.
	Old, New int
	Cells    []CSVCell
}

// CSVCell is one cell of a CSVRow: Old is empty in an added row, New in a
// deleted one.
type CSVCell struct {
	Old, New string
	Changed  bool
}

// DiffOptions limit a TextDiff; zero values take the defaults.
type DiffOptions struct {
	MaxBytes int64 // of either side; DefaultDiffMaxBytes
	MaxLines int   // lines (or rows) in the result; DefaultDiffMaxLines
	Context  int   // unchanged lines around a change; DefaultDiffContext, negative for none
	// MaxLineBytes cuts longer lines and cells, keeping the part around a
	// line's first change; DefaultDiffMaxLineBytes.
	MaxLineBytes int
}

func (o DiffOptions) withDefaults() DiffOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultDiffMaxBytes
	}
	if o.MaxLines <= 0 {
		o.MaxLines = DefaultDiffMaxLines
	}
	switch {
	case o.Context == 0:
		o.Context = DefaultDiffContext
	case o.Context < 0:
		o.Context = 0
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultDiffMaxLineBytes
	}
	return o
}

// Text diffs the old and new contents of the file called name; a nil side
// is a file added or removed. How it compares depends on the file:
//
//   - .json and .geojson files, and files whose every side starts with
//     { or [: when every present side parses as JSON, the canonical forms
//     (keys sorted, 2-space indent, numbers as written) are compared, so
//     reordered keys or reformatting show no change (docs/design.md,
//     "Review pages").
//   - .csv and .tsv files: when both sides parse (encoding/csv, strict
//     quotes, every record as wide as the first) with headers of the same
//     width, rows are aligned and the changed cells marked.
//   - anything else, or a file that does not parse: a line diff. CRLF and
//     LF endings compare equal; the Note says when they differ.
//
// It returns ErrNotText when a side is not UTF-8 text (a NUL byte or
// invalid UTF-8 in its first 8 KB; invalid bytes later are shown as
// U+FFFD) and ErrTooLarge when a side is over MaxBytes.
func Text(name string, old, new []byte, o DiffOptions) (*TextDiff, error) {
	o = o.withDefaults()
	for _, side := range []struct {
		name string
		b    []byte
	}{{"old", old}, {"new", new}} {
		if int64(len(side.b)) > o.MaxBytes {
			return nil, fmt.Errorf("diff %s: the %s side is %d bytes, over %d: %w", name, side.name, len(side.b), o.MaxBytes, ErrTooLarge)
		}
		if !looksText(side.b) {
			return nil, fmt.Errorf("diff %s: the %s side: %w", name, side.name, ErrNotText)
		}
	}
	old, new = validUTF8(old), validUTF8(new)

	var notes []string
	switch ext := strings.ToLower(path.Ext(name)); {
	case ext == ".csv" || ext == ".tsv":
		comma := ','
		if ext == ".tsv" {
			comma = '\t'
		}
		d, why := diffCSV(old, new, comma, o)
		if d != nil {
			return d, nil
		}
		notes = append(notes, why)
	case ext == ".json" || ext == ".geojson" || startsJSON(old, new):
		d, why := diffJSON(old, new, o)
		if d != nil {
			return d, nil
		}
		if ext == ".json" || ext == ".geojson" {
			notes = append(notes, why)
		}
	}
	d := diffText(old, new, o)
	d.Note = joinNotes(append(notes, d.Note)...)
	return d, nil
}

// looksText: no NUL byte and valid UTF-8 in the first sniffBytes (a rune
// cut at the boundary is read whole).
func looksText(b []byte) bool {
	n := min(len(b), sniffBytes)
	for n < len(b) && n < sniffBytes+utf8.UTFMax && !utf8.RuneStart(b[n]) {
		n++
	}
	return bytes.IndexByte(b[:n], 0) < 0 && utf8.Valid(b[:n])
}

// validUTF8 replaces invalid bytes past the sniffed head, keeping nil nil.
func validUTF8(b []byte) []byte {
	if b == nil || utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}

func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\uFEFF")) }

func joinNotes(notes ...string) string {
	var kept []string
	for _, n := range notes {
		if n != "" {
			kept = append(kept, n)
		}
	}
	return strings.Join(kept, "; ")
}

// startsJSON: every present side starts with an object or an array, which
// is worth trying to parse whatever the file is called.
func startsJSON(sides ...[]byte) bool {
	present := 0
	for _, b := range sides {
		if b == nil {
			continue
		}
		present++
		b = bytes.TrimLeft(trimBOM(b), " \t\r\n")
		if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
			return false
		}
	}
	return present > 0
}

// diffJSON compares the canonical forms of the present sides, or returns
// why it cannot.
func diffJSON(old, new []byte, o DiffOptions) (*TextDiff, string) {
	var canon [2][]byte
	for i, side := range []struct {
		name string
		b    []byte
	}{{"old", old}, {"new", new}} {
		if side.b == nil {
			continue
		}
		c, err := canonicalJSON(side.b)
		if err != nil {
			return nil, fmt.Sprintf("not compared as JSON: the %s side does not parse (%v)", side.name, err)
		}
		canon[i] = c
	}
	if old != nil && new != nil && bytes.Equal(canon[0], canon[1]) {
		d := &TextDiff{Format: FormatJSON}
		if !bytes.Equal(old, new) {
			d.Note = "same JSON value, formatting differs"
		}
		return d, ""
	}
	if old != nil {
		old = canon[0]
	}
	if new != nil {
		new = canon[1]
	}
	d := diffText(old, new, o)
	d.Format = FormatJSON
	d.Note = joinNotes("compared after formatting both sides as sorted, indented JSON", d.Note)
	if old == nil || new == nil {
		d.Note = joinNotes("shown formatted as sorted, indented JSON", d.Note)
	}
	return d, ""
}

// canonicalJSON formats one JSON value with sorted keys and a 2-space
// indent; numbers keep their text (no float rounding).
func canonicalJSON(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(trimBOM(b)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more data after the first value")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// textLines is one side of a line diff.
type textLines struct {
	lines   []string // without "\n" or "\r\n"
	crlf    int      // lines that ended in "\r\n"
	finalNL bool     // the last line ends with a newline
}

func splitText(b []byte) textLines {
	var t textLines
	s := string(b)
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			t.lines = append(t.lines, s)
			return t
		}
		line := s[:i]
		if strings.HasSuffix(line, "\r") {
			line = line[:len(line)-1]
			t.crlf++
		}
		t.lines = append(t.lines, line)
		s = s[i+1:]
	}
	t.finalNL = len(b) > 0
	return t
}

// diffText is a line diff of old and new with o.Context lines of context.
func diffText(old, new []byte, o DiffOptions) *TextDiff {
	a, b := splitText(old), splitText(new)
	d := &TextDiff{Format: FormatText}
	var notes []string
	if old != nil && new != nil {
		if a.crlf != b.crlf {
			notes = append(notes, fmt.Sprintf("line endings differ (CRLF in %d lines before, %d after); lines are compared without them", a.crlf, b.crlf))
		}
		if len(a.lines) > 0 && len(b.lines) > 0 && a.finalNL != b.finalNL {
			if a.finalNL {
				notes = append(notes, "the new side has no newline at the end")
			} else {
				notes = append(notes, "the old side had no newline at the end; the new side has")
			}
		}
	}
	clipped := false
	emit := func(l DiffLine) {
		if len(d.Lines) >= o.MaxLines {
			if l.Kind != LineHunk {
				d.Cut++
			}
			return
		}
		var cut bool
		l.Text, l.Spans, cut = clipLine(l.Text, l.Spans, o.MaxLineBytes)
		clipped = clipped || cut
		d.Lines = append(d.Lines, l)
	}
	for _, h := range hunks(lcs.DiffLines(a.lines, b.lines), len(a.lines), o.Context) {
		a0, an, b0, bn := h.span()
		oldStart, newStart := a0+1, b0+1
		if an == 0 {
			oldStart = a0
		}
		if bn == 0 {
			newStart = b0
		}
		emit(DiffLine{Kind: LineHunk, Old: oldStart, New: newStart,
			Text: fmt.Sprintf("@@ -%d,%d +%d,%d @@", oldStart, an, newStart, bn)})
		for _, s := range h {
			if s.same {
				for k := range s.a1 - s.a0 {
					emit(DiffLine{Kind: LineSame, Old: s.a0 + k + 1, New: s.b0 + k + 1, Text: a.lines[s.a0+k]})
				}
				continue
			}
			paired := min(s.a1-s.a0, s.b1-s.b0)
			spans := make([][2]Span, paired)
			for k := range paired {
				spans[k][0], spans[k][1] = changedSpans(a.lines[s.a0+k], b.lines[s.b0+k])
			}
			for k := range s.a1 - s.a0 {
				l := DiffLine{Kind: LineDel, Old: s.a0 + k + 1, Text: a.lines[s.a0+k]}
				if k < paired {
					l.Spans = spanList(spans[k][0])
				}
				emit(l)
			}
			for k := range s.b1 - s.b0 {
				l := DiffLine{Kind: LineAdd, New: s.b0 + k + 1, Text: b.lines[s.b0+k]}
				if k < paired {
					l.Spans = spanList(spans[k][1])
				}
				emit(l)
			}
		}
	}
	if clipped {
		notes = append(notes, fmt.Sprintf("lines longer than %d bytes are cut", o.MaxLineBytes))
	}
	d.Note = joinNotes(notes...)
	return d
}

// A segment of a hunk: unchanged lines (same, as many on both sides) or a
// block that replaces old [a0, a1) by new [b0, b1).
type segment struct {
	same           bool
	a0, a1, b0, b1 int
}

// A hunk is a run of changes less than 2×context unchanged lines apart,
// with its context.
type hunk []segment

// span is where a hunk starts on each side and how many lines it covers.
func (h hunk) span() (a0, an, b0, bn int) {
	first, last := h[0], h[len(h)-1]
	return first.a0, last.a1 - first.a0, first.b0, last.b1 - first.b0
}

// hunks groups the differences between sequences of na and nb elements
// (the line diff of lcs, in order, with equal runs between them) into
// hunks with context.
func hunks(diffs []lcs.Diff, na, context int) []hunk {
	var out []hunk
	for i := 0; i < len(diffs); {
		d := diffs[i]
		pre := min(context, d.Start)
		h := hunk{{same: true, a0: d.Start - pre, a1: d.Start, b0: d.ReplStart - pre, b1: d.ReplStart}}
		for {
			h = append(h, segment{a0: d.Start, a1: d.End, b0: d.ReplStart, b1: d.ReplEnd})
			i++
			if i < len(diffs) && diffs[i].Start-d.End <= 2*context {
				next := diffs[i]
				h = append(h, segment{same: true, a0: d.End, a1: next.Start, b0: d.ReplEnd, b1: next.ReplStart})
				d = next
				continue
			}
			post := min(context, na-d.End)
			h = append(h, segment{same: true, a0: d.End, a1: d.End + post, b0: d.ReplEnd, b1: d.ReplEnd + post})
			break
		}
		out = append(out, h)
	}
	return out
}

// changedSpans are the parts of a and b between their common prefix and
// suffix, on rune boundaries; empty spans when they share neither.
func changedSpans(a, b string) (Span, Span) {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	for p > 0 && (p < len(a) && !utf8.RuneStart(a[p]) || p < len(b) && !utf8.RuneStart(b[p])) {
		p--
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	for s > 0 && !utf8.RuneStart(a[len(a)-s]) {
		s--
	}
	if p == 0 && s == 0 {
		return Span{}, Span{}
	}
	return Span{p, len(a) - s}, Span{p, len(b) - s}
}

func spanList(s Span) []Span {
	if s.From == s.To {
		return nil
	}
	return []Span{s}
}

// clipLine cuts a line longer than limit bytes to limit bytes (on rune
// boundaries) around its first span, or from its start, marking each cut
// end with an ellipsis; the spans follow. It reports whether it cut.
func clipLine(text string, spans []Span, limit int) (string, []Span, bool) {
	if len(text) <= limit {
		return text, spans, false
	}
	from := 0
	if len(spans) > 0 && spans[0].To > limit {
		from = spans[0].From - limit/4
		from = min(max(from, 0), len(text)-limit)
	}
	for from > 0 && !utf8.RuneStart(text[from]) {
		from--
	}
	to := from + limit
	for to < len(text) && !utf8.RuneStart(text[to]) {
		to--
	}
	var out strings.Builder
	shift := -from
	if from > 0 {
		out.WriteString(ellipsis)
		shift += len(ellipsis)
	}
	out.WriteString(text[from:to])
	if to < len(text) {
		out.WriteString(ellipsis)
	}
	var kept []Span
	for _, s := range spans {
		s.From, s.To = max(s.From, from), min(s.To, to)
		if s.From < s.To {
			kept = append(kept, Span{s.From + shift, s.To + shift})
		}
	}
	return out.String(), kept, true
}

// clipCell cuts a cell longer than limit bytes.
func clipCell(s string, limit int) (string, bool) {
	s, _, cut := clipLine(s, nil, limit)
	return s, cut
}

// parseCSV reads every record of one side; nil for an absent side.
func parseCSV(b []byte, comma rune) ([][]string, error) {
	if b == nil {
		return nil, nil
	}
	r := csv.NewReader(bytes.NewReader(trimBOM(b)))
	r.Comma = comma
	return r.ReadAll()
}

// diffCSV compares old and new row by row, or returns why it cannot.
func diffCSV(old, new []byte, comma rune, o DiffOptions) (*TextDiff, string) {
	a, err := parseCSV(old, comma)
	if err != nil {
		return nil, fmt.Sprintf("not compared as CSV: the old side does not parse (%v)", err)
	}
	b, err := parseCSV(new, comma)
	if err != nil {
		return nil, fmt.Sprintf("not compared as CSV: the new side does not parse (%v)", err)
	}
	if len(a) > 0 && len(b) > 0 && len(a[0]) != len(b[0]) {
		return nil, fmt.Sprintf("not compared as CSV: the header has %d columns before and %d after", len(a[0]), len(b[0]))
	}
	t := &CSVDiff{}
	switch {
	case len(b) > 0:
		t.Header = b[0]
	case len(a) > 0:
		t.Header = a[0]
	}
	d := &TextDiff{Format: FormatCSV, Table: t}
	// A row's key joins its cells with NUL, which no text cell holds.
	key := func(rows [][]string) []string {
		keys := make([]string, len(rows))
		for i, r := range rows {
			keys[i] = strings.Join(r, "\x00")
		}
		return keys
	}
	diffs := lcs.DiffLines(key(a), key(b))
	if len(diffs) == 0 && old != nil && new != nil && !bytes.Equal(old, new) {
		d.Note = "same rows, formatting differs (quoting or line endings)"
		return d, ""
	}
	clipped := false
	cell := func(old, new string, changed bool) CSVCell {
		var cutOld, cutNew bool
		old, cutOld = clipCell(old, o.MaxLineBytes)
		new, cutNew = clipCell(new, o.MaxLineBytes)
		clipped = clipped || cutOld || cutNew
		return CSVCell{Old: old, New: new, Changed: changed}
	}
	emit := func(kind string, i, j int) {
		if len(t.Rows) >= o.MaxLines {
			d.Cut++
			return
		}
		r := CSVRow{Kind: kind, Old: i + 1, New: j + 1}
		switch kind {
		case RowSame, RowChanged:
			for k := range a[i] {
				r.Cells = append(r.Cells, cell(a[i][k], b[j][k], a[i][k] != b[j][k]))
			}
		case RowDel:
			r.New = 0
			for _, c := range a[i] {
				r.Cells = append(r.Cells, cell(c, "", false))
			}
		case RowAdd:
			r.Old = 0
			for _, c := range b[j] {
				r.Cells = append(r.Cells, cell("", c, false))
			}
		}
		t.Rows = append(t.Rows, r)
	}
	for _, h := range hunks(diffs, len(a), o.Context) {
		for _, s := range h {
			if s.same {
				for k := range s.a1 - s.a0 {
					emit(RowSame, s.a0+k, s.b0+k)
				}
				continue
			}
			// Rows are paired by position within a block of changes.
			paired := min(s.a1-s.a0, s.b1-s.b0)
			for k := range paired {
				emit(RowChanged, s.a0+k, s.b0+k)
			}
			for k := s.a0 + paired; k < s.a1; k++ {
				emit(RowDel, k, -1)
			}
			for k := s.b0 + paired; k < s.b1; k++ {
				emit(RowAdd, -1, k)
			}
		}
	}
	if clipped {
		d.Note = fmt.Sprintf("cells longer than %d bytes are cut", o.MaxLineBytes)
	}
	return d, ""
}

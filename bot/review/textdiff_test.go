package review

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// lines builds a file from lines, each ending in "\n".
func lines(ls ...string) []byte {
	if len(ls) == 0 {
		return []byte{}
	}
	return []byte(strings.Join(ls, "\n") + "\n")
}

func TestTextPlain(t *testing.T) {
	var ten []string
	for i := 1; i <= 10; i++ {
		ten = append(ten, fmt.Sprintf("line %d", i))
	}
	changed := append([]string(nil), ten...)
	changed[1] = "line two"                                                   // a change near the top
	changed = append(changed[:9], append([]string{"new"}, changed[9:]...)...) // an insert before the last

	tests := []struct {
		name     string
		old, new []byte
		o        DiffOptions
		want     []DiffLine
		note     string
	}{{
		name: "change with spans, two hunks",
		old:  lines(ten...),
		new:  lines(changed...),
		o:    DiffOptions{Context: 1},
		want: []DiffLine{
			{Kind: LineHunk, Old: 1, New: 1, Text: "@@ -1,3 +1,3 @@"},
			{Kind: LineSame, Old: 1, New: 1, Text: "line 1"},
			{Kind: LineDel, Old: 2, Text: "line 2", Spans: []Span{{5, 6}}},
			{Kind: LineAdd, New: 2, Text: "line two", Spans: []Span{{5, 8}}},
			{Kind: LineSame, Old: 3, New: 3, Text: "line 3"},
			{Kind: LineHunk, Old: 9, New: 9, Text: "@@ -9,2 +9,3 @@"},
			{Kind: LineSame, Old: 9, New: 9, Text: "line 9"},
			{Kind: LineAdd, New: 10, Text: "new"},
			{Kind: LineSame, Old: 10, New: 11, Text: "line 10"},
		},
	}, {
		name: "close changes share a hunk",
		old:  lines("a", "b", "c", "d", "e"),
		new:  lines("A", "b", "c", "D", "e"),
		o:    DiffOptions{Context: 1},
		want: []DiffLine{
			{Kind: LineHunk, Old: 1, New: 1, Text: "@@ -1,5 +1,5 @@"},
			{Kind: LineDel, Old: 1, Text: "a"},
			{Kind: LineAdd, New: 1, Text: "A"},
			{Kind: LineSame, Old: 2, New: 2, Text: "b"},
			{Kind: LineSame, Old: 3, New: 3, Text: "c"},
			{Kind: LineDel, Old: 4, Text: "d"},
			{Kind: LineAdd, New: 4, Text: "D"},
			{Kind: LineSame, Old: 5, New: 5, Text: "e"},
		},
	}, {
		name: "spans on rune boundaries",
		old:  lines("prix: 5 €"),
		new:  lines("prix: 5 £"),
		want: []DiffLine{
			{Kind: LineHunk, Old: 1, New: 1, Text: "@@ -1,1 +1,1 @@"},
			{Kind: LineDel, Old: 1, Text: "prix: 5 €", Spans: []Span{{8, 11}}},
			{Kind: LineAdd, New: 1, Text: "prix: 5 £", Spans: []Span{{8, 10}}},
		},
	}, {
		name: "added file",
		new:  lines("x", "y"),
		want: []DiffLine{
			{Kind: LineHunk, Old: 0, New: 1, Text: "@@ -0,0 +1,2 @@"},
			{Kind: LineAdd, New: 1, Text: "x"},
			{Kind: LineAdd, New: 2, Text: "y"},
		},
	}, {
		name: "removed file",
		old:  lines("x"),
		want: []DiffLine{
			{Kind: LineHunk, Old: 1, New: 0, Text: "@@ -1,1 +0,0 @@"},
			{Kind: LineDel, Old: 1, Text: "x"},
		},
	}, {
		name: "identical",
		old:  lines("x"),
		new:  lines("x"),
	}, {
		name: "final newline removed",
		old:  []byte("x\ny\n"),
		new:  []byte("x\ny"),
		note: "the new side has no newline at the end",
	}, {
		name: "CRLF against LF, same lines",
		old:  []byte("a\r\nb\r\n"),
		new:  []byte("a\nb\n"),
		note: "line endings differ (CRLF in 2 lines before, 0 after); lines are compared without them",
	}, {
		name: "CRLF on both sides, one change",
		old:  []byte("a\r\nb\r\n"),
		new:  []byte("a\r\nc\r\n"),
		o:    DiffOptions{Context: -1},
		want: []DiffLine{
			{Kind: LineHunk, Old: 2, New: 2, Text: "@@ -2,1 +2,1 @@"},
			{Kind: LineDel, Old: 2, Text: "b"},
			{Kind: LineAdd, New: 2, Text: "c"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Text("notes.txt", tt.old, tt.new, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != FormatText || d.Table != nil || d.Cut != 0 {
				t.Errorf("format %q, table %v, cut %d", d.Format, d.Table, d.Cut)
			}
			if diff := cmp.Diff(tt.want, d.Lines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if d.Note != tt.note {
				t.Errorf("note %q, want %q", d.Note, tt.note)
			}
		})
	}
}

// TestTextRandom checks on random edits that the diff's lines rebuild both
// sides and that every line number points at its text.
func TestTextRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "b", "c", "d", "e", "f"}
	for round := range 200 {
		var a, b []string
		for range rnd.IntN(40) {
			a = append(a, words[rnd.IntN(len(words))])
		}
		for _, l := range a {
			switch rnd.IntN(6) {
			case 0: // deleted
			case 1:
				b = append(b, l+"!")
			case 2:
				b = append(b, l, words[rnd.IntN(len(words))])
			default:
				b = append(b, l)
			}
		}
		for _, context := range []int{-1, 1, 3, 1000} {
			d, err := Text("r.txt", lines(a...), lines(b...), DiffOptions{Context: context, MaxLines: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			var gotA, gotB []string
			for _, l := range d.Lines {
				switch l.Kind {
				case LineSame:
					if l.Text != a[l.Old-1] || l.Text != b[l.New-1] {
						t.Fatalf("round %d: same line %+v does not match %q / %q", round, l, a[l.Old-1], b[l.New-1])
					}
					gotA, gotB = append(gotA, l.Text), append(gotB, l.Text)
				case LineDel:
					if l.New != 0 || l.Text != a[l.Old-1] {
						t.Fatalf("round %d: deleted line %+v does not match %q", round, l, a[l.Old-1])
					}
					gotA = append(gotA, l.Text)
				case LineAdd:
					if l.Old != 0 || l.Text != b[l.New-1] {
						t.Fatalf("round %d: added line %+v does not match %q", round, l, b[l.New-1])
					}
					gotB = append(gotB, l.Text)
				}
			}
			if context == 1000 {
				if len(a)+len(b) > 0 && strings.Join(a, "\n") != strings.Join(b, "\n") && d.Lines[0].Kind != LineHunk {
					t.Fatalf("round %d: no hunk header first", round)
				}
				if diff := cmp.Diff(a, gotA); diff != "" && len(d.Lines) > 0 {
					t.Fatalf("round %d: old side (-want +got):\n%s", round, diff)
				}
				if diff := cmp.Diff(b, gotB); diff != "" && len(d.Lines) > 0 {
					t.Fatalf("round %d: new side (-want +got):\n%s", round, diff)
				}
			}
		}
	}
}

func TestTextJSON(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		old, new string
		absent   string // "old" or "new"
		format   string
		want     []DiffLine
		note     string
	}{{
		name:   "keys reordered and reformatted",
		file:   "a.json",
		old:    `{"b": [1, 2], "a": {"y": true, "x": null}}`,
		new:    "{\n  \"a\": {\"x\": null, \"y\": true},\n  \"b\": [1,2]\n}\n",
		format: FormatJSON,
		note:   "same JSON value, formatting differs",
	}, {
		name:   "identical bytes",
		file:   "a.json",
		old:    `{"a": 1}`,
		new:    `{"a": 1}`,
		format: FormatJSON,
	}, {
		name:   "numbers keep their text",
		file:   "m.geojson",
		old:    `{"big": 12345678901234567890, "v": 1.0, "w": 0.1}`,
		new:    `{"w": 0.1, "v": 1.00, "big": 12345678901234567891}`,
		format: FormatJSON,
		note:   "compared after formatting both sides as sorted, indented JSON",
		want: []DiffLine{
			{Kind: LineHunk, Old: 1, New: 1, Text: "@@ -1,5 +1,5 @@"},
			{Kind: LineSame, Old: 1, New: 1, Text: "{"},
			{Kind: LineDel, Old: 2, Text: `  "big": 12345678901234567890,`, Spans: []Span{{28, 29}}},
			{Kind: LineDel, Old: 3, Text: `  "v": 1.0,`},
			{Kind: LineAdd, New: 2, Text: `  "big": 12345678901234567891,`, Spans: []Span{{28, 29}}},
			{Kind: LineAdd, New: 3, Text: `  "v": 1.00,`, Spans: []Span{{10, 11}}},
			{Kind: LineSame, Old: 4, New: 4, Text: `  "w": 0.1`},
			{Kind: LineSame, Old: 5, New: 5, Text: "}"},
		},
	}, {
		name:   "sniffed from the content",
		file:   "out.txt",
		old:    `[{"k": "v", "a": "<b>"}]`,
		new:    `[{"a": "<b>", "k": "w"}]`,
		format: FormatJSON,
		note:   "compared after formatting both sides as sorted, indented JSON",
		want: []DiffLine{
			{Kind: LineHunk, Old: 1, New: 1, Text: "@@ -1,6 +1,6 @@"},
			{Kind: LineSame, Old: 1, New: 1, Text: "["},
			{Kind: LineSame, Old: 2, New: 2, Text: "  {"},
			{Kind: LineSame, Old: 3, New: 3, Text: `    "a": "<b>",`},
			{Kind: LineDel, Old: 4, Text: `    "k": "v"`, Spans: []Span{{10, 11}}},
			{Kind: LineAdd, New: 4, Text: `    "k": "w"`, Spans: []Span{{10, 11}}},
			{Kind: LineSame, Old: 5, New: 5, Text: "  }"},
			{Kind: LineSame, Old: 6, New: 6, Text: "]"},
		},
	}, {
		name:   "added file shown formatted",
		file:   "a.json",
		new:    `{"b":1,"a":[]}`,
		absent: "old",
		format: FormatJSON,
		note:   "shown formatted as sorted, indented JSON; compared after formatting both sides as sorted, indented JSON",
		want: []DiffLine{
			{Kind: LineHunk, Old: 0, New: 1, Text: "@@ -0,0 +1,4 @@"},
			{Kind: LineAdd, New: 1, Text: "{"},
			{Kind: LineAdd, New: 2, Text: `  "a": [],`},
			{Kind: LineAdd, New: 3, Text: `  "b": 1`},
			{Kind: LineAdd, New: 4, Text: "}"},
		},
	}, {
		name:   "broken JSON falls back to text",
		file:   "a.json",
		old:    `{"a": 1}`,
		new:    `{"a": 1,}`,
		format: FormatText,
		note:   "not compared as JSON: the new side does not parse (invalid character '}' looking for beginning of object key string)",
		want: []DiffLine{
			{Kind: LineHunk, Old: 1, New: 1, Text: "@@ -1,1 +1,1 @@"},
			{Kind: LineDel, Old: 1, Text: `{"a": 1}`},
			{Kind: LineAdd, New: 1, Text: `{"a": 1,}`, Spans: []Span{{7, 8}}},
		},
	}, {
		name:   "two values are not one JSON file",
		file:   "a.json",
		old:    "{}\n",
		new:    "{}\n[]\n",
		format: FormatText,
		note:   "not compared as JSON: the new side does not parse (more data after the first value)",
		want: []DiffLine{
			{Kind: LineHunk, Old: 1, New: 1, Text: "@@ -1,1 +1,2 @@"},
			{Kind: LineSame, Old: 1, New: 1, Text: "{}"},
			{Kind: LineAdd, New: 2, Text: "[]"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, new := []byte(tt.old), []byte(tt.new)
			switch tt.absent {
			case "old":
				old = nil
			case "new":
				new = nil
			}
			d, err := Text(tt.file, old, new, DiffOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != tt.format {
				t.Errorf("format %q, want %q", d.Format, tt.format)
			}
			if diff := cmp.Diff(tt.want, d.Lines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if d.Note != tt.note {
				t.Errorf("note %q,\nwant %q", d.Note, tt.note)
			}
		})
	}
}

func TestTextCSV(t *testing.T) {
	same := func(old, new int, cells ...string) CSVRow {
		r := CSVRow{Kind: RowSame, Old: old, New: new}
		for _, c := range cells {
			r.Cells = append(r.Cells, CSVCell{Old: c, New: c})
		}
		return r
	}
	tests := []struct {
		name     string
		file     string
		old, new string
		absent   string
		o        DiffOptions
		want     *CSVDiff
		note     string
	}{{
		name: "cell change",
		file: "t.csv",
		old:  "x,y\n1,2\n3,4\n5,6\n",
		new:  "x,y\n1,2\n3,40\n5,6\n",
		o:    DiffOptions{Context: 1},
		want: &CSVDiff{Header: []string{"x", "y"}, Rows: []CSVRow{
			same(2, 2, "1", "2"),
			{Kind: RowChanged, Old: 3, New: 3, Cells: []CSVCell{{Old: "3", New: "3"}, {Old: "4", New: "40", Changed: true}}},
			same(4, 4, "5", "6"),
		}},
	}, {
		name: "row inserted, far rows left out",
		file: "t.csv",
		old:  "x,y\n1,1\n2,2\n3,3\n4,4\n",
		new:  "x,y\n1,1\n2,2\n3,3\nnew,row\n4,4\n",
		o:    DiffOptions{Context: 1},
		want: &CSVDiff{Header: []string{"x", "y"}, Rows: []CSVRow{
			same(4, 4, "3", "3"),
			{Kind: RowAdd, New: 5, Cells: []CSVCell{{New: "new"}, {New: "row"}}},
			same(5, 6, "4", "4"),
		}},
	}, {
		name: "row removed and header renamed",
		file: "t.csv",
		old:  "x,y\n1,1\n2,2\n",
		new:  "x,z\n2,2\n",
		o:    DiffOptions{Context: -1},
		want: &CSVDiff{Header: []string{"x", "z"}, Rows: []CSVRow{
			{Kind: RowChanged, Old: 1, New: 1, Cells: []CSVCell{{Old: "x", New: "x"}, {Old: "y", New: "z", Changed: true}}},
			{Kind: RowDel, Old: 2, Cells: []CSVCell{{Old: "1"}, {Old: "1"}}},
		}},
	}, {
		name: "quoting and line endings are not changes",
		file: "t.csv",
		old:  "name,v\n\"a, b\",1\n\"c\",2\n",
		new:  "\"name\",\"v\"\r\n\"a, b\",\"1\"\r\nc,2\r\n",
		want: &CSVDiff{Header: []string{"name", "v"}},
		note: "same rows, formatting differs (quoting or line endings)",
	}, {
		name: "quoted cell with a comma, a quote and a newline",
		file: "t.csv",
		old:  "k,v\na,\"one, \"\"two\"\"\nthree\"\n",
		new:  "k,v\na,\"one, \"\"2\"\"\nthree\"\n",
		want: &CSVDiff{Header: []string{"k", "v"}, Rows: []CSVRow{
			same(1, 1, "k", "v"),
			{Kind: RowChanged, Old: 2, New: 2, Cells: []CSVCell{{Old: "a", New: "a"}, {Old: "one, \"two\"\nthree", New: "one, \"2\"\nthree", Changed: true}}},
		}},
	}, {
		name: "TSV",
		file: "t.TSV",
		old:  "a\tb\n1\t2,3\n",
		new:  "a\tb\n1\t2;3\n",
		want: &CSVDiff{Header: []string{"a", "b"}, Rows: []CSVRow{
			same(1, 1, "a", "b"),
			{Kind: RowChanged, Old: 2, New: 2, Cells: []CSVCell{{Old: "1", New: "1"}, {Old: "2,3", New: "2;3", Changed: true}}},
		}},
	}, {
		name:   "added file",
		file:   "t.csv",
		new:    "a\n1\n",
		absent: "old",
		want: &CSVDiff{Header: []string{"a"}, Rows: []CSVRow{
			{Kind: RowAdd, New: 1, Cells: []CSVCell{{New: "a"}}},
			{Kind: RowAdd, New: 2, Cells: []CSVCell{{New: "1"}}},
		}},
	}, {
		name:   "removed file",
		file:   "t.csv",
		old:    "a\n1\n",
		absent: "new",
		want: &CSVDiff{Header: []string{"a"}, Rows: []CSVRow{
			{Kind: RowDel, Old: 1, Cells: []CSVCell{{Old: "a"}}},
			{Kind: RowDel, Old: 2, Cells: []CSVCell{{Old: "1"}}},
		}},
	}, {
		name: "bare quote falls back to text",
		file: "t.csv",
		old:  "a,b\n1,2\n",
		new:  "a,b\n1,2 \"inch\"\n",
		note: "not compared as CSV: the new side does not parse (parse error on line 2, column 5: bare \" in non-quoted-field)",
	}, {
		name: "ragged rows fall back to text",
		file: "t.csv",
		old:  "a,b\n1,2\n",
		new:  "a,b\n1,2,3\n",
		note: "not compared as CSV: the new side does not parse (record on line 2: wrong number of fields)",
	}, {
		name: "header widths differ",
		file: "t.csv",
		old:  "a,b\n1,2\n",
		new:  "a,b,c\n1,2,3\n",
		note: "not compared as CSV: the header has 2 columns before and 3 after",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, new := []byte(tt.old), []byte(tt.new)
			switch tt.absent {
			case "old":
				old = nil
			case "new":
				new = nil
			}
			d, err := Text(tt.file, old, new, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if d.Note != tt.note {
				t.Errorf("note %q,\nwant %q", d.Note, tt.note)
			}
			if tt.want == nil {
				if d.Format != FormatText || d.Table != nil || len(d.Lines) == 0 {
					t.Errorf("format %q, table %v, %d lines; want a text diff", d.Format, d.Table, len(d.Lines))
				}
				return
			}
			if d.Format != FormatCSV || len(d.Lines) != 0 {
				t.Errorf("format %q, %d lines; want a table", d.Format, len(d.Lines))
			}
			if diff := cmp.Diff(tt.want, d.Table); diff != "" {
				t.Errorf("table (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTextRefused(t *testing.T) {
	long := strings.Repeat("x", sniffBytes-1)
	tests := []struct {
		name     string
		old, new []byte
		o        DiffOptions
		want     error
	}{
		{"NUL in the new side", []byte("a"), []byte("a\x00b"), DiffOptions{}, ErrNotText},
		{"invalid UTF-8 in the old side", []byte("caf\xe9\n"), []byte("a"), DiffOptions{}, ErrNotText},
		{"a PNG", nil, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), DiffOptions{}, ErrNotText},
		{"over MaxBytes", []byte("abcd"), []byte("abcde"), DiffOptions{MaxBytes: 4}, ErrTooLarge},
		{"over the default MaxBytes", nil, make([]byte, DefaultDiffMaxBytes+1), DiffOptions{}, ErrTooLarge},
		{"a rune across the sniffed head", []byte(long + "é\n"), nil, DiffOptions{}, nil},
		{"invalid UTF-8 past the sniffed head", []byte(long + "xx\xff\n"), nil, DiffOptions{MaxLineBytes: 1 << 20}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Text("f.txt", tt.old, tt.new, tt.o)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "f.txt") {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			for _, l := range d.Lines {
				if !utf8.ValidString(l.Text) {
					t.Errorf("invalid UTF-8 kept in %q", l.Text)
				}
			}
			if tt.name == "invalid UTF-8 past the sniffed head" && !strings.HasSuffix(d.Lines[1].Text, "xx\uFFFD") {
				t.Errorf("invalid byte not replaced: %q", d.Lines[1].Text[len(d.Lines[1].Text)-5:])
			}
		})
	}
}

func TestTextCaps(t *testing.T) {
	t.Run("max lines", func(t *testing.T) {
		var old, new []string
		for i := range 100 {
			old = append(old, fmt.Sprint("old ", i))
			new = append(new, fmt.Sprint("new ", i))
		}
		d, err := Text("f.txt", lines(old...), lines(new...), DiffOptions{MaxLines: 10})
		if err != nil {
			t.Fatal(err)
		}
		// One hunk header, 9 of the 200 changed lines.
		if len(d.Lines) != 10 || d.Cut != 191 {
			t.Errorf("%d lines, %d cut; want 10 and 191", len(d.Lines), d.Cut)
		}
	})
	t.Run("max rows", func(t *testing.T) {
		old, new := "a\n", "a\n"
		for i := range 50 {
			new += fmt.Sprint(i, "\n")
		}
		d, err := Text("f.csv", []byte(old), []byte(new), DiffOptions{MaxLines: 5})
		if err != nil {
			t.Fatal(err)
		}
		if d.Table == nil || len(d.Table.Rows) != 5 || d.Cut != 46 {
			t.Fatalf("table %+v, %d cut; want 5 rows and 46 cut", d.Table, d.Cut)
		}
	})
	t.Run("long line cut around its change", func(t *testing.T) {
		// A minified file (1 MB, one line) changed deep inside; not JSON on
		// the new side, so it is compared as text.
		head := strings.Repeat(`{"k":[1,2,3]},`, 1<<20/14)
		old := "[" + head + `{"deep":"before"}]`
		new := "[" + head + `{"deep":"after"`
		d, err := Text("min.json", []byte(old), []byte(new), DiffOptions{MaxBytes: 2 << 20, MaxLineBytes: 200})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(d.Note, "lines longer than 200 bytes are cut") || !strings.Contains(d.Note, "not compared as JSON") {
			t.Errorf("note %q", d.Note)
		}
		if len(d.Lines) != 3 {
			t.Fatalf("%d lines, want a hunk and two changed lines: %+v", len(d.Lines), d.Lines)
		}
		for _, l := range d.Lines[1:] {
			if len(l.Text) > 200+2*len(ellipsis) || !strings.HasPrefix(l.Text, ellipsis) {
				t.Errorf("%s line not cut around its change: %d bytes, %.20q", l.Kind, len(l.Text), l.Text)
			}
			if len(l.Spans) != 1 {
				t.Fatalf("%s line spans %v", l.Kind, l.Spans)
			}
			got := l.Text[l.Spans[0].From:l.Spans[0].To]
			if want := map[string]string{LineDel: `before"}]`, LineAdd: `after"`}[l.Kind]; got != want {
				t.Errorf("%s line: span covers %q, want %q", l.Kind, got, want)
			}
		}
	})
	t.Run("long cells cut", func(t *testing.T) {
		d, err := Text("f.csv", []byte("a\nb\n"), []byte("a\n"+strings.Repeat("é", 100)+"\n"), DiffOptions{MaxLineBytes: 11})
		if err != nil {
			t.Fatal(err)
		}
		last := d.Table.Rows[len(d.Table.Rows)-1]
		if got, want := last.Cells[0].New, strings.Repeat("é", 5)+ellipsis; got != want || d.Note != "cells longer than 11 bytes are cut" {
			t.Errorf("cell %q, note %q; want %q", got, d.Note, want)
		}
	})
}

func TestClipLine(t *testing.T) {
	text := strings.Repeat("a", 50) + "XY" + strings.Repeat("b", 50)
	got, spans, cut := clipLine(text, []Span{{50, 52}}, 20)
	if !cut || got != ellipsis+"aaaaaXYbbbbbbbbbbbbb"+ellipsis || got[spans[0].From:spans[0].To] != "XY" {
		t.Errorf("got %q %v %v", got, spans, cut)
	}
	got, spans, cut = clipLine(text, []Span{{1, 2}}, 20)
	if !cut || got != strings.Repeat("a", 20)+ellipsis || cmp.Diff([]Span{{1, 2}}, spans) != "" {
		t.Errorf("got %q %v %v", got, spans, cut)
	}
	if got, _, cut := clipLine("short", nil, 20); cut || got != "short" {
		t.Errorf("got %q %v", got, cut)
	}
}

// file5000 is a 5,000-line CSV file and a copy with 50 lines changed.
func file5000() (old, new []byte) {
	var o, n []string
	for i := range 5000 {
		l := fmt.Sprintf("%d,%d.%03d,sample text for line %d", i, i*7, i%1000, i)
		o = append(o, l)
		if i%100 == 50 {
			l += " changed"
		}
		n = append(n, l)
	}
	return lines(o...), lines(n...)
}

// TestText5000 checks that 50 changes in 5,000 lines are found as 50
// changes, as text and as CSV.
func TestText5000(t *testing.T) {
	old, new := file5000()
	d, err := Text("f.txt", old, new, DiffOptions{MaxLines: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, l := range d.Lines {
		count[l.Kind]++
	}
	if diff := cmp.Diff(map[string]int{LineHunk: 50, LineDel: 50, LineAdd: 50, LineSame: 300}, count); diff != "" {
		t.Errorf("text lines (-want +got):\n%s", diff)
	}
	d, err = Text("f.csv", old, new, DiffOptions{MaxLines: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	count = map[string]int{}
	for _, r := range d.Table.Rows {
		count[r.Kind]++
		if r.Kind == RowChanged && (!r.Cells[2].Changed || r.Cells[0].Changed || r.Cells[1].Changed) {
			t.Errorf("row %d: changed cells %+v", r.New, r.Cells)
		}
	}
	if diff := cmp.Diff(map[string]int{RowChanged: 50, RowSame: 300}, count); diff != "" {
		t.Errorf("CSV rows (-want +got):\n%s", diff)
	}
}

// BenchmarkText5000 diffs a 5,000-line file with 50 changed lines, as text
// and as CSV, with the default caps (the text diff is cut at 400 lines).
func BenchmarkText5000(b *testing.B) {
	old, new := file5000()
	for _, name := range []string{"f.txt", "f.csv", "f.json"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(old) + len(new)))
			for b.Loop() {
				if _, err := Text(name, old, new, DiffOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTextJSON5000 diffs a JSON array of 5,000 objects with 50
// changed values, compared in canonical form.
func BenchmarkTextJSON5000(b *testing.B) {
	doc := func(changed bool) []byte {
		var sb strings.Builder
		sb.WriteString("[")
		for i := range 5000 {
			v := fmt.Sprint(i)
			if changed && i%100 == 50 {
				v += ".5"
			}
			fmt.Fprintf(&sb, `{"id":%d,"v":%s,"name":"line %d"},`, i, v, i)
		}
		sb.WriteString("{}]")
		return []byte(sb.String())
	}
	old, new := doc(false), doc(true)
	b.SetBytes(int64(len(old) + len(new)))
	for b.Loop() {
		d, err := Text("f.json", old, new, DiffOptions{MaxBytes: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		if d.Format != FormatJSON {
			b.Fatal(d.Note)
		}
	}
}

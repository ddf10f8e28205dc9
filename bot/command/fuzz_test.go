package command

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// maxComment is the longest comment GitHub accepts, in characters.
const maxComment = 65536

// adversarial returns comments of maxComment bytes built to make a Markdown
// parser slow: deep nesting, unclosed constructs and long delimiter runs.
// Each holds a command line first, so Parse cannot skip the Markdown parse.
func adversarial() []struct{ name, body string } {
	fill := func(units ...string) string {
		var b strings.Builder
		b.WriteString("BUILDBOT: UPDATE\n")
		for i := 0; b.Len() < maxComment; i++ {
			b.WriteString(units[i%len(units)])
		}
		return b.String()[:maxComment]
	}
	var runs []string // backtick runs of every length up to 300
	for i := 1; i <= 300; i++ {
		runs = append(runs, strings.Repeat("`", i)+"a")
	}
	return []struct{ name, body string }{
		{"backticks", fill("`")},
		{"backtick runs", fill(runs...)},
		{"backticks over lines", fill("`\nBUILDBOT: UPDATE ``\n")},
		{"nested quotes", fill(">")},
		{"nested quotes with spaces", fill("> ")},
		{"deep quote per line", fill(strings.Repeat(">", 200) + " BUILDBOT: UPDATE\n")},
		{"nested lists", fill("1. - * + ")},
		{"nested footnotes", fill("[^a]: ")},
		{"unclosed comments", fill("<!--")},
		{"unclosed inline comments", fill("a <!-- b\n")},
		{"unclosed tags", fill("<a href='")},
		{"unfinished tags, one a line", fill("<a\n")},
		{"lazy lines after deep lists", ("BUILDBOT: UPDATE\n" + strings.Repeat("- ", 16000) + "a\n" + strings.Repeat("b\n", maxComment))[:maxComment]},
		{"backslashes, one a line", fill("\\\n")},
		{"stars", fill("*")},
		{"stars and words", fill("*a _")},
		{"brackets", fill("[")},
		{"unclosed links", fill("[a](")},
		{"nested links", fill("[[a](b) ")},
		{"table", "| a | b |\n| - | - |\n" + fill("|a")},
		{"pipes", fill("|")},
		{"link definitions", fill("[a]: <")},
		{"zero-width spaces", fill("\u200b")},
		{"command lines", fill("BUILDBOT: UPDATE\n")},
		{"bad command lines", fill("BUILDBOT: UPDATE variant=x please\n")},
		{"mixed", fill("`*[<!--> _~|\\\n")},
		{"invalid UTF-8", fill("\xff\xfe\x00")},
	}
}

// TestParseAdversarial guards against a parser that goes quadratic. The
// bound is loose on purpose (race detector, slow CI machines); the figures
// to watch are BenchmarkParse64K's.
func TestParseAdversarial(t *testing.T) {
	for _, tc := range adversarial() {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := Parse(tc.body, "")
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Parse took %v for %d bytes", d, len(tc.body))
			}
			checkResult(t, tc.body, r)
		})
	}
}

// BenchmarkParse64K parses comments of the largest size GitHub accepts: the
// worst cases above, and an ordinary long comment.
func BenchmarkParse64K(b *testing.B) {
	cases := adversarial()
	ordinary := strings.Repeat("Thanks for the review. The new reference data changes\n"+
		"`results/*.csv` only; see <!-- hidden --> the table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"+
		"> BUILDBOT: UPDATE\n\n```\nBUILDBOT: STOP\n```\n\n", maxComment/150)
	cases = append(cases, struct{ name, body string }{"ordinary", ordinary[:maxComment-17] + "\nBUILDBOT: UPDATE"})
	for _, tc := range cases {
		b.Run(strings.ReplaceAll(tc.name, " ", "_"), func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				Parse(tc.body, "")
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.body, tc.prefix)
	}
	for _, tc := range adversarial() {
		f.Add(tc.body[:1024], "")
	}
	for _, s := range []string{
		strings.Repeat(">", 40) + " ```\nBUILDBOT: UPDATE",
		strings.Repeat("- ", 40) + "a\n\tb\nBUILDBOT: UPDATE",
		strings.Repeat("> - ", 20) + "a\n\n    BUILDBOT: STOP\nBUILDBOT: UPDATE",
		"  -\tx\n\t\tBUILDBOT: UPDATE\n> `a\nBUILDBOT: UPDATE`",
	} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, body, prefix string) {
		start := time.Now()
		r := Parse(body, prefix)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Parse took %v for %d bytes", d, len(body))
		}
		checkResult(t, body, r)
		// goldmark's own reader and the reference parse are quadratic in
		// places; small inputs are where the fuzzer finds structure anyway.
		if len(body) <= 4096 {
			src := normalizeNewlines(body)
			checkColumns(t, src)
			checkAgainstReference(t, src)
		}
	})
}

// checkResult checks what holds for any input: commands have a known verb
// and valid arguments, and every line reported is a line of the body, in
// order.
func checkResult(t *testing.T, body string, r Result) {
	t.Helper()
	lines := 1 + strings.Count(strings.ReplaceAll(body, "\r\n", "\n"), "\n") +
		strings.Count(strings.ReplaceAll(body, "\r\n", ""), "\r")
	prev := 0
	for _, c := range r.Commands {
		if !slices.Contains(Verbs, c.Verb) {
			t.Errorf("command %+v has an unknown verb", c)
		}
		if c.Line < 1 || c.Line > lines {
			t.Errorf("command %+v is on line %d of %d", c, c.Line, lines)
		}
		if c.Line <= prev {
			t.Errorf("command %+v is not after line %d", c, prev)
		}
		prev = c.Line
		if c.SHA != "" && (len(c.SHA) < minSHA || len(c.SHA) > maxSHA || strings.ToLower(c.SHA) != c.SHA || !hexRE.MatchString(c.SHA)) {
			t.Errorf("command %+v has a bad sha", c)
		}
		if c.Variant != "" && !variantRE.MatchString(c.Variant) {
			t.Errorf("command %+v has a bad variant", c)
		}
		if c.Verb != Update && c.All || c.Verb != Update && c.Verb != Website && c.SHA != "" || c.Verb != Update && c.Verb != Plan && c.Variant != "" {
			t.Errorf("command %+v has arguments its verb does not take", c)
		}
		if !utf8.ValidString(c.Raw) || strings.ContainsAny(c.Raw, "\n\r\x00\u200b") {
			t.Errorf("command %+v has a raw line that cannot be a command", c)
		}
	}
	for _, p := range r.Problems {
		if p.Line < 1 || p.Line > lines {
			t.Errorf("problem %+v is on line %d of %d", p, p.Line, lines)
		}
		if p.Reason == "" {
			t.Errorf("problem %+v has no reason", p)
		}
	}
}

package command

import (
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const verbsReason = "the verbs are UPDATE, PLAN, WEBSITE, STOP, STATUS, HELP"

// parseCase is shared with the fuzz test, which seeds its corpus from it.
type parseCase struct {
	name   string
	body   string
	prefix string // "" means the default
	want   Result
}

// cmds and probs keep the table readable.
func cmds(c ...Command) Result                   { return Result{Commands: c} }
func probs(p ...Problem) Result                  { return Result{Problems: p} }
func upd(line int, raw string) Command           { return Command{Verb: Update, Line: line, Raw: raw} }
func cmdOf(v Verb, line int, raw string) Command { return Command{Verb: v, Line: line, Raw: raw} }

var nothing = Result{}

var parseCases = []parseCase{
	// The basic form.
	{name: "plain", body: "BUILDBOT: UPDATE", want: cmds(upd(1, "BUILDBOT: UPDATE"))},
	{name: "plain with final newline", body: "BUILDBOT: UPDATE\n", want: cmds(upd(1, "BUILDBOT: UPDATE"))},
	{name: "lower case", body: "buildbot: update", want: cmds(upd(1, "buildbot: update"))},
	{name: "mixed case", body: "BuildBot: Update", want: cmds(upd(1, "BuildBot: Update"))},
	{name: "leading and trailing blanks", body: "   BUILDBOT: UPDATE \t ", want: cmds(upd(1, "BUILDBOT: UPDATE"))},
	{name: "no space after colon", body: "BUILDBOT:UPDATE", want: cmds(upd(1, "BUILDBOT:UPDATE"))},
	{name: "spaces and tab after colon", body: "BUILDBOT: \t  UPDATE", want: cmds(upd(1, "BUILDBOT: \t  UPDATE"))},
	{name: "blanks between arguments", body: "BUILDBOT: UPDATE \t --all", want: cmds(Command{Verb: Update, Line: 1, Raw: "BUILDBOT: UPDATE \t --all", All: true})},
	{name: "empty comment", body: "", want: nothing},
	{name: "prose only", body: "LGTM, thanks!\n\nWill merge tomorrow.", want: nothing},

	// On its own line, wherever in the comment.
	{name: "after prose in the same paragraph", body: "Looks good to me.\nBUILDBOT: UPDATE", want: cmds(upd(2, "BUILDBOT: UPDATE"))},
	{name: "before prose in the same paragraph", body: "BUILDBOT: UPDATE\nThanks!", want: cmds(upd(1, "BUILDBOT: UPDATE"))},
	{name: "indented continuation line of a paragraph", body: "Looks good.\n\tBUILDBOT: UPDATE", want: cmds(upd(2, "BUILDBOT: UPDATE"))},
	{name: "after a blank line", body: "Looks good.\n\nBUILDBOT: UPDATE\n", want: cmds(upd(3, "BUILDBOT: UPDATE"))},
	{name: "prose before the prefix", body: "Please run BUILDBOT: UPDATE", want: nothing},
	{name: "prose mentioning the prefix", body: "The BUILDBOT: prefix starts a command.", want: nothing},
	{name: "emphasized", body: "**BUILDBOT: UPDATE**", want: nothing},
	{name: "escaped colon", body: `BUILDBOT\: UPDATE`, want: nothing},
	{name: "after a link reference definition", body: "[docs]: https://example.org\nBUILDBOT: UPDATE", want: cmds(upd(2, "BUILDBOT: UPDATE"))},
	{name: "trailing text", body: "BUILDBOT: UPDATE thanks!", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE thanks!", Verb: "UPDATE",
		Reason: `UPDATE takes [sha] [--all] [variant=NAME]; "thanks!" is none of these`})},
	{name: "trailing please", body: "BUILDBOT: UPDATE please", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE please", Verb: "UPDATE",
		Reason: `UPDATE takes [sha] [--all] [variant=NAME]; "please" is none of these`})},

	// Quotes.
	{name: "quoted", body: "> BUILDBOT: UPDATE", want: nothing},
	{name: "quoted without space", body: ">BUILDBOT: UPDATE", want: nothing},
	{name: "nested quote", body: "> > BUILDBOT: UPDATE", want: nothing},
	{name: "nested quote without spaces", body: ">>> BUILDBOT: UPDATE", want: nothing},
	{name: "indented quote", body: "   > BUILDBOT: UPDATE", want: nothing},
	{name: "lazy continuation of a quote", body: "> Could you refresh the data?\nBUILDBOT: UPDATE", want: nothing},
	{name: "lazy continuation of a nested quote", body: "> > Could you?\nBUILDBOT: UPDATE", want: nothing},
	{name: "after a quote and a blank line", body: "> Could you refresh the data?\n\nBUILDBOT: UPDATE", want: cmds(upd(3, "BUILDBOT: UPDATE"))},
	{name: "GitHub quote reply", body: "> BUILDBOT: UPDATE\n\nThanks!", want: nothing},
	{name: "email reply", body: "Done, thanks.\n\nOn Tue, Mar 3, 2026 at 10:12 AM Jane Maintainer <notifications@github.com> wrote:\n\n> BUILDBOT: UPDATE\n>\n> —\n> Reply to this email directly, view it on GitHub.\n> You are receiving this because you authored the thread.", want: nothing},
	{name: "email reply without blank line before the quote", body: "Done.\nOn Tue, Mar 3, 2026 Jane <jane@example.org> wrote:\n> BUILDBOT: UPDATE\n> BUILDBOT: STOP", want: nothing},

	// Code.
	{name: "backtick fence", body: "```\nBUILDBOT: UPDATE\n```", want: nothing},
	{name: "tilde fence", body: "~~~\nBUILDBOT: UPDATE\n~~~", want: nothing},
	{name: "fence with info string", body: "```console\n$ echo hi\nBUILDBOT: UPDATE\n```", want: nothing},
	{name: "longer fence", body: "````\n```\nBUILDBOT: UPDATE\n```\n````", want: nothing},
	{name: "unclosed fence", body: "Try this:\n```\nBUILDBOT: UPDATE\n\nBUILDBOT: STOP", want: nothing},
	{name: "after a closed fence", body: "```\nBUILDBOT: STOP\n```\nBUILDBOT: UPDATE", want: cmds(upd(4, "BUILDBOT: UPDATE"))},
	{name: "indented code", body: "Example:\n\n    BUILDBOT: UPDATE", want: nothing},
	{name: "indented code at start", body: "    BUILDBOT: UPDATE", want: nothing},
	{name: "tab-indented code", body: "\tBUILDBOT: UPDATE", want: nothing},
	{name: "inline code", body: "`BUILDBOT: UPDATE`", want: nothing},
	{name: "inline code in prose", body: "Write `BUILDBOT: UPDATE` on its own line.", want: nothing},
	{name: "inline code over lines", body: "Write ``\nBUILDBOT: UPDATE\n`` on its own line.", want: nothing},
	{name: "inline code opened on the command line", body: "BUILDBOT: UPDATE `\nsee above`", want: nothing},
	{name: "unmatched backtick", body: "Hmm `\nBUILDBOT: UPDATE", want: cmds(upd(2, "BUILDBOT: UPDATE"))},

	// HTML.
	{name: "HTML comment", body: "<!-- BUILDBOT: UPDATE -->", want: nothing},
	{name: "HTML comment over lines", body: "<!--\nBUILDBOT: UPDATE\n-->\nThanks", want: nothing},
	{name: "HTML comment inline", body: "BUILDBOT: UPDATE <!-- after the release -->", want: nothing},
	{name: "HTML comment inline over lines", body: "Later <!--\nBUILDBOT: UPDATE\n--> maybe", want: nothing},
	{name: "unclosed HTML comment", body: "<!--\nBUILDBOT: UPDATE\n\nBUILDBOT: STOP", want: nothing},
	{name: "after an HTML comment", body: "<!-- template -->\n\nBUILDBOT: UPDATE", want: cmds(upd(3, "BUILDBOT: UPDATE"))},
	{name: "HTML block", body: "<div>\nBUILDBOT: UPDATE\n</div>", want: nothing},
	{name: "HTML details block", body: "<details>\n<summary>log</summary>\nBUILDBOT: UPDATE\n</details>", want: nothing},
	// A blank line ends an HTML block, and what follows is Markdown again:
	// GitHub shows it as text (inside the open <details>), so it counts.
	{name: "paragraph between HTML blocks", body: "<details>\n\nBUILDBOT: UPDATE\n\n</details>", want: cmds(upd(3, "BUILDBOT: UPDATE"))},
	{name: "inline HTML tag", body: "BUILDBOT: UPDATE <br>", want: nothing},

	// Other blocks.
	{name: "bullet list item", body: "- BUILDBOT: UPDATE", want: nothing},
	{name: "ordered list item", body: "1. BUILDBOT: UPDATE", want: nothing},
	{name: "task list item", body: "- [ ] BUILDBOT: UPDATE", want: nothing},
	{name: "lazy continuation of a list item", body: "- refresh the data\nBUILDBOT: UPDATE", want: nothing},
	{name: "ATX heading", body: "## BUILDBOT: UPDATE", want: nothing},
	{name: "setext heading", body: "BUILDBOT: UPDATE\n================", want: nothing},
	{name: "table row", body: "| verb | note |\n| --- | --- |\nBUILDBOT: UPDATE", want: nothing},
	{name: "footnote", body: "See note.[^1]\n\n[^1]: Later:\n    BUILDBOT: UPDATE", want: nothing},
	// Containers nest at most maxNesting deep; past that the rest of the
	// line is paragraph text, which keeps later lines lazy. GitHub closes
	// the quote at line 2 and shows it as text; refbot misses the command.
	{name: "after a fence in a quote nested past the limit", body: strings.Repeat(">", 40) + " ```\nBUILDBOT: UPDATE", want: nothing},
	{name: "lazy line of a quote nested past the limit", body: strings.Repeat("> ", 40) + "a\nBUILDBOT: UPDATE", want: nothing},
	{name: "after a blank line after a quote nested past the limit", body: strings.Repeat(">", 40) + " a\n\nBUILDBOT: UPDATE", want: cmds(upd(3, "BUILDBOT: UPDATE"))},
	{name: "after a list nested past the limit", body: strings.Repeat("- ", 40) + "a\n\nBUILDBOT: UPDATE", want: cmds(upd(3, "BUILDBOT: UPDATE"))},
	{name: "after a thematic break", body: "---\nBUILDBOT: UPDATE", want: cmds(upd(2, "BUILDBOT: UPDATE"))},

	// Several commands.
	{name: "several commands", body: "BUILDBOT: PLAN\nBUILDBOT: UPDATE\n\nThanks!\n\nBUILDBOT: STATUS",
		want: cmds(cmdOf(Plan, 1, "BUILDBOT: PLAN"), upd(2, "BUILDBOT: UPDATE"), cmdOf(Status, 6, "BUILDBOT: STATUS"))},
	{name: "same command twice", body: "BUILDBOT: UPDATE\nBUILDBOT: UPDATE", want: cmds(upd(1, "BUILDBOT: UPDATE"), upd(2, "BUILDBOT: UPDATE"))},
	{name: "commands and problems in order", body: "BUILDBOT: UPDATE\nBUILDBOT: DEPLOY\nBUILDBOT: STOP", want: Result{
		Commands: []Command{upd(1, "BUILDBOT: UPDATE"), cmdOf(Stop, 3, "BUILDBOT: STOP")},
		Problems: []Problem{{Line: 2, Raw: "BUILDBOT: DEPLOY", Verb: "DEPLOY", Reason: `"DEPLOY" is not a verb; ` + verbsReason}},
	}},

	// UPDATE's arguments.
	{name: "UPDATE with short sha", body: "BUILDBOT: UPDATE 0123abc", want: cmds(Command{Verb: Update, Line: 1, Raw: "BUILDBOT: UPDATE 0123abc", SHA: "0123abc"})},
	{name: "UPDATE with upper-case full sha", body: "BUILDBOT: UPDATE 0123456789ABCDEF0123456789abcdef01234567",
		want: cmds(Command{Verb: Update, Line: 1, Raw: "BUILDBOT: UPDATE 0123456789ABCDEF0123456789abcdef01234567", SHA: "0123456789abcdef0123456789abcdef01234567"})},
	{name: "UPDATE --all", body: "BUILDBOT: UPDATE --all", want: cmds(Command{Verb: Update, Line: 1, Raw: "BUILDBOT: UPDATE --all", All: true})},
	{name: "UPDATE --ALL", body: "BUILDBOT: update --ALL", want: cmds(Command{Verb: Update, Line: 1, Raw: "BUILDBOT: update --ALL", All: true})},
	{name: "UPDATE variant", body: "BUILDBOT: UPDATE variant=linux-gcc_12.3+asan", want: cmds(Command{Verb: Update, Line: 1, Raw: "BUILDBOT: UPDATE variant=linux-gcc_12.3+asan", Variant: "linux-gcc_12.3+asan"})},
	{name: "UPDATE variant keeps its case", body: "BUILDBOT: UPDATE VARIANT=MacOS", want: cmds(Command{Verb: Update, Line: 1, Raw: "BUILDBOT: UPDATE VARIANT=MacOS", Variant: "MacOS"})},
	{name: "UPDATE all three", body: "BUILDBOT: UPDATE deadBEEF --all variant=win64",
		want: cmds(Command{Verb: Update, Line: 1, Raw: "BUILDBOT: UPDATE deadBEEF --all variant=win64", SHA: "deadbeef", All: true, Variant: "win64"})},
	{name: "UPDATE all three in another order", body: "BUILDBOT: UPDATE variant=win64 deadbeef --all",
		want: cmds(Command{Verb: Update, Line: 1, Raw: "BUILDBOT: UPDATE variant=win64 deadbeef --all", SHA: "deadbeef", All: true, Variant: "win64"})},
	{name: "UPDATE two shas", body: "BUILDBOT: UPDATE deadbeef 0123abc", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE deadbeef 0123abc", Verb: "UPDATE",
		Reason: `UPDATE takes [sha] [--all] [variant=NAME]; a second sha "0123abc" is one too many`})},
	{name: "UPDATE --all twice", body: "BUILDBOT: UPDATE --all --all", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE --all --all", Verb: "UPDATE",
		Reason: `UPDATE takes [sha] [--all] [variant=NAME]; "--all" is given twice`})},
	{name: "UPDATE two variants", body: "BUILDBOT: UPDATE variant=a variant=b", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE variant=a variant=b", Verb: "UPDATE",
		Reason: `UPDATE takes [sha] [--all] [variant=NAME]; variant= is given twice`})},
	{name: "UPDATE sha too short", body: "BUILDBOT: UPDATE abc12", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE abc12", Verb: "UPDATE",
		Reason: `UPDATE takes [sha] [--all] [variant=NAME]; "abc12" is too short for a sha, which has 7 to 40 hex characters`})},
	{name: "UPDATE sha too long", body: "BUILDBOT: UPDATE " + strings.Repeat("a", 41), want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE " + strings.Repeat("a", 41), Verb: "UPDATE",
		Reason: `UPDATE takes [sha] [--all] [variant=NAME]; "` + strings.Repeat("a", 41) + `" is too long for a sha, which has 7 to 40 hex characters`})},
	{name: "UPDATE sha not hex", body: "BUILDBOT: UPDATE 0123abg", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE 0123abg", Verb: "UPDATE",
		Reason: `UPDATE takes [sha] [--all] [variant=NAME]; "0123abg" is not a sha, which has 7 to 40 hex characters (0-9, a-f)`})},
	{name: "UPDATE empty variant", body: "BUILDBOT: UPDATE variant=", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE variant=", Verb: "UPDATE",
		Reason: `"" is not a variant name: it has 1 to 64 letters, digits, '.', '_', '+' or '-', and starts with a letter or digit`})},
	{name: "UPDATE variant with slash", body: "BUILDBOT: UPDATE variant=../x", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE variant=../x", Verb: "UPDATE",
		Reason: `"../x" is not a variant name: it has 1 to 64 letters, digits, '.', '_', '+' or '-', and starts with a letter or digit`})},
	{name: "UPDATE variant of 64", body: "BUILDBOT: UPDATE variant=" + strings.Repeat("v", 64),
		want: cmds(Command{Verb: Update, Line: 1, Raw: "BUILDBOT: UPDATE variant=" + strings.Repeat("v", 64), Variant: strings.Repeat("v", 64)})},
	{name: "UPDATE variant of 65", body: "BUILDBOT: UPDATE variant=" + strings.Repeat("v", 65), want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE variant=" + strings.Repeat("v", 65), Verb: "UPDATE",
		Reason: `"` + strings.Repeat("v", 65) + `" is not a variant name: it has 1 to 64 letters, digits, '.', '_', '+' or '-', and starts with a letter or digit`})},
	{name: "UPDATE -all", body: "BUILDBOT: UPDATE -all", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE -all", Verb: "UPDATE",
		Reason: `UPDATE takes [sha] [--all] [variant=NAME]; "-all" is none of these`})},

	// The other verbs.
	{name: "PLAN", body: "BUILDBOT: PLAN", want: cmds(cmdOf(Plan, 1, "BUILDBOT: PLAN"))},
	{name: "PLAN variant", body: "BUILDBOT: plan variant=win64", want: cmds(Command{Verb: Plan, Line: 1, Raw: "BUILDBOT: plan variant=win64", Variant: "win64"})},
	{name: "PLAN --all", body: "BUILDBOT: PLAN --all", want: probs(Problem{Line: 1, Raw: "BUILDBOT: PLAN --all", Verb: "PLAN",
		Reason: `PLAN takes [variant=NAME]; "--all" is not that`})},
	{name: "WEBSITE", body: "BUILDBOT: WEBSITE", want: cmds(cmdOf(Website, 1, "BUILDBOT: WEBSITE"))},
	{name: "WEBSITE sha", body: "BUILDBOT: WEBSITE ABCDEF1", want: cmds(Command{Verb: Website, Line: 1, Raw: "BUILDBOT: WEBSITE ABCDEF1", SHA: "abcdef1"})},
	{name: "WEBSITE --all", body: "BUILDBOT: WEBSITE --all", want: probs(Problem{Line: 1, Raw: "BUILDBOT: WEBSITE --all", Verb: "WEBSITE",
		Reason: `WEBSITE takes [sha]; "--all" is not that`})},
	{name: "WEBSITE two shas", body: "BUILDBOT: WEBSITE abcdef1 1234567", want: probs(Problem{Line: 1, Raw: "BUILDBOT: WEBSITE abcdef1 1234567", Verb: "WEBSITE",
		Reason: `WEBSITE takes [sha]; a second sha "1234567" is one too many`})},
	{name: "STOP", body: "BUILDBOT: STOP", want: cmds(cmdOf(Stop, 1, "BUILDBOT: STOP"))},
	{name: "SLAVE-STOP", body: "BUILDBOT: SLAVE-STOP", want: cmds(cmdOf(Stop, 1, "BUILDBOT: SLAVE-STOP"))},
	{name: "slave-stop", body: "buildbot: slave-stop", want: cmds(cmdOf(Stop, 1, "buildbot: slave-stop"))},
	{name: "STATUS", body: "BUILDBOT: STATUS", want: cmds(cmdOf(Status, 1, "BUILDBOT: STATUS"))},
	{name: "HELP", body: "BUILDBOT: help", want: cmds(cmdOf(Help, 1, "BUILDBOT: help"))},
	{name: "STOP with an argument", body: "BUILDBOT: STOP now please", want: probs(Problem{Line: 1, Raw: "BUILDBOT: STOP now please", Verb: "STOP",
		Reason: `STOP takes no arguments; remove "now please"`})},
	{name: "unknown verb", body: "BUILDBOT: DEPLOY", want: probs(Problem{Line: 1, Raw: "BUILDBOT: DEPLOY", Verb: "DEPLOY",
		Reason: `"DEPLOY" is not a verb; ` + verbsReason})},
	{name: "no verb", body: "BUILDBOT:", want: probs(Problem{Line: 1, Raw: "BUILDBOT:",
		Reason: "there is no verb after BUILDBOT:; " + verbsReason})},
	{name: "look-alike letter is no verb", body: "BUILDBOT: \u017ftop", want: probs(Problem{Line: 1, Raw: "BUILDBOT: \u017ftop", Verb: "\u017ftop",
		Reason: "\"\u017ftop\" is not a verb (it holds U+017F, which is not an ASCII letter); " + verbsReason})},
	{name: "Cyrillic letter is no verb", body: "BUILDBOT: UPD\u0410TE", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPD\u0410TE", Verb: "UPD\u0410TE",
		Reason: "\"UPD\u0410TE\" is not a verb (it holds U+0410, which is not an ASCII letter); " + verbsReason})},
	{name: "Kelvin sign is no K", body: "\u212aBOT: UPDATE", prefix: "KBOT:", want: nothing},

	// Prefixes.
	{name: "other prefix", body: "refbot: update", prefix: "REFBOT:", want: cmds(upd(1, "refbot: update"))},
	{name: "default prefix ignored when another is set", body: "BUILDBOT: UPDATE", prefix: "REFBOT:", want: nothing},
	{name: "prefix without colon", body: "/refbot update", prefix: "/refbot", want: cmds(upd(1, "/refbot update"))},
	{name: "prefix without colon is a whole word", body: "/refbots update", prefix: "/refbot", want: nothing},
	{name: "prefix given with blanks", body: "BUILDBOT: UPDATE", prefix: " BUILDBOT: ", want: cmds(upd(1, "BUILDBOT: UPDATE"))},

	// Line endings and characters.
	{name: "CRLF", body: "Thanks!\r\nBUILDBOT: UPDATE\r\n\r\nBUILDBOT: STOP\r\n", want: cmds(upd(2, "BUILDBOT: UPDATE"), cmdOf(Stop, 4, "BUILDBOT: STOP"))},
	{name: "CR", body: "Thanks!\rBUILDBOT: UPDATE\r", want: cmds(upd(2, "BUILDBOT: UPDATE"))},
	{name: "CRLF fence", body: "```\r\nBUILDBOT: UPDATE\r\n```\r\n", want: nothing},
	{name: "zero-width space after the verb", body: "BUILDBOT: UPDATE\u200b", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE\u200b",
		Reason: "an invisible character (U+200B) is in the line; a command holds only visible characters, so retype it by hand"})},
	{name: "zero-width space after the colon", body: "BUILDBOT:\u200bUPDATE", want: probs(Problem{Line: 1, Raw: "BUILDBOT:\u200bUPDATE",
		Reason: "an invisible character (U+200B) is in the line; a command holds only visible characters, so retype it by hand"})},
	{name: "zero-width joiner in the prefix", body: "BUILD\u200dBOT: UPDATE", want: nothing},
	{name: "no-break space", body: "BUILDBOT: UPDATE\u00a0--all", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE\u00a0--all",
		Reason: "an invisible character (U+00A0) is in the line; a command holds only visible characters, so retype it by hand"})},
	// A control character is no typing accident: such a line is ignored,
	// not answered (an answer would echo it back).
	{name: "NUL", body: "BUILDBOT: UPDATE\x00", want: nothing},
	{name: "NUL before a command", body: "BUILDBOT: UPDATE\x00\nBUILDBOT: STOP", want: cmds(cmdOf(Stop, 2, "BUILDBOT: STOP"))},
	{name: "escape sequence", body: "BUILDBOT: UPDATE \x1b[31m", want: nothing},
	{name: "DEL", body: "BUILDBOT: HELP\x7f", want: nothing},
	{name: "tab is a blank", body: "BUILDBOT:\tUPDATE", want: cmds(upd(1, "BUILDBOT:\tUPDATE"))},
	{name: "invalid UTF-8", body: "BUILDBOT: UPDATE \xff", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE \xff",
		Reason: "a byte that is not UTF-8 (0xff) is in the line; a command holds only visible characters, so retype it by hand"})},
	{name: "invalid UTF-8 elsewhere", body: "caf\xe9\nBUILDBOT: UPDATE", want: cmds(upd(2, "BUILDBOT: UPDATE"))},
	{name: "replacement character as written", body: "BUILDBOT: UPDATE \ufffd", want: probs(Problem{Line: 1, Raw: "BUILDBOT: UPDATE \ufffd", Verb: "UPDATE",
		Reason: "UPDATE takes [sha] [--all] [variant=NAME]; \"\ufffd\" is none of these"})},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Parse(tc.body, tc.prefix)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tc.body, diff)
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	cases := []struct {
		name string
		body string
		want bool
	}{
		{name: "prose", body: "LGTM", want: true},
		{name: "quoted command", body: "> BUILDBOT: UPDATE", want: true},
		{name: "command", body: "BUILDBOT: UPDATE", want: false},
		{name: "problem only", body: "BUILDBOT: DEPLOY", want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Parse(tc.body, "").Empty(); got != tc.want {
				t.Errorf("Parse(%q).Empty() = %v, want %v", tc.body, got, tc.want)
			}
		})
	}
}

// TestVerbs keeps Verbs, the aliases and the reply listing the verbs in step.
func TestVerbs(t *testing.T) {
	want := []Verb{Update, Plan, Website, Stop, Status, Help}
	if diff := cmp.Diff(want, Verbs); diff != "" {
		t.Errorf("Verbs (-want +got):\n%s", diff)
	}
	for _, v := range Verbs {
		got := Parse("BUILDBOT: "+string(v), "")
		if len(got.Commands) != 1 || got.Commands[0].Verb != v {
			t.Errorf("Parse(%q) = %+v, want the verb %s", "BUILDBOT: "+v, got, v)
		}
	}
}

// TestParseConcurrent runs Parse from several goroutines, for the race
// detector: the handlers parse comments of different deliveries at once.
func TestParseConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, tc := range parseCases {
				Parse(tc.body, tc.prefix)
			}
		})
	}
	wg.Wait()
}

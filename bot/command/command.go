// Package command finds the commands that a pull-request comment addresses to
// refbot (docs/design.md, "Command grammar"): lines that read "BUILDBOT: VERB [args]" on their own,
// in the comment's Markdown as GitHub renders it, outside code, quotes and
// HTML. Parsing never fails: it returns what it found, commands to run and
// problems to reply to, and an empty result means the comment was not for us.
package command

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultPrefix starts a command line when Parse is given no prefix.
const DefaultPrefix = "BUILDBOT:"

// Verb is what a command asks for, in its canonical upper-case spelling.
type Verb string

// The verbs, as docs/design.md ("Command grammar") describes them.
const (
	Update  Verb = "UPDATE"
	Plan    Verb = "PLAN"
	Website Verb = "WEBSITE"
	Stop    Verb = "STOP"
	Status  Verb = "STATUS"
	Help    Verb = "HELP"
)

// Verbs lists every verb in the order HELP shows them.
var Verbs = []Verb{Update, Plan, Website, Stop, Status, Help}

// aliases maps every accepted spelling, upper-cased, to its verb. SLAVE-STOP
// is the name the original bot used; people still type it.
var aliases = map[string]Verb{
	"UPDATE":     Update,
	"PLAN":       Plan,
	"WEBSITE":    Website,
	"STOP":       Stop,
	"SLAVE-STOP": Stop,
	"STATUS":     Status,
	"HELP":       Help,
}

// Command is one line that refbot can run.
type Command struct {
	Verb    Verb   // canonical (SLAVE-STOP, the original name, becomes STOP)
	Line    int    // 1-based line number in the comment
	Raw     string // the line as written, trimmed
	SHA     string // UPDATE [sha], WEBSITE [sha]: a 7–40 character hex head sha, lower-cased
	All     bool   // UPDATE --all (confirms a large change)
	Variant string // UPDATE variant=NAME (one variant of a matrix build)
}

// Problem is a line addressed to refbot that it cannot run: no verb, an
// unknown verb, bad arguments or characters that do not belong in a command.
// Reason is written for the person who typed the line and says what to change.
type Problem struct {
	Line   int    // 1-based line number in the comment
	Raw    string // the line as written, trimmed
	Verb   string // the canonical verb if it is known, else the word as written ("" if none)
	Reason string
}

// Result is everything a comment addresses to refbot, in the order written.
type Result struct {
	Commands []Command
	Problems []Problem
}

// Empty reports whether nothing in the comment was addressed to refbot, so
// the caller need neither act nor reply.
func (r Result) Empty() bool { return len(r.Commands) == 0 && len(r.Problems) == 0 }

var (
	// A sha is checked for length separately so the reply can say which way
	// it is wrong.
	hexRE     = regexp.MustCompile(`^[0-9A-Fa-f]+$`)
	variantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
)

const (
	minSHA = 7
	maxSHA = 40
)

// Parse returns the commands and problems in a comment body, in order. prefix
// is the configured prefix, e.g. "BUILDBOT:"; empty means DefaultPrefix. The
// same command written twice is returned twice: whether to run it twice is
// the caller's decision. A line holding a control character (NUL, an escape
// sequence …) is neither a command nor a problem.
func Parse(body, prefix string) Result {
	prefix = strings.Trim(prefix, " \t")
	if prefix == "" {
		prefix = DefaultPrefix
	}
	src := normalizeNewlines(body)

	var r Result
	// Most comments address nobody: skip the Markdown parse when no line
	// could be a command.
	if !anyLineHasPrefix(src, prefix) {
		return r
	}
	for _, ln := range standaloneLines(src) {
		raw := strings.Trim(ln.text, " \t")
		rest, ok := cutPrefix(raw, prefix)
		if !ok || hasControl(raw) {
			continue
		}
		cmd, reason, verb := parseCommand(rest, prefix)
		if reason != "" {
			r.Problems = append(r.Problems, Problem{Line: ln.number, Raw: raw, Verb: verb, Reason: reason})
			continue
		}
		cmd.Line, cmd.Raw = ln.number, raw
		r.Commands = append(r.Commands, cmd)
	}
	return r
}

// normalizeNewlines turns \r\n and a lone \r, which CommonMark treats as
// line endings too, into \n, so that line numbers and byte offsets are in
// one system.
func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

func anyLineHasPrefix(src, prefix string) bool {
	for line := range strings.Lines(src) {
		if _, ok := cutPrefix(strings.Trim(line, " \t\n"), prefix); ok {
			return true
		}
	}
	return false
}

// cutPrefix returns what follows prefix in line, without the blanks after it.
// The comparison folds ASCII letters only: Unicode folding would let look-alikes
// such as U+017F (ſ, which folds to s) or U+212A (the Kelvin sign) spell a
// command that a reader does not see. A prefix that ends in a letter or digit
// must be followed by a blank or the end, so "refbot" does not match "refbots".
func cutPrefix(line, prefix string) (string, bool) {
	if len(line) < len(prefix) || !asciiEqualFold(line[:len(prefix)], prefix) {
		return "", false
	}
	rest := line[len(prefix):]
	if last := prefix[len(prefix)-1]; isASCIIAlnum(last) && rest != "" && !isBlank(rune(rest[0])) {
		return "", false
	}
	return strings.TrimLeft(rest, " \t"), true
}

// parseCommand reads what follows the prefix. It returns either a command or
// a reason it is not one, with the verb the reason is about.
func parseCommand(rest, prefix string) (cmd Command, reason, verb string) {
	if c, ok := hiddenChar(rest); ok {
		return cmd, c + " is in the line; a command holds only visible characters, so retype it by hand", ""
	}
	fields := strings.FieldsFunc(rest, isBlank)
	if len(fields) == 0 {
		return cmd, fmt.Sprintf("there is no verb after %s; the verbs are %s", prefix, verbList()), ""
	}
	v, ok := lookupVerb(fields[0])
	if !ok {
		return cmd, fmt.Sprintf("%q is not a verb%s; the verbs are %s", fields[0], nonASCII(fields[0]), verbList()), fields[0]
	}
	cmd.Verb = v
	args := fields[1:]
	switch v {
	case Update:
		reason = parseUpdate(&cmd, args)
	case Plan:
		reason = parsePlan(&cmd, args)
	case Website:
		reason = parseWebsite(&cmd, args)
	default:
		if len(args) > 0 {
			reason = fmt.Sprintf("%s takes no arguments; remove %q", v, strings.Join(args, " "))
		}
	}
	if reason != "" {
		return Command{}, reason, string(v)
	}
	return cmd, "", ""
}

const updateSyntax = "UPDATE takes [sha] [--all] [variant=NAME]"

func parseUpdate(cmd *Command, args []string) string {
	for _, a := range args {
		switch {
		case asciiEqualFold(a, "--all"):
			if cmd.All {
				return updateSyntax + `; "--all" is given twice`
			}
			cmd.All = true
		case hasPrefixFold(a, "variant="):
			if reason := setVariant(cmd, a, updateSyntax); reason != "" {
				return reason
			}
		default:
			if reason, ok := takeSHA(cmd, a, updateSyntax); ok || reason != "" {
				if reason != "" {
					return reason
				}
				continue
			}
			return fmt.Sprintf("%s; %q is none of these", updateSyntax, a)
		}
	}
	return ""
}

// takeSHA takes arg into cmd as its sha when it is one (ok); reason says,
// after syntax, why an arg that looks like a sha cannot be taken.
func takeSHA(cmd *Command, arg, syntax string) (reason string, ok bool) {
	switch {
	case hexRE.MatchString(arg):
		switch {
		case cmd.SHA != "":
			return fmt.Sprintf("%s; a second sha %q is one too many", syntax, arg), false
		case len(arg) < minSHA:
			return fmt.Sprintf("%s; %q is too short for a sha, which has %d to %d hex characters", syntax, arg, minSHA, maxSHA), false
		case len(arg) > maxSHA:
			return fmt.Sprintf("%s; %q is too long for a sha, which has %d to %d hex characters", syntax, arg, minSHA, maxSHA), false
		}
		cmd.SHA = strings.ToLower(arg)
		return "", true
	case looksLikeSHA(arg):
		return fmt.Sprintf("%s; %q is not a sha, which has %d to %d hex characters (0-9, a-f)", syntax, arg, minSHA, maxSHA), false
	}
	return "", false
}

// parseWebsite reads WEBSITE [sha]: the docs of that head, only if it is
// still the head.
func parseWebsite(cmd *Command, args []string) string {
	const syntax = "WEBSITE takes [sha]"
	for _, a := range args {
		if reason, ok := takeSHA(cmd, a, syntax); !ok {
			if reason == "" {
				reason = fmt.Sprintf("%s; %q is not that", syntax, a)
			}
			return reason
		}
	}
	return ""
}

// setVariant takes a variant=NAME argument into cmd; the reason it cannot
// (given twice, a bad name) is said after syntax.
func setVariant(cmd *Command, arg, syntax string) string {
	if cmd.Variant != "" {
		return syntax + "; variant= is given twice"
	}
	name, reason := parseVariant(arg)
	if reason != "" {
		return reason
	}
	cmd.Variant = name
	return ""
}

func parsePlan(cmd *Command, args []string) string {
	const syntax = "PLAN takes [variant=NAME]"
	for _, a := range args {
		switch {
		case hasPrefixFold(a, "variant="):
			if reason := setVariant(cmd, a, syntax); reason != "" {
				return reason
			}
		default:
			return fmt.Sprintf("%s; %q is not that", syntax, a)
		}
	}
	return ""
}

// parseVariant checks the NAME of a variant=NAME argument. The name is kept
// as written: variant names are case-sensitive in the build matrix.
func parseVariant(arg string) (name, reason string) {
	name = arg[len("variant="):]
	if !variantRE.MatchString(name) {
		return "", fmt.Sprintf("%q is not a variant name: it has 1 to 64 letters, digits, '.', '_', '+' or '-', and starts with a letter or digit", name)
	}
	return name, ""
}

// looksLikeSHA tells a mistyped sha ("g1b2c3d4") from a stray word
// ("please"), so the reply can say what a sha looks like.
func looksLikeSHA(s string) bool {
	if len(s) < minSHA || len(s) > maxSHA {
		return false
	}
	digit := false
	for i := 0; i < len(s); i++ {
		if !isASCIIAlnum(s[i]) {
			return false
		}
		digit = digit || ('0' <= s[i] && s[i] <= '9')
	}
	return digit
}

func lookupVerb(word string) (Verb, bool) {
	for i := 0; i < len(word); i++ {
		if word[i] >= utf8.RuneSelf {
			return "", false
		}
	}
	v, ok := aliases[strings.ToUpper(word)]
	return v, ok
}

// nonASCII points out a letter that looks Latin but is not, such as
// U+017F (ſ) or a Cyrillic А, which the reader cannot see in the quoted word.
func nonASCII(word string) string {
	for _, r := range word {
		if r >= utf8.RuneSelf {
			return fmt.Sprintf(" (it holds %U, which is not an ASCII letter)", r)
		}
	}
	return ""
}

func verbList() string {
	s := make([]string, len(Verbs))
	for i, v := range Verbs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// hiddenChar finds a character that a reader cannot see or tell from a
// space: zero-width and other format characters, spaces other than the
// ASCII space and tab, variation selectors, fillers, and bytes that are not
// UTF-8. Such a line is reported, not cleaned up: what runs must be what the
// maintainer saw. It returns a description for the reply. (A line with a
// control character never gets here: see hasControl.)
func hiddenChar(s string) (string, bool) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Sprintf("a byte that is not UTF-8 (%#x)", s[i]), true
			}
			continue
		}
		if r == ' ' || r == '\t' {
			continue
		}
		if r == '\u2800' || unicode.In(r,
			unicode.Cf, unicode.White_Space, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
			return fmt.Sprintf("an invisible character (%U)", r), true
		}
	}
	return "", false
}

// hasControl reports a control character other than the tab: a line with
// one (a NUL, an escape sequence, a lone carriage return) is not a command
// at all and is not answered, since what it shows depends on where it is
// read.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r != '\t' && unicode.IsControl(r) })
}

func isBlank(r rune) bool { return r == ' ' || r == '\t' }

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if toUpperASCII(a[i]) != toUpperASCII(b[i]) {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && asciiEqualFold(s[:len(prefix)], prefix)
}

func toUpperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

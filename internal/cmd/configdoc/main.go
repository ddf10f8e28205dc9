// Command configdoc writes docs/configuration.md, the reference of refbot's
// configuration file, from the config package itself, so that the two
// cannot drift (main_test.go fails when the committed file differs from
// what this writes):
//
//   - the keys, in the order of the struct fields, and their types, from
//     the yaml tags and Go types of config.Config;
//   - their defaults, from config.Default and from what config.Load
//     derives for a file that leaves them out;
//   - what they mean, from the doc comments in config/*.go, where a
//     field's Go name reads as its key.
//
// A key without a comment is an error: every key is documented.
//
// Run it as `go generate ./internal/cmd/configdoc` or `make docs`.
//
//go:generate go run . -o ../../../docs/configuration.md
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/refbot/refbot/config"
)

func main() {
	out := flag.String("o", "", "write the reference to this file (default: standard output)")
	flag.Parse()
	root, err := moduleRoot()
	if err == nil {
		var doc []byte
		if doc, err = Render(filepath.Join(root, "config")); err == nil {
			if *out == "" {
				_, err = os.Stdout.Write(doc)
			} else {
				err = os.WriteFile(*out, doc, 0o644)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}

// moduleRoot is the folder holding go.mod, above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Render returns the reference, reading the doc comments from the config
// package's source in dir.
func Render(dir string) ([]byte, error) {
	docs, err := readDocs(dir)
	if err != nil {
		return nil, err
	}
	defaults, err := loadDefaults()
	if err != nil {
		return nil, err
	}
	g := &generator{docs: docs, defaults: defaults}
	g.walk(reflect.TypeFor[config.Config](), nil, "")
	if len(g.missing) > 0 {
		return nil, fmt.Errorf("these keys have no doc comment in config/*.go; say what each means there:\n  %s",
			strings.Join(g.missing, "\n  "))
	}
	if len(g.errs) > 0 {
		return nil, errors.Join(g.errs...)
	}
	return g.write(), nil
}

// docs are the doc comments of the config package's types, and the names
// it declares.
type docs struct {
	types map[string]*typeDoc
	names map[string]bool // types, constants, variables, functions and methods
}

// typeDoc is the doc comments of one type of the config package.
type typeDoc struct {
	doc    string
	fields map[string]string // by Go field name: its doc, or its line comment
	order  []string          // the fields, as declared
}

// readDocs reads the doc comments of the types declared in the non-test Go
// files of dir, and the names they declare.
func readDocs(dir string) (*docs, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	d := &docs{types: map[string]*typeDoc{}, names: map[string]bool{}}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok {
				d.names[fn.Name.Name] = true
				continue
			}
			gen, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			if gen.Tok == token.CONST || gen.Tok == token.VAR {
				for _, spec := range gen.Specs {
					for _, n := range spec.(*ast.ValueSpec).Names {
						d.names[n.Name] = true
					}
				}
			}
			if gen.Tok != token.TYPE {
				continue
			}
			for _, spec := range gen.Specs {
				ts := spec.(*ast.TypeSpec)
				d.names[ts.Name.Name] = true
				td := &typeDoc{doc: commentText(ts.Doc), fields: map[string]string{}}
				if td.doc == "" && len(gen.Specs) == 1 {
					td.doc = commentText(gen.Doc)
				}
				if st, ok := ts.Type.(*ast.StructType); ok {
					for _, field := range st.Fields.List {
						text := commentText(field.Doc)
						if text == "" {
							text = commentText(field.Comment)
						}
						for _, n := range field.Names {
							td.fields[n.Name] = text
							td.order = append(td.order, n.Name)
						}
					}
				}
				d.types[ts.Name.Name] = td
			}
		}
	}
	return d, nil
}

// commentText is a comment as one paragraph.
func commentText(c *ast.CommentGroup) string {
	return strings.Join(strings.Fields(c.Text()), " ")
}

// samples are configurations config.Load derives defaults for: only the
// keys it must give are set. The samples differ in those keys and in the
// CI provider, so that a default derived from them (ci.repo from
// github.repo) is told apart from a default that is the same whatever the
// file says.
var samples = []string{
	`github:
  repo: example-org/example-project
  token: {env: GITHUB_TOKEN}
s3:
  bucket: example-builds
  prefix: builds
data_repo:
  url: https://github.com/example-org/example-data.git
website:
  preview:
    prefix: preview
    url: https://preview.example.org/
`,
	`github:
  repo: other-org/other-project
  token: {env: GITHUB_TOKEN}
s3:
  bucket: other-builds
  prefix: other
data_repo:
  url: https://git.example.net/data.git
state_dir: /srv/refbot
ci:
  provider: github-actions
  workflows: [test.yaml]
website:
  workflow: docs.yaml
  preview:
    prefix: other-preview
    url: https://other.example.net/
`,
}

// defaults are the loaded samples and the keys any of them sets.
type defaults struct {
	loaded []*config.Config
	set    map[string]bool
}

func loadDefaults() (*defaults, error) {
	// The container image's listen address is the environment's, not a
	// default of the file.
	os.Unsetenv(config.ListenEnv)
	d := &defaults{set: map[string]bool{}}
	dir, err := os.MkdirTemp("", "configdoc-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for i, s := range samples {
		path := filepath.Join(dir, fmt.Sprintf("sample-%d.yaml", i))
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			return nil, err
		}
		cfg, err := config.Load(path)
		if err != nil {
			return nil, fmt.Errorf("load sample %d: %w", i, err)
		}
		d.loaded = append(d.loaded, cfg)
		for _, k := range yamlKeys(s) {
			d.set[k] = true
		}
	}
	return d, nil
}

// yamlKeys lists the dotted keys of a sample: two spaces per level, one
// key a line.
func yamlKeys(text string) []string {
	var keys, path []string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		key, _, ok := strings.Cut(trimmed, ":")
		if !ok || trimmed == "" {
			continue
		}
		depth := (len(line) - len(trimmed)) / 2
		path = append(path[:depth], key)
		keys = append(keys, strings.Join(path, "."))
	}
	return keys
}

// row is one key of the reference: for a section, its own doc comment
// (meaning) and its type's (typeDoc).
type row struct {
	key, typ, def, meaning, typeDoc string
}

// section is a top-level key, its heading: what it is, and its keys.
type section struct {
	row
	rows []row
}

type generator struct {
	keys     *regexp.Regexp // isKey's
	docs     *docs
	defaults *defaults
	sections []*section
	missing  []string
	errs     []error
}

// valueTypes name the config package's own value types, described at the
// end of the reference from their doc comments.
var valueTypes = []struct {
	t    reflect.Type
	name string
}{
	{reflect.TypeFor[config.Duration](), "duration"},
	{reflect.TypeFor[config.ByteSize](), "size"},
	{reflect.TypeFor[config.Secret](), "secret"},
	{reflect.TypeFor[config.Secrets](), "secrets"},
	{reflect.TypeFor[config.Window](), "window"},
}

func valueTypeName(t reflect.Type) string {
	for _, v := range valueTypes {
		if v.t == t {
			return v.name
		}
	}
	return ""
}

// walk adds the keys of struct type t, found at field path (Go field
// names, for reading values) and dotted key prefix.
func (g *generator) walk(t reflect.Type, path []string, prefix string) {
	td := g.docs.types[t.Name()]
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := join(prefix, name)
		fpath := append(slices.Clone(path), f.Name)
		meaning := g.meaning(t, td, f)
		ft := f.Type
		optional := false
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && valueTypeName(ft.Elem()) == "" {
			ft, optional = ft.Elem(), true
		}
		switch {
		case ft.Kind() == reflect.Struct && valueTypeName(ft) == "":
			r := row{key: key, typ: "section", meaning: meaning}
			if optional {
				r.typ = "optional section"
			}
			if sd := g.docs.types[ft.Name()]; sd != nil {
				r.typeDoc = sd.doc
			}
			if r.meaning == "" && r.typeDoc == "" {
				g.missing = append(g.missing, fmt.Sprintf("%s.%s", t.Name(), f.Name))
			}
			g.add(prefix, r)
			g.walk(ft, fpath, key)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			g.add(prefix, row{key: key, typ: "map of sections, by name", meaning: g.required(t, f, meaning)})
			g.walkEntries(ft.Elem(), fpath, key)
		default:
			g.add(prefix, row{key: key, typ: typeName(ft), def: g.defaultOf(key, fpath), meaning: g.required(t, f, meaning)})
		}
	}
}

// entry stands for the name of an entry in a map of sections: policy.verbs'
// are verbs.
const entry = "<VERB>"

// walkEntries adds the keys of the sections of a map, under entry.
// Their defaults are per entry: policy.verbs' are each verb's limits
// (config.Policy.AllLimits), the only such map.
func (g *generator) walkEntries(t reflect.Type, path []string, prefix string) {
	if t != reflect.TypeFor[config.VerbPolicy]() {
		g.errs = append(g.errs, fmt.Errorf("%s: configdoc does not know the defaults of a map of %s", prefix, t))
		return
	}
	td := g.docs.types[t.Name()]
	limits := g.defaults.loaded[0].Policy.AllLimits()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		key := prefix + "." + entry + "." + name
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		byVerb := map[string]string{}
		for verb, l := range limits {
			v := reflect.ValueOf(l).FieldByName(f.Name)
			if !v.IsValid() {
				g.errs = append(g.errs, fmt.Errorf("%s: config.VerbLimits has no field %s", key, f.Name))
				return
			}
			byVerb[verb] = formatValue(v, true)
		}
		g.add(prefix, row{key: key, typ: typeName(ft), def: perVerb(byVerb), meaning: g.required(t, f, g.meaning(t, td, f))})
	}
}

// perVerb says each verb's default: one value, or the verbs that differ
// from the rest.
func perVerb(byVerb map[string]string) string {
	count := map[string]int{}
	for _, v := range byVerb {
		count[v]++
	}
	common := ""
	for _, v := range slices.Sorted(maps.Keys(count)) {
		if count[v] > count[common] {
			common = v
		}
	}
	if len(count) == 1 {
		return common
	}
	var parts []string
	for _, verb := range slices.Sorted(maps.Keys(byVerb)) {
		if byVerb[verb] != common {
			parts = append(parts, verb+": "+byVerb[verb])
		}
	}
	return strings.Join(parts, "; ") + "; other verbs: " + common
}

// add adds r to the reference: a section of its own at the top level
// (prefix ""), else a row of the current section.
func (g *generator) add(prefix string, r row) {
	if prefix == "" {
		g.sections = append(g.sections, &section{row: r})
		return
	}
	s := g.sections[len(g.sections)-1]
	s.rows = append(s.rows, r)
}

// required records field f of t as missing its doc when meaning is empty.
func (g *generator) required(t reflect.Type, f reflect.StructField, meaning string) string {
	if meaning == "" {
		g.missing = append(g.missing, fmt.Sprintf("%s.%s", t.Name(), f.Name))
	}
	return meaning
}

// meaning is the doc of field f of struct t: its own comment; else the
// comment of an earlier field that names it ("AccessKeyID and
// SecretAccessKey come together"), as a pointer to that key.
func (g *generator) meaning(t reflect.Type, td *typeDoc, f reflect.StructField) string {
	var text string
	if td != nil {
		text = td.fields[f.Name]
		if text == "" {
			i := slices.Index(td.order, f.Name)
			for j := i - 1; j >= 0 && text == ""; j-- {
				if names(td.fields[td.order[j]], f.Name) {
					if other, ok := t.FieldByName(td.order[j]); ok {
						text = "See " + other.Name + "."
					}
				}
			}
		}
	}
	return text
}

// names reports whether text names the Go identifier id as a word.
func names(text, id string) bool {
	return regexp.MustCompile(`\b` + regexp.QuoteMeta(id) + `\b`).MatchString(text)
}

// defaultOf is the default of the key at field path: config.Default's for
// a key a sample sets; else what Load gave every sample alike; else the
// default depends on other keys, which its meaning says.
func (g *generator) defaultOf(key string, path []string) string {
	if g.defaults.set[key] {
		return formatValue(fieldValue(reflect.ValueOf(config.Default()), path), false)
	}
	var got []string
	for _, cfg := range g.defaults.loaded {
		got = append(got, formatValue(fieldValue(reflect.ValueOf(cfg), path), false))
	}
	for _, v := range got[1:] {
		if v != got[0] {
			return "derived"
		}
	}
	return got[0]
}

// fieldValue follows path from v; the zero Value past a nil section.
func fieldValue(v reflect.Value, path []string) reflect.Value {
	for _, name := range path {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}
			}
			v = v.Elem()
		}
		v = v.FieldByName(name)
	}
	return v
}

// typeName says what a key of type t holds.
func typeName(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n := valueTypeName(t); n != "" {
		return n
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "list of " + plural(typeName(t.Elem()))
	case reflect.Map:
		return "map of " + plural(typeName(t.Elem())) + ", by name"
	}
	return t.String()
}

func plural(name string) string {
	if name == "secrets" {
		return name
	}
	return name + "s"
}

// formatValue writes v as a file would give it; "" for no value. zero
// says whether a zero number or duration is written (a verb's limits,
// where 0 means none) or left out.
func formatValue(v reflect.Value, zero bool) string {
	if !v.IsValid() {
		return ""
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case config.Duration:
		return formatDuration(time.Duration(x), zero)
	case time.Duration:
		return formatDuration(x, zero)
	case config.ByteSize:
		if x == 0 {
			return ""
		}
		return x.String()
	case config.Secret:
		return "" // never a default
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int64:
		if v.Int() == 0 && !zero {
			return ""
		}
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		if v.Float() == 0 && !zero {
			return ""
		}
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		if v.Len() == 0 {
			return ""
		}
		var items []string
		for i := range v.Len() {
			items = append(items, formatValue(v.Index(i), true))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.Map:
		if v.Len() == 0 {
			return ""
		}
		var items []string
		for _, k := range v.MapKeys() {
			items = append(items, k.String()+": "+formatValue(v.MapIndex(k), true))
		}
		sort.Strings(items)
		return "{" + strings.Join(items, ", ") + "}"
	}
	return fmt.Sprint(v.Interface())
}

// formatDuration writes d as a file would: "10m", "168h", "1h30m".
func formatDuration(d time.Duration, zero bool) string {
	if d == 0 {
		if zero {
			return "0s"
		}
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

const preamble = `<!-- Generated by internal/cmd/configdoc from config/*.go; do not edit.
     Change the config package's comments, then run: go generate ./internal/cmd/configdoc -->

# Configuration reference

refbot reads one YAML file, given as ` + "`--config FILE`" + ` or ` + "`$REFBOT_CONFIG`" + `.
Every key is listed below, section by section, in the order of the
configuration code, with its type, its default and what it means. A key
left out keeps its default. Unknown keys are errors, each reported with its
line (and the key you probably meant), so a typo never passes silently.
` + "`refbot config check FILE`" + ` reports every problem at once; ` + "`--secrets`" + ` also
reads every secret.

Secrets are never written in the file: a secret key holds ` + "`{env: NAME}`" + ` or
` + "`{file: PATH}`" + ` (see [Value types](#value-types)). A default marked *derived*
depends on other keys, as its meaning says. A commented example is
` + "`deploy/refbot.example.yaml`" + `; [getting-started.md](getting-started.md) goes
through the keys a first setup needs.

`

func (g *generator) write() []byte {
	var b bytes.Buffer
	b.WriteString(preamble)
	for _, s := range g.sections {
		fmt.Fprintf(&b, "## %s\n\n", s.key)
		if s.rows == nil && s.typeDoc == "" {
			// A value of its own at the top level.
			fmt.Fprintf(&b, "*%s*, default %s. %s\n\n", s.typ, formatDefault(s.def), g.prose(s.meaning, ""))
			continue
		}
		for _, text := range []string{g.prose(s.meaning, ""), g.prose(s.typeDoc, s.key)} {
			if text != "" {
				fmt.Fprintf(&b, "%s\n\n", text)
			}
		}
		b.WriteString("| Key | Type | Default | Meaning |\n| --- | --- | --- | --- |\n")
		for _, r := range s.rows {
			parent := r.key[:strings.LastIndex(r.key, ".")]
			meaning := g.prose(r.meaning, parent)
			if r.typeDoc != "" {
				meaning = strings.TrimPrefix(meaning+"<br><br>"+g.prose(r.typeDoc, r.key), "<br><br>")
			}
			def := formatDefault(r.def)
			if strings.Contains(r.typ, "section") {
				def = ""
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.key, r.typ, def, meaning)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Value types\n\n")
	for _, v := range valueTypes {
		doc := ""
		if td := g.docs.types[v.t.Name()]; td != nil {
			doc = td.doc
		}
		fmt.Fprintf(&b, "**%s**: %s\n\n", v.name, g.prose(doc, "-"))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// formatDefault writes a default in a table cell.
func formatDefault(def string) string {
	switch def {
	case "":
		return "none"
	case "derived":
		return "*derived*"
	}
	return "`" + strings.ReplaceAll(def, "|", `\|`) + "`"
}

// keyRef is what may be a key named in a comment: dotted words
// ("s3.bucket", "policy.verbs.WEBSITE.hold", "policy.verbs.<VERB>"), or
// a word with an underscore ("state_dir"). isKey tells a key from a host
// name ("github.com").
var keyRef = regexp.MustCompile(`^(?:[a-z][a-z0-9_]*(?:\.(?:<[A-Za-z_]+>|[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*))+|[a-z]+_[a-z_]+)`)

// isKey reports whether ref is a key of the reference, or a section above
// keys: the name of an entry of a map of sections is any.
func (g *generator) isKey(ref string) bool {
	if g.keys == nil {
		var alts []string
		for _, s := range g.sections {
			for _, r := range append([]row{s.row}, s.rows...) {
				parts := strings.Split(r.key, ".")
				for i := range parts {
					if parts[i] == entry {
						parts[i] = `(?:<[A-Za-z_]+>|[A-Za-z0-9_-]+)`
					} else {
						parts[i] = regexp.QuoteMeta(parts[i])
					}
					alts = append(alts, strings.Join(parts[:i+1], `\.`))
				}
			}
		}
		g.keys = regexp.MustCompile(`^(?:` + strings.Join(alts, "|") + `)$`)
	}
	return g.keys.MatchString(ref)
}

// goAside is a parenthesis that only names Go identifiers, "(OutputsS3 …)":
// for readers of the code, not of the reference.
var goAside = regexp.MustCompile(` ?\(([A-Z][A-Za-z0-9]*)(?: …)?\)`)

// prose writes a comment as Markdown: its special characters escaped, the
// keys it names as code, and so the Go names of the fields of the section
// at parent ("Token", in github's, is github.token); asides naming the
// config package's identifiers are left out.
func (g *generator) prose(text, parent string) string {
	text = goAside.ReplaceAllStringFunc(text, func(m string) string {
		if g.docs.names[goAside.FindStringSubmatch(m)[1]] {
			return ""
		}
		return m
	})
	fields := map[string]string{} // Go name → key
	if t := g.structAt(parent); t != nil {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			// An acronym (ID, URL) is as often a word of the text.
			if f.IsExported() && tag != "" && tag != "-" && strings.ToUpper(f.Name) != f.Name {
				fields[f.Name] = join(parent, tag)
			}
		}
	}
	var out strings.Builder
	for i := 0; i < len(text); {
		if i > 0 && (isWord(text[i-1]) || text[i-1] == '.' || text[i-1] == '/') {
			out.WriteString(escape(text[i : i+1]))
			i++
			continue
		}
		if m := keyRef.FindString(text[i:]); m != "" && (i+len(m) == len(text) || !isWord(text[i+len(m)])) && g.isKey(m) {
			out.WriteString("`" + m + "`")
			i += len(m)
			continue
		}
		j := i
		for j < len(text) && isWord(text[j]) {
			j++
		}
		if key, ok := fields[text[i:j]]; ok && j > i {
			out.WriteString("`" + key + "`")
			i = j
			continue
		}
		if j == i {
			j++
		}
		out.WriteString(escape(text[i:j]))
		i = j
	}
	return out.String()
}

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// structAt is the struct type of the section at key (Config for "");
// nil for none.
func (g *generator) structAt(key string) reflect.Type {
	t := reflect.TypeFor[config.Config]()
	if key == "" {
		return t
	}
	for _, name := range strings.Split(key, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		if name == entry {
			continue // an entry of a map of sections
		}
		found := false
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == name {
				t, found = f.Type, true
				break
			}
		}
		if !found {
			return nil
		}
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || valueTypeName(t) != "" {
		return nil
	}
	return t
}

var markdownEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "|", `\|`,
	"<", "&lt;", ">", "&gt;", "&", "&amp;",
)

// escape makes text read as itself in Markdown.
func escape(text string) string { return markdownEscaper.Replace(text) }

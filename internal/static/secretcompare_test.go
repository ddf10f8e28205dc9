package static

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/refbot/refbot/internal/testenv"
)

// A comparison of a secret (a webhook signature, a token, a key) must take
// the same time however much of it matches, or an attacker who can time
// the answers learns it byte by byte: refbot compares secrets with
// hmac.Equal or subtle.ConstantTimeCompare only. secretCompares finds the
// comparisons that are not: ==, != and the bytes and strings comparison
// functions where an operand is named like a secret (secretName). These
// are fine and not reported: a comparison with a literal (an empty token
// is "", a constant never depends on a secret's bytes), with nil, and of a
// length; and a line marked, on it or the line before, with
//
//	// not a secret: <why>
//
// for a name that only looks like a secret's (a map key, a page token of
// a listing).
const allowMarker = "not a secret:"

// secretName matches identifiers that name a secret: a word of the name
// (split at case changes, digits and underscores) is one of these.
var secretName = regexp.MustCompile(`^(signature|sig|sigs|token|tokens|secret|secrets|key|mac|hmac|password|passwd)$`)

// timingFuncs compare byte by byte and stop at the first difference.
var timingFuncs = map[string]bool{
	"bytes.Equal": true, "bytes.Compare": true, "bytes.EqualFold": true, "bytes.HasPrefix": true,
	"strings.EqualFold": true, "strings.Compare": true, "strings.HasPrefix": true,
	"reflect.DeepEqual": true,
}

// secretCompare is a comparison secretCompares reports.
type secretCompare struct {
	pos  token.Position
	expr string
}

func (c secretCompare) String() string { return fmt.Sprintf("%s: %s", c.pos, c.expr) }

// secretCompares returns the comparisons of secrets in a parsed file that
// are not constant-time.
func secretCompares(fset *token.FileSet, f *ast.File) []secretCompare {
	allowed := map[int]bool{} // lines a marker covers
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.Contains(c.Text, allowMarker) {
				line := fset.Position(c.Pos()).Line
				allowed[line], allowed[line+1] = true, true
			}
		}
	}
	var out []secretCompare
	report := func(n ast.Node) {
		pos := fset.Position(n.Pos())
		if !allowed[pos.Line] {
			out = append(out, secretCompare{pos: pos, expr: render(fset, n)})
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if (n.Op == token.EQL || n.Op == token.NEQ) && !exempt(n.X) && !exempt(n.Y) && (secretOperand(n.X) || secretOperand(n.Y)) {
				report(n)
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
				if pkg, ok := sel.X.(*ast.Ident); ok && timingFuncs[pkg.Name+"."+sel.Sel.Name] &&
					!slices.ContainsFunc(n.Args, exempt) && slices.ContainsFunc(n.Args, secretOperand) {
					report(n)
				}
			}
		}
		return true
	})
	return out
}

// exempt says whether an operand makes a comparison harmless whatever the
// other is: a literal, nil, or a length.
func exempt(e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return e.Name == "nil"
	case *ast.CallExpr:
		id, ok := e.Fun.(*ast.Ident)
		return ok && (id.Name == "len" || id.Name == "cap")
	}
	return false
}

// secretOperand says whether an operand is named like a secret: a
// variable, a field, a method's result, or a conversion of one
// (string(sig), []byte(token)).
func secretOperand(e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		return secretWords(e.Name)
	case *ast.SelectorExpr:
		return secretWords(e.Sel.Name)
	case *ast.StarExpr:
		return secretOperand(e.X)
	case *ast.CallExpr:
		switch fun := e.Fun.(type) {
		case *ast.Ident: // string(x), or a function named like a secret
			if (fun.Name == "string" || fun.Name == "byte") && len(e.Args) == 1 {
				return secretOperand(e.Args[0])
			}
			return secretWords(fun.Name)
		case *ast.ArrayType: // []byte(x)
			return len(e.Args) == 1 && secretOperand(e.Args[0])
		case *ast.SelectorExpr: // a.Sum(nil), h.Token()
			return secretWords(fun.Sel.Name) || (fun.Sel.Name == "Sum" && secretOperand(fun.X))
		}
	}
	return false
}

var wordBreak = regexp.MustCompile(`[A-Z]?[a-z]+|[A-Z]+(?:[a-z]+)?`)

// secretWords says whether a word of name is a secret's: apiToken,
// webhookSecret, wantSig, HMAC, sessionKey, but not tokenize or keyword.
func secretWords(name string) bool {
	for _, w := range wordBreak.FindAllString(name, -1) {
		if secretName.MatchString(strings.ToLower(w)) {
			return true
		}
	}
	return false
}

func render(fset *token.FileSet, n ast.Node) string {
	var b strings.Builder
	if err := (&printer.Config{Mode: printer.RawFormat}).Fprint(&b, fset, n); err != nil {
		return fmt.Sprintf("%T", n)
	}
	return b.String()
}

// shippedFiles are the Go files, tests excluded, of every package of this
// module that refbot's binary links: what runs in production. Fakes and
// benchmarks (internal/fakegithub, travistest, internal/cmd/…) are not
// shipped and may compare as they like.
func shippedFiles(t *testing.T) []string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "github.com/refbot/refbot"}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		"./cmd/refbot")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := strings.Fields(string(out))
	if len(files) < 50 {
		t.Fatalf("go list named %d files of refbot; expected its whole source", len(files))
	}
	return files
}

// TestSecretComparesAreConstantTime: no file refbot ships compares a
// secret with ==, != or a byte-by-byte function.
func TestSecretComparesAreConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	files := shippedFiles(t)
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range secretCompares(fset, f) {
			t.Errorf("a secret compared in variable time (use hmac.Equal or subtle.ConstantTimeCompare, or mark the line %q): %s", "// "+allowMarker+" <why>", c)
		}
	}
	t.Logf("%d files checked", len(files))
}

// TestSecretCompareChecker: the check finds each kind of variable-time
// comparison of a secret, and passes constant-time ones, comparisons with
// literals, nil and lengths, and marked lines.
func TestSecretCompareChecker(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"planted signature check", `if sig == want { ok() }`, 1},
		{"not equal", `if got != o.Token { fail() }`, 1},
		{"converted", `if string(mac.Sum(nil)) == header { ok() }`, 1},
		{"camel case", `if apiToken == r.Header.Get("X") { ok() }`, 1},
		{"method result", `if h.WebhookSecret() == s { ok() }`, 1},
		{"bytes.Equal", `if bytes.Equal(got, expectedMAC) { ok() }`, 1},
		{"strings.EqualFold", `if strings.EqualFold(password, input) { ok() }`, 1},
		{"hmac.Equal", `if hmac.Equal(sig, want) { ok() }`, 0},
		{"subtle", `if subtle.ConstantTimeCompare([]byte(token), []byte(o.Token)) != 1 { fail() }`, 0},
		{"empty", `if token == "" || secret != "" { fail() }`, 0},
		{"nil", `if key == nil { fail() }`, 0},
		{"length", `if len(sig) != 64 { fail() }`, 0},
		{"other names", `if tokenize(a) == b || keyword == c || monkey == d { ok() }`, 0},
		{"marked", "// not a secret: a map key\nif key == other { ok() }", 0},
		{"marked on the line", "if key == other { ok() } // not a secret: a map key", 0},
		{"marker one line too far", "// not a secret: a map key\n\nif key == other { ok() }", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "package p\nfunc f() {\n" + tc.body + "\n}\n"
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if got := secretCompares(fset, f); len(got) != tc.want {
				t.Errorf("%d reported, want %d: %v\n%s", len(got), tc.want, got, src)
			}
		})
	}
}

// TestSecretCompareCheckerOnACopy: a variable-time signature check
// planted in a copy of the webhook's verification is found, at its line.
func TestSecretCompareCheckerOnACopy(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "bot", "intake", "webhook.go")
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	if got := secretCompares(fset, f); len(got) != 0 {
		t.Fatalf("the webhook's verification as it is: %v", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	planted := strings.Replace(src, "hmac.Equal(got, mac.Sum(nil))", "string(got) == string(mac.Sum(nil))", 1)
	if planted == src {
		t.Fatal("the webhook no longer compares with hmac.Equal(got, mac.Sum(nil)): update this test")
	}
	f, err = parser.ParseFile(fset, "webhook-copy.go", planted, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	got := secretCompares(fset, f)
	if len(got) != 1 || !strings.Contains(got[0].expr, "string(got) == string(mac.Sum(nil))") {
		t.Errorf("the planted comparison: reported %v", got)
	}
}

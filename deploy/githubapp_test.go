// Package deploy_test checks the files in deploy/ that refbot itself does not
// read: github-app.yaml, the manifest of refbot's GitHub App. The same test
// turns the manifest into what GitHub's registration form takes:
//
//	go test -count=1 ./deploy -run TestGitHubAppManifest -args -form=/tmp/refbot-app.html [-org=ORG]
//	go test -count=1 ./deploy -run TestGitHubAppManifest -args -json=/tmp/refbot-app.json
//
// docs/github-app.md says how to use them.
package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"html"
	"html/template"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/goccy/go-yaml"
	yamlast "github.com/goccy/go-yaml/ast"
	yamlparser "github.com/goccy/go-yaml/parser"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/bot/ghclient"
	"github.com/refbot/refbot/bot/intake"
	"github.com/refbot/refbot/internal/fakegithub"
)

var (
	manifestFile = flag.String("manifest", "github-app.yaml", "the manifest to check and convert")
	formOut      = flag.String("form", "", "write an HTML page that registers the App from the manifest to this file")
	jsonOut      = flag.String("json", "", "write the manifest as the JSON GitHub's form takes to this file")
	org          = flag.String("org", "", "with -form: register the App for this organization, not your personal account")
	webURL       = flag.String("github", "https://github.com", "with -form: GitHub's web address (GitHub Enterprise Server: https://HOST)")
)

// appManifest is a GitHub App manifest with the fields refbot's uses, as
// GitHub's "Registering a GitHub App from a manifest" names them. Decoding
// is strict, so a misspelled field fails instead of being left out.
type appManifest struct {
	Name               string            `yaml:"name" json:"name"`
	Description        string            `yaml:"description" json:"description,omitempty"`
	URL                string            `yaml:"url" json:"url"`
	RedirectURL        string            `yaml:"redirect_url" json:"redirect_url,omitempty"`
	HookAttributes     hookAttributes    `yaml:"hook_attributes" json:"hook_attributes"`
	Public             bool              `yaml:"public" json:"public"`
	DefaultPermissions map[string]string `yaml:"default_permissions" json:"default_permissions"`
	DefaultEvents      []string          `yaml:"default_events" json:"default_events"`
}

type hookAttributes struct {
	URL    string `yaml:"url" json:"url"`
	Active bool   `yaml:"active" json:"active"`
}

// allowed is every permission refbot may ask for, at the level it needs
// (the manifest's comments give the reasons). The manifest asks for all of
// them but optional, and for nothing else.
var allowed = map[string]string{
	"metadata":      "read",
	"pull_requests": "read",
	"issues":        "write",
	"statuses":      "write",
	"checks":        "write",
	"actions":       "write",
	"contents":      "write", // the data repo's pushes: git, not the REST API
	"members":       "read",
}

// optional permissions are needed only with a setting, and left commented
// out in the manifest for the maintainer to uncomment: members reads team
// memberships for policy.allowed_teams.
var optional = map[string]string{"members": "  # members: read"}

// eventPermission is the permission GitHub requires to subscribe an App to
// each event refbot acts on.
var eventPermission = map[string]string{
	"issue_comment": "issues",
	"pull_request":  "pull_requests",
	"workflow_run":  "actions",
	"repository":    "metadata",
}

// TestGitHubAppManifest reads the manifest strictly and checks what GitHub
// will make of it: the permissions are exactly allowed (less the optional
// ones, which uncommented give a valid manifest too), each has a reason
// comment, names and levels are GitHub's, and the events are refbot's.
// With -form or -json it then writes the converted manifest.
func TestGitHubAppManifest(t *testing.T) {
	src, err := os.ReadFile(*manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	schema := appPermissions(t)
	m := checkManifest(t, src, schema)
	want := map[string]string{}
	for p, level := range allowed {
		if _, ok := optional[p]; !ok {
			want[p] = level
		}
	}
	if diff := cmp.Diff(want, m.DefaultPermissions); diff != "" {
		t.Errorf("default_permissions (-want +got):\n%s", diff)
	}
	for p, line := range optional {
		t.Run(p+" uncommented", func(t *testing.T) {
			if strings.Count(string(src), line+"\n") != 1 {
				t.Fatalf("the manifest lacks the commented-out line %q for the optional permission %s", line, p)
			}
			uncommented := strings.Replace(string(src), line+"\n", strings.Replace(line, "# ", "", 1)+"\n", 1)
			if um := checkManifest(t, []byte(uncommented), schema); um.DefaultPermissions[p] != allowed[p] {
				t.Errorf("uncommented, the manifest grants %s %q, want %q", p, um.DefaultPermissions[p], allowed[p])
			}
		})
	}
	if t.Failed() || (*formOut == "" && *jsonOut == "") {
		return
	}
	if err := editedForUse(m); err != nil {
		t.Fatalf("%s: %v", *manifestFile, err)
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		writeOut(t, *jsonOut, append(b, '\n'))
	}
	if *formOut != "" {
		page, err := registrationForm(m, *webURL, *org)
		if err != nil {
			t.Fatal(err)
		}
		writeOut(t, *formOut, page)
	}
}

func writeOut(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// checkManifest decodes src strictly and checks everything that does not
// depend on which permissions are optional; it returns the manifest.
func checkManifest(t *testing.T, src []byte, schema map[string][]string) appManifest {
	t.Helper()
	var m appManifest
	if err := yaml.UnmarshalWithOptions(src, &m, yaml.Strict()); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	if m.Name == "" || len(m.Name) > 34 {
		t.Errorf("name %q: GitHub wants 1 to 34 characters", m.Name)
	}
	for field, u := range map[string]string{"url": m.URL, "redirect_url": m.RedirectURL, "hook_attributes.url": m.HookAttributes.URL} {
		if p, err := url.Parse(u); err != nil || p.Scheme != "https" || p.Host == "" {
			t.Errorf("%s %q: want an https URL", field, u)
		}
	}
	if p, err := url.Parse(m.HookAttributes.URL); err == nil && p.Path != "/webhook" {
		t.Errorf("hook_attributes.url %q: refbot's webhook is /webhook", m.HookAttributes.URL)
	}
	if !m.HookAttributes.Active {
		t.Error("hook_attributes.active is false: GitHub would deliver no events")
	}
	if m.Public {
		t.Error("public is true: anyone could install the App; refbot serves one project")
	}
	for p, level := range m.DefaultPermissions {
		switch levels, ok := schema[p]; {
		case !ok:
			t.Errorf("permission %q is not one of GitHub's", p)
		case !slices.Contains(levels, level):
			t.Errorf("permission %s: %q is not one of GitHub's levels %q", p, level, levels)
		case allowed[p] == "":
			t.Errorf("permission %s: refbot has no use for it", p)
		case level == "write" && allowed[p] == "read":
			t.Errorf("permission %s: write, but refbot only reads", p)
		}
	}
	reasons := permissionComments(t, src)
	for p := range m.DefaultPermissions {
		if words := len(strings.Fields(strings.ReplaceAll(reasons[p], "#", " "))); words < 3 {
			t.Errorf("permission %s has no reason: write it in a comment above it", p)
		}
	}
	if len(m.DefaultEvents) == 0 {
		t.Error("default_events is empty")
	}
	seen := map[string]bool{}
	for _, e := range m.DefaultEvents {
		p, ok := eventPermission[e]
		switch {
		case seen[e]:
			t.Errorf("event %s is listed twice", e)
		case !ok:
			t.Errorf("event %s: refbot acts on none such", e)
		case m.DefaultPermissions[p] == "":
			t.Errorf("event %s needs the permission %s, which the manifest lacks", e, p)
		}
		seen[e] = true
	}
	for e := range eventPermission {
		if !seen[e] {
			t.Errorf("event %s, which refbot acts on, is not subscribed", e)
		}
	}
	return m
}

// permissionComments returns the comment of each key of
// default_permissions: the lines above it and the one after its value.
func permissionComments(t *testing.T, src []byte) map[string]string {
	t.Helper()
	file, err := yamlparser.ParseBytes(src, yamlparser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	top, ok := file.Docs[0].Body.(*yamlast.MappingNode)
	if !ok {
		t.Fatal("the manifest is not a mapping")
	}
	out := map[string]string{}
	for _, kv := range top.Values {
		if kv.Key.String() != "default_permissions" {
			continue
		}
		perms, ok := kv.Value.(*yamlast.MappingNode)
		if !ok {
			t.Fatal("default_permissions is not a mapping")
		}
		for _, p := range perms.Values {
			var text []string
			for _, c := range []*yamlast.CommentGroupNode{p.GetComment(), p.Value.GetComment()} {
				if c != nil {
					text = append(text, c.String())
				}
			}
			out[p.Key.String()] = strings.Join(text, "\n")
		}
	}
	return out
}

// appPermissions returns GitHub's App permissions and their levels, from
// the app-permissions schema of GitHub's REST description.
func appPermissions(t *testing.T) map[string][]string {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas struct {
				AppPermissions struct {
					Properties map[string]struct {
						Enum []string `json:"enum"`
					} `json:"properties"`
				} `json:"app-permissions"`
			} `json:"schemas"`
		} `json:"components"`
	}
	readOpenAPI(t, &doc)
	out := map[string][]string{}
	for name, p := range doc.Components.Schemas.AppPermissions.Properties {
		out[name] = p.Enum
	}
	if len(out) < 10 || out["contents"] == nil {
		t.Fatalf("GitHub's description lists %d App permissions: the schema was not read", len(out))
	}
	return out
}

var (
	openAPIOnce sync.Once
	openAPIRaw  []byte
	openAPIErr  error
)

// readOpenAPI decodes GitHub's REST description (@octokit/openapi) into v.
func readOpenAPI(t *testing.T, v any) {
	t.Helper()
	openAPIOnce.Do(func() {
		dir, err := fakegithub.NodeModules()
		if err != nil {
			openAPIErr = err
			return
		}
		openAPIRaw, openAPIErr = os.ReadFile(filepath.Join(dir, "@octokit/openapi/generated/api.github.com.json"))
	})
	if openAPIErr != nil {
		t.Fatalf("GitHub's REST description: %v", openAPIErr)
	}
	if err := json.Unmarshal(openAPIRaw, v); err != nil {
		t.Fatal(err)
	}
}

// readManifest decodes the manifest -manifest names, strictly.
func readManifest(t *testing.T) appManifest {
	t.Helper()
	src, err := os.ReadFile(*manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	var m appManifest
	if err := yaml.UnmarshalWithOptions(src, &m, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", *manifestFile, err)
	}
	return m
}

// editedForUse refuses a manifest that still holds this file's examples.
func editedForUse(m appManifest) error {
	for _, s := range []string{m.Name, m.URL, m.RedirectURL, m.HookAttributes.URL, m.Description} {
		if strings.Contains(s, "example") {
			return fmt.Errorf("%q is an example: edit the name, description and addresses first (docs/github-app.md)", s)
		}
	}
	return nil
}

var formPage = template.Must(template.New("form").Parse(`<!DOCTYPE html>
<html lang="en">
<meta charset="utf-8">
<title>Register the GitHub App {{.Name}}</title>
<h1>Register the GitHub App {{.Name}}</h1>
<p>This page sends refbot's App manifest to GitHub, which shows the App
{{if .Org}}for the organization {{.Org}}{{else}}for your personal account{{end}}
and creates it when you confirm there.</p>
<form action="{{.Action}}" method="post">
<input type="hidden" name="manifest" value="{{.Manifest}}">
<button type="submit">Register on GitHub</button>
</form>
</html>
`))

// registrationForm is an HTML page whose form posts the manifest to
// GitHub's registration page for an App of the personal account, or of
// organization org.
func registrationForm(m appManifest, web, org string) ([]byte, error) {
	base, err := url.Parse(web)
	if err != nil || base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("GitHub address %q: want https://HOST", web)
	}
	action := base.JoinPath("settings", "apps", "new")
	if org != "" {
		if !ghclient.ValidLogin(org) {
			return nil, fmt.Errorf("organization %q: not a GitHub account name", org)
		}
		action = base.JoinPath("organizations", org, "settings", "apps", "new")
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = formPage.Execute(&b, struct {
		Name, Org, Action, Manifest string
	}{m.Name, org, action.String(), string(manifest)})
	return b.Bytes(), err
}

// TestRegistrationForm: the page posts to the right address and carries the
// manifest whole, whatever its text holds.
func TestRegistrationForm(t *testing.T) {
	m := appManifest{
		Name: `refbot <"quoted"> & co`, URL: "https://github.com/o/p", RedirectURL: "https://github.com/o/p",
		Description:        `</textarea><script>alert(1)</script> "x" 'y'`,
		HookAttributes:     hookAttributes{URL: "https://refbot.test/webhook", Active: true},
		DefaultPermissions: map[string]string{"issues": "write"}, DefaultEvents: []string{"issue_comment"},
	}
	valueRE := regexp.MustCompile(`<input type="hidden" name="manifest" value="([^"]*)">`)
	actionRE := regexp.MustCompile(`<form action="([^"]*)" method="post">`)
	for _, tc := range []struct {
		name, web, org, action, err string
	}{
		{name: "personal", web: "https://github.com", action: "https://github.com/settings/apps/new"},
		{name: "organization", web: "https://github.com", org: "example-org", action: "https://github.com/organizations/example-org/settings/apps/new"},
		{name: "enterprise server", web: "https://ghe.example.com/", org: "team", action: "https://ghe.example.com/organizations/team/settings/apps/new"},
		{name: "bad organization", web: "https://github.com", org: "a/../b", err: "not a GitHub account name"},
		{name: "plain http", web: "http://github.com", err: "want https://HOST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := registrationForm(m, tc.web, tc.org)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(page, []byte("<script>")) {
				t.Errorf("the manifest's text reached the page unescaped:\n%s", page)
			}
			action := actionRE.FindSubmatch(page)
			if action == nil || html.UnescapeString(string(action[1])) != tc.action {
				t.Errorf("form action %q, want %q", action, tc.action)
			}
			value := valueRE.FindSubmatch(page)
			if value == nil {
				t.Fatalf("no manifest input in\n%s", page)
			}
			var got appManifest
			if err := json.Unmarshal([]byte(html.UnescapeString(string(value[1]))), &got); err != nil {
				t.Fatalf("manifest input: %v", err)
			}
			if diff := cmp.Diff(m, got); diff != "" {
				t.Errorf("manifest sent (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEditedForUse: -form and -json refuse the manifest as shipped.
func TestEditedForUse(t *testing.T) {
	var m appManifest
	src, err := os.ReadFile("github-app.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalWithOptions(src, &m, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if err := editedForUse(m); err == nil {
		t.Error("the shipped manifest, with its examples, was taken for use")
	}
	m.Name, m.Description = "acme-refbot", "reference data of acme/widget"
	m.URL, m.RedirectURL, m.HookAttributes.URL = "https://github.com/acme/widget", "https://github.com/acme/widget", "https://refbot.acme.test/webhook"
	if err := editedForUse(m); err != nil {
		t.Errorf("an edited manifest: %v", err)
	}
}

// TestManifestCoversRefbotsCalls: every REST operation refbot makes needs
// a permission the manifest grants (or, for an optional one, grants once
// uncommented). The operations are those the fake GitHub serves
// (internal/fakegithub's operation table): refbot's tests make every call
// through it, and any other request is a violation there. The permission
// each needs follows from its place in GitHub's REST reference.
func TestManifestCoversRefbotsCalls(t *testing.T) {
	ops := fakeOperations(t)
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			XGitHub     struct {
				Category    string `json:"category"`
				Subcategory string `json:"subcategory"`
			} `json:"x-github"`
		} `json:"paths"`
	}
	readOpenAPI(t, &doc)
	byID := map[string][2]string{}
	for _, methods := range doc.Paths {
		for _, op := range methods {
			if op.OperationID != "" {
				byID[op.OperationID] = [2]string{op.XGitHub.Category, op.XGitHub.Subcategory}
			}
		}
	}
	m := readManifest(t)
	// needed is the level each permission is needed at: the data repo's
	// pushes (git, not REST), the events' subscriptions, the operations.
	needed := map[string]string{"contents": "write"}
	raise := func(perm, lvl string) {
		if needed[perm] != "write" {
			needed[perm] = lvl
		}
	}
	for _, p := range eventPermission {
		raise(p, "read")
	}
	for _, op := range ops {
		cat, ok := byID[op.id]
		if !ok {
			t.Errorf("%s: not in GitHub's REST description", op.id)
			continue
		}
		perm, known := permissionOf(cat[0], cat[1])
		if perm != "" {
			raise(perm, level(op.method))
		}
		switch {
		case !known:
			t.Errorf("%s (%s/%s): which App permission does it need? Add it to permissionOf", op.id, cat[0], cat[1])
		case perm == "":
			// The App's own calls, with its JWT.
		case optional[perm] != "":
			if allowed[perm] == "" || (needsWrite(op.method) && allowed[perm] != "write") {
				t.Errorf("%s %s needs %s %s, which the optional line does not grant", op.method, op.id, perm, level(op.method))
			}
		default:
			got := m.DefaultPermissions[perm]
			if got == "" || (needsWrite(op.method) && got != "write") {
				t.Errorf("%s %s needs %s: %s, the manifest grants %q", op.method, op.id, perm, level(op.method), got)
			}
		}
	}
	// And nothing more: every permission granted (the optional ones
	// uncommented) is needed, at the level granted.
	granted := maps.Clone(m.DefaultPermissions)
	for p := range optional {
		granted[p] = allowed[p]
	}
	if diff := cmp.Diff(needed, granted); diff != "" {
		t.Errorf("permissions needed by refbot's calls, events and pushes (-) and granted (+):\n%s", diff)
	}
	t.Logf("%d operations checked", len(ops))
}

// permissionOf maps a REST operation's category and subcategory in GitHub's
// REST reference to the App permission it needs ("" for none: the App's own
// calls with its JWT, the rate limit). known is false for a place this
// table does not cover yet.
func permissionOf(category, subcategory string) (perm string, known bool) {
	switch {
	case category == "actions":
		return "actions", true
	case category == "checks":
		return "checks", true
	case category == "commits" && subcategory == "statuses":
		return "statuses", true
	case category == "issues":
		return "issues", true
	case category == "pulls":
		return "pull_requests", true
	case category == "collaborators", category == "repos" && subcategory == "repos":
		return "metadata", true
	case category == "teams" && subcategory == "members":
		return "members", true
	case category == "git", category == "repos" && subcategory == "contents":
		return "contents", true
	case category == "apps", category == "rate-limit":
		return "", true
	case category == "users":
		return "", true // the token's own user (an App asks /app instead)
	}
	return "", false
}

func needsWrite(method string) bool { return method != http.MethodGet && method != http.MethodHead }

func level(method string) string {
	if needsWrite(method) {
		return "write"
	}
	return "read"
}

type fakeOperation struct{ method, path, id string }

// fakeOperations reads the operations the fake GitHub serves from its
// source: every composite literal of its operation type, in any file.
func fakeOperations(t *testing.T) []fakeOperation {
	t.Helper()
	files, err := filepath.Glob("../internal/fakegithub/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var ops []fakeOperation
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			switch typ := lit.Type.(type) {
			case *ast.ArrayType:
				if id, ok := typ.Elt.(*ast.Ident); ok && id.Name == "operation" {
					for _, e := range lit.Elts {
						if el, ok := e.(*ast.CompositeLit); ok {
							ops = append(ops, operationOf(t, fset, el))
						}
					}
					return false
				}
			case *ast.Ident:
				if typ.Name == "operation" {
					ops = append(ops, operationOf(t, fset, lit))
					return false
				}
			}
			return true
		})
	}
	if len(ops) < 10 {
		t.Fatalf("found %d operations in internal/fakegithub: its operation table was not read", len(ops))
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	return ops
}

// operationOf reads one operation{method, path, id} literal, positional or
// keyed.
func operationOf(t *testing.T, fset *token.FileSet, lit *ast.CompositeLit) fakeOperation {
	t.Helper()
	var vals []string
	keyed := map[string]string{}
	for _, e := range lit.Elts {
		key := ""
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			if id, ok := kv.Key.(*ast.Ident); ok {
				key = id.Name
			}
			e = kv.Value
		}
		v := ""
		switch x := e.(type) {
		case *ast.BasicLit:
			v, _ = strconv.Unquote(x.Value)
		case *ast.SelectorExpr: // http.MethodGet
			v = strings.ToUpper(strings.TrimPrefix(x.Sel.Name, "Method"))
		}
		if key != "" {
			keyed[key] = v
		} else {
			vals = append(vals, v)
		}
	}
	if len(keyed) > 0 {
		vals = []string{keyed["method"], keyed["path"], keyed["id"]}
	}
	if len(vals) != 3 || vals[0] == "" || vals[2] == "" {
		t.Fatalf("%s: an operation literal this test cannot read", fset.Position(lit.Pos()))
	}
	return fakeOperation{method: vals[0], path: vals[1], id: vals[2]}
}

// TestManifestCoversIntakeEvents: every event refbot's webhook intake acts
// on is one the manifest subscribes to. Every payload example of
// @octokit/webhooks-examples is sent, signed, to the real intake handler
// set up as for a GitHub Actions project; an event whose delivery asks for
// work or records a head is acted on.
func TestManifestCoversIntakeEvents(t *testing.T) {
	m := readManifest(t)
	rec := &deliveries{}
	const secret = "manifest-test-secret"
	actedOn := map[string]bool{}
	known := map[string]bool{}
	for i, ex := range fakegithub.WebhookExamples(t) {
		known[ex.Event] = true
		var p map[string]any
		if err := json.Unmarshal(ex.Payload, &p); err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
		repo, _ := p["repository"].(map[string]any)
		fullName, _ := repo["full_name"].(string)
		if fullName == "" {
			continue // for no repository: not for refbot
		}
		if ex.Event == "issue_comment" {
			// What refbot answers: a person's comment on a pull request.
			if issue, ok := p["issue"].(map[string]any); ok && issue["pull_request"] == nil {
				issue["pull_request"] = map[string]any{"url": "https://api.github.com/repos/" + fullName + "/pulls/1"}
			}
			for _, who := range []any{p["sender"], mapAt(p, "comment")["user"]} {
				if u, ok := who.(map[string]any); ok {
					u["type"] = "User"
				}
			}
		}
		body, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		h, err := intake.New(intake.Options{
			Secrets: []string{secret}, Repo: fullName, BotLogin: "refbot[bot]", Recorder: rec,
			HasCommand: func(string) bool { return true },
			// As for a GitHub Actions project: every workflow counts.
			CIWorkflow: func(string) bool { return true },
		})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-GitHub-Event", ex.Event)
		r.Header.Set("X-GitHub-Delivery", fmt.Sprintf("example-%d", i))
		r.Header.Set("X-Hub-Signature-256", fakegithub.Sign(secret, body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if d, ok := rec.last(); ok && d.ID == fmt.Sprintf("example-%d", i) && (d.Work != nil || d.Head != nil) {
			actedOn[ex.Event] = true
		}
	}
	// The probe must see what refbot is known to act on, or it proves
	// nothing.
	for _, e := range []string{"issue_comment", "pull_request", "workflow_run"} {
		if !actedOn[e] {
			t.Errorf("the intake acted on no %s example: the probe is broken", e)
		}
	}
	for e := range actedOn {
		if !slices.Contains(m.DefaultEvents, e) {
			t.Errorf("the intake acts on %s, which the manifest does not subscribe to", e)
		}
	}
	for _, e := range m.DefaultEvents {
		if !known[e] {
			t.Errorf("event %s: GitHub's webhook examples have none such", e)
		}
	}
	t.Logf("the intake acts on %d events", len(actedOn))
}

func mapAt(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

// deliveries records what the intake handed over.
type deliveries struct {
	mu   sync.Mutex
	list []intake.Delivery
}

func (d *deliveries) Record(ctx context.Context, del intake.Delivery) (intake.Outcome, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append(d.list, del)
	return intake.Recorded, nil
}

func (d *deliveries) last() (intake.Delivery, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.list) == 0 {
		return intake.Delivery{}, false
	}
	return d.list[len(d.list)-1], true
}

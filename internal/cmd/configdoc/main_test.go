package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/config"
)

const regenerate = "go generate ./internal/cmd/configdoc (or make docs)"

// TestReferenceUpToDate fails when docs/configuration.md is not what the
// config package's code and comments make of it now.
func TestReferenceUpToDate(t *testing.T) {
	t.Setenv(config.ListenEnv, "") // Render ignores it; restored after
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Render(filepath.Join(root, "config"))
	if err != nil {
		t.Fatalf("%v\nthen run: %s", err, regenerate)
	}
	want, err := os.ReadFile(filepath.Join(root, "docs", "configuration.md"))
	if err != nil {
		t.Fatalf("%v: run %s", err, regenerate)
	}
	if string(got) != string(want) {
		t.Fatalf("docs/configuration.md is stale: run %s, and commit the result.\n(-committed +generated):\n%s",
			regenerate, cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")))
	}
}

// TestReferenceKeys checks the reference against what config.Load itself
// accepts: every key of the documented example file is in it, with the
// static defaults config.Default gives.
func TestReferenceKeys(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Render(filepath.Join(root, "config"))
	if err != nil {
		t.Fatal(err)
	}
	ref := string(doc)
	for _, line := range []string{
		"| `s3.concurrency` | integer | `16` |",
		"| `s3.max_file_bytes` | size | `512MiB` |",
		"| `data_repo.closed_grace` | duration | `168h` |",
		"| `ci.repo` | string | *derived* |",
		"| `server.listen` | string | `127.0.0.1:8080` |",
		"| `policy.verbs.<VERB>.max_per_day` | integer | `WEBSITE: 4; other verbs: 0` |",
		"| `jobs.workers` | map of integers, by name | `{ci: 4, commands: 4, merges: 2, updates: 2}` |",
		"| `website.timeout` | duration | `2h` |",
		"*string*, default `" + config.DefaultStateDir + "`.",
	} {
		if !strings.Contains(ref, line) {
			t.Errorf("the reference lacks %q", line)
		}
	}
	example, err := os.ReadFile(filepath.Join(root, "deploy", "refbot.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(filepath.Join(root, "deploy", "refbot.example.yaml")); err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	for _, key := range yamlKeys(uncommented(string(example))) {
		if i := strings.Index(key, "verbs."); i >= 0 {
			if parts := strings.SplitN(key[i+len("verbs."):], ".", 2); len(parts) == 2 {
				key = key[:i] + "verbs." + entry + "." + parts[1]
			} else {
				continue // policy.verbs.WEBSITE, a name
			}
		}
		if strings.HasPrefix(key, "jobs.workers.") || strings.HasPrefix(key, "policy.cooldowns.") ||
			strings.HasPrefix(key, "website.env.") || strings.Contains(key, ".env") || strings.Contains(key, ".file") {
			continue // entries of maps, and a secret's own keys
		}
		if !strings.Contains(ref, "`"+key+"`") && !strings.Contains(ref, "\n## "+key+"\n") {
			t.Errorf("deploy/refbot.example.yaml sets %s, which the reference does not list", key)
		}
	}
}

// uncommented drops the comments and list entries of a YAML file, leaving
// its key lines.
func uncommented(text string) string {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "-") {
			continue
		}
		lines = append(lines, strings.TrimRight(line, " "))
	}
	return strings.Join(lines, "\n")
}

// TestUndocumentedKey: a key whose field has no comment stops the
// generator, naming it.
func TestUndocumentedKey(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(root, "config", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, name := range files {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// Drop the line comment of s3.region.
		const region = "Region    string `yaml:\"region\"`"
		lines := strings.Split(string(text), "\n")
		for i, line := range lines {
			if j := strings.Index(line, region); j >= 0 {
				lines[i], found = line[:j+len(region)], true
			}
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatal("config/*.go has no S3.Region field as this test expects")
	}
	if _, err := Render(dir); err == nil || !strings.Contains(err.Error(), "have no doc comment") || !strings.Contains(err.Error(), "\n  S3.Region") {
		t.Fatalf("Render: %v; want S3.Region named as undocumented", err)
	}
}

func TestProse(t *testing.T) {
	g := &generator{docs: &docs{names: map[string]bool{"OutputsS3": true}}, sections: []*section{
		{row: row{key: "github"}, rows: []row{{key: "github.token"}, {key: "github.app"}}},
		{row: row{key: "state_dir"}},
		{row: row{key: "policy"}, rows: []row{{key: "policy.verbs"}, {key: "policy.verbs." + entry + ".hold"}}},
	}}
	tests := []struct {
		name, text, parent, want string
	}{
		{"Go names of the section's fields", "Exactly one of Token and App authenticates refbot.", "github",
			"Exactly one of `github.token` and `github.app` authenticates refbot."},
		{"an acronym stays a word", "the App ID", "github.app", "the App ID"},
		{"dotted keys", "see policy.verbs.WEBSITE.hold and policy.verbs.<VERB>.", "",
			"see `policy.verbs.WEBSITE.hold` and `policy.verbs.<VERB>`."},
		{"a host name is not a key", "derived from url for github.com", "", "derived from url for github.com"},
		{"Markdown and HTML escaped", "default <state_dir>/refbot.db, README* | [x]_y", "",
			"default &lt;`state_dir`&gt;/refbot.db, README\\* \\| \\[x\\]\\_y"},
		{"Go asides left out", "s3 or either (OutputsS3 …); or (Unknown)", "", "s3 or either; or (Unknown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.prose(tt.text, tt.parent); got != tt.want {
				t.Errorf("prose(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
}

// TestGettingStartedConfig: the configuration docs/getting-started.md
// shows is one refbot accepts.
func TestGettingStartedConfig(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "docs", "getting-started.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(text), "```yaml\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("docs/getting-started.md shows no configuration")
	}
	for i, b := range blocks {
		yaml, _, ok := strings.Cut(b, "```")
		if !ok {
			t.Fatalf("block %d is not closed", i)
		}
		path := filepath.Join(t.TempDir(), "refbot.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(path); err != nil {
			t.Errorf("docs/getting-started.md, configuration %d: %v", i+1, err)
		}
	}
}

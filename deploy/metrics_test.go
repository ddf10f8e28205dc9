package deploy_test

// This file checks deploy/grafana/refbot-dashboard.json and
// deploy/prometheus/refbot-alerts.yaml against the metrics refbot serve
// registers (bot/metrics): every metric their expressions name exists, a
// histogram is read through its _bucket, _sum or _count series, and the
// rules file has the shape Prometheus loads.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/common/model"

	"github.com/refbot/refbot/bot/metrics"
)

// registeredMetrics are refbot serve's metrics by name, with their types.
func registeredMetrics(t *testing.T) map[string]string {
	t.Helper()
	ms, err := metrics.Describe()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, m := range ms {
		types[m.Name] = m.Type
	}
	return types
}

var (
	// promqlString is a string literal of PromQL (a label value, a
	// regular expression), which names no metric.
	promqlString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	// refbotName is a metric name of refbot's in an expression.
	refbotName = regexp.MustCompile(`\brefbot_[a-zA-Z0-9_:]+`)
)

// metricRefs returns the refbot metrics expr names, and what is wrong
// with them: a name refbot does not register, or a histogram named
// without one of its series' suffixes (which selects nothing).
func metricRefs(expr string, types map[string]string) (names []string, problems []string) {
	for _, name := range refbotName.FindAllString(promqlString.ReplaceAllString(expr, `""`), -1) {
		if typ, ok := types[name]; ok {
			if typ == "histogram" {
				problems = append(problems, fmt.Sprintf("%s is a histogram: read its %s_bucket, _sum or _count", name, name))
			} else {
				names = append(names, name)
			}
			continue
		}
		if base := histogramOf(name, types); base != "" {
			names = append(names, base)
			continue
		}
		problems = append(problems, fmt.Sprintf("%s: refbot has no such metric", name))
	}
	return names, problems
}

// histogramOf is the histogram whose series name is, or "".
func histogramOf(name string, types map[string]string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && types[base] == "histogram" {
			return base
		}
	}
	return ""
}

// balanced reports whether expr's brackets pair up and its quotes close.
func balanced(expr string) bool {
	s := promqlString.ReplaceAllString(expr, "")
	if strings.ContainsAny(s, `"'`) {
		return false // a quote no literal took: unclosed
	}
	var open []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for _, r := range s {
		switch r {
		case '(', '[', '{':
			open = append(open, r)
		case ')', ']', '}':
			if len(open) == 0 || open[len(open)-1] != pairs[r] {
				return false
			}
			open = open[:len(open)-1]
		}
	}
	return len(open) == 0
}

func TestBalanced(t *testing.T) {
	for expr, want := range map[string]bool{
		`sum by (a) (rate(x{b="c)"}[5m]))`: true,
		`sum(rate(x[5m])`:                  false,
		`x{a="b"]`:                         false,
		`x{a="b}`:                          false,
	} {
		if got := balanced(expr); got != want {
			t.Errorf("balanced(%s) = %v, want %v", expr, got, want)
		}
	}
}

func TestMetricRefs(t *testing.T) {
	types := map[string]string{"refbot_a_total": "counter", "refbot_b_seconds": "histogram"}
	names, problems := metricRefs(`sum(rate(refbot_a_total{x="refbot_c"}[5m])) / sum(rate(refbot_b_seconds_count[5m])) + refbot_b_seconds + refbot_d + refbot_a_total_count`, types)
	if want := []string{"refbot_a_total", "refbot_b_seconds"}; !slices.Equal(names, want) {
		t.Errorf("names = %v, want %v", names, want)
	}
	want := []string{
		"refbot_b_seconds is a histogram: read its refbot_b_seconds_bucket, _sum or _count",
		"refbot_d: refbot has no such metric",
		"refbot_a_total_count: refbot has no such metric",
	}
	if !slices.Equal(problems, want) {
		t.Errorf("problems = %q, want %q", problems, want)
	}
}

// grafanaPanel is what the test reads of a dashboard's panel.
type grafanaPanel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource map[string]any           `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

// TestDashboard: the dashboard is a Grafana dashboard whose every query
// names metrics refbot registers, and which shows each of them.
func TestDashboard(t *testing.T) {
	src, err := os.ReadFile("grafana/refbot-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title      string         `json:"title"`
		UID        string         `json:"uid"`
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(src, &dash); err != nil {
		t.Fatalf("grafana/refbot-dashboard.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("a dashboard needs a title, a uid and panels: %q %q, %d panels", dash.Title, dash.UID, len(dash.Panels))
	}
	types := registeredMetrics(t)
	shown := map[string]bool{}
	check := func(where, expr string) {
		if !balanced(expr) {
			t.Errorf("%s: unbalanced brackets or quotes: %s", where, expr)
		}
		names, problems := metricRefs(expr, types)
		for _, p := range problems {
			t.Errorf("%s: %s", where, p)
		}
		for _, n := range names {
			shown[n] = true
		}
	}
	vars := map[string]bool{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
		if v.Definition != "" {
			check("variable "+v.Name, v.Definition)
		}
	}
	if !vars["datasource"] {
		t.Error("no datasource variable: the dashboard would be bound to one Prometheus")
	}
	ids := map[int]bool{}
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if ids[p.ID] {
				t.Errorf("%s: id used twice", where)
			}
			ids[p.ID] = true
			if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v outside Grafana's 24 columns", where, g)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if uid, _ := p.Datasource["uid"].(string); uid != "${datasource}" {
				t.Errorf("%s: data source %v, want the dashboard's ${datasource}", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("%s: query %s has no expression", where, tg.RefID)
				}
				check(where, tg.Expr)
			}
		}
	}
	walk(dash.Panels)
	for name := range types {
		if strings.HasPrefix(name, "refbot_") && !shown[name] {
			t.Errorf("the dashboard shows nothing of %s (add it to a panel: docs/operations.md lists what it means)", name)
		}
	}
}

// The rule file's shape, as Prometheus reads it (its rulefmt package);
// strict decoding refuses any other key.
type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name        string            `yaml:"name"`
	Interval    string            `yaml:"interval,omitempty"`
	QueryOffset string            `yaml:"query_offset,omitempty"`
	Limit       int               `yaml:"limit,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Rules       []rule            `yaml:"rules"`
}

type rule struct {
	Record        string            `yaml:"record,omitempty"`
	Alert         string            `yaml:"alert,omitempty"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for,omitempty"`
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations,omitempty"`
}

// alertTemplateFuncs are the functions of Prometheus' alert templates,
// for parsing them; they are not run.
var alertTemplateFuncs = template.FuncMap{}

func init() {
	for _, name := range []string{"humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp",
		"toTime", "query", "first", "label", "value", "strvalue", "args", "safeHtml", "match", "title", "toUpper", "toLower",
		"graphLink", "tableLink", "sortByLabel", "stripPort", "stripDomain", "pathPrefix", "externalURL", "parseDuration", "reReplaceAll"} {
		alertTemplateFuncs[name] = func(...any) any { return nil }
	}
}

var metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// TestAlertRules: the rules file is a Prometheus rule file whose every
// rule is well formed and names metrics refbot registers.
func TestAlertRules(t *testing.T) {
	src, err := os.ReadFile("prometheus/refbot-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalWithOptions(src, &rf, yaml.Strict()); err != nil {
		t.Fatalf("prometheus/refbot-alerts.yaml is no rule file:\n%s", yaml.FormatError(err, false, true))
	}
	if len(rf.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	types := registeredMetrics(t)
	groups, alerts := map[string]bool{}, map[string]bool{}
	duration := func(where, what, s string) {
		if s == "" {
			return
		}
		if _, err := model.ParseDuration(s); err != nil {
			t.Errorf("%s: %s %q: %v", where, what, s, err)
		}
	}
	for _, g := range rf.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group %q: a group needs a name of its own", g.Name)
		}
		groups[g.Name] = true
		duration("group "+g.Name, "interval", g.Interval)
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rules", g.Name)
		}
		for i, r := range g.Rules {
			where := fmt.Sprintf("group %s rule %d %s%s", g.Name, i, r.Alert, r.Record)
			switch {
			case (r.Alert == "") == (r.Record == ""):
				t.Errorf("%s: a rule is an alert or a record, not both or neither", where)
			case r.Record != "" && !metricNameRE.MatchString(r.Record):
				t.Errorf("%s: record %q is no metric name", where, r.Record)
			case r.Record != "" && (r.For != "" || len(r.Annotations) > 0):
				t.Errorf("%s: a recording rule has no for and no annotations", where)
			case r.Alert != "":
				if alerts[r.Alert] {
					t.Errorf("%s: alert named twice", where)
				}
				alerts[r.Alert] = true
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("%s: an alert says what (summary) and what to do (description)", where)
				}
				if sev := r.Labels["severity"]; sev != "page" && sev != "warning" {
					t.Errorf("%s: severity %q, want page or warning", where, sev)
				}
			}
			duration(where, "for", r.For)
			duration(where, "keep_firing_for", r.KeepFiringFor)
			for name := range r.Labels {
				if !model.LegacyValidation.IsValidLabelName(name) {
					t.Errorf("%s: label %q", where, name)
				}
			}
			for name, text := range r.Annotations {
				// Prometheus defines these before each template.
				defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
				if _, err := template.New(name).Funcs(alertTemplateFuncs).Parse(defs + text); err != nil {
					t.Errorf("%s: annotation %s: %v", where, name, err)
				}
			}
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: no expr", where)
				continue
			}
			if !balanced(r.Expr) {
				t.Errorf("%s: unbalanced brackets or quotes: %s", where, r.Expr)
			}
			names, problems := metricRefs(r.Expr, types)
			for _, p := range problems {
				t.Errorf("%s: %s", where, p)
			}
			if len(names) == 0 && !strings.Contains(r.Expr, "up{") {
				t.Errorf("%s: names none of refbot's metrics", where)
			}
		}
	}
	// What an operator's alerts must watch (docs/operations.md).
	for _, name := range []string{"RefbotNotReady", "RefbotReconcileStale", "RefbotJobsWaiting", "RefbotUpdatesFailing",
		"RefbotGitHubRateLimitLow", "RefbotS3Errors", "RefbotGitErrors"} {
		if !alerts[name] {
			t.Errorf("no alert %s", name)
		}
	}
}

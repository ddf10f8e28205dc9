package metrics

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// refbotMetrics are Describe's metrics of refbot's own (not the Go
// runtime's nor the process's).
func refbotMetrics(t *testing.T) []Metric {
	t.Helper()
	all, err := Describe()
	if err != nil {
		t.Fatal(err)
	}
	var out []Metric
	for _, m := range all {
		switch {
		case strings.HasPrefix(m.Name, "refbot_"):
			out = append(out, m)
		case !strings.HasPrefix(m.Name, "go_") && !strings.HasPrefix(m.Name, "process_"):
			t.Errorf("%s: neither refbot's nor the runtime's", m.Name)
		}
	}
	return out
}

// unsafeLabels are labels whose values would grow without bound, one
// series per pull request, comment or commit.
var unsafeLabels = []string{"pr", "pull_request", "comment", "sha", "commit", "build", "delivery", "user", "author", "login", "branch", "key", "url", "path"}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// TestNames: refbot's metrics follow Prometheus' naming: a refbot_
// prefix, the unit in the name, _total on counters and on nothing else,
// few and bounded labels.
func TestNames(t *testing.T) {
	ms := refbotMetrics(t)
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.Name] {
			t.Errorf("%s described twice", m.Name)
		}
		seen[m.Name] = true
		if !snakeCase.MatchString(m.Name) {
			t.Errorf("%s: not snake case", m.Name)
		}
		if m.Help == "" {
			t.Errorf("%s: no help", m.Name)
		}
		switch m.Type {
		case "counter":
			if !strings.HasSuffix(m.Name, "_total") {
				t.Errorf("counter %s: no _total", m.Name)
			}
		case "histogram":
			if !strings.HasSuffix(m.Name, "_seconds") {
				t.Errorf("histogram %s: not in seconds", m.Name)
			}
		case "gauge":
			if strings.HasSuffix(m.Name, "_total") {
				t.Errorf("gauge %s: named as a counter", m.Name)
			}
		default:
			t.Errorf("%s: type %q", m.Name, m.Type)
		}
		if strings.Contains(m.Name, "time") && !strings.HasSuffix(m.Name, "_timestamp_seconds") {
			t.Errorf("%s: a time is a _timestamp_seconds", m.Name)
		}
		if len(m.Labels) > 3 {
			t.Errorf("%s: %d labels", m.Name, len(m.Labels))
		}
		for _, l := range m.Labels {
			if slices.Contains(unsafeLabels, l) {
				t.Errorf("%s: label %s has a value per object", m.Name, l)
			}
		}
	}
	// What an operator must be able to see (docs/operations.md).
	for _, name := range []string{
		"refbot_updates_total", "refbot_update_duration_seconds", "refbot_merges_total",
		"refbot_s3_request_duration_seconds", "refbot_git_request_duration_seconds", "refbot_ci_request_duration_seconds",
		"refbot_github_request_duration_seconds", "refbot_jobs", "refbot_jobs_oldest_age_seconds",
		"refbot_reconcile_last_success_timestamp_seconds", "refbot_policy_decisions_total", "refbot_ready",
	} {
		if !seen[name] {
			t.Errorf("%s is not registered", name)
		}
	}
}

// TestRegisterOncePerRegistry: Register makes each part's metrics anew
// on each registry; the readers report nothing without their sources.
func TestRegisterOncePerRegistry(t *testing.T) {
	a, b := prometheus.NewRegistry(), prometheus.NewRegistry()
	sa, err := Register(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Register(b)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Workflow == sb.Workflow || sa.S3 == sb.S3 {
		t.Error("two registries share metrics")
	}
	if _, err := Register(a); err == nil {
		t.Error("a second Register on one registry passed")
	}
	if err := RegisterReaders(a, Sources{}); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(a, "refbot_jobs", "refbot_ready", "refbot_reconcile_last_success_timestamp_seconds")
	if err != nil || n != 0 {
		t.Errorf("readers without sources gathered %d series, %v", n, err)
	}
}

// docRow is a row of the metrics table in docs/operations.md:
// | `name` | type | labels | meaning |
var docRow = regexp.MustCompile("^\\| `(refbot_[a-z0-9_]+)` \\| (counter|gauge|histogram) \\| ([^|]*) \\|")

// TestOperationsDocListsEveryMetric: docs/operations.md has a row for
// every metric, with its type and labels, and none for a metric that does
// not exist.
func TestOperationsDocListsEveryMetric(t *testing.T) {
	f, err := os.Open("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type row struct{ Type, Labels string }
	documented := map[string]row{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := docRow.FindStringSubmatch(sc.Text()); m != nil {
			labels := strings.NewReplacer("`", "", " ", "").Replace(m[3])
			if labels == "—" {
				labels = ""
			}
			documented[m[1]] = row{m[2], labels}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	registered := map[string]row{}
	for _, m := range refbotMetrics(t) {
		registered[m.Name] = row{m.Type, strings.Join(m.Labels, ",")}
	}
	if diff := cmp.Diff(registered, documented); diff != "" {
		t.Errorf("docs/operations.md's metrics table (-registered +documented):\n%s", diff)
	}
}

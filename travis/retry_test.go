package travis

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		want   time.Duration
		wantOK bool
	}{
		{name: "seconds", header: "120", want: 2 * time.Minute, wantOK: true},
		{name: "zero", header: "0", want: 0, wantOK: true},
		{name: "spaces", header: " 5 ", want: 5 * time.Second, wantOK: true},
		{name: "huge is capped at a day", header: "99999999999999999", want: 24 * time.Hour, wantOK: true},
		{name: "HTTP date", header: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second, wantOK: true},
		{name: "date in the past is now", header: now.Add(-time.Hour).Format(http.TimeFormat), want: 0, wantOK: true},
		{name: "RFC 850 date", header: now.Add(time.Minute).Format(time.RFC850), want: time.Minute, wantOK: true},
		{name: "empty", header: ""},
		{name: "negative", header: "-3"},
		{name: "garbage", header: "soon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.header, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tr := &retryTransport{policy: RetryPolicy{MaxAttempts: 10, MaxWait: 5 * time.Second, BaseDelay: time.Second}}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := tr.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

func TestRetryPolicyDefaults(t *testing.T) {
	if got := (RetryPolicy{}).withDefaults(); got != DefaultRetryPolicy {
		t.Errorf("zero policy with defaults = %+v, want %+v", got, DefaultRetryPolicy)
	}
	custom := RetryPolicy{MaxAttempts: 2, MaxWait: time.Second, BaseDelay: time.Millisecond}
	if got := custom.withDefaults(); got != custom {
		t.Errorf("custom policy with defaults = %+v, want it unchanged", got)
	}
}

func TestSnippet(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{name: "short, whitespace folded", body: "<html>\n  <p>Bad\tGateway</p>\n</html>", want: "<html> <p>Bad Gateway</p> </html>"},
		{name: "long is cut", body: strings.Repeat("a", 300), want: strings.Repeat("a", 200) + "…"},
		{name: "cut never splits a rune", body: strings.Repeat("a", 199) + "é" + "tail", want: strings.Repeat("a", 199) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := snippet(tt.body); got != tt.want {
				t.Errorf("snippet = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEnvList(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    []string
		wantErr bool
	}{
		{name: "sorted by name", env: map[string]string{"B": "2", "A": "1"}, want: []string{"A=1", "B=2"}},
		{name: "question mark is quoted", env: map[string]string{"URL": "https://x.example/a-b_c.d?"}, want: []string{"URL='https://x.example/a-b_c.d?'"}},
		{name: "path", env: map[string]string{"P": "/a/b:c@d,e=f+g%"}, want: []string{"P=/a/b:c@d,e=f+g%"}},
		{name: "spaces and quotes", env: map[string]string{"M": `say "hi" it's`}, want: []string{`M='say "hi" it'\''s'`}},
		{name: "dollar is not expanded", env: map[string]string{"D": "$HOME"}, want: []string{"D='$HOME'"}},
		{name: "empty value", env: map[string]string{"E": ""}, want: []string{"E="}},
		{name: "no env", env: nil, want: []string{}},
		{name: "name with dash", env: map[string]string{"A-B": "1"}, wantErr: true},
		{name: "name starting with digit", env: map[string]string{"1A": "1"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envList(tt.env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("envList error = %v, want error: %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") || len(got) != len(tt.want) {
				t.Errorf("envList = %q, want %q", got, tt.want)
			}
		})
	}
}

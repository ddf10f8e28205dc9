package travis

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

func TestOperation(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/repo/o%2Fn", "repository"},
		{"GET", "/repo/o%2Fn/builds", "builds"},
		{"GET", "/repo/o%2Fn/requests", "requests"},
		{"POST", "/repo/o%2Fn/requests", "trigger"},
		{"GET", "/repo/o%2Fn/request/12", "request"},
		{"GET", "/build/7", "build"},
		{"POST", "/build/7/restart", "restart"},
		{"POST", "/build/7/cancel", "cancel"},
		{"GET", "/user", "other"},
		{"GET", "/repo/o/n/builds", "other"}, // a slug's slash is escaped: this is no call of the client's
	} {
		if got := operation(tc.method, tc.path); got != tc.want {
			t.Errorf("operation(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

// TestRequestMetrics: each attempt is timed by its operation and how it
// went, under a base URL with a path of its own.
func TestRequestMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.EscapedPath() {
		case "/api/repo/o%2Fn":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"@type":"repository","id":1,"slug":"o/n","active":true}`))
		case "/api/build/7/restart":
			http.Error(w, `{"@type":"error","error_type":"internal","error_message":"down"}`, http.StatusBadGateway)
		default:
			http.Error(w, `{"@type":"error","error_type":"not_found","error_message":"none"}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(srv.URL+"/api", "token", nil, WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Repository(ctx, "o/n"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Build(ctx, 8); err == nil {
		t.Fatal("a build the server does not know")
	}
	if err := c.Restart(ctx, 7); err == nil { // a POST: never repeated
		t.Fatal("a restart the server refused")
	}
	// Labels in name order: operation, outcome, provider.
	want := map[string]uint64{"repository/ok/travis": 1, "build/client_error/travis": 1, "restart/server_error/travis": 1}
	got := map[string]uint64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var key string
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += "/"
				}
				key += l.GetValue()
			}
			got[key] = m.GetHistogram().GetSampleCount()
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timed requests by operation/outcome/provider (-want +got):\n%s", diff)
	}
}

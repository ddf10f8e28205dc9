package s3cache

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/internal/testenv"
)

// TestRequestMetrics: each request to S3 is timed by its operation and
// how it went; two stores given the same Metrics share the series.
func TestRequestMetrics(t *testing.T) {
	mc := testenv.MinIO(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := NewMetrics(reg); err != nil || again.requests != m.requests {
		t.Fatalf("a second NewMetrics on the registry: %v, shares the histogram: %v", err, again != nil && again.requests == m.requests)
	}
	bucket := mc.BucketName(t)
	open := func(endpoint string, m *Metrics) *Store {
		s, err := New(ctx, Options{Bucket: bucket, Region: mc.Region, Endpoint: endpoint, PathStyle: true,
			AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey, MaxAttempts: 1, Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The bucket is made first, untimed: MinIO may answer 503 while it
	// starts, which the store would retry.
	warm, err := New(ctx, Options{Bucket: bucket, Region: mc.Region, Endpoint: mc.Endpoint, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	s := open(mc.Endpoint, m)
	if err := s.EnsureBucket(ctx); err != nil { // HeadBucket: it exists
		t.Fatal(err)
	}
	if _, err := s.ProbeList(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.getSmall(ctx, "missing", 10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get a missing key: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	if _, err := open(closed, m).ProbeList(ctx); err == nil {
		t.Fatal("a list at a closed port passed")
	}
	want := map[string]uint64{
		"HeadBucket/ok": 1, "ListObjectsV2/ok": 1,
		"GetObject/client_error": 1, "ListObjectsV2/error": 1,
	}
	if diff := cmp.Diff(want, histogramCounts(t, reg, "refbot_s3_request_duration_seconds")); diff != "" {
		t.Errorf("timed requests by operation/outcome (-want +got):\n%s", diff)
	}
}

// histogramCounts returns the observations of histogram name in reg by
// its label values, joined with "/".
func histogramCounts(t *testing.T, reg *prometheus.Registry, name string) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var key string
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += "/"
				}
				key += l.GetValue()
			}
			out[key] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

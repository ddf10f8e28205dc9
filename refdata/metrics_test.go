package refdata

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// TestRequestMetrics: every smart-HTTP request to the data repo is timed
// by what it does and how it went.
func TestRequestMetrics(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	open := func(url, token string) *Repo {
		r, err := Open(Options{URL: url, Token: token, CacheDir: filepath.Join(t.TempDir(), "cache"), Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := open(f.gs.URL("data.git"), f.gs.Token)
	if _, err := r.ProbePush(ctx); err != nil { // its refs, then two pushes
		t.Fatal(err)
	}
	if _, err := r.Branch(ctx, "master"); err != nil { // its refs and a fetch
		t.Fatal(err)
	}
	a := plumbing.ComputeHash(plumbing.BlobObject, []byte("a1\n")) // data/a.txt
	if blobs, err := r.Blobs(ctx, []plumbing.Hash{a}, 1<<20, 1<<20); err != nil || string(blobs[a]) != "a1\n" {
		t.Fatalf("blobs: %q, %v", blobs, err)
	}
	if _, err := open(f.gs.URL("data.git"), "wrong").RemoteTips(ctx); err == nil {
		t.Fatal("refs listed with a wrong token")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/data.git"
	l.Close()
	if _, err := open(closed, "x").RemoteTips(ctx); err == nil {
		t.Fatal("refs listed from a closed port")
	}
	want := map[string]uint64{
		"ls-refs/ok": 2, "push-refs/ok": 2, "push/ok": 2, // ProbePush's and Branch's refs
		"fetch/ok": 1, "fetch-blobs/ok": 1,
		"ls-refs/client_error": 1, "ls-refs/error": 1,
	}
	if diff := cmp.Diff(want, histogramCounts(t, reg, "refbot_git_request_duration_seconds")); diff != "" {
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

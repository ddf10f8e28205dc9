package s3cache

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/internal/faultproxy"
	"github.com/refbot/refbot/internal/stall"
	"github.com/refbot/refbot/internal/testenv"
)

// proxiedStore is a store on the test MinIO through a fault proxy, with
// the stall limit and attempts given; the bucket exists and holds build
// "7" of PR 1 with files.
func proxiedStore(t *testing.T, limit time.Duration, attempts int, files map[string]string) (*Store, *faultproxy.Proxy) {
	t.Helper()
	mc := testenv.MinIO(t)
	u, err := url.Parse(mc.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := faultproxy.New(t, u.Host)
	u.Host = p.Addr()
	ctx := context.Background()
	s, err := New(ctx, Options{
		Bucket: mc.BucketName(t), Prefix: "stall", Region: mc.Region, Endpoint: u.String(), PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey, StallTimeout: limit, MaxAttempts: attempts,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(ctx, UploadRequest{Build: "7", Source: Source{PR: 1}, Dir: testenv.Tree(t, files)}); err != nil {
		t.Fatal(err)
	}
	return s, p
}

// TestBlackholedS3: with S3 blackholed, a listing and an upload each fail
// with the stall after MaxAttempts attempts, each on its own connection,
// under a caller's context with no deadline.
func TestBlackholedS3(t *testing.T) {
	const attempts = 2
	s, p := proxiedStore(t, 300*time.Millisecond, attempts, map[string]string{"a.txt": "a"})
	testenv.NoLeaks(t)
	p.Blackhole()
	ctx := context.Background()
	tests := []struct {
		name string
		op   func() error
	}{
		{"list", func() error { _, err := s.ListBuilds(ctx); return err }},
		{"upload", func() error {
			_, err := s.Upload(ctx, UploadRequest{Build: "8", Source: Source{PR: 1}, Dir: testenv.Tree(t, map[string]string{"b.txt": "b"})})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := p.Accepted()
			err := tc.op()
			var se *stall.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a stall", err)
			}
			// Each attempt stalls its connection, which is then closed; the
			// next dials anew. An operation of several requests stops at
			// the first that fails.
			if got := p.Accepted() - before; got != attempts {
				t.Errorf("%d connections for one failed request, want %d (one per attempt)", got, attempts)
			}
		})
	}
}

// TestSlowS3DownloadIsNotCut: a download whose bytes trickle in, taking
// several stall limits but never pausing for one, completes.
func TestSlowS3DownloadIsNotCut(t *testing.T) {
	const limit = 300 * time.Millisecond
	content := strings.Repeat("slow but moving\n", 256) // 4 KiB
	s, p := proxiedStore(t, limit, 1, map[string]string{"big.txt": content})
	ctx := context.Background()
	b, err := s.Open(ctx, "7", Want{Source: Source{PR: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p.Trickle(256, limit/5, faultproxy.ToClient) // 16 pieces: 3 limits
	start := time.Now()
	dir := t.TempDir()
	if _, err := s.Download(ctx, b.Manifests[""], dir, DownloadOptions{}); err != nil {
		t.Fatalf("download: %v", err)
	}
	if took := time.Since(start); took < 2*limit {
		t.Errorf("the trickled download took %s, less than the %s this test needs", took, 2*limit)
	}
}

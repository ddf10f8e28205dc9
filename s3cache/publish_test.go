package s3cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/refbot/refbot/internal/testenv"
)

// oddName is a site file whose name needs escaping in a copy source and a
// URL: spaces, '+', '#', '?' and non-ASCII.
const oddName = "api/a b+c#d?e ünï.html"

// siteV1 and siteV2 are two builds of a documentation site: v2 changes
// some files, keeps some, drops some and adds some.
var (
	siteV1 = map[string]string{
		"index.html":         "<h1>v1</h1>",
		"_static/site.css":   "body { color: black }",
		"_static/app.js":     "console.log(1)",
		"_static/logo.png":   "\x89PNG logo",
		"old/only-v1.html":   "<p>gone in v2</p>",
		"old/data.json":      `{"v": 1}`,
		oddName:              "<p>odd</p>",
		"fonts/x.woff2":      "wOF2",
		"CNAME":              "docs.example.org",
		"_sources/a.rst.txt": "text",
		".nojekyll":          "",
	}
	siteV2 = map[string]string{
		"index.html":         "<h1>v2</h1>",           // changed
		"_static/site.css":   "body { color: black }", // same
		"_static/app.js":     "console.log(2)",        // changed, same size
		"_static/logo.png":   "\x89PNG logo",          // same
		oddName:              "<p>odd</p>",            // same
		"fonts/x.woff2":      "wOF2",                  // same
		"CNAME":              "docs.example.org",      // same
		"_sources/a.rst.txt": "text",                  // same
		"new/page.html":      "<p>new in v2</p>",      // added
		"new/pic.svg":        "<svg/>",                // added
		".nojekyll":          "",                      // same, and empty
	}
)

// websiteStore is a store of website builds in a bucket of its own, under
// ci/website; o.Concurrency and o.HTTPClient are taken from o when set.
func websiteStore(t *testing.T, o Options) *Store {
	t.Helper()
	mc := testenv.MinIO(t)
	ctx := context.Background()
	if o.HTTPClient != nil {
		// The SDK refuses a custom CA bundle with an *http.Client it did
		// not build; MinIO here is plain HTTP and needs none.
		t.Setenv("AWS_CA_BUNDLE", "")
	}
	if o.Bucket == "" {
		o.Bucket = mc.BucketName(t)
	}
	if o.Prefix == "" {
		o.Prefix = "ci/website"
	}
	if o.Concurrency == 0 {
		o.Concurrency = 8
	}
	o.Region, o.Endpoint, o.PathStyle = mc.Region, mc.Endpoint, true
	o.AccessKeyID, o.SecretAccessKey = mc.AccessKey, mc.SecretKey
	o.Kind = KindWebsite
	s, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// previewBucket creates a bucket for previews and returns a Preview in it.
func previewBucket(t *testing.T, prefix string) Preview {
	t.Helper()
	other := newStore(t, Limits{}) // creates a bucket of its own
	return Preview{Bucket: other.bucket, Prefix: prefix}
}

// uploadSite uploads files as website build id for PR pr at commit sha, and
// returns its manifest as Open reads it.
func uploadSite(t *testing.T, s *Store, id string, pr int, sha string, files map[string]string) *Manifest {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Upload(ctx, UploadRequest{Build: id, Source: Source{PR: pr}, Commit: sha, Provider: "travis",
		Dir: testenv.Tree(t, files)}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(ctx, id, Want{Source: Source{PR: pr}, Commit: sha})
	if err != nil {
		t.Fatal(err)
	}
	return b.Manifests[""]
}

// publishedObject is what the preview holds under one name.
type publishedObject struct {
	Content      string
	ContentType  string
	CacheControl string
	SHA256       string // the x-amz-meta-sha256 metadata
}

// previewTree reads every object of dst, by its path inside the preview,
// the marker left out.
func previewTree(t *testing.T, s *Store, dst Preview) map[string]publishedObject {
	t.Helper()
	ctx := context.Background()
	got := map[string]publishedObject{}
	have, err := s.previewObjects(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	for key := range have {
		rel := strings.TrimPrefix(key, dst.folder())
		if rel == previewMarker {
			continue
		}
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &dst.Bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		got[rel] = publishedObject{Content: string(body), ContentType: aws.ToString(out.ContentType),
			CacheControl: aws.ToString(out.CacheControl), SHA256: out.Metadata["sha256"]}
	}
	return got
}

// wantPreview is what a preview of files should hold, each file's
// Content-Type written out here, apart from the code under test.
func wantPreview(files map[string]string) map[string]publishedObject {
	types := map[string]string{
		".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".png": "image/png", ".json": "application/json", ".woff2": "font/woff2", ".svg": "image/svg+xml",
		"": "application/octet-stream", ".nojekyll": "application/octet-stream", ".txt": "text/plain; charset=utf-8",
	}
	want := map[string]publishedObject{}
	for p, c := range files {
		ext := path.Ext(p)
		ct, ok := types[ext]
		if !ok {
			panic("wantPreview: no Content-Type for " + p)
		}
		sum := sha256.Sum256([]byte(c))
		want[p] = publishedObject{Content: c, ContentType: ct, CacheControl: "no-cache", SHA256: hex.EncodeToString(sum[:])}
	}
	return want
}

func readPreview(t *testing.T, s *Store, dst Preview) PreviewInfo {
	t.Helper()
	info, err := s.ReadPreview(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	return *info
}

func siteBytes(files map[string]string) int64 {
	var n int64
	for _, c := range files {
		n += int64(len(c))
	}
	return n
}

// TestPublish publishes a site to an empty preview, then a second build
// over it, then the second again: each time the preview holds exactly the
// site, with the right bytes and headers, and the marker names it.
func TestPublish(t *testing.T) {
	ctx := context.Background()
	s := websiteStore(t, Options{})
	dst := previewBucket(t, "previews/slot-1")
	if _, err := s.ReadPreview(ctx, dst); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadPreview of an empty preview: %v, want ErrNotFound", err)
	}
	sha1, sha2 := strings.Repeat("1", 40), strings.Repeat("2", 40)
	m1 := uploadSite(t, s, "501", 7, sha1, siteV1)
	m2 := uploadSite(t, s, "502", 8, sha2, siteV2)

	// The build objects themselves carry a Content-Type, so a site read
	// straight from the build folder works too.
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.dataKey("501", "", "index.html"))})
	if err != nil || aws.ToString(h.ContentType) != "text/html; charset=utf-8" {
		t.Errorf("the uploaded index.html: Content-Type %q, %v", aws.ToString(h.ContentType), err)
	}

	st, err := s.Publish(ctx, m1, dst, PreviewInfo{Slot: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := (PublishStats{Copied: len(siteV1), Bytes: siteBytes(siteV1)}); st != want {
		t.Errorf("first publication: stats %+v, want %+v", st, want)
	}
	if diff := cmp.Diff(wantPreview(siteV1), previewTree(t, s, dst)); diff != "" {
		t.Errorf("the preview after v1 (-want +got):\n%s", diff)
	}
	info1 := readPreview(t, s, dst)
	if info1.Published.IsZero() || time.Since(info1.Published) > time.Hour {
		t.Errorf("marker's Published = %v, want about now", info1.Published)
	}
	want1 := PreviewInfo{PR: 7, Commit: sha1, Build: "501", Provider: "travis", Slot: 1, Published: info1.Published,
		Files: len(siteV1), Bytes: siteBytes(siteV1)}
	if diff := cmp.Diff(want1, info1); diff != "" {
		t.Errorf("marker after v1 (-want +got):\n%s", diff)
	}

	published := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	st, err = s.Publish(ctx, m2, dst, PreviewInfo{PR: 8, Build: "502", Slot: 1, Published: published})
	if err != nil {
		t.Fatal(err)
	}
	changed := []string{"index.html", "_static/app.js", "new/page.html", "new/pic.svg"}
	var changedBytes int64
	for _, p := range changed {
		changedBytes += int64(len(siteV2[p]))
	}
	if want := (PublishStats{Copied: len(changed), Skipped: len(siteV2) - len(changed), Removed: 2, Bytes: changedBytes}); st != want {
		t.Errorf("second publication: stats %+v, want %+v", st, want)
	}
	if diff := cmp.Diff(wantPreview(siteV2), previewTree(t, s, dst)); diff != "" {
		t.Errorf("the preview after v2 (-want +got):\n%s", diff)
	}
	want2 := PreviewInfo{PR: 8, Commit: sha2, Build: "502", Provider: "travis", Slot: 1, Published: published,
		Files: len(siteV2), Bytes: siteBytes(siteV2)}
	if diff := cmp.Diff(want2, readPreview(t, s, dst)); diff != "" {
		t.Errorf("marker after v2 (-want +got):\n%s", diff)
	}

	// Again, as after a crash past the marker: nothing to copy or remove,
	// and the marker keeps the time the site was first whole.
	st, err = s.Publish(ctx, m2, dst, PreviewInfo{Slot: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := (PublishStats{Skipped: len(siteV2)}); st != want {
		t.Errorf("publishing again: stats %+v, want %+v", st, want)
	}
	if diff := cmp.Diff(want2, readPreview(t, s, dst)); diff != "" {
		t.Errorf("marker after publishing again (-want +got):\n%s", diff)
	}

	// A file changed by hand in the preview (to one of the same size) is
	// put back.
	key := dst.key("_static/site.css")
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &dst.Bucket, Key: &key, Body: strings.NewReader("body { color: white }")}); err != nil {
		t.Fatal(err)
	}
	st, err = s.Publish(ctx, m2, dst, PreviewInfo{Slot: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Copied != 1 || st.Skipped != len(siteV2)-1 {
		t.Errorf("after a file was changed by hand: stats %+v, want that one copied", st)
	}
	if diff := cmp.Diff(wantPreview(siteV2), previewTree(t, s, dst)); diff != "" {
		t.Errorf("the preview after repair (-want +got):\n%s", diff)
	}
}

// copyCounter counts CopyObject requests answered, and cancels a context
// once a number of them were.
type copyCounter struct {
	base    http.RoundTripper
	copies  atomic.Int64
	cancel  atomic.Pointer[context.CancelFunc]
	cancelN int64
}

func (c *copyCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "" && err == nil && resp.StatusCode == http.StatusOK {
		if n := c.copies.Add(1); n == c.cancelN {
			if cancel := c.cancel.Load(); cancel != nil {
				(*cancel)()
			}
		}
	}
	return resp, err
}

// TestPublishInterrupted cancels a publication after some of its copies:
// the old marker stays and no file goes, and the next Publish ends with the
// new site whole.
func TestPublishInterrupted(t *testing.T) {
	cc := &copyCounter{base: http.DefaultTransport}
	s := websiteStore(t, Options{Concurrency: 1, HTTPClient: &http.Client{Transport: cc}})
	dst := previewBucket(t, "preview")
	m1 := uploadSite(t, s, "601", 7, strings.Repeat("1", 40), siteV1)
	m2 := uploadSite(t, s, "602", 8, strings.Repeat("2", 40), siteV2)
	if _, err := s.Publish(context.Background(), m1, dst, PreviewInfo{}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cc.copies.Store(0)
	cc.cancelN = 2 // of the 4 files to copy
	cc.cancel.Store(&cancel)
	st, err := s.Publish(ctx, m2, dst, PreviewInfo{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Publish: %v, want context.Canceled", err)
	}
	cc.cancel.Store(nil)
	if st.Removed != 0 {
		t.Errorf("a cancelled Publish removed %d files", st.Removed)
	}
	if got := readPreview(t, s, dst).Build; got != "601" {
		t.Errorf("after the cancelled Publish the marker names build %s, want the old 601", got)
	}
	tree := previewTree(t, s, dst)
	for _, p := range []string{"old/only-v1.html", "old/data.json"} {
		if _, ok := tree[p]; !ok {
			t.Errorf("the cancelled Publish removed %s", p)
		}
	}
	// Files that are not pages go first: the new pages are not there yet.
	if tree["new/page.html"].Content != "" || tree["index.html"].Content != siteV1["index.html"] {
		t.Errorf("pages were copied before the other files: %+v", tree)
	}

	st, err = s.Publish(context.Background(), m2, dst, PreviewInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Copied >= 4 || st.Copied == 0 || st.Removed != 2 {
		t.Errorf("the run after the cancelled one: stats %+v, want some of the 4 copies left, and 2 removals", st)
	}
	if diff := cmp.Diff(wantPreview(siteV2), previewTree(t, s, dst)); diff != "" {
		t.Errorf("the preview after the second run (-want +got):\n%s", diff)
	}
	if got := readPreview(t, s, dst).Build; got != "602" {
		t.Errorf("the marker names build %s, want 602", got)
	}
}

// TestWebsiteKind: a store refuses a build of the other kind, both ways,
// and a website build has no variants.
func TestWebsiteKind(t *testing.T) {
	ctx := context.Background()
	outputs := newStore(t, Limits{})
	site := websiteStore(t, Options{Bucket: outputs.bucket, Prefix: outputs.prefix}) // the same folder, by mistake
	sha := strings.Repeat("a", 40)
	if _, err := outputs.Upload(ctx, UploadRequest{Build: "1", Source: Source{PR: 3}, Commit: sha,
		Dir: testenv.Tree(t, map[string]string{"result.json": "{}"})}); err != nil {
		t.Fatal(err)
	}
	if _, err := site.Upload(ctx, UploadRequest{Build: "2", Source: Source{PR: 3}, Commit: sha,
		Dir: testenv.Tree(t, map[string]string{"index.html": "<p>"})}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		store *Store
		build string
		want  string
	}{
		{"outputs read as a site", site, "1", `it is a build of test outputs (no kind), not a website build (kind "website")`},
		{"a site read as outputs", outputs, "2", `it is a website build (kind "website"), not a build of test outputs (no kind)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.store.Open(ctx, tc.build, Want{Source: Source{PR: 3}, Commit: sha})
			if !errors.Is(err, ErrProvenance) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v; want ErrProvenance saying %q", err, tc.want)
			}
		})
	}
	// Nor is a manifest of the other kind downloaded, however it was had.
	b, err := outputs.Open(ctx, "1", Want{Source: Source{PR: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := site.Download(ctx, b.Manifests[""], t.TempDir(), DownloadOptions{}); !errors.Is(err, ErrProvenance) {
		t.Errorf("Download of test outputs from the website store: %v, want ErrProvenance", err)
	}
	if _, err := site.IngestArtifact(ctx, prepareZip(t, map[string]string{"a.txt": "a"}, ""), Provenance{}); err == nil ||
		!strings.Contains(err.Error(), "an artifact holds test outputs") {
		t.Errorf("IngestArtifact into the website store: %v", err)
	}
	for _, tc := range []struct{ store, build string }{{"outputs", "1"}, {"site", "2"}} {
		s := map[string]*Store{"outputs": outputs, "site": site}[tc.store]
		if _, err := s.Open(ctx, tc.build, Want{Source: Source{PR: 3}, Commit: sha}); err != nil {
			t.Errorf("the %s store does not open its own build %s: %v", tc.store, tc.build, err)
		}
	}

	t.Run("variant", func(t *testing.T) {
		_, err := site.Upload(ctx, UploadRequest{Build: "3", Source: Source{PR: 3}, Variant: "linux",
			Dir: testenv.Tree(t, map[string]string{"index.html": "<p>"})})
		if err == nil || !strings.Contains(err.Error(), "a website build has no variants") {
			t.Errorf("Upload of a website variant: %v", err)
		}
		m := Manifest{Version: ManifestVersion, Build: "3", Variant: "linux", Kind: KindWebsite}
		if err := m.Validate(Limits{}); !errors.Is(err, ErrBadManifest) {
			t.Errorf("Validate of a website variant: %v, want ErrBadManifest", err)
		}
	})
	t.Run("unknown kind", func(t *testing.T) {
		m := Manifest{Version: ManifestVersion, Build: "3", Kind: "docs"}
		if err := m.Validate(Limits{}); !errors.Is(err, ErrBadManifest) || !strings.Contains(err.Error(), `kind "docs"`) {
			t.Errorf("Validate of kind docs: %v", err)
		}
		if _, err := New(ctx, Options{Bucket: "b", Kind: "docs"}); err == nil || !strings.Contains(err.Error(), `kind "docs"`) {
			t.Errorf("New with kind docs: %v", err)
		}
	})
	t.Run("publish test outputs", func(t *testing.T) {
		b, err := outputs.Open(ctx, "1", Want{Source: Source{PR: 3}})
		if err != nil {
			t.Fatal(err)
		}
		dst := previewBucket(t, "preview")
		if _, err := outputs.Publish(ctx, b.Manifests[""], dst, PreviewInfo{}); err == nil || !strings.Contains(err.Error(), "store of test outputs") {
			t.Errorf("Publish from a store of test outputs: %v", err)
		}
		if _, err := site.Publish(ctx, b.Manifests[""], dst, PreviewInfo{}); !errors.Is(err, ErrProvenance) {
			t.Errorf("Publish of test outputs: %v, want ErrProvenance", err)
		}
	})
}

// TestPublishRefusals: what Publish refuses, before it copies anything.
func TestPublishRefusals(t *testing.T) {
	ctx := context.Background()
	s := websiteStore(t, Options{Limits: Limits{MaxFileBytes: 8 << 30, MaxBuildBytes: 16 << 30}})
	sha := strings.Repeat("3", 40)
	m := uploadSite(t, s, "701", 9, sha, map[string]string{"index.html": "<p>", "a.css": ""})
	other := previewBucket(t, "preview").Bucket
	withFile := func(f File) *Manifest {
		c := *m
		c.Files = append([]File{f}, m.Files...)
		return &c
	}
	tests := []struct {
		name string
		m    *Manifest
		dst  Preview
		info PreviewInfo
		is   error
		want string
	}{
		{name: "the builds' folder", m: m, dst: Preview{Bucket: s.bucket, Prefix: "ci/website"}, want: "overlap"},
		{name: "inside the builds' folder", m: m, dst: Preview{Bucket: s.bucket, Prefix: "/ci/website/preview/"}, want: "overlap"},
		{name: "around the builds' folder", m: m, dst: Preview{Bucket: s.bucket, Prefix: "ci"}, want: "overlap"},
		{name: "the builds' whole bucket", m: m, dst: Preview{Bucket: s.bucket}, want: "overlap"},
		{name: "no bucket", m: m, dst: Preview{Prefix: "preview"}, want: `preview bucket "" is not a bucket name`},
		{name: "unsafe prefix", m: m, dst: Preview{Bucket: other, Prefix: "a/../b"}, is: ErrUnsafePath},
		{name: "no files", m: &Manifest{Version: ManifestVersion, Build: "701", PR: 9, Kind: KindWebsite}, dst: Preview{Bucket: other},
			is: ErrIncomplete, want: "publishing it would empty the preview"},
		{name: "a file named as the marker", m: withFile(File{Path: ".refbot-preview.json", SHA256: strings.Repeat("0", 64)}),
			dst: Preview{Bucket: other}, is: ErrUnsafePath, want: ".refbot-preview.json"},
		{name: "a file over 5 GiB", m: withFile(File{Path: "huge.bin", Size: 6 << 30, SHA256: strings.Repeat("0", 64)}),
			dst: Preview{Bucket: other}, is: ErrTooLarge, want: "huge.bin is 6442450944 bytes, and S3 copies at most 5 GiB"},
		{name: "another PR", m: m, dst: Preview{Bucket: other}, info: PreviewInfo{PR: 10}, is: ErrProvenance,
			want: "the preview's PR is 10, and the build's 9"},
		{name: "another commit", m: m, dst: Preview{Bucket: other}, info: PreviewInfo{Commit: strings.Repeat("4", 40)}, is: ErrProvenance},
		{name: "another build", m: m, dst: Preview{Bucket: other}, info: PreviewInfo{Build: "702"}, is: ErrProvenance},
		{name: "no such bucket", m: m, dst: Preview{Bucket: other + "-missing"}, want: "list s3://" + other + "-missing/: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Publish(ctx, tc.m, tc.dst, tc.info)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Publish: %v; want an error wrapping %v saying %q", err, tc.is, tc.want)
			}
		})
	}
	objects, err := s.previewObjects(ctx, Preview{Bucket: other})
	if err != nil || len(objects) != 0 {
		t.Errorf("refusals left %v in the preview bucket (%v)", objects, err)
	}

	t.Run("a file deleted from the build", func(t *testing.T) {
		if err := s.deleteKeys(ctx, []string{s.dataKey("701", "", "a.css")}); err != nil {
			t.Fatal(err)
		}
		_, err := s.Publish(ctx, m, Preview{Bucket: other, Prefix: "p"}, PreviewInfo{})
		if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "a.css was deleted") {
			t.Errorf("Publish: %v, want ErrIncomplete naming a.css", err)
		}
		if _, err := s.ReadPreview(ctx, Preview{Bucket: other, Prefix: "p"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("a failed Publish wrote the marker (ReadPreview: %v)", err)
		}
	})
}

// TestPublishServedOverHTTP serves a published preview from MinIO, as S3's
// static website hosting would, to a plain HTTP client with no credentials.
func TestPublishServedOverHTTP(t *testing.T) {
	ctx := context.Background()
	mc := testenv.MinIO(t)
	s := websiteStore(t, Options{})
	dst := previewBucket(t, "docs/pr-preview")
	policy := fmt.Sprintf(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]},
		"Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::%s/*"]}]}`, dst.Bucket)
	if _, err := s.client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: &dst.Bucket, Policy: &policy}); err != nil {
		t.Fatal(err)
	}
	m := uploadSite(t, s, "801", 5, strings.Repeat("5", 40), siteV1)
	if _, err := s.Publish(ctx, m, dst, PreviewInfo{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, contentType string }{
		{"index.html", "text/html; charset=utf-8"},
		{"_static/site.css", "text/css; charset=utf-8"},
		{oddName, "text/html; charset=utf-8"},
	} {
		u := mc.Endpoint + "/" + dst.Bucket + "/" + dst.Prefix + "/" + (&url.URL{Path: tc.path}).EscapedPath()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.contentType ||
			resp.Header.Get("Cache-Control") != "no-cache" || string(body) != siteV1[tc.path] {
			t.Errorf("GET %s: %d, Content-Type %q, Cache-Control %q, body %q; want 200, %q, no-cache, %q", u, resp.StatusCode,
				resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), body, tc.contentType, siteV1[tc.path])
		}
	}
	// The builds' bucket stays private.
	resp, err := http.Get(mc.Endpoint + "/" + s.bucket + "/" + s.dataKey("801", "", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET of the build's own index.html without credentials: %d, want 403", resp.StatusCode)
	}
}

func TestContentType(t *testing.T) {
	tests := map[string]string{
		"index.html":        "text/html; charset=utf-8",
		"INDEX.HTM":         "text/html; charset=utf-8",
		"a/b.css":           "text/css; charset=utf-8",
		"m.mjs":             "text/javascript; charset=utf-8",
		"x.js.map":          "application/json",
		"f.woff":            "font/woff",
		"i.ico":             "image/vnd.microsoft.icon",
		"p.JPG":             "image/jpeg",
		"s.xml":             "text/xml; charset=utf-8",
		"w.wasm":            "application/wasm",
		"x.no-such-ext":     "application/octet-stream",
		"Makefile":          "application/octet-stream",
		"dir.d/no-ext-file": "application/octet-stream",
	}
	for name, want := range tests {
		if got := contentType(name); got != want {
			t.Errorf("contentType(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestCopySource(t *testing.T) {
	got := copySource("bucket", "ci/website/9/data/"+oddName)
	want := "bucket/ci/website/9/data/api/a%20b%2Bc%23d%3Fe%20%C3%BCn%C3%AF.html"
	if got != want {
		t.Errorf("copySource = %q, want %q", got, want)
	}
}

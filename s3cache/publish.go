package s3cache

// Publication is how WEBSITE shows a docs build: the site's files are
// copied, inside S3, from the website build's folder into the preview
// location, a folder that a web server (S3's static website hosting, a CDN)
// serves. refbot owns that folder: whatever is in it and not in the site
// being published is removed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/refbot/refbot/internal/failpoint"
)

// Preview is where a preview site is published: a folder of a bucket that a
// web server (S3's static website hosting, a CDN) serves. Prefix is the
// folder, without leading or trailing slash; "" is the whole bucket.
type Preview struct{ Bucket, Prefix string }

func (p Preview) String() string {
	if p.Prefix == "" {
		return "s3://" + p.Bucket
	}
	return "s3://" + p.Bucket + "/" + p.Prefix
}

// key is the object key of rel, a path inside the preview.
func (p Preview) key(rel string) string {
	if p.Prefix == "" {
		return rel
	}
	return p.Prefix + "/" + rel
}

// folder is what every key inside the preview starts with.
func (p Preview) folder() string {
	if p.Prefix == "" {
		return ""
	}
	return p.Prefix + "/"
}

var bucketPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)

// clean trims the prefix's slashes and checks both names.
func (p Preview) clean() (Preview, error) {
	p.Prefix = strings.Trim(p.Prefix, "/")
	if !bucketPattern.MatchString(p.Bucket) {
		return p, fmt.Errorf("preview bucket %q is not a bucket name", p.Bucket)
	}
	if p.Prefix != "" {
		if err := ValidPath(p.Prefix); err != nil {
			return p, fmt.Errorf("preview prefix: %w", err)
		}
	}
	return p, nil
}

// PreviewInfo is what the marker object <prefix>/.refbot-preview.json says
// about the published site.
type PreviewInfo struct {
	PR        int       `json:"pr"`
	Commit    string    `json:"commit"`
	Build     string    `json:"build"`
	Provider  string    `json:"provider,omitempty"`
	Slot      int       `json:"slot,omitempty"`
	Published time.Time `json:"published"`
	Files     int       `json:"files"`
	Bytes     int64     `json:"bytes"`
}

// PublishStats says what Publish did.
type PublishStats struct {
	Copied  int   // files copied into the preview
	Skipped int   // files already in place
	Removed int   // objects of the previous preview the site lacks
	Bytes   int64 // bytes copied
}

const (
	// previewMarker is the marker object's name inside the preview.
	previewMarker = ".refbot-preview.json"
	// maxCopyBytes is the most one CopyObject request copies.
	maxCopyBytes = 5 << 30
	// previewCacheControl lets browsers and CDNs keep a preview's files
	// but ask each time whether they changed: a preview changes under the
	// same URLs.
	previewCacheControl = "no-cache"
	// metaSHA256 is the user metadata (x-amz-meta-sha256) holding a
	// published file's sha256, by which a later Publish knows it in place.
	metaSHA256 = "sha256"
)

// Publish copies website build m's files server-side (CopyObject; never
// through refbot) to dst, writes the marker, and then removes the objects
// under dst's prefix that the new site lacks. Safe to run again after a
// crash at any point: files already in place (same size and sha256, kept as
// object metadata x-amz-meta-sha256 on the copy, same Content-Type and
// Cache-Control) are skipped, and the result is the new site whole.
//
// The order is what keeps the site usable while it changes:
//  1. Every file of the new site is put in place first: files that are not
//     pages (.html, .htm) before the pages, so a new page a reader gets
//     finds the new stylesheets, scripts and images it names.
//  2. Then the marker: it names the new build only once its site is all
//     there.
//  3. Only then are the objects the new site lacks removed. A reader never
//     sees a page of the new site missing, since it was there before the old
//     ones went, and files the new site lacks go only once it is complete.
//
// While step 1 runs, the preview is a mix of old and new files; a crash
// there leaves it so, with the old marker, until Publish runs again. A
// crash after step 2 leaves the new site whole, with some old files beside
// it until the next run removes them.
//
// m must be a complete website build of this store (as Open returns it);
// the copies are not read back, so it is Open's check of the objects (each
// present, with its size) that stands for them. info's PR, Commit, Build
// and Provider, when set, must agree with m; left out, they are m's. Files
// and Bytes are always m's; a zero Published is now, or when the marker
// already names this build, the time it says.
//
// Copies run Concurrency at a time. An error names the file; ctx's end
// stops the copies and returns its error, and what was copied stays.
func (s *Store) Publish(ctx context.Context, m *Manifest, dst Preview, info PreviewInfo) (PublishStats, error) {
	var st PublishStats
	dst, err := dst.clean()
	if err != nil {
		return st, fmt.Errorf("publish: %w", err)
	}
	if err := s.checkPublish(m, dst); err != nil {
		return st, err
	}
	if info, err = s.previewInfo(ctx, m, dst, info); err != nil {
		return st, err
	}

	have, err := s.previewObjects(ctx, dst)
	if err != nil {
		return st, fmt.Errorf("publish build %s: %w", m.Build, err)
	}
	todo, err := s.filesToCopy(ctx, m, dst, have)
	if err != nil {
		return st, err
	}
	st.Skipped = len(m.Files) - len(todo)

	var assets, pages []File
	for _, f := range todo {
		if isPage(f.Path) {
			pages = append(pages, f)
		} else {
			assets = append(assets, f)
		}
	}
	var copied atomic.Int64
	var copiedBytes atomic.Int64
	half := int64(len(todo)+1) / 2
	for _, batch := range [][]File{assets, pages} {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(s.concurrency)
		for _, f := range batch {
			g.Go(func() error {
				if err := s.copyToPreview(gctx, m, dst, f); err != nil {
					return err
				}
				copiedBytes.Add(f.Size)
				if copied.Add(1) == half {
					failpoint.Hit("publish-copying")
				}
				return nil
			})
		}
		err := g.Wait()
		st.Copied, st.Bytes = int(copied.Load()), copiedBytes.Load()
		if err != nil {
			return st, err
		}
	}

	if err := s.writeMarker(ctx, dst, info); err != nil {
		return st, fmt.Errorf("publish build %s: %w", m.Build, err)
	}
	failpoint.Hit("publish-marked")

	// Listed again: what is there now, whatever an interrupted run left.
	have, err = s.previewObjects(ctx, dst)
	if err != nil {
		return st, fmt.Errorf("publish build %s: %w", m.Build, err)
	}
	keep := make(map[string]bool, len(m.Files)+1)
	keep[dst.key(previewMarker)] = true
	for _, f := range m.Files {
		keep[dst.key(f.Path)] = true
	}
	var stale []string
	for k := range have {
		if !keep[k] {
			stale = append(stale, k)
		}
	}
	if err := s.deleteKeysIn(ctx, dst.Bucket, stale); err != nil {
		return st, fmt.Errorf("publish build %s: remove the previous preview's files: %w", m.Build, err)
	}
	st.Removed = len(stale)
	return st, nil
}

// checkPublish refuses what Publish must not do: publish anything but a
// complete website build of this store, a site that cannot be copied, or
// into a place that overlaps the builds.
func (s *Store) checkPublish(m *Manifest, dst Preview) error {
	if s.kind != KindWebsite {
		return fmt.Errorf("publish: %s is a store of test outputs; only a store of website builds (Options.Kind %q) publishes", s, KindWebsite)
	}
	if err := s.checkKind(m); err != nil {
		return err
	}
	if err := m.Validate(s.limits); err != nil {
		return fmt.Errorf("publish build %s: %w", m.Build, err)
	}
	if len(m.Files) == 0 {
		return fmt.Errorf("publish build %s: %w: the site has no files; publishing it would empty the preview", m.Build, ErrIncomplete)
	}
	for _, f := range m.Files {
		if f.Path == previewMarker {
			return fmt.Errorf("publish build %s: %w: the site has a file %s, the name of refbot's marker in the preview",
				m.Build, ErrUnsafePath, previewMarker)
		}
		if f.Size > maxCopyBytes {
			return fmt.Errorf("publish build %s: %w: %s is %d bytes, and S3 copies at most 5 GiB in one request; "+
				"a site file that large is a mistake", m.Build, ErrTooLarge, f.Path, f.Size)
		}
	}
	if dst.Bucket == s.bucket && (within(dst.Prefix, s.prefix) || within(s.prefix, dst.Prefix)) {
		return fmt.Errorf("publish build %s: the preview %s and the website builds %s overlap: the builds would "+
			"hold the site's files (and Prune take them for a broken build), or Publish remove builds as files the site "+
			"lacks; give the preview another prefix or bucket", m.Build, dst, s)
	}
	return nil
}

// within reports whether folder inner is outer or inside it ("" is the
// whole bucket).
func within(inner, outer string) bool {
	return outer == "" || inner == outer || strings.HasPrefix(inner, outer+"/")
}

// previewInfo completes info from m, refusing a disagreement.
func (s *Store) previewInfo(ctx context.Context, m *Manifest, dst Preview, info PreviewInfo) (PreviewInfo, error) {
	disagree := func(what string, got, want any) error {
		return fmt.Errorf("publish build %s: %w: the preview's %s is %v, and the build's %v", m.Build, ErrProvenance, what, got, want)
	}
	switch {
	case info.Build != "" && info.Build != m.Build:
		return info, disagree("build", info.Build, m.Build)
	case info.PR != 0 && info.PR != m.PR:
		return info, disagree("PR", info.PR, m.PR)
	case info.Commit != "" && info.Commit != m.Commit:
		return info, disagree("commit", info.Commit, m.Commit)
	case info.Provider != "" && info.Provider != m.Provider:
		return info, disagree("provider", info.Provider, m.Provider)
	case info.Slot < 0:
		return info, fmt.Errorf("publish build %s: negative slot %d", m.Build, info.Slot)
	}
	info.Build, info.PR, info.Commit, info.Provider = m.Build, m.PR, m.Commit, m.Provider
	info.Files, info.Bytes = len(m.Files), m.TotalSize()
	if info.Published.IsZero() {
		// A run after a crash keeps the time the site first became whole.
		old, err := s.ReadPreview(ctx, dst)
		switch {
		case err == nil && old.Build == m.Build && old.PR == m.PR && old.Commit == m.Commit:
			info.Published = old.Published
		case err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrBadManifest):
			return info, fmt.Errorf("publish build %s: %w", m.Build, err)
		default:
			info.Published = time.Now().UTC().Truncate(time.Second)
		}
	}
	info.Published = info.Published.UTC()
	return info, nil
}

// previewObjects lists every object in the preview, with its size.
func (s *Store) previewObjects(ctx context.Context, dst Preview) (map[string]int64, error) {
	have := map[string]int64{}
	err := s.listIn(ctx, dst.Bucket, dst.folder(), "", func(o objectInfo) { have[aws.ToString(o.Key)] = aws.ToInt64(o.Size) }, nil)
	return have, err
}

// filesToCopy returns m's files that are not in place in dst: absent, or
// present with another size, sha256 or headers.
func (s *Store) filesToCopy(ctx context.Context, m *Manifest, dst Preview, have map[string]int64) ([]File, error) {
	inPlace := make([]bool, len(m.Files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.concurrency)
	for i, f := range m.Files {
		if size, ok := have[dst.key(f.Path)]; !ok || size != f.Size {
			continue
		}
		g.Go(func() error {
			key := dst.key(f.Path)
			h, err := s.client.HeadObject(gctx, &s3.HeadObjectInput{Bucket: &dst.Bucket, Key: &key})
			if isNotFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("publish build %s: %s: head s3://%s/%s: %w", m.Build, f.Path, dst.Bucket, key, err)
			}
			inPlace[i] = aws.ToInt64(h.ContentLength) == f.Size && h.Metadata[metaSHA256] == f.SHA256 &&
				aws.ToString(h.ContentType) == contentType(f.Path) && aws.ToString(h.CacheControl) == previewCacheControl
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var todo []File
	for i, f := range m.Files {
		if !inPlace[i] {
			todo = append(todo, f)
		}
	}
	return todo, nil
}

// copyToPreview copies one file of build m into dst, inside S3, with the
// headers a web server passes on and its sha256 as metadata.
func (s *Store) copyToPreview(ctx context.Context, m *Manifest, dst Preview, f File) error {
	src := s.dataKey(m.Build, m.Variant, f.Path)
	key := dst.key(f.Path)
	_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            &dst.Bucket,
		Key:               &key,
		CopySource:        aws.String(copySource(s.bucket, src)),
		MetadataDirective: types.MetadataDirectiveReplace,
		ContentType:       aws.String(contentType(f.Path)),
		CacheControl:      aws.String(previewCacheControl),
		Metadata:          map[string]string{metaSHA256: f.SHA256},
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("publish build %s: copy %s: %w", m.Build, f.Path, ctx.Err())
	case isNoSuchKey(err):
		return fmt.Errorf("publish build %s: %w: %s was deleted from s3://%s/%s", m.Build, ErrIncomplete, f.Path, s.bucket, src)
	}
	return fmt.Errorf("publish build %s: copy %s to s3://%s/%s: %w", m.Build, f.Path, dst.Bucket, key, err)
}

// isNoSuchKey tells a copy's missing source object from a missing bucket,
// which isNotFound does not.
func isNoSuchKey(err error) bool {
	var nsk *types.NoSuchKey
	var api smithy.APIError
	return errors.As(err, &nsk) || (errors.As(err, &api) && api.ErrorCode() == "NoSuchKey")
}

// copySource is CopyObject's x-amz-copy-source: "bucket/key", URL-encoded
// as a path. '+' is encoded too, for servers that decode it as a space.
func copySource(bucket, key string) string {
	parts := strings.Split(bucket+"/"+key, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(url.PathEscape(p), "+", "%2B")
	}
	return strings.Join(parts, "/")
}

// writeMarker writes dst's marker object.
func (s *Store) writeMarker(ctx context.Context, dst Preview, info PreviewInfo) error {
	body, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	key := dst.key(previewMarker)
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:       &dst.Bucket,
		Key:          &key,
		Body:         strings.NewReader(string(body) + "\n"),
		ContentType:  aws.String("application/json"),
		CacheControl: aws.String(previewCacheControl),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", dst.Bucket, key, err)
	}
	return nil
}

// ReadPreview reads dst's marker; an error wrapping ErrNotFound when
// nothing was published there, ErrBadManifest when the marker is not one
// refbot wrote.
func (s *Store) ReadPreview(ctx context.Context, dst Preview) (*PreviewInfo, error) {
	dst, err := dst.clean()
	if err != nil {
		return nil, err
	}
	key := dst.key(previewMarker)
	body, err := s.getSmallIn(ctx, dst.Bucket, key, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("preview %s: %w", dst, err)
	}
	var info PreviewInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("preview %s: %w: %s: %v", dst, ErrBadManifest, previewMarker, err)
	}
	if err := ValidBuildID(info.Build); err != nil {
		return nil, fmt.Errorf("preview %s: %w: %s: %v", dst, ErrBadManifest, previewMarker, err)
	}
	if info.Commit != "" && !commitPattern.MatchString(info.Commit) {
		return nil, fmt.Errorf("preview %s: %w: %s: commit %q is not a full hex object id", dst, ErrBadManifest, previewMarker, info.Commit)
	}
	if info.PR < 0 || info.Slot < 0 || info.Files < 0 || info.Bytes < 0 {
		return nil, fmt.Errorf("preview %s: %w: %s: a negative number", dst, ErrBadManifest, previewMarker)
	}
	return &info, nil
}

// contentTypes are the Content-Types of the files a documentation site is
// made of, so that they do not depend on the machine's /etc/mime.types.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".htm":   "text/html; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".ico":   "image/vnd.microsoft.icon",
	".txt":   "text/plain; charset=utf-8",
	".xml":   "text/xml; charset=utf-8",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".wasm":  "application/wasm",
	".pdf":   "application/pdf",
}

// contentType is the Content-Type of a file named name: from the table
// above, else from the mime package, else application/octet-stream.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); ext != "" && t != "" {
		return t
	}
	return "application/octet-stream"
}

func isPage(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".html" || ext == ".htm"
}

// ServePublicly makes dst readable by anyone over HTTP, creating its
// bucket if it is missing: an anonymous s3:GetObject policy on the
// preview's folder, as S3's static website hosting needs. refbot itself
// never changes a bucket's policy; the demo and the tests use this to
// stand in for the operator who serves the preview.
func (s *Store) ServePublicly(ctx context.Context, dst Preview) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &dst.Bucket}); err != nil {
		if !isNotFound(err) {
			return fmt.Errorf("head bucket %s: %w", dst.Bucket, err)
		}
		var owned *types.BucketAlreadyOwnedByYou
		if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &dst.Bucket}); err != nil && !errors.As(err, &owned) {
			return fmt.Errorf("create bucket %s: %w", dst.Bucket, err)
		}
	}
	doc, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Principal": map[string]any{"AWS": []string{"*"}},
			"Action": []string{"s3:GetObject"}, "Resource": []string{"arn:aws:s3:::" + dst.Bucket + "/" + dst.folder() + "*"},
		}},
	})
	if err != nil {
		return err
	}
	if _, err := s.client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: &dst.Bucket, Policy: aws.String(string(doc))}); err != nil {
		return fmt.Errorf("let anyone read %s: %w", dst, err)
	}
	return nil
}

package s3cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// UploadRequest is what a project's CI passes to `refbot upload`.
type UploadRequest struct {
	Build    string // the CI build id
	Source   Source // the PR or branch the build is for
	Commit   string // the commit the build tested (optional)
	Variant  string // the matrix variant (optional)
	Repo     string // owner/name (optional, recorded in the manifest)
	Provider string // CI provider name (optional)
	Attempt  int    // the CI run's attempt (optional; Actions' run_attempt)
	Dir      string // the folder of test outputs

	// Progress, if set, is called after each file with the bytes sent so far.
	Progress func(files int, bytes int64)
}

// multipartThreshold is where uploads switch to multipart: large enough that
// typical test outputs go in one request, small enough that a large file's
// parts go in parallel.
const multipartThreshold = 32 << 20

// The transfer manager's parts: 16 MiB, four of a file at once.
const (
	uploadPartSize    = 16 << 20
	uploadConcurrency = 4
)

// uploadBuffers bounds the memory the transfers of one upload hold at
// once (bench-large measures it). The transfer manager reads a file under
// multipartThreshold whole into memory, and a larger one's first
// multipartThreshold bytes, then a pool of uploadConcurrency+1 parts:
// sixteen files of 30 MiB at once held a gigabyte.
const uploadBuffers = 160 << 20

// bufferCost is the most an upload of a file of size holds in memory:
// io.ReadAll grows its buffer to up to twice what it read.
func bufferCost(size int64) int64 {
	if size < multipartThreshold {
		return max(2*size, 4<<10)
	}
	return 2*multipartThreshold + (uploadConcurrency+1)*uploadPartSize
}

// Upload sends a build's files to S3: the data files in parallel (multipart
// for large ones), then SOURCE, then MANIFEST last, so that a manifest present
// in S3 always describes a complete upload. Uploading the same build and
// variant again (a restarted CI build) replaces it: the old manifest goes
// first, and data files the new upload does not have are deleted.
func (s *Store) Upload(ctx context.Context, req UploadRequest) (*Manifest, error) {
	if err := ValidBuildID(req.Build); err != nil {
		return nil, err
	}
	if err := ValidVariant(req.Variant); err != nil {
		return nil, err
	}
	if s.kind == KindWebsite && req.Variant != "" {
		return nil, fmt.Errorf("upload: a website build has no variants (got %q)", req.Variant)
	}
	if req.Source.PR <= 0 && req.Source.Branch == "" {
		return nil, errors.New("upload: the source PR or branch is required")
	}
	if _, err := ParseSource(req.Source.String()); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if req.Commit != "" && !commitPattern.MatchString(req.Commit) {
		return nil, fmt.Errorf("upload: commit %q is not a full hex object id", req.Commit)
	}
	if req.Attempt < 0 {
		return nil, fmt.Errorf("upload: negative attempt %d", req.Attempt)
	}
	files, err := scanUploadDir(req.Dir, s.limits)
	if err != nil {
		return nil, err
	}
	if err := s.checkVariantMix(ctx, req.Build, req.Variant); err != nil {
		return nil, err
	}
	// The old manifest goes first: from here until the new one is written,
	// readers see the build as incomplete rather than as a mix of two uploads.
	manifestKey := s.key(req.Build, manifestName(req.Variant))
	if err := s.deleteKeys(ctx, []string{manifestKey}); err != nil {
		return nil, err
	}
	stale, err := s.dataKeys(ctx, req.Build, req.Variant)
	if err != nil {
		return nil, err
	}

	tm := transfermanager.New(s.client, func(o *transfermanager.Options) {
		o.MultipartUploadThreshold = multipartThreshold
		o.PartSizeBytes = uploadPartSize
		o.Concurrency = uploadConcurrency
	})
	m := &Manifest{
		Version: ManifestVersion, Repo: req.Repo, PR: req.Source.PR, Branch: req.Source.Branch,
		Commit: req.Commit, Build: req.Build, Variant: req.Variant, Provider: req.Provider, Attempt: req.Attempt,
		Kind: s.kind, Files: make([]File, len(files)),
	}
	var sentFiles atomic.Int64
	var sentBytes atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.concurrency)
	buffers := semaphore.NewWeighted(uploadBuffers)
	var stopped error
	for i, f := range files {
		cost := bufferCost(f.Size)
		if stopped = buffers.Acquire(gctx, cost); stopped != nil {
			break // an upload failed (g.Wait says which), or ctx ended
		}
		g.Go(func() error {
			defer buffers.Release(cost)
			sum, git, err := s.uploadFile(gctx, tm, filepath.Join(req.Dir, filepath.FromSlash(f.Path)),
				s.dataKey(req.Build, req.Variant, f.Path), f.Size)
			if err != nil {
				return err
			}
			m.Files[i] = File{Path: f.Path, Size: f.Size, SHA256: sum, Git: git}
			n := sentFiles.Add(1)
			b := sentBytes.Add(f.Size)
			if req.Progress != nil {
				req.Progress(int(n), b)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if stopped != nil {
		return nil, fmt.Errorf("upload: %w", stopped)
	}
	for _, f := range files {
		delete(stale, s.dataKey(req.Build, req.Variant, f.Path))
	}
	staleKeys := make([]string, 0, len(stale))
	for k := range stale {
		staleKeys = append(staleKeys, k)
	}
	if err := s.deleteKeys(ctx, staleKeys); err != nil {
		return nil, err
	}
	if err := s.putSmall(ctx, s.key(req.Build, sourceName), "text/plain", []byte(req.Source.String()+"\n")); err != nil {
		return nil, err
	}
	m.Created = time.Now().UTC().Truncate(time.Second)
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := s.putSmall(ctx, manifestKey, "application/json", body); err != nil {
		return nil, err
	}
	return m, nil
}

// uploadFile hashes a file and sends it, checking afterwards that it did not
// change while being read. The object's Content-Type follows the file's
// extension, as Publish sets it, so that a site read straight from the
// build folder works too.
func (s *Store) uploadFile(ctx context.Context, tm *transfermanager.Client, name, key string, size int64) (sum, git string, err error) {
	f, err := os.Open(name)
	if err != nil {
		return "", "", fmt.Errorf("upload %s: %w", name, err)
	}
	defer f.Close()
	h := newFileHasher(size)
	n, err := io.Copy(h, f)
	if err != nil {
		return "", "", fmt.Errorf("read %s: %w", name, err)
	}
	if n != size {
		return "", "", fmt.Errorf("upload %s: file changed while uploading (%d bytes, was %d)", name, n, size)
	}
	_, err = tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(key),
		Body:        io.NewSectionReader(f, 0, size),
		ContentType: aws.String(contentType(key)),
	})
	if err != nil {
		return "", "", fmt.Errorf("upload %s to s3://%s/%s: %w", name, s.bucket, key, err)
	}
	sum, git = h.sums()
	return sum, git, nil
}

// checkVariantMix refuses to put variant data beside default data in one
// build: the default's data/ would hold the variants' folders.
func (s *Store) checkVariantMix(ctx context.Context, build, variant string) error {
	variants, err := s.variants(ctx, build)
	if err != nil {
		return err
	}
	for _, v := range variants {
		if (v == "") != (variant == "") {
			return fmt.Errorf("upload %s: build already has %s; a build holds either one default upload or named variants",
				build, describeVariant(v))
		}
	}
	return nil
}

func describeVariant(v string) string {
	if v == "" {
		return "a default (no variant) upload"
	}
	return "variant " + v
}

// dataKeys returns the keys of a build variant's data objects.
func (s *Store) dataKeys(ctx context.Context, build, variant string) (map[string]int64, error) {
	prefix := s.dataKey(build, variant, "") + "/"
	keys := map[string]int64{}
	err := s.list(ctx, prefix, "", func(o objectInfo) { keys[aws.ToString(o.Key)] = aws.ToInt64(o.Size) }, nil)
	return keys, err
}

type scannedFile struct {
	Path string
	Size int64
}

// scanUploadDir lists the regular files under dir as safe relative paths,
// refusing symlinks and special files and enforcing the limits before
// anything is sent.
func scanUploadDir(dir string, lim Limits) ([]scannedFile, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("upload folder: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("upload folder %s is not a folder", dir)
	}
	var files []scannedFile
	var total int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			return nil
		}
		if err := ValidPath(rel); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%w: %s is a %s; only regular files can be uploaded", ErrUnsafePath, rel, describeMode(d.Type()))
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Size() > lim.MaxFileBytes {
			return fmt.Errorf("%w: %s is %d bytes, per-file limit %d", ErrTooLarge, rel, fi.Size(), lim.MaxFileBytes)
		}
		total += fi.Size()
		if total > lim.MaxBuildBytes {
			return fmt.Errorf("%w: the folder holds more than %d bytes (build limit)", ErrTooLarge, lim.MaxBuildBytes)
		}
		files = append(files, scannedFile{Path: rel, Size: fi.Size()})
		if lim.MaxFiles > 0 && len(files) > lim.MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrTooLarge, lim.MaxFiles)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upload folder %s: %w", dir, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	// The same checks a reader applies, so an upload never produces a build
	// that refbot would refuse to read (case collisions, for one).
	m := Manifest{Version: ManifestVersion, Build: "check"}
	for _, f := range files {
		m.Files = append(m.Files, File{Path: f.Path, Size: f.Size, SHA256: strings.Repeat("0", 64)})
	}
	if err := m.Validate(lim); err != nil {
		return nil, fmt.Errorf("upload folder %s: %w", dir, err)
	}
	return files, nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

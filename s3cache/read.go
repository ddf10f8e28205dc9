package s3cache

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/sync/errgroup"
)

// BuildInfo is what the top level of a build folder says about it.
type BuildInfo struct {
	ID       string
	Source   Source    // zero if SOURCE is missing or unreadable
	Variants []string  // variants with a manifest ("" is the default upload)
	Pinned   bool      // PINNED is present: never pruned
	Modified time.Time // newest upload-written top-level object (SOURCE, manifests)
}

// Complete reports whether at least one manifest is present.
func (b BuildInfo) Complete() bool { return len(b.Variants) > 0 }

// Build is a build whose manifests were read and checked.
type Build struct {
	BuildInfo
	Manifests map[string]*Manifest // by variant

	// Uploaded is when each variant's manifest was written, by S3's clock
	// (the object's LastModified), not the CI machine's. A restarted CI
	// build uploads again under the same id, and a job of the new run that
	// fails before uploading leaves the previous run's manifest in place:
	// its variant is older than the others.
	Uploaded map[string]time.Time
}

// ListBuilds returns every build folder under the prefix, newest first.
func (s *Store) ListBuilds(ctx context.Context) ([]BuildInfo, error) {
	var ids []string
	root := s.prefix
	if root != "" {
		root += "/"
	}
	err := s.list(ctx, root, "/", nil, func(p string) {
		id := strings.TrimSuffix(strings.TrimPrefix(p, root), "/")
		if ValidBuildID(id) == nil {
			ids = append(ids, id)
		}
	})
	if err != nil {
		return nil, err
	}
	infos := make([]BuildInfo, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.concurrency)
	for i, id := range ids {
		g.Go(func() error {
			info, _, err := s.buildInfo(gctx, id)
			infos[i] = info
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sortNewestFirst(infos)
	return infos, nil
}

// sortNewestFirst orders builds by time, then by id (numerically when both
// are numbers, as CI build ids are).
func sortNewestFirst(infos []BuildInfo) {
	slices.SortFunc(infos, func(a, b BuildInfo) int {
		if c := b.Modified.Compare(a.Modified); c != 0 {
			return c
		}
		if len(a.ID) != len(b.ID) {
			return cmp.Compare(len(b.ID), len(a.ID))
		}
		return cmp.Compare(b.ID, a.ID)
	})
}

// buildInfo lists the top level of build id. It also returns when each
// variant's manifest was written, which only Open passes on.
func (s *Store) buildInfo(ctx context.Context, id string) (BuildInfo, map[string]time.Time, error) {
	info := BuildInfo{ID: id}
	uploaded := map[string]time.Time{}
	hasSource := false
	err := s.list(ctx, s.buildPrefix(id), "/", func(o objectInfo) {
		name := strings.TrimPrefix(aws.ToString(o.Key), s.buildPrefix(id))
		// The build's age is its upload's; pinning it later does not make
		// it newer.
		if t := aws.ToTime(o.LastModified); t.After(info.Modified) && name != pinnedName {
			info.Modified = t
		}
		switch {
		case name == sourceName:
			hasSource = true
		case name == pinnedName:
			info.Pinned = true
		default:
			if v, ok := variantOfManifest(name); ok {
				info.Variants = append(info.Variants, v)
				uploaded[v] = aws.ToTime(o.LastModified)
			}
		}
	}, nil)
	if err != nil {
		return info, nil, err
	}
	slices.Sort(info.Variants)
	if hasSource {
		b, err := s.getSmall(ctx, s.key(id, sourceName), 512)
		if err != nil {
			return info, nil, err
		}
		// A SOURCE that does not parse leaves Source zero: such a build
		// matches no PR or branch and is reported, not guessed at.
		info.Source, _ = ParseSource(string(b))
	}
	return info, uploaded, nil
}

// Info reads what the builds' listing says of build id alone: its
// source, variants, pin and upload time (a build uploaded again under its
// id has a newer one), in two requests, without reading its manifests. A
// build with no objects has a zero Modified.
func (s *Store) Info(ctx context.Context, id string) (BuildInfo, error) {
	if err := ValidBuildID(id); err != nil {
		return BuildInfo{}, err
	}
	info, _, err := s.buildInfo(ctx, id)
	return info, err
}

func (s *Store) variants(ctx context.Context, id string) ([]string, error) {
	info, _, err := s.buildInfo(ctx, id)
	return info.Variants, err
}

// Want is the provenance a caller expects of a build.
type Want struct {
	Source Source // SOURCE must name this PR or branch
	Commit string // if set, every manifest must name this commit
}

// Open reads build id, checks that it is complete (every manifest present
// and valid, every listed object present with the listed size) and that its
// provenance matches want. The errors wrap ErrNotFound, ErrIncomplete,
// ErrProvenance, ErrBadManifest or ErrTooLarge.
func (s *Store) Open(ctx context.Context, id string, want Want) (*Build, error) {
	if err := ValidBuildID(id); err != nil {
		return nil, err
	}
	info, uploaded, err := s.buildInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.Modified.IsZero() {
		return nil, fmt.Errorf("build %s in %s: %w", id, s, ErrNotFound)
	}
	if !info.Complete() {
		return nil, fmt.Errorf("build %s: %w: no MANIFEST.json yet (still uploading, or the upload failed)", id, ErrIncomplete)
	}
	if info.Source != want.Source {
		return nil, fmt.Errorf("build %s: %w: SOURCE names %q, want %q", id, ErrProvenance, info.Source, want.Source)
	}
	b := &Build{BuildInfo: info, Manifests: map[string]*Manifest{}, Uploaded: uploaded}
	for _, v := range info.Variants {
		m, err := s.readManifest(ctx, id, v)
		if err != nil {
			return nil, err
		}
		if m.PR != want.Source.PR || m.Branch != want.Source.Branch {
			return nil, fmt.Errorf("build %s: %w: manifest names PR %d branch %q, SOURCE says %q",
				id, ErrProvenance, m.PR, m.Branch, want.Source)
		}
		if want.Commit != "" && m.Commit != want.Commit {
			return nil, fmt.Errorf("build %s: %w: it tested commit %s, not %s", id, ErrProvenance, short(m.Commit), short(want.Commit))
		}
		if err := s.checkObjects(ctx, id, m); err != nil {
			return nil, err
		}
		b.Manifests[v] = m
	}
	return b, nil
}

func short(sha string) string {
	if sha == "" {
		return "(none)"
	}
	return sha[:min(len(sha), 12)]
}

func (s *Store) readManifest(ctx context.Context, id, variant string) (*Manifest, error) {
	raw, err := s.getSmall(ctx, s.key(id, manifestName(variant)), 256<<20)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("build %s: %w: %s: %v", id, ErrBadManifest, manifestName(variant), err)
	}
	if m.Build != id || m.Variant != variant {
		return nil, fmt.Errorf("build %s: %w: %s names build %q variant %q",
			id, ErrBadManifest, manifestName(variant), m.Build, m.Variant)
	}
	if err := m.Validate(s.limits); err != nil {
		return nil, fmt.Errorf("build %s: %w", id, err)
	}
	if err := s.checkKind(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

// checkKind refuses a manifest of another kind than the store's: a site
// must never be taken for test outputs, nor test outputs for a site.
func (s *Store) checkKind(m *Manifest) error {
	if m.Kind != s.kind {
		return fmt.Errorf("build %s in %s: %w: it is %s, not %s", m.Build, s, ErrProvenance,
			describeKind(m.Kind), describeKind(s.kind))
	}
	return nil
}

// checkObjects lists the build's data once and checks every manifest entry
// against it: present, with the listed size.
func (s *Store) checkObjects(ctx context.Context, id string, m *Manifest) error {
	have, err := s.dataKeys(ctx, id, m.Variant)
	if err != nil {
		return err
	}
	var missing []string
	for _, f := range m.Files {
		size, ok := have[s.dataKey(id, m.Variant, f.Path)]
		switch {
		case !ok:
			missing = append(missing, f.Path+" (missing)")
		case size != f.Size:
			missing = append(missing, fmt.Sprintf("%s (%d bytes, manifest says %d)", f.Path, size, f.Size))
		}
	}
	if len(missing) > 0 {
		more := ""
		if len(missing) > 5 {
			more = fmt.Sprintf(" and %d more", len(missing)-5)
			missing = missing[:5]
		}
		return fmt.Errorf("build %s: %w: %s%s", id, ErrIncomplete, strings.Join(missing, ", "), more)
	}
	return nil
}

// Pin marks a build so that Prune never removes it. A build with no
// manifest (none, or its upload unfinished) is ErrNotFound: a pin would
// keep nothing.
func (s *Store) Pin(ctx context.Context, id, reason string) error {
	if err := ValidBuildID(id); err != nil {
		return err
	}
	info, _, err := s.buildInfo(ctx, id)
	if err != nil {
		return err
	}
	if !info.Complete() {
		return fmt.Errorf("pin build %s: no complete upload in %s: %w", id, s, ErrNotFound)
	}
	return s.putSmall(ctx, s.key(id, pinnedName), "text/plain", []byte(reason+"\n"))
}

// Unpin removes a build's pin.
func (s *Store) Unpin(ctx context.Context, id string) error {
	if err := ValidBuildID(id); err != nil {
		return err
	}
	return s.deleteKeys(ctx, []string{s.key(id, pinnedName)})
}

package s3cache

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Retention says how many builds to keep for each PR and each branch.
type Retention struct {
	PerPR     int
	PerBranch int
}

// PruneResult lists what Prune removed and what it left alone, and why.
type PruneResult struct {
	Deleted []BuildInfo
	Kept    []BuildInfo
	// Skipped are builds Prune will not judge: no readable SOURCE (an
	// upload still starting, or a foreign folder). They are never deleted.
	Skipped []BuildInfo
}

// Prune deletes, for each PR and each branch, all but the newest builds
// allowed by r. It never deletes a pinned build, a build whose SOURCE it
// cannot read, or a build for which protect returns true (one that an open
// PR's status or data branch points at). With dryRun it only reports.
func (s *Store) Prune(ctx context.Context, r Retention, protect func(BuildInfo) bool, dryRun bool) (PruneResult, error) {
	var res PruneResult
	if r.PerPR < 1 || r.PerBranch < 1 {
		return res, fmt.Errorf("prune: retention must keep at least one build per PR and branch (got %d and %d)", r.PerPR, r.PerBranch)
	}
	builds, err := s.ListBuilds(ctx) // newest first
	if err != nil {
		return res, err
	}
	seen := map[Source]int{}
	for _, b := range builds {
		if b.Source == (Source{}) {
			res.Skipped = append(res.Skipped, b)
			continue
		}
		limit := r.PerBranch
		if b.Source.PR > 0 {
			limit = r.PerPR
		}
		seen[b.Source]++
		if seen[b.Source] <= limit || b.Pinned || (protect != nil && protect(b)) {
			res.Kept = append(res.Kept, b)
			continue
		}
		res.Deleted = append(res.Deleted, b)
	}
	if dryRun {
		return res, nil
	}
	for _, b := range res.Deleted {
		if err := s.deleteBuild(ctx, b.ID); err != nil {
			return res, err
		}
	}
	return res, nil
}

// deleteBuild removes a build's manifests first (so that a reader in the
// middle sees an incomplete build, never a complete one with holes), then
// everything else.
func (s *Store) deleteBuild(ctx context.Context, id string) error {
	var manifests, rest []string
	err := s.list(ctx, s.buildPrefix(id), "", func(o objectInfo) {
		k := aws.ToString(o.Key)
		if _, ok := variantOfManifest(k[len(s.buildPrefix(id)):]); ok {
			manifests = append(manifests, k)
		} else {
			rest = append(rest, k)
		}
	}, nil)
	if err != nil {
		return err
	}
	if err := s.deleteKeys(ctx, manifests); err != nil {
		return fmt.Errorf("prune build %s: %w", id, err)
	}
	if err := s.deleteKeys(ctx, rest); err != nil {
		return fmt.Errorf("prune build %s: %w", id, err)
	}
	return nil
}

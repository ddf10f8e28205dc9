package s3cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Manifests reads the manifests of build id without checking its
// provenance: for what a manifest says of files refbot already holds (their
// sizes, on a review page), never for taking a build's outputs, which is
// Open's.
func (s *Store) Manifests(ctx context.Context, id string) (map[string]*Manifest, error) {
	if err := ValidBuildID(id); err != nil {
		return nil, err
	}
	variants, err := s.variants(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(variants) == 0 {
		return nil, fmt.Errorf("build %s in %s: %w", id, s, ErrNotFound)
	}
	out := make(map[string]*Manifest, len(variants))
	for _, v := range variants {
		m, err := s.readManifest(ctx, id, v)
		if err != nil {
			return nil, err
		}
		out[v] = m
	}
	return out, nil
}

// ReadFile reads one file of a build's manifest m, at most limit bytes (a
// larger one is ErrTooLarge, before anything is downloaded), and checks it
// against the manifest's sha256: a re-upload that changed the file since
// the manifest was read is ErrIncomplete, never shown as the build's.
func (s *Store) ReadFile(ctx context.Context, m *Manifest, f File, limit int64) ([]byte, error) {
	if err := ValidPath(f.Path); err != nil {
		return nil, err
	}
	if f.Size > limit {
		return nil, fmt.Errorf("build %s: %s: %w: %d bytes, more than %d", m.Build, f.Path, ErrTooLarge, f.Size, limit)
	}
	b, err := s.getSmall(ctx, s.dataKey(m.Build, m.Variant, f.Path), limit)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
		return nil, fmt.Errorf("build %s: %s: %w: its content is not what the manifest lists (uploaded again since?)",
			m.Build, f.Path, ErrIncomplete)
	}
	return b, nil
}

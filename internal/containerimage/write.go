package containerimage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Platforms returns the image's platforms, in the order built.
func (im *Image) Platforms() []string { return im.platforms }

// Digest returns the digest of the image index, which names the image on
// every platform ("sha256:…").
func (im *Image) Digest() (string, error) {
	h, err := im.index.Digest()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// PlatformDigest returns the digest of the image for one platform, the one
// a runtime on that platform runs.
func (im *Image) PlatformDigest(platform string) (string, error) {
	img, ok := im.images[platform]
	if !ok {
		return "", fmt.Errorf("the image was not built for %s", platform)
	}
	h, err := img.Digest()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// WriteLayout writes the image as an OCI image layout in dir: its
// index.json lists the multi-platform index, named by the version (the
// annotation org.opencontainers.image.ref.name), so that e.g.
// `skopeo copy --all oci:DIR:VERSION docker://REPO:VERSION` publishes it. A
// layout already in dir is replaced; a folder that is something else is
// refused.
func (im *Image) WriteLayout(dir string) error {
	if err := replaceable(dir); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	ref := map[string]string{"org.opencontainers.image.ref.name": im.labels["org.opencontainers.image.version"]}
	if err := p.AppendIndex(im.index, layout.WithAnnotations(ref)); err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	if err := readable(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// replaceable says whether dir may be replaced by a layout: it does not
// exist, or holds one.
func replaceable(dir string) error {
	_, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return fmt.Errorf("%s exists and is not an OCI image layout: not replacing it", dir)
	}
	return nil
}

// readable makes the layout in dir readable by all: go-containerregistry
// writes its blobs 0600 or 0755 depending on how each was written, and
// MkdirTemp makes the folder 0700.
func readable(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(path, mode)
	})
}

// WriteDockerArchive writes the image for one platform as a docker-archive
// tarball at path, tagged repository:version, for `docker load` and
// `podman load`.
func (im *Image) WriteDockerArchive(path, repository, platform string) error {
	img, ok := im.images[platform]
	if !ok {
		return fmt.Errorf("the image was not built for %s", platform)
	}
	tag, err := name.NewTag(repository + ":" + im.labels["org.opencontainers.image.version"])
	if err != nil {
		return fmt.Errorf("tag the image: %w", err)
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// Index returns the multi-platform image index.
func (im *Image) Index() v1.ImageIndex { return im.index }

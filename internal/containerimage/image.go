// Package containerimage builds refbot's container image without a Docker
// daemon: a static refbot binary for each platform on an empty (scratch)
// base, assembled with go-containerregistry and written as an OCI image
// layout (a multi-platform index) and as a docker-archive tarball of one
// platform for `docker load` and `podman load`.
//
// The image holds only what refbot needs to run: /refbot, Debian's CA
// bundle, and /etc/passwd and /etc/group naming the unprivileged user
// refbot (uid and gid 65532) it runs as. There is no shell and no package
// manager. Everything refbot writes goes under one volume, /var/lib/refbot
// (state_dir: the database, the data repo's cache, the work folders), so
// the root file system can be mounted read-only. Inside the image refbot
// listens on 0.0.0.0:8080 (see Listen), since a container's loopback cannot
// be reached from outside it.
//
// Every time in the image is the commit's date and every file is owned by
// numeric ids only, so two builds of one commit give the same digests.
package containerimage

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/refbot/refbot/config"
)

// What the image is, inside.
const (
	// BinaryPath is refbot, the image's entrypoint.
	BinaryPath = "/refbot"
	// CACertsPath is where the CA bundle is, and what SSL_CERT_FILE says.
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	// ConfigPath is the configuration file serve reads: mount it there.
	ConfigPath = "/etc/refbot/refbot.yaml"
	// StateDir is the image's one volume, refbot's default state_dir.
	StateDir = config.DefaultStateDir
	// Listen is where serve listens in the image when the configuration
	// file leaves server.listen out: the image sets config.ListenEnv to it.
	Listen = "0.0.0.0:8080"
	// User is the user and group refbot runs as; it owns StateDir.
	User = "65532:65532"
	uid  = 65532

	// Source is the project's repository, the image's source label.
	Source = "https://github.com/refbot/refbot"
	// DefaultRepository is where the image is published; the docker-archive
	// tarball is tagged <DefaultRepository>:<version>.
	DefaultRepository = "ghcr.io/refbot/refbot"
	// DefaultCACerts is the CA bundle of Debian's ca-certificates package on
	// the machine that builds the image.
	DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"
)

// Platforms are the platforms the image can be built for.
var Platforms = []string{"linux/amd64", "linux/arm64"}

// Options say what to build.
type Options struct {
	// Dir is the root of refbot's module, where go build runs.
	Dir string
	// Platforms are the platforms of the image, from Platforms; default all.
	Platforms []string
	// Version is refbot's version: stamped into the binary (unless LDFlags
	// is set), and the image's version label.
	Version string
	// Revision is the commit the image is built from, and Created its date:
	// every time in the image is Created, so that two builds of one commit
	// are identical.
	Revision string
	Created  time.Time
	// LDFlags are go build's -ldflags; by default those of a release
	// (scripts/release.sh): stripped, with Version, Revision and Created
	// stamped in, so that the image's refbot is the release's, byte for byte.
	LDFlags string
	// CACerts is the CA bundle copied into the image; default DefaultCACerts.
	CACerts string
	// BinDir keeps the binaries built, as refbot_<os>_<arch>; default a
	// temporary folder, removed before Build returns.
	BinDir string
	// Go is the go command; default "go".
	Go string
}

// Image is refbot's image, built for one or more platforms.
type Image struct {
	index     v1.ImageIndex
	platforms []string
	images    map[string]v1.Image // by platform
	labels    map[string]string
}

// Build compiles refbot for each platform and assembles the image.
func Build(ctx context.Context, o Options) (*Image, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	certs, err := readCACerts(o.CACerts)
	if err != nil {
		return nil, err
	}
	if o.BinDir == "" {
		tmp, err := os.MkdirTemp("", "refbot-image-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		o.BinDir = tmp
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "refbot",
		"org.opencontainers.image.description": "Keeps a project's reference test data in step with its pull requests",
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Revision,
		"org.opencontainers.image.created":     o.Created.UTC().Format(time.RFC3339),
	}
	base, err := newLayer(baseFiles(certs), o.Created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	im := &Image{platforms: slices.Clone(o.Platforms), images: map[string]v1.Image{}, labels: labels}
	var adds []mutate.IndexAddendum
	for _, p := range o.Platforms {
		binary, err := buildBinary(ctx, o, p)
		if err != nil {
			return nil, err
		}
		img, err := platformImage(p, base, binary, o.Created, labels)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		platform := platformOf(p)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}})
		im.images[p] = img
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx, adds...)
	im.index = mutate.Annotations(idx, labels).(v1.ImageIndex)
	return im, nil
}

func (o *Options) check() error {
	if o.Dir == "" {
		return errors.New("no module folder to build refbot in")
	}
	if o.Version == "" {
		return errors.New("no version: give refbot's version, e.g. 1.2.3")
	}
	// The version tags the image, so it has to be a valid tag.
	if _, err := name.NewTag(DefaultRepository + ":" + o.Version); err != nil {
		return fmt.Errorf("version %q cannot tag an image: %w", o.Version, err)
	}
	if o.Revision == "" || o.Created.IsZero() {
		return errors.New("no revision or date: give the commit the image is built from and its date")
	}
	// Times in the image and its labels are whole seconds in UTC, as git's.
	o.Created = o.Created.UTC().Truncate(time.Second)
	if len(o.Platforms) == 0 {
		o.Platforms = Platforms
	}
	for i, p := range o.Platforms {
		if !slices.Contains(Platforms, p) {
			return fmt.Errorf("platform %q: the image is built for %s", p, strings.Join(Platforms, " or "))
		}
		if slices.Contains(o.Platforms[:i], p) {
			return fmt.Errorf("platform %q is given twice", p)
		}
	}
	if o.LDFlags == "" {
		o.LDFlags = fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s -X main.date=%s",
			o.Version, o.Revision, o.Created.UTC().Format(time.RFC3339))
	}
	if o.CACerts == "" {
		o.CACerts = DefaultCACerts
	}
	if o.Go == "" {
		o.Go = "go"
	}
	return nil
}

// readCACerts reads the CA bundle the image carries; without one refbot
// could reach neither GitHub nor S3 over HTTPS.
func readCACerts(path string) ([]byte, error) {
	certs, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA certificates for the image: %w (install Debian's ca-certificates package, or name another bundle)", err)
	}
	if !bytes.Contains(certs, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("CA certificates for the image: %s holds no PEM certificate", path)
	}
	return certs, nil
}

// buildBinary compiles a static refbot for platform into o.BinDir, the way
// scripts/release.sh does, and returns its content.
func buildBinary(ctx context.Context, o Options, platform string) ([]byte, error) {
	goos, goarch, _ := strings.Cut(platform, "/")
	out := filepath.Join(o.BinDir, "refbot_"+goos+"_"+goarch)
	// As in a release, everything that shapes the binary is set here rather
	// than taken from the environment; -buildvcs=false since the stamps say
	// which commit this is.
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-buildvcs=false", "-ldflags", o.LDFlags, "-o", out, "./cmd/refbot")
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=", "GOEXPERIMENT=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build refbot for %s: %w\n%s", platform, err, msg)
	}
	binary, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	// An empty image has no dynamic loader nor C library.
	if err := checkStatic(binary); err != nil {
		return nil, fmt.Errorf("refbot for %s: %w", platform, err)
	}
	return binary, nil
}

func checkStatic(binary []byte) error {
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("linked dynamically; the image has no C library (build with CGO_ENABLED=0)")
		}
	}
	return nil
}

// platformOf returns "os/arch" as a platform; arm64 images are v8, as
// registries and runtimes expect.
func platformOf(p string) v1.Platform {
	goos, goarch, _ := strings.Cut(p, "/")
	pl := v1.Platform{OS: goos, Architecture: goarch}
	if goarch == "arm64" {
		pl.Variant = "v8"
	}
	return pl
}

// platformImage stacks the binary's layer on the base layer and sets the
// image's configuration.
func platformImage(p string, base v1.Layer, binary []byte, created time.Time, labels map[string]string) (v1.Image, error) {
	bin, err := newLayer([]file{{name: strings.TrimPrefix(BinaryPath, "/"), mode: 0o555, data: binary}}, created)
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	at := v1.Time{Time: created}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: at, CreatedBy: "refbot image: CA certificates, user refbot, " + StateDir}},
		mutate.Addendum{Layer: bin, History: v1.History{Created: at, CreatedBy: "refbot image: " + BinaryPath}},
	)
	if err != nil {
		return nil, err
	}
	// Append has filled in the layers' digests and history: only the
	// rest of the configuration is set here.
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	platform := platformOf(p)
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	cf.Created = at
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"serve", "--config", ConfigPath},
		WorkingDir: StateDir,
		Volumes:    map[string]struct{}{StateDir: {}},
		ExposedPorts: map[string]struct{}{
			"8080/tcp": {},
		},
		Env: []string{
			"SSL_CERT_FILE=" + CACertsPath,
			// refbot config check, doctor and the others find the file too.
			"REFBOT_CONFIG=" + ConfigPath,
			config.ListenEnv + "=" + Listen,
			// Nothing in serve writes to $TMPDIR; a command that does (doctor)
			// writes on the volume, which exists whatever is mounted there,
			// rather than in a /tmp the image does not have.
			"TMPDIR=" + StateDir,
		},
		Labels:     maps.Clone(labels),
		StopSignal: "SIGTERM",
	}
	return mutate.ConfigFile(img, cf)
}

// file is one entry of a layer: a regular file, or a folder when data is
// nil and dir is set.
type file struct {
	name string // relative to /, without a trailing slash
	dir  bool
	mode int64
	id   int // owner and group
	data []byte
}

// baseFiles are the files of the image but refbot itself.
func baseFiles(certs []byte) []file {
	state := strings.TrimPrefix(StateDir, "/")
	files := []file{
		{name: "etc", dir: true, mode: 0o755},
		{name: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nrefbot:x:%d:\n", uid)},
		{name: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil,
			"root:x:0:0:root:/root:/sbin/nologin\nrefbot:x:%d:%d:refbot:%s:/sbin/nologin\n", uid, uid, StateDir)},
		{name: "etc/refbot", dir: true, mode: 0o755},
		{name: "etc/ssl", dir: true, mode: 0o755},
		{name: "etc/ssl/certs", dir: true, mode: 0o755},
		{name: strings.TrimPrefix(CACertsPath, "/"), mode: 0o644, data: certs},
	}
	// The state folder's parents, then the folder, refbot's own: a volume
	// created from the image starts with its owner and mode.
	parts := strings.Split(state, "/")
	for i := range parts[:len(parts)-1] {
		files = append(files, file{name: strings.Join(parts[:i+1], "/"), dir: true, mode: 0o755})
	}
	return append(files, file{name: state, dir: true, mode: 0o700, id: uid})
}

// newLayer writes files, in order, as a gzipped tar layer whose times are
// all mtime.
func newLayer(files []file, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Uid:     f.id,
			Gid:     f.id,
			ModTime: mtime,
			Format:  tar.FormatUSTAR,
		}
		if f.dir {
			hdr.Typeflag, hdr.Name = tar.TypeDir, f.name+"/"
		} else {
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return tarball.LayerFromOpener(open, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

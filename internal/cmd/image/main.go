// Command image builds refbot's container image without a Docker daemon
// (internal/containerimage): a static refbot for linux/amd64 and
// linux/arm64 on an empty base, with Debian's CA certificates and an
// unprivileged user refbot (uid and gid 65532). Run it with `make image`; it
// writes
//
//	dist/image             an OCI image layout: the multi-platform index,
//	                       named by the version
//	dist/refbot-image.tar  the linux/amd64 image as a docker-archive tarball,
//	                       tagged ghcr.io/refbot/refbot:VERSION
//
// and prints their digests. VERSION is the release's (git describe's, or
// -version, without a leading v) and refbot in the image is the release's
// binary, byte for byte (scripts/release.sh: same flags, same stamps).
// Every time in the image is the commit's date ($SOURCE_DATE_EPOCH when
// set), so two builds of one commit are identical.
//
// To run it, with the secrets the configuration names as {env: …} given to
// the container (or mounted as files for {file: …}):
//
//	podman load -i dist/refbot-image.tar   # or docker load
//	podman run --read-only -p 8080:8080 \
//	  -v refbot-state:/var/lib/refbot \
//	  -v ./refbot.yaml:/etc/refbot/refbot.yaml:ro \
//	  -e GITHUB_TOKEN -e WEBHOOK_SECRET \
//	  ghcr.io/refbot/refbot:VERSION
//
// and to publish the layout, every platform at once:
//
//	skopeo copy --all oci:dist/image:VERSION docker://ghcr.io/refbot/refbot:VERSION
//
// In the image:
//   - The entrypoint is /refbot and the command `serve --config
//     /etc/refbot/refbot.yaml`: mount the configuration there. $REFBOT_CONFIG
//     names it too, so `run IMAGE doctor` or `run IMAGE config check` read
//     the same file.
//   - serve listens on 0.0.0.0:8080: a container's loopback cannot be
//     reached from outside it, while refbot's own default, for a machine, is
//     127.0.0.1:8080. The image sets $REFBOT_LISTEN, which gives
//     server.listen when the file leaves it out (config.ListenEnv); a
//     server.listen in the file wins. An environment variable rather than a
//     flag in the command, so that an operator who gives the container
//     another command keeps it.
//   - All state is under the one volume /var/lib/refbot, refbot's default
//     state_dir: the database, the data repo's cache and the work folders.
//     Keep state_dir at that default. A volume the runtime creates from the
//     image belongs to refbot (65532:65532, mode 0700); a host folder or a
//     Kubernetes volume must be made writable for it (chown 65532:65532, or
//     fsGroup: 65532). The root file system can be read-only: serve writes
//     nothing else. $TMPDIR is the volume too, for the commands
//     that make temporary files (doctor); the image has no /tmp.
//   - There is no shell: the website's stop_command, if set, must be a
//     program the image has, which in practice means not using it there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/refbot/refbot/internal/containerimage"
)

// archivePlatform is the platform of the docker-archive tarball, the one
// this project's machines and CI run.
const archivePlatform = "linux/amd64"

func main() {
	out := flag.String("out", "dist", "folder to write image/ and refbot-image.tar in")
	version := flag.String("version", "", "refbot's version, e.g. 1.2.3, a leading v dropped (default: git describe --tags --always --dirty)")
	platforms := flag.String("platforms", strings.Join(containerimage.Platforms, ","), "platforms to build, comma-separated")
	ldflags := flag.String("ldflags", "", "go build's -ldflags (default: a release's, stripped, with version, commit and date stamped in)")
	repository := flag.String("repository", containerimage.DefaultRepository, "repository the tarball's image is tagged in")
	caCerts := flag.String("ca-certs", containerimage.DefaultCACerts, "CA bundle to copy into the image")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "image: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out, *version, *platforms, *ldflags, *repository, *caCerts); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, out, version, platforms, ldflags, repository, caCerts string) error {
	dir, err := git(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		return fmt.Errorf("not in refbot's git checkout: %w", err)
	}
	revision, err := git(ctx, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	created, err := commitDate(ctx)
	if err != nil {
		return err
	}
	if version == "" {
		if version, err = git(ctx, "describe", "--tags", "--always", "--dirty"); err != nil {
			return err
		}
	}
	// As in the release archives' names and binaries (scripts/release.sh).
	version = strings.TrimPrefix(version, "v")
	im, err := containerimage.Build(ctx, containerimage.Options{
		Dir: dir, Platforms: strings.Split(platforms, ","), Version: version,
		Revision: revision, Created: created, LDFlags: ldflags, CACerts: caCerts,
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	layout := filepath.Join(out, "image")
	if err := im.WriteLayout(layout); err != nil {
		return err
	}
	digest, err := im.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s:%s %s (%s)\n", layout, repository, version, digest, strings.Join(im.Platforms(), ", "))

	platform := archivePlatform
	if _, err := im.PlatformDigest(platform); err != nil {
		platform = im.Platforms()[0]
	}
	archive := filepath.Join(out, "refbot-image.tar")
	if err := im.WriteDockerArchive(archive, repository, platform); err != nil {
		return err
	}
	if digest, err = im.PlatformDigest(platform); err != nil {
		return err
	}
	fmt.Printf("%s: %s:%s %s (%s)\n", archive, repository, version, digest, platform)
	return nil
}

// commitDate is the time every file and record of the image carries:
// $SOURCE_DATE_EPOCH when set (the reproducible-builds convention), else
// the date of the commit built.
func commitDate(ctx context.Context) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = git(ctx, "show", "-s", "--format=%ct", "HEAD"); err != nil {
			return time.Time{}, err
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("commit date %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func git(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(exit.Stderr)))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

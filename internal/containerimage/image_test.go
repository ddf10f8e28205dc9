package containerimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// The build the tests look at: linux/amd64 only, which this machine can
// run, built once for all of them.
var (
	testVersion  = "v9.8.7-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
	testCreated  = time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	testPlatform = "linux/amd64"
)

var (
	workDir string // removed by TestMain

	buildOnce sync.Once
	built     *Image
	builtOpts Options
	buildErr  error
)

func TestMain(m *testing.M) {
	var err error
	if workDir, err = os.MkdirTemp("", "containerimage-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(workDir)
	os.Exit(code)
}

// testOptions are the options of a build into a folder of its own.
func testOptions(t *testing.T, binDir string) Options {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("refbot's module is not at %s: %v", root, err)
	}
	return Options{
		Dir: root, Platforms: []string{testPlatform}, Version: testVersion, Revision: testRevision, Created: testCreated,
		CACerts: testCACerts(t), BinDir: binDir,
	}
}

var caOnce sync.Once

// testCACerts writes a bundle of one self-signed certificate, once, and
// returns its path: the tests do not depend on the machine's bundle.
func testCACerts(t *testing.T) string {
	t.Helper()
	path := filepath.Join(workDir, "ca-certificates.crt")
	caOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "refbot test CA"},
			NotBefore: testCreated, NotAfter: testCreated.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	return path
}

// buildImage builds the test image once and returns it with its options.
func buildImage(t *testing.T) (*Image, Options) {
	t.Helper()
	buildOnce.Do(func() {
		builtOpts = testOptions(t, filepath.Join(workDir, "bin"))
		if buildErr = os.Mkdir(builtOpts.BinDir, 0o755); buildErr == nil {
			built, buildErr = Build(context.Background(), builtOpts)
		}
	})
	if buildErr != nil {
		t.Fatalf("build the image: %v", buildErr)
	}
	return built, builtOpts
}

// readLayout writes im as a layout and reads it back the way a registry
// client would: index.json, the multi-platform index it names, and the
// image of testPlatform.
func readLayout(t *testing.T, im *Image) (v1.ImageIndex, v1.Image) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "image")
	if err := im.WriteLayout(dir); err != nil {
		t.Fatal(err)
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].MediaType != types.OCIImageIndex ||
		tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != testVersion {
		t.Fatalf("index.json lists %+v, want one OCI image index named %s", tm.Manifests, testVersion)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im2, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im2.Manifests) != 1 || im2.Manifests[0].Platform == nil || im2.Manifests[0].Platform.String() != testPlatform {
		t.Fatalf("the image index lists %+v, want one image for %s", im2.Manifests, testPlatform)
	}
	if im2.Manifests[0].MediaType != types.OCIManifestSchema1 {
		t.Errorf("the image's manifest is %s, want %s", im2.Manifests[0].MediaType, types.OCIManifestSchema1)
	}
	// Every digest, size and diff ID is what the blobs hold.
	if err := validate.Index(idx); err != nil {
		t.Fatalf("the layout's image index: %v", err)
	}
	img, err := idx.Image(im2.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return idx, img
}

func wantLabels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "refbot",
		"org.opencontainers.image.description": "Keeps a project's reference test data in step with its pull requests",
		"org.opencontainers.image.source":      "https://github.com/refbot/refbot",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     testVersion,
		"org.opencontainers.image.revision":    testRevision,
		"org.opencontainers.image.created":     "2026-05-04T03:02:01Z",
	}
}

// TestImageConfig checks what a runtime reads from the image: who it runs
// as, what it runs, its volume, port, environment and labels.
func TestImageConfig(t *testing.T) {
	im, _ := buildImage(t)
	idx, img := readLayout(t, im)

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Config{
		User:         "65532:65532",
		Entrypoint:   []string{"/refbot"},
		Cmd:          []string{"serve", "--config", "/etc/refbot/refbot.yaml"},
		WorkingDir:   "/var/lib/refbot",
		Volumes:      map[string]struct{}{"/var/lib/refbot": {}},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Env: []string{
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
			"REFBOT_CONFIG=/etc/refbot/refbot.yaml",
			"REFBOT_LISTEN=0.0.0.0:8080",
			"TMPDIR=/var/lib/refbot",
		},
		Labels:     wantLabels(),
		StopSignal: "SIGTERM",
	}
	if diff := cmp.Diff(want, cf.Config); diff != "" {
		t.Errorf("image config (-want +got):\n%s", diff)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Equal(testCreated) {
		t.Errorf("image is %s/%s created %s, want linux/amd64 created %s", cf.OS, cf.Architecture, cf.Created.Time, testCreated)
	}
	for i, h := range cf.History {
		if !h.Created.Equal(testCreated) {
			t.Errorf("history[%d] created %s, want %s", i, h.Created.Time, testCreated)
		}
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantLabels(), m.Annotations); diff != "" {
		t.Errorf("image index annotations (-want +got):\n%s", diff)
	}
}

// entry is a file of a layer as the tests compare it.
type entry struct {
	Name  string
	Type  byte
	Mode  int64
	Owner string
}

// TestImageFiles checks every file of every layer: nothing but refbot, the
// CA bundle, the user's files and the state folder refbot owns; no shell.
// The refbot in the image is the one built, and runs.
func TestImageFiles(t *testing.T) {
	im, opts := buildImage(t)
	_, img := readLayout(t, im)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var got []entry
	content := map[string][]byte{}
	for _, l := range layers {
		if mt, err := l.MediaType(); err != nil || mt != types.OCILayer {
			t.Errorf("layer media type %s (%v), want %s", mt, err, types.OCILayer)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, entry{hdr.Name, hdr.Typeflag, hdr.Mode, fmt.Sprintf("%d:%d", hdr.Uid, hdr.Gid)})
			if !hdr.ModTime.Equal(testCreated) {
				t.Errorf("%s: modified %s, want the commit's date %s", hdr.Name, hdr.ModTime, testCreated)
			}
			if hdr.Uname != "" || hdr.Gname != "" {
				t.Errorf("%s: owned by %q:%q, want numeric ids only", hdr.Name, hdr.Uname, hdr.Gname)
			}
			if content[hdr.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
		rc.Close()
	}
	dir, reg := byte(tar.TypeDir), byte(tar.TypeReg)
	want := []entry{
		{"etc/", dir, 0o755, "0:0"},
		{"etc/group", reg, 0o644, "0:0"},
		{"etc/passwd", reg, 0o644, "0:0"},
		{"etc/refbot/", dir, 0o755, "0:0"},
		{"etc/ssl/", dir, 0o755, "0:0"},
		{"etc/ssl/certs/", dir, 0o755, "0:0"},
		{"etc/ssl/certs/ca-certificates.crt", reg, 0o644, "0:0"},
		{"var/", dir, 0o755, "0:0"},
		{"var/lib/", dir, 0o755, "0:0"},
		{"var/lib/refbot/", dir, 0o700, "65532:65532"},
		{"refbot", reg, 0o555, "0:0"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files of the image (-want +got):\n%s", diff)
	}
	for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox"} {
		if _, ok := content[shell]; ok {
			t.Errorf("the image has %s", shell)
		}
	}
	for name, wantLine := range map[string]string{
		"etc/passwd": "refbot:x:65532:65532:refbot:/var/lib/refbot:/sbin/nologin\n",
		"etc/group":  "refbot:x:65532:\n",
	} {
		if !strings.Contains(string(content[name]), wantLine) {
			t.Errorf("%s = %q, want a line %q", name, content[name], wantLine)
		}
	}
	certs, err := os.ReadFile(opts.CACerts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(content["etc/ssl/certs/ca-certificates.crt"], certs) {
		t.Errorf("the image's CA bundle is not %s", opts.CACerts)
	}
	binary, err := os.ReadFile(filepath.Join(opts.BinDir, "refbot_linux_amd64"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(content["refbot"], binary) {
		t.Fatalf("/refbot in the image (%d bytes) is not the binary built (%d bytes)", len(content["refbot"]), len(binary))
	}

	if runtime.GOOS+"/"+runtime.GOARCH != testPlatform {
		t.Skipf("cannot run a %s binary on %s/%s", testPlatform, runtime.GOOS, runtime.GOARCH)
	}
	exe := filepath.Join(t.TempDir(), "refbot")
	if err := os.WriteFile(exe, content["refbot"], 0o555); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("refbot version from the image: %v\n%s", err, out)
	}
	// The stamps of a release: version, commit and the commit's date.
	if !strings.HasPrefix(string(out), "refbot "+testVersion+" ") ||
		!strings.Contains(string(out), testRevision[:12]) || !strings.Contains(string(out), "2026-05-04T03:02:01Z") {
		t.Errorf("refbot version from the image printed %q, want refbot %s, commit %s of 2026-05-04T03:02:01Z",
			out, testVersion, testRevision[:12])
	}
}

// TestImageReproducible builds the image a second time, binary included,
// and expects the same digest.
func TestImageReproducible(t *testing.T) {
	first, firstOpts := buildImage(t)
	secondOpts := testOptions(t, t.TempDir())
	second, err := Build(context.Background(), secondOpts)
	if err != nil {
		t.Fatal(err)
	}
	binaries := map[string][]byte{}
	for _, dir := range []string{firstOpts.BinDir, secondOpts.BinDir} {
		if binaries[dir], err = os.ReadFile(filepath.Join(dir, "refbot_linux_amd64")); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(binaries[firstOpts.BinDir], binaries[secondOpts.BinDir]) {
		t.Errorf("two builds of one commit gave two refbot binaries (did the source change in between?)")
	}
	d1, err := first.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := second.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 || !strings.HasPrefix(d1, "sha256:") {
		t.Errorf("two builds of one commit: %s and %s, want one sha256 digest", d1, d2)
	}
}

// TestDockerArchive checks the tarball for docker load: one image, tagged
// with the version, whose configuration is the image's.
func TestDockerArchive(t *testing.T) {
	im, _ := buildImage(t)
	path := filepath.Join(t.TempDir(), "refbot-image.tar")
	if err := im.WriteDockerArchive(path, "localhost/refbot", testPlatform); err != nil {
		t.Fatal(err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || !cmp.Equal(m[0].RepoTags, []string{"localhost/refbot:" + testVersion}) {
		t.Fatalf("docker archive manifest %+v, want one image tagged localhost/refbot:%s", m, testVersion)
	}
	loaded, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(loaded); err != nil {
		t.Fatalf("the docker archive's image: %v", err)
	}
	got, err := loaded.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	want, err := im.images[testPlatform].ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("the archive's image config is %s, want %s", got, want)
	}
	if err := im.WriteDockerArchive(path, "localhost/refbot", "linux/arm64"); err == nil {
		t.Error("WriteDockerArchive for a platform not built: no error")
	}
}

// TestWriteLayoutReplaces checks that a layout is replaced by the next one,
// and that a folder holding something else is left alone.
func TestWriteLayoutReplaces(t *testing.T) {
	im, _ := buildImage(t)
	dir := filepath.Join(t.TempDir(), "image")
	for range 2 {
		if err := im.WriteLayout(dir); err != nil {
			t.Fatal(err)
		}
	}
	other := t.TempDir()
	keep := filepath.Join(other, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := im.WriteLayout(other)
	if err == nil || !strings.Contains(err.Error(), "not an OCI image layout") {
		t.Errorf("WriteLayout over another folder: %v, want a refusal", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("WriteLayout removed what the folder held: %v", err)
	}
}

// TestBuildRefuses checks the options that are refused before anything is
// built, each with a message that says what to do.
func TestBuildRefuses(t *testing.T) {
	noCerts := filepath.Join(t.TempDir(), "no-certs.crt")
	if err := os.WriteFile(noCerts, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no version", func(o *Options) { o.Version = "" }, "no version"},
		{"version that is no tag", func(o *Options) { o.Version = "v1 beta" }, `version "v1 beta" cannot tag an image`},
		{"no revision", func(o *Options) { o.Revision = "" }, "no revision or date"},
		{"no date", func(o *Options) { o.Created = time.Time{} }, "no revision or date"},
		{"not linux", func(o *Options) { o.Platforms = []string{"darwin/arm64"} }, `platform "darwin/arm64": the image is built for linux/amd64 or linux/arm64`},
		{"platform twice", func(o *Options) { o.Platforms = []string{"linux/amd64", "linux/amd64"} }, `platform "linux/amd64" is given twice`},
		{"missing CA bundle", func(o *Options) { o.CACerts = filepath.Join(t.TempDir(), "missing.crt") }, "install Debian's ca-certificates package"},
		{"CA bundle without certificates", func(o *Options) { o.CACerts = noCerts }, "holds no PEM certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, t.TempDir())
			o.Go = "/nonexistent/go" // nothing is to be built
			tc.change(&o)
			_, err := Build(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestCheckStatic checks that a dynamically linked binary, which the empty
// image could not run, is refused.
func TestCheckStatic(t *testing.T) {
	for _, path := range []string{"/bin/sh", "/usr/bin/env"} {
		data, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(data, []byte("\x7fELF")) || !bytes.Contains(data, []byte("ld-linux")) {
			continue
		}
		if err := checkStatic(data); err == nil || !strings.Contains(err.Error(), "linked dynamically") {
			t.Errorf("checkStatic(%s) = %v, want it refused as dynamically linked", path, err)
		}
		return
	}
	t.Skip("no dynamically linked binary on this machine to check with")
}

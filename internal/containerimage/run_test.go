package containerimage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImageRuns loads the image into podman and starts it the way an
// operator would: a read-only root, the configuration mounted at
// /etc/refbot/refbot.yaml without server.listen, the secrets in the
// environment, port 8080 published. /healthz must answer from outside the
// container, which also shows that serve listens beyond the container's
// loopback.
//
// A container runtime does not run everywhere (no podman, cgroups it
// cannot use, limits it may not set): a probe image, a plain HTTP server,
// is run first, and only if it answers does a failure of refbot's image
// fail the test; otherwise the test is skipped with podman's reason.
func TestImageRuns(t *testing.T) {
	if runtime.GOOS+"/"+runtime.GOARCH != testPlatform {
		t.Skipf("the image is built for %s, this machine is %s/%s", testPlatform, runtime.GOOS, runtime.GOARCH)
	}
	bin, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (apt-get install podman runc)")
	}
	pm := findRuntime(t, bin)

	im, _ := buildImage(t)
	archive := filepath.Join(t.TempDir(), "refbot-image.tar")
	if err := im.WriteDockerArchive(archive, "localhost/refbot-image-test", testPlatform); err != nil {
		t.Fatal(err)
	}
	ref := "localhost/refbot-image-test:" + testVersion
	pm.load(t, archive, ref)

	cfg := filepath.Join(t.TempDir(), "refbot.yaml")
	// Every outside service is this container's own loopback, where nothing
	// listens: serve starts without reaching any, and the test reaches no
	// network. server.listen and state_dir are left to the image.
	if err := os.WriteFile(cfg, []byte(`github:
  repo: octo-org/octo-repo
  api_url: http://127.0.0.1:1/
  graphql_url: http://127.0.0.1:1/graphql
  token: {env: REFBOT_TEST_GITHUB_TOKEN}
  webhook_secret: {env: REFBOT_TEST_WEBHOOK_SECRET}
  bot_login: refbot
s3:
  endpoint: http://127.0.0.1:1
  path_style: true
  bucket: artifacts
data_repo:
  url: http://127.0.0.1:1/octo-org/data.git
ci:
  api_url: http://127.0.0.1:1
`), 0o644); err != nil {
		t.Fatal(err)
	}
	name := pm.start(t, "--read-only",
		"-e", "REFBOT_TEST_GITHUB_TOKEN=token", "-e", "REFBOT_TEST_WEBHOOK_SECRET=secret",
		"-v", cfg+":/etc/refbot/refbot.yaml:ro", ref)
	if err := pm.waitHealthy(t, name); err != nil {
		t.Fatalf("refbot's image: %v\n%s", err, pm.logs(name))
	}
	if logs := pm.logs(name); !strings.Contains(logs, `"msg":"refbot serving"`) {
		t.Errorf("refbot's log does not say it serves:\n%s", logs)
	}
}

// podman runs podman with the runtime and limits that work here.
type podman struct {
	bin  string
	args []string // before the subcommand: --runtime
	run  []string // after run: the limits
}

func (p podman) cmd(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, p.bin, slices.Concat(p.args, args)...)
}

func (p podman) output(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := p.cmd(ctx, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

func (p podman) load(t *testing.T, archive, ref string) {
	t.Helper()
	if _, err := p.output("load", "-i", archive); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.output("rmi", "-f", ref) })
}

// start runs a container from args in the background, port 8080 published
// on a free port of 127.0.0.1, and removes it (and its volumes) when the
// test ends.
func (p podman) start(t *testing.T, args ...string) string {
	t.Helper()
	name, err := p.tryStart(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func (p podman) tryStart(t *testing.T, args ...string) (string, error) {
	name := fmt.Sprintf("refbot-image-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	run := append([]string{"run", "-d", "--name", name, "-p", "127.0.0.1::8080"}, p.run...)
	_, err := p.output(append(run, args...)...)
	t.Cleanup(func() { p.output("rm", "-f", "-v", name) })
	return name, err
}

// waitHealthy asks the container's /healthz until it answers 200, or the
// container stops, or a minute has passed (a bound for a hung start, not a
// measure of speed).
func (p podman) waitHealthy(t *testing.T, name string) error {
	t.Helper()
	port, err := p.output("port", name, "8080/tcp")
	if err != nil {
		return err
	}
	url := "http://" + strings.Fields(port)[0] + "/healthz"
	deadline := time.Now().Add(time.Minute)
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		if running, _ := p.output("inspect", "-f", "{{.State.Running}}", name); running != "true" {
			return fmt.Errorf("the container stopped before answering %s (%v)", url, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer in a minute: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p podman) logs(name string) string {
	out, err := p.output("logs", name)
	if err != nil {
		return err.Error()
	}
	return out
}

// findRuntime finds how podman can run a container here, trying its
// default runtime and then runc (crun refuses cgroups v1 and v2 mixed),
// with limits lower than the hard ones, which an unprivileged sandbox may
// not raise. It runs the probe image (testdata/probe) and skips the test,
// with podman's reason, when no way works.
func findRuntime(t *testing.T, bin string) podman {
	t.Helper()
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe")
	build := exec.Command("go", "build", "-trimpath", "-o", probe, "./testdata/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	img, err := probeImage(data)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "probe.tar")
	tag, err := name.NewTag("localhost/refbot-image-probe:test")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	limits := []string{"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"}
	ways := []podman{{bin: bin, run: limits}}
	if _, err := exec.LookPath("runc"); err == nil {
		ways = append(ways, podman{bin: bin, args: []string{"--runtime", "runc"}, run: limits})
	}
	var reasons []string
	for _, p := range ways {
		if _, err := p.output("load", "-i", archive); err != nil {
			t.Skipf("podman cannot load an image here: %v", err)
		}
		t.Cleanup(func() { p.output("rmi", "-f", tag.String()) })
		name, err := p.tryStart(t, tag.String())
		if err == nil {
			err = p.waitHealthy(t, name)
		}
		if err == nil {
			return p
		}
		way := "podman's default runtime"
		if len(p.args) > 0 {
			way = strings.Join(p.args, " ")
		}
		reasons = append(reasons, fmt.Sprintf("with %s: %v", way, err))
	}
	t.Skipf("podman cannot run a container here: %s", errors.New(strings.Join(reasons, "; ")))
	return podman{}
}

// probeImage is an image of one static server, /probe, on port 8080.
func probeImage(binary []byte) (v1.Image, error) {
	l, err := newLayer([]file{{name: "probe", mode: 0o555, data: binary}}, testCreated)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, err
	}
	return mutate.Config(img, v1.Config{Entrypoint: []string{"/probe"}, ExposedPorts: map[string]struct{}{"8080/tcp": {}}})
}

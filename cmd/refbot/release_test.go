package main

// Tests of the release: scripts/release.sh (`make release`) and the LICENSE
// it ships. They live here, beside the command they release, and run the
// script as `make release` does.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// apacheLicenseSHA256 is the sha256 of the Apache License 2.0 as the Apache
// Software Foundation publishes it (www.apache.org/licenses/LICENSE-2.0.txt).
const apacheLicenseSHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"

func TestLicenseIsApache2(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != apacheLicenseSHA256 {
		t.Errorf("LICENSE has sha256 %s, want %s: the Apache License 2.0, unmodified", got, apacheLicenseSHA256)
	}
}

// repoRoot returns the repository this package is in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runRelease runs root's scripts/release.sh with args and env over the
// test's environment.
func runRelease(t *testing.T, root string, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "scripts", "release.sh"), args...)
	cmd.Dir = t.TempDir() // the script finds the repository from its own path
	cmd.Env = os.Environ()
	for _, k := range []string{"VERSION", "PLATFORMS", "DIST", "RELEASE_ALLOW_DIRTY"} {
		cmd.Env = append(cmd.Env, k+"=") // exec keeps a key's last value
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func TestReleaseArchiveNames(t *testing.T) {
	root := repoRoot(t)
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{
			name: "every platform",
			env:  map[string]string{"VERSION": "v1.4.0"},
			want: []string{"refbot_1.4.0_linux_amd64.tar.gz", "refbot_1.4.0_linux_arm64.tar.gz", "refbot_1.4.0_darwin_arm64.tar.gz"},
		},
		{
			name: "chosen platforms",
			env:  map[string]string{"VERSION": "2.0.0-rc.1", "PLATFORMS": "darwin/arm64"},
			want: []string{"refbot_2.0.0-rc.1_darwin_arm64.tar.gz"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runRelease(t, root, tt.env, "--list")
			if err != nil {
				t.Fatalf("release.sh --list: %v\n%s", err, stderr)
			}
			if diff := cmp.Diff(tt.want, strings.Fields(stdout)); diff != "" {
				t.Errorf("archives (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReleaseRefuses(t *testing.T) {
	// A checkout of its own holding the script, with a commit and then a
	// change not committed: the script must stop before it builds.
	dirty := t.TempDir()
	script, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts", "release.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dirty, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirty, "scripts", "release.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, dirty, "init", "--quiet")
	git(t, dirty, "add", ".")
	git(t, dirty, "-c", "user.name=refbot test", "-c", "user.email=test@example.org", "commit", "--quiet", "-m", "release script")
	if err := os.WriteFile(filepath.Join(dirty, "scripts", "release.sh"), append(script, "# changed\n"...), 0o755); err != nil {
		t.Fatal(err)
	}
	notCheckout := t.TempDir()
	if err := os.MkdirAll(filepath.Join(notCheckout, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notCheckout, "scripts", "release.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		root string
		env  map[string]string
		args []string
		want string // in its message
	}{
		{name: "version with a space", root: dirty, env: map[string]string{"VERSION": "1.0 beta"}, args: []string{"--list"}, want: "VERSION '1.0 beta' is not a version"},
		{name: "version with a slash", root: dirty, env: map[string]string{"VERSION": "1.0/../x"}, args: []string{"--list"}, want: "is not a version"},
		{name: "platform without arch", root: dirty, env: map[string]string{"VERSION": "1.0.0", "PLATFORMS": "linux"}, args: []string{"--list"}, want: "platform 'linux' is not os/arch"},
		{name: "unknown argument", root: dirty, args: []string{"--snapshot"}, want: "unknown arguments '--snapshot'"},
		{name: "uncommitted changes", root: dirty, env: map[string]string{"VERSION": "1.0.0"}, want: "the working tree has uncommitted changes"},
		{name: "not a checkout", root: notCheckout, env: map[string]string{"VERSION": "1.0.0", "GIT_CEILING_DIRECTORIES": filepath.Dir(notCheckout)}, want: "is not a git checkout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dist := filepath.Join(t.TempDir(), "dist")
			env := map[string]string{"DIST": dist}
			for k, v := range tt.env {
				env[k] = v
			}
			stdout, stderr, err := runRelease(t, tt.root, env, tt.args...)
			if err == nil {
				t.Fatalf("release.sh succeeded, want it to fail with %q\nstdout:\n%s", tt.want, stdout)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("release.sh said %q, want %q", stderr, tt.want)
			}
			if _, err := os.Stat(dist); !os.IsNotExist(err) {
				t.Errorf("release.sh created %s before it failed (stat: %v)", dist, err)
			}
		})
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// checksumLine is a line of checksums.txt, as sha256sum writes it and
// action/run.sh reads it.
var checksumLine = regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)

// TestRelease builds this machine's platform's archive twice, as `make
// release` does, and checks what is in it, that checksums.txt verifies it,
// that both builds are the same bytes, and that the binary says the version,
// commit and date stamped in. The other platforms' archives are built the
// same way (TestReleaseArchiveNames checks their names); building them here
// too would compile everything once more for each.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds refbot twice")
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	if !slices.Contains([]string{"linux/amd64", "linux/arm64", "darwin/arm64"}, platform) {
		t.Skipf("refbot has no release for %s, this machine", platform)
	}
	root := repoRoot(t)
	commit := git(t, root, "rev-parse", "HEAD")
	epoch, err := strconv.ParseInt(git(t, root, "log", "-1", "--format=%ct", "HEAD"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	commitTime := time.Unix(epoch, 0).UTC()

	const version = "1.2.3-test.1"
	archive := fmt.Sprintf("refbot_%s_%s_%s.tar.gz", version, runtime.GOOS, runtime.GOARCH)
	var dists []string
	for _, name := range []string{"first", "second"} {
		dist := filepath.Join(t.TempDir(), name)
		env := map[string]string{
			"VERSION":   "v" + version, // the v is dropped
			"PLATFORMS": platform,
			"DIST":      dist,
			// A working tree being edited builds too; the checks below
			// hold for it as for a clean one.
			"RELEASE_ALLOW_DIRTY": "1",
		}
		if _, stderr, err := runRelease(t, root, env); err != nil {
			t.Fatalf("release.sh (%s build): %v\n%s", name, err, stderr)
		}
		dists = append(dists, dist)
	}

	// What is in dist, and checksums.txt.
	entries, err := os.ReadDir(dists[0])
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"checksums.txt", archive}, names); diff != "" {
		t.Fatalf("dist (-want +got):\n%s", diff)
	}
	sums, err := os.ReadFile(filepath.Join(dists[0], "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dists[0], archive))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n")
	m := checksumLine.FindStringSubmatch(lines[0])
	if len(lines) != 1 || m == nil || m[2] != archive {
		t.Fatalf("checksums.txt = %q, want one line \"SHA256  %s\"", sums, archive)
	}
	if sum := sha256.Sum256(data); m[1] != hex.EncodeToString(sum[:]) {
		t.Errorf("checksums.txt says %s for %s, its sha256 is %x", m[1], archive, sum)
	}

	// Reproducible: the second build is the same bytes.
	for _, name := range []string{"checksums.txt", archive} {
		second, err := os.ReadFile(filepath.Join(dists[1], name))
		if err != nil {
			t.Fatal(err)
		}
		first, _ := os.ReadFile(filepath.Join(dists[0], name))
		if !bytes.Equal(first, second) {
			t.Errorf("%s differs between two builds of one commit", name)
		}
	}

	files := checkArchive(t, data, commitTime)
	for _, name := range []string{"LICENSE", "README.md"} {
		want, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(files[name], want) {
			t.Errorf("%s in the archive is not the repository's", name)
		}
	}

	bin := filepath.Join(t.TempDir(), "refbot")
	if err := os.WriteFile(bin, files["refbot"], 0o755); err != nil {
		t.Fatal(err)
	}
	checkReleaseBinary(t, bin)

	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("refbot version --json: %v", err)
	}
	var got buildVersion
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("refbot version --json printed %q: %v", out, err)
	}
	date, err := time.Parse(time.RFC3339, got.Date)
	if err != nil || !date.Equal(commitTime) || !strings.HasSuffix(got.Date, "Z") {
		t.Errorf("refbot version says date %q, want the commit's, %s (err %v)", got.Date, commitTime.Format(time.RFC3339), err)
	}
	if got.Version != version || got.Commit != commit || got.Modified || got.Platform != platform || !strings.HasPrefix(got.GoVer, "go") {
		t.Errorf("refbot version --json = %s, want version %s, commit %s, not modified, platform %s", out, version, commit, platform)
	}
	out, err = exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("refbot version: %v", err)
	}
	if want := fmt.Sprintf("refbot %s (commit %s of %s, ", version, commit[:12], got.Date); !strings.HasPrefix(string(out), want) {
		t.Errorf("refbot version printed %q, want it to start %q", out, want)
	}
}

// checkArchive checks a release archive's layout (LICENSE, README.md and
// refbot, in that order, at the top), and that nothing in it depends on
// who built it or when: a gzip header with no name or time, every file's
// mtime the commit's, owned by uid and gid 0 with no user names. It returns
// the files' contents by name.
func checkArchive(t *testing.T, data []byte, commitTime time.Time) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("the gzip header has name %q and time %v, want neither", zr.Name, zr.ModTime)
	}
	files := map[string][]byte{}
	var names []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		wantMode := int64(0o644)
		if h.Name == "refbot" {
			wantMode = 0o755
		}
		if h.Typeflag != tar.TypeReg || h.Mode != wantMode {
			t.Errorf("%s: type %q mode %o, want a regular file, mode %o", h.Name, h.Typeflag, h.Mode, wantMode)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 and no names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(commitTime) {
			t.Errorf("%s: mtime %v, want the commit's, %v", h.Name, h.ModTime.UTC(), commitTime)
		}
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"LICENSE", "README.md", "refbot"}, names); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
	return files
}

// checkReleaseBinary checks how bin was built: without cgo (on Linux: no
// dynamic loader and no shared libraries), with -trimpath, and without
// Go's own VCS stamp, which would differ between a clean and an edited
// checkout of one commit.
func checkReleaseBinary(t *testing.T, bin string) {
	t.Helper()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("built with CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	for k := range settings {
		if strings.HasPrefix(k, "vcs") {
			t.Errorf("built with Go's VCS stamp %s=%s", k, settings[k])
		}
	}
	if runtime.GOOS != "linux" {
		return
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
}

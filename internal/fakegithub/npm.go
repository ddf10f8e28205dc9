package fakegithub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/refbot/refbot/internal/testenv"
)

// The npm packages that describe GitHub's API, pinned in tools/npm.
const (
	openAPIFile       = "@octokit/openapi/generated/api.github.com.json"
	graphQLSchemaFile = "@octokit/graphql-schema/schema.graphql"
	webhookExamples   = "@octokit/webhooks-examples/api.github.com/index.json"
)

var (
	nodeModulesOnce sync.Once
	nodeModulesDir  string
	nodeModulesErr  error
)

// NodeModules returns the node_modules folder that holds GitHub's published
// API descriptions: $REFBOT_NODE_MODULES if set, else .tools/npm/node_modules
// in the repository. When the packages are missing, or were installed from a
// different package-lock.json than tools/npm's, it installs them first with
// `npm ci` (what scripts/install-tools.sh does for CI). Test binaries run in
// parallel, so the install happens under a file lock and at most once.
func NodeModules() (string, error) {
	nodeModulesOnce.Do(func() {
		nodeModulesDir, nodeModulesErr = ensureNodeModules()
	})
	return nodeModulesDir, nodeModulesErr
}

func ensureNodeModules() (string, error) {
	if dir := os.Getenv("REFBOT_NODE_MODULES"); dir != "" {
		return dir, nil
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	src := filepath.Join(root, "tools", "npm")
	dst := filepath.Join(root, ".tools", "npm")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(root, ".tools", "npm.lock"))
	if err != nil {
		return "", fmt.Errorf("lock npm install: %w", err)
	}
	defer unlock()

	modules := filepath.Join(dst, "node_modules")
	if npmInstalled(src, dst) {
		return modules, nil
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return "", fmt.Errorf("read npm manifest: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			return "", fmt.Errorf("copy npm manifest: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--prefix", dst, "--ignore-scripts", "--no-audit", "--no-fund")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("npm is needed to install GitHub's API descriptions into %s: apt-get install npm, or run `make tools`", dst)
		}
		return "", fmt.Errorf("npm ci into %s: %w\n%s", dst, err, out.Bytes())
	}
	if !npmInstalled(src, dst) {
		return "", fmt.Errorf("npm ci into %s did not install %s", dst, openAPIFile)
	}
	return modules, nil
}

// npmInstalled reports whether dst holds the packages locked in src.
func npmInstalled(src, dst string) bool {
	want, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		return false
	}
	got, err := os.ReadFile(filepath.Join(dst, "package-lock.json"))
	if err != nil || !bytes.Equal(want, got) {
		return false
	}
	for _, f := range []string{openAPIFile, graphQLSchemaFile, webhookExamples} {
		if _, err := os.Stat(filepath.Join(dst, "node_modules", f)); err != nil {
			return false
		}
	}
	return true
}

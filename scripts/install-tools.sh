#!/usr/bin/env bash
# Installs the tools refbot's tests need into a git-ignored project folder,
# reusing what is already there. Usage: install-tools.sh TOOLS_DIR MINIO_VERSION
set -euo pipefail
tools=$1
minio_version=$2
mkdir -p "$tools/bin"

# MinIO: a real S3 server for the tests, built from the Go module proxy.
stamp="$tools/bin/minio.version"
if [ -x "$tools/bin/minio" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$minio_version" ]; then
  :
else
  echo "building MinIO $minio_version into $tools/bin (about five minutes the first time)" >&2
  GOBIN="$tools/bin" GOFLAGS=-mod=mod go install "github.com/minio/minio@$minio_version"
  echo "$minio_version" > "$stamp"
fi

# git http-backend serves the data repo in the tests.
if ! git --exec-path >/dev/null 2>&1 || [ ! -x "$(git --exec-path)/git-http-backend" ]; then
  echo "git with git-http-backend is required: apt-get install git" >&2
  exit 1
fi

# GitHub's published API descriptions, which the fake GitHub of the tests
# (internal/fakegithub) is checked against: npm packages pinned in tools/npm.
# The tests install them the same way when missing; both take .tools/npm.lock.
root=$(cd "$(dirname "$0")/.." && pwd)
install_npm() {
  if cmp -s "$root/tools/npm/package-lock.json" "$tools/npm/package-lock.json" &&
     [ -f "$tools/npm/node_modules/@octokit/openapi/generated/api.github.com.json" ] &&
     [ -f "$tools/npm/node_modules/@octokit/graphql-schema/schema.graphql" ] &&
     [ -f "$tools/npm/node_modules/@octokit/webhooks-examples/api.github.com/index.json" ]; then
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is required for GitHub's API descriptions: apt-get install npm" >&2
    exit 1
  fi
  echo "installing GitHub's API descriptions (npm) into $tools/npm" >&2
  mkdir -p "$tools/npm"
  cp "$root/tools/npm/package.json" "$root/tools/npm/package-lock.json" "$tools/npm/"
  npm ci --prefix "$tools/npm" --ignore-scripts --no-audit --no-fund
}
if command -v flock >/dev/null 2>&1; then
  exec 9>"$tools/npm.lock"
  flock 9
  install_npm
  flock -u 9
else
  install_npm
fi

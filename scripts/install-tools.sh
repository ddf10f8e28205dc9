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

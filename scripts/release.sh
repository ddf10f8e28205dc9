#!/usr/bin/env bash
# release.sh builds refbot's release archives (what `make release` runs):
# for each platform a static binary (CGO_ENABLED=0, -trimpath) with its
# version, commit and the commit's date stamped in (`refbot version` shows
# them), packed as dist/refbot_{version}_{os}_{arch}.tar.gz beside LICENSE
# and README.md, and dist/checksums.txt with one "sha256  archive" line each,
# which is what the composite action (action/run.sh) downloads and checks.
#
# Two runs on one commit with the same Go release give the same bytes: the
# date is the commit's, not the clock's; the binary has no build paths and no
# VCS stamp of Go's own; the archives have their names in a fixed order, the
# commit's date as every mtime, uid and gid 0, no user names and a gzip
# header with no name or time.
#
# Usage: scripts/release.sh            build the archives and checksums.txt
#        scripts/release.sh --list     print the archives' names, build nothing
#
# Environment:
#   VERSION    the version, e.g. 1.2.3 (a leading v is dropped); default from
#              `git describe --tags --always --dirty`
#   PLATFORMS  os/arch pairs, space-separated; default: linux/amd64
#              linux/arm64 darwin/arm64
#   DIST       where the archives go; default: dist/ in the repository
#   GO         the go command; default: go
#   RELEASE_ALLOW_DIRTY=1  build a version that does not end in -dirty from a
#              working tree with uncommitted changes (tests only: such a
#              build is not the commit it names)
#
# It needs Go, git, GNU tar (gtar on macOS), gzip and sha256sum or shasum.
set -euo pipefail

fail() {
	echo "release: $*" >&2
	exit 1
}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

list=false
case "$#:${1:-}" in
0:) ;;
1:--list) list=true ;;
*) fail "unknown arguments '$*': the only one is --list" ;;
esac

git rev-parse --verify --quiet HEAD >/dev/null || fail "$root is not a git checkout with a commit: a release is built from one"

version=${VERSION:-$(git describe --tags --always --dirty)}
version=${version#v}
# The version names files and is passed to the linker: letters, digits and
# . + - only, starting with a letter or digit.
[[ $version =~ ^[0-9A-Za-z][0-9A-Za-z.+-]*$ ]] ||
	fail "VERSION '$version' is not a version like 1.2.3 (letters, digits, '.', '+' and '-' only)"

platforms=${PLATFORMS:-linux/amd64 linux/arm64 darwin/arm64}
read -r -a platforms <<<"$platforms"
[[ ${#platforms[@]} -gt 0 ]] || fail "PLATFORMS is empty: name at least one os/arch, e.g. linux/amd64"
archives=()
for p in "${platforms[@]}"; do
	[[ $p =~ ^[a-z0-9]+/[a-z0-9]+$ ]] || fail "platform '$p' is not os/arch, e.g. linux/amd64"
	archives+=("refbot_${version}_${p%/*}_${p#*/}.tar.gz")
done

if $list; then
	printf '%s\n' "${archives[@]}"
	exit 0
fi

if [[ -n $(git status --porcelain) && $version != *-dirty && ${RELEASE_ALLOW_DIRTY:-} != 1 ]]; then
	fail "the working tree has uncommitted changes: commit them first (or leave VERSION out for a snapshot named ...-dirty)"
fi

tar=tar
if ! tar --version 2>/dev/null | grep -q 'GNU tar'; then
	command -v gtar >/dev/null || fail "GNU tar is needed for reproducible archives (macOS: brew install gnu-tar)"
	tar=gtar
fi
sha256() {
	if command -v sha256sum >/dev/null; then
		sha256sum "$@"
	else
		shasum -a 256 "$@" # macOS
	fi
}

commit=$(git rev-parse HEAD)
epoch=$(git log -1 --format=%ct HEAD)
date=$(TZ=UTC0 git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD)

go=${GO:-go}
dist=${DIST:-$root/dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
rm -f "$dist"/refbot_*.tar.gz "$dist/checksums.txt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "release: refbot $version, commit $commit of $date, $("$go" env GOVERSION)" >&2
for i in "${!platforms[@]}"; do
	p=${platforms[$i]}
	stage="$work/${p/\//_}"
	mkdir -p "$stage"
	echo "release: building ${archives[$i]}" >&2
	# Everything that shapes the binary is set here, not taken from the
	# caller's environment: no cgo, the baseline instruction sets, no
	# GOFLAGS or experiments. -buildvcs=false: the stamps below say which
	# commit this is, and Go's own would differ with the checkout's state.
	CGO_ENABLED=0 GOOS=${p%/*} GOARCH=${p#*/} GOAMD64=v1 GOARM64=v8.0 GOFLAGS='' GOEXPERIMENT='' \
		"$go" build -trimpath -buildvcs=false \
		-ldflags "-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date" \
		-o "$stage/refbot" ./cmd/refbot
	cp LICENSE README.md "$stage/"
	chmod 0644 "$stage/LICENSE" "$stage/README.md"
	chmod 0755 "$stage/refbot"
	# The names in a fixed (sorted) order; ustar has no atime or ctime.
	"$tar" --create --format=ustar --directory="$stage" \
		--owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
		LICENSE README.md refbot |
		gzip -9 -n >"$dist/${archives[$i]}"
done

# Only this run's archives are in $dist (older ones were removed above);
# the glob lists them in byte order under LC_ALL=C.
(cd "$dist" && export LC_ALL=C && sha256 refbot_*.tar.gz >checksums.txt)
echo "release: $dist/checksums.txt:" >&2
cat "$dist/checksums.txt" >&2

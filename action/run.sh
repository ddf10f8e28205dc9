#!/usr/bin/env bash
# run.sh is the work of refbot's GitHub Action (action.yml beside this folder):
# it installs the refbot release the workflow names, checks its sha256, and
# hands the build's outputs to refbot: `refbot upload` to S3, or, for a pull
# request from a fork (no secrets), `refbot upload --artifact` into a folder
# the action's next step uploads with actions/upload-artifact. With kind
# website it uploads the site of the docs build refbot asked for on
# BUILDBOT: WEBSITE, `refbot upload --kind website`, to S3 only; refbot reads
# the PR and head from REFBOT_WEBSITE_PR and REFBOT_WEBSITE_SHA, which the
# docs workflow puts in the step's env.
#
# Its inputs are the action's, as INPUT_* variables (action.yml passes each
# one), beside what GitHub Actions sets: GITHUB_*, RUNNER_OS, RUNNER_ARCH,
# RUNNER_TEMP and GITHUB_OUTPUT. It writes the outputs mode, artifact-path
# and artifact-name to $GITHUB_OUTPUT; artifact-path is empty unless an
# artifact was prepared.
set -euo pipefail

# fail ends the step with an error annotation. The message is escaped as
# workflow commands require, so no value in it can start a command of its own.
fail() {
	local msg="$*"
	msg=${msg//%/%25}
	msg=${msg//$'\r'/%0D}
	msg=${msg//$'\n'/%0A}
	echo "::error title=refbot::$msg" >&2
	exit 1
}

lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }

# has_credentials says whether the step's env names S3 credentials the AWS
# SDK would find (a key, a profile, or a web identity from OIDC).
has_credentials() {
	[[ -n ${AWS_ACCESS_KEY_ID:-} || -n ${AWS_PROFILE:-} || -n ${AWS_WEB_IDENTITY_TOKEN_FILE:-} ]]
}

: "${RUNNER_TEMP:?RUNNER_TEMP is not set: run this as a step of a GitHub Actions job}"
: "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: run this as a step of a GitHub Actions job}"

version=${INPUT_VERSION:-}
version=${version#v}
[[ -n $version ]] || fail "the input version is required: the refbot release to install, e.g. 1.4.0"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] ||
	fail "version '$version' is not a release version like 1.4.0"
[[ -n ${INPUT_PATH:-} ]] || fail "the input path is required: the folder of the build's test outputs"
[[ -d $INPUT_PATH ]] || fail "path '$INPUT_PATH' is not a folder"
checksum=$(lower "${INPUT_CHECKSUM_SHA256:-}")
[[ -z $checksum || $checksum =~ ^[0-9a-f]{64}$ ]] || fail "checksum-sha256 is not 64 hex digits"
kind=${INPUT_KIND:-outputs}
case $kind in
outputs | website) ;;
*) fail "kind '$kind': use outputs (a build's test outputs) or website (the docs build's site, for BUILDBOT: WEBSITE)" ;;
esac

case ${RUNNER_OS:-} in
Linux) os=linux ;;
macOS) os=darwin ;;
Windows) os=windows ;;
*) fail "runner OS '${RUNNER_OS:-}' has no refbot release" ;;
esac
case ${RUNNER_ARCH:-} in
X64) arch=amd64 ;;
ARM64) arch=arm64 ;;
*) fail "runner architecture '${RUNNER_ARCH:-}' has no refbot release" ;;
esac

# The mode: s3, or artifact for a fork's pull request (its workflow gets no
# secrets) and for a build with no S3 bucket or credentials to upload with.
mode=${INPUT_MODE:-auto}
bucket=${INPUT_BUCKET:-${REFBOT_S3_BUCKET:-}}
if [[ $kind == website ]]; then
	# The docs build runs on a branch of the project, with its secrets, and
	# refbot takes a site from S3 only: no artifact, and no fallback to one.
	[[ -z ${INPUT_VARIANT:-} ]] || fail "kind website: a site has no variants; leave the input variant out"
	case $mode in
	artifact)
		fail "kind website with mode artifact: refbot takes a docs build's site from S3 only; use mode s3 (or auto) with the S3 credentials from the repository's secrets, as examples/docs.yaml does"
		;;
	auto)
		has_credentials ||
			fail "kind website: the step has no S3 credentials (AWS_ACCESS_KEY_ID): give it the repository's secrets, as examples/docs.yaml does; with credentials from elsewhere (an instance role), set mode: s3"
		mode=s3
		;;
	esac
	# Only the input: refbot itself prefers $REFBOT_WEBSITE_S3_BUCKET to
	# $REFBOT_S3_BUCKET for a site.
	bucket=${INPUT_BUCKET:-}
fi
case $mode in
s3 | artifact) ;;
auto)
	mode=s3
	reason=
	case ${GITHUB_EVENT_NAME:-} in
	pull_request | pull_request_target)
		# A deleted fork leaves the head repository empty: still a fork.
		if [[ $(lower "${PR_HEAD_REPO:-}") != "$(lower "${GITHUB_REPOSITORY:-}")" ]]; then
			mode=artifact reason="the pull request comes from the fork ${PR_HEAD_REPO:-(deleted)}"
		fi
		;;
	esac
	if [[ $mode == s3 && -z $bucket ]]; then
		mode=artifact reason="no bucket is set"
	elif [[ $mode == s3 ]] && ! has_credentials; then
		mode=artifact reason="no S3 credentials are set (AWS_ACCESS_KEY_ID)"
	fi
	[[ -z $reason ]] || echo "refbot: preparing a workflow artifact: $reason"
	;;
*) fail "mode '$mode': use s3, artifact or auto" ;;
esac

# Download the release archive and check it before anything of it runs.
archive="refbot_${version}_${os}_${arch}.tar.gz"
url='https://github.com/refbot/refbot/releases/download/v{version}/refbot_{version}_{os}_{arch}.tar.gz'
url=${INPUT_DOWNLOAD_URL:-$url}
v='{version}' o='{os}' a='{arch}'
url=${url//"$v"/$version}
url=${url//"$o"/$os}
url=${url//"$a"/$arch}
case $url in
https://*) ;;
http://127.0.0.1[:/]* | http://localhost[:/]* | http://\[::1\][:/]*) ;; # a test's or a mirror's loopback server
*) fail "download-url '$url' is not https" ;;
esac
work=$(mktemp -d "$RUNNER_TEMP/refbot.XXXXXX")
fetch() { curl --fail --silent --show-error --location --retry 3 --output "$2" "$1"; }
fetch "$url" "$work/$archive" || fail "download $url failed"

sha256() {
	if command -v sha256sum >/dev/null; then
		sha256sum "$1"
	else
		shasum -a 256 "$1" # macOS
	fi | cut -d' ' -f1
}
if [[ -z $checksum ]]; then
	sums_url="${url%/*}/checksums.txt"
	fetch "$sums_url" "$work/checksums.txt" || fail "download $sums_url failed (or pin the archive with checksum-sha256)"
	checksum=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$work/checksums.txt")
	[[ $checksum =~ ^[0-9a-f]{64}$ ]] || fail "checksums.txt at $sums_url lists no sha256 for $archive"
fi
got=$(sha256 "$work/$archive")
[[ $got == "$checksum" ]] || fail "$archive has sha256 $got, want $checksum: not installing it"

bin="$RUNNER_TEMP/refbot-$version"
exe=refbot
[[ $os != windows ]] || exe=refbot.exe
tar -xzf "$work/$archive" -C "$work" "$exe" || fail "$archive holds no $exe"
[[ -f $work/$exe && ! -L $work/$exe ]] || fail "$exe in $archive is not a regular file"
mkdir -p "$bin"
mv "$work/$exe" "$bin/$exe"
chmod 0755 "$bin/$exe"
rm -rf "$work"
refbot="$bin/$exe"
"$refbot" version

# ${args[@]+"${args[@]}"}: bash 3.2 (macOS's) calls an empty array unset.
args=()
# --kind only for a site: releases before WEBSITE have no such flag.
[[ $kind == outputs ]] || args+=(--kind "$kind")
[[ -z ${INPUT_VARIANT:-} ]] || args+=(--variant "$INPUT_VARIANT")
if [[ $mode == artifact ]]; then
	name=${INPUT_ARTIFACT_NAME:-refbot-outputs}
	[[ -z ${INPUT_VARIANT:-} ]] || name="$name-$INPUT_VARIANT"
	[[ $name =~ ^[A-Za-z0-9._+-]+$ ]] || fail "artifact name '$name': use letters, digits, '.', '_', '+' or '-'"
	out=$(mktemp -d "$RUNNER_TEMP/refbot-artifact.XXXXXX")
	"$refbot" upload --artifact "$out" ${args[@]+"${args[@]}"} "$INPUT_PATH" ||
		fail "refbot upload --artifact failed: its message is above"
	{
		echo "mode=artifact"
		echo "artifact-path=$out"
		echo "artifact-name=$name"
	} >>"$GITHUB_OUTPUT"
else
	[[ -z $bucket ]] || args+=(--bucket "$bucket")
	[[ -z ${INPUT_PREFIX:-} ]] || args+=(--prefix "$INPUT_PREFIX")
	[[ -z ${INPUT_ENDPOINT:-} ]] || args+=(--endpoint "$INPUT_ENDPOINT")
	[[ -z ${INPUT_REGION:-} ]] || args+=(--region "$INPUT_REGION")
	[[ ${INPUT_PATH_STYLE:-false} != true ]] || args+=(--path-style)
	"$refbot" upload ${args[@]+"${args[@]}"} "$INPUT_PATH" ||
		fail "refbot upload failed: its message is above"
	{
		echo "mode=s3"
		echo "artifact-path="
		echo "artifact-name="
	} >>"$GITHUB_OUTPUT"
fi

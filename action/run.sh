#!/usr/bin/env bash
# run.sh is the work of refbot's GitHub Action (action.yml beside this folder):
# it installs the refbot release the workflow names, checks its sha256, and
# hands the build's outputs to refbot: `refbot upload` to S3, or, for a pull
# request from a fork (no secrets), `refbot upload --artifact` into a folder
# the action's next step uploads with actions/upload-artifact.
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
	elif [[ $mode == s3 && -z ${AWS_ACCESS_KEY_ID:-} && -z ${AWS_PROFILE:-} && -z ${AWS_WEB_IDENTITY_TOKEN_FILE:-} ]]; then
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

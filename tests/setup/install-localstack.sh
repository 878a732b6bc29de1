#!/usr/bin/env bash
# Install LocalStack (S3 only, host mode, no Docker) into a cached venv for the integration tests.
#
# The venv lives at ${XDG_CACHE_HOME:-$HOME/.cache}/blobtier/venv-localstack-<key>, where <key> is
# the first 12 hex digits of the sha256 of requirements-localstack.txt, so editing the pins gives a
# new venv and never a half-updated old one. A `.complete` marker is written only after pip
# succeeded; without it the directory is deleted and rebuilt. An flock serialises installs, so
# test processes started at the same time install once and the others wait.
#
# Idempotent. Progress goes to stderr; the last line on stdout is the venv path.
# Exits non-zero with a message naming the failed step. It never skips.
#
# Environment: BLOBTIER_PYTHON (default `python3`) is the interpreter for the venv
# (Python 3.11 is known to work; LocalStack 4.4.0 does not support 3.13+).
set -euo pipefail

die() {
    echo "install-localstack: error: $*" >&2
    exit 1
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
requirements="$here/requirements-localstack.txt"
[[ -r "$requirements" ]] || die "cannot read \`$requirements\`"

command -v sha256sum >/dev/null || die "\`sha256sum\` not found (coreutils)"
command -v flock >/dev/null || die "\`flock\` not found (util-linux)"
key="$(sha256sum "$requirements" | cut -c1-12)"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/blobtier"
venv="$cache/venv-localstack-$key"
marker="$venv/.complete"
python="${BLOBTIER_PYTHON:-python3}"

# A venv is usable when its marker exists and its interpreter still starts (the base
# interpreter it links to may have been removed or upgraded since).
usable() {
    [[ -f "$marker" ]] && "$venv/bin/python" -c '' 2>/dev/null
}

if usable; then
    echo "$venv"
    exit 0
fi

mkdir -p "$cache" || die "cannot create cache directory \`$cache\`"
exec 9>"$venv.lock" || die "cannot open lock file \`$venv.lock\`"
if ! flock -n 9; then
    echo "install-localstack: another process is installing; waiting for \`$venv.lock\`" >&2
    flock -w 1800 9 || die "timed out after 30 min waiting for \`$venv.lock\` (another install hung?)"
fi

# Another process may have finished the install while this one waited.
if usable; then
    echo "$venv"
    exit 0
fi

start=$SECONDS
echo "install-localstack: installing LocalStack into \`$venv\` (about 1-3 min, 630 MB)" >&2
rm -rf "$venv" || die "cannot remove incomplete venv \`$venv\`"

command -v "$python" >/dev/null || die "\`$python\` not found; install Python 3.11 or set BLOBTIER_PYTHON"
"$python" -m venv "$venv" >&2 ||
    die "\`$python -m venv $venv\` failed (on Debian/Ubuntu: apt-get install python3-venv)"

"$venv/bin/python" -m pip install \
    --disable-pip-version-check --no-input --progress-bar off \
    --requirement "$requirements" >&2 ||
    die "\`pip install -r $requirements\` failed (see the pip output above; PyPI must be reachable)"

# Check the imports that the test harness relies on, so a broken set of pins fails here with
# the Python traceback instead of as a server that never becomes healthy.
"$venv/bin/python" -c 'import localstack.runtime.main, localstack.services.s3.provider' >&2 ||
    die "LocalStack installed but importing it failed (see the traceback above)"

# Prebuild LocalStack's service catalog index. Otherwise every server builds it on its first
# request (3-5 s). The harness links it into each server's private FILESYSTEM_ROOT.
static="$venv/localstack-fs/usr/lib/localstack"
mkdir -p "$static" || die "cannot create \`$static\`"
env OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$venv/localstack-fs" \
    "$venv/bin/python" -m localstack.aws.spec >&2 ||
    die "building LocalStack's service catalog failed (see the traceback above)"

touch "$marker" || die "cannot write \`$marker\`"
echo "install-localstack: done in $((SECONDS - start)) s" >&2
echo "$venv"

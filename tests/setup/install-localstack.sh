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

name=install-localstack
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/setup/venv-lib.sh
source "$here/venv-lib.sh"

check() {
    # Check the imports that the test harness relies on, so a broken set of pins fails here with
    # the Python traceback instead of as a server that never becomes healthy.
    "$1/bin/python" -c 'import localstack.runtime.main, localstack.services.s3.provider' >&2 ||
        die "LocalStack installed but importing it failed (see the traceback above)"

    # Prebuild LocalStack's service catalog index. Otherwise every server builds it on its first
    # request (3-5 s). The harness links it into each server's private FILESYSTEM_ROOT.
    static="$1/localstack-fs/usr/lib/localstack"
    mkdir -p "$static" || die "cannot create \`$static\`"
    env OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$1/localstack-fs" \
        "$1/bin/python" -m localstack.aws.spec >&2 ||
        die "building LocalStack's service catalog failed (see the traceback above)"
}

venv_install localstack "$here/requirements-localstack.txt" 1800 "installing LocalStack (about 1-3 min, 630 MB)" check

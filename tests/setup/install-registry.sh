#!/usr/bin/env bash
# Install Debian's `docker-registry` (the CNCF distribution registry, 2.8 on Debian 12) and
# `skopeo` (a real registry client) for the image-graph tests (tests/it/registry.rs).
#
# Idempotent: does nothing when both binaries already run. Otherwise runs `apt-get update` and
# `apt-get install -y docker-registry skopeo` (root or sudo needed), serialised with an flock so
# test processes started at the same time install once. The package's systemd service is not
# started (no systemd in containers; the tests start their own registry on a loopback port).
#
# Progress goes to stderr; the last line on stdout is `<docker-registry path> <skopeo path>`.
# Exits non-zero with a message naming the failed step. It never skips.
set -euo pipefail

die() {
    echo "install-registry: error: $*" >&2
    exit 1
}

registry=/usr/bin/docker-registry
skopeo=/usr/bin/skopeo

usable() {
    [[ -x "$registry" && -x "$skopeo" ]] \
        && "$registry" --version >/dev/null 2>&1 \
        && "$skopeo" --version >/dev/null 2>&1
}

if usable; then
    echo "$registry $skopeo"
    exit 0
fi

command -v flock >/dev/null || die "\`flock\` not found (util-linux)"
lock="${TMPDIR:-/tmp}/blobtier-install-registry.lock"
exec 9>"$lock" || die "cannot open lock file \`$lock\`"
if ! flock -n 9; then
    echo "install-registry: another process is installing; waiting for \`$lock\`" >&2
    flock -w 1800 9 || die "timed out after 30 min waiting for \`$lock\`"
fi
if usable; then
    echo "$registry $skopeo"
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    die "\`$registry\` or \`$skopeo\` is missing and this user can neither install packages (not root) nor use sudo without a password: install Debian's \`docker-registry\` and \`skopeo\` packages"
fi
command -v apt-get >/dev/null || die "\`apt-get\` not found: install Debian's \`docker-registry\` and \`skopeo\` packages by hand"

start=$SECONDS
echo "install-registry: installing Debian's docker-registry and skopeo (about 1 min)" >&2
export DEBIAN_FRONTEND=noninteractive
# No service start from the package's maintainer scripts (there is no init system to ask).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null \
        && "${as_root[@]}" chmod +x "$policy" && created_policy=1
fi
cleanup() {
    if [[ "$created_policy" -eq 1 ]]; then
        "${as_root[@]}" rm -f "$policy"
    fi
}
trap cleanup EXIT
"${as_root[@]}" apt-get update -q >&2 || die "\`apt-get update\` failed"
"${as_root[@]}" apt-get install -y -q --no-install-recommends docker-registry skopeo >&2 \
    || die "\`apt-get install -y docker-registry skopeo\` failed"
usable || die "\`$registry --version\` or \`$skopeo --version\` does not run after the install"
echo "install-registry: done in $((SECONDS - start)) s" >&2
echo "$registry $skopeo"

#!/usr/bin/env bash
# Install the Debian packages one group of integration tests needs:
#
#   tests/setup/install-apt.sh KIND
#
#   registry  `docker-registry` (the CNCF distribution registry, 2.8 on Debian 12) and `skopeo`
#             (a real registry client) for the image-graph tests (tests/it/registry.rs and the
#             tests that build a registry's storage); about 1 min.
#             The last line on stdout is `<docker-registry path> <skopeo path>`.
#   chromium  `chromium` for the report's headless-browser test (tests/it/report.rs); about
#             1-2 min, ~300 MB. The last line on stdout is the chromium path.
#
# Idempotent: does nothing when KIND's binaries already run. Otherwise runs `apt-get update` and
# `apt-get install -y` (root or sudo needed), serialised with an flock so test processes started
# at the same time install once. No package's service is started (no init system in containers;
# the tests start their own registry on a loopback port).
#
# Progress goes to stderr. Exits non-zero with a message naming the failed step. It never skips.
set -euo pipefail

kind=${1:-}
name="install-apt${kind:+ $kind}"
# shellcheck source=tests/setup/install-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/install-lib.sh"

# KIND → the packages, apt-get's extra options, the binaries (printed on success, in order),
# what is said.
case "$kind" in
    registry)
        packages=(docker-registry skopeo) options=(--no-install-recommends)
        bins=(/usr/bin/docker-registry /usr/bin/skopeo)
        message="installing Debian's docker-registry and skopeo (about 1 min)"
        ;;
    chromium)
        packages=(chromium) options=()
        bins=(/usr/bin/chromium)
        message="installing Debian's chromium (about 1-2 min, ~300 MB)"
        ;;
    *) die "usage: install-apt.sh registry|chromium (got \`$kind\`)" ;;
esac

# Every binary is there and starts.
usable() {
    local bin
    for bin in "${bins[@]}"; do
        [[ -x "$bin" ]] || return 1
        case "$bin" in
            */chromium) "$bin" --headless --no-sandbox --version >/dev/null 2>&1 || return 1 ;;
            *) "$bin" --version >/dev/null 2>&1 || return 1 ;;
        esac
    done
}

exit_if_usable "${bins[*]}"
lock_install "${TMPDIR:-/tmp}/blobtier-install-$kind.lock" 1800 "${bins[*]}"

if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    die "\`${bins[*]}\` missing and this user can neither install packages (not root) nor use sudo without a password: install Debian's \`${packages[*]}\`"
fi
command -v apt-get >/dev/null || die "\`apt-get\` not found: install Debian's \`${packages[*]}\` by hand"

start=$SECONDS
echo "$name: $message" >&2
export DEBIAN_FRONTEND=noninteractive
# No service start from the packages' maintainer scripts (there is no init system to ask).
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
"${as_root[@]}" apt-get install -y -q "${options[@]}" "${packages[@]}" >&2 \
    || die "\`apt-get install -y ${packages[*]}\` failed"
usable || die "\`${bins[*]}\` installed but does not start (\`--version\`)"
echo "$name: done in $((SECONDS - start)) s" >&2
echo "${bins[*]}"

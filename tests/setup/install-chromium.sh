#!/usr/bin/env bash
# Install Debian's `chromium` for the report's headless-browser test (tests/it/report.rs).
#
# Idempotent: does nothing when /usr/bin/chromium already starts. Otherwise runs
# `apt-get update` and `apt-get install -y chromium` (root or sudo needed), serialised with an
# flock so test processes started at the same time install once.
#
# Progress goes to stderr; the last line on stdout is the chromium path. Exits non-zero with a
# message naming the failed step. It never skips.
set -euo pipefail

die() {
    echo "install-chromium: error: $*" >&2
    exit 1
}

bin=/usr/bin/chromium

usable() {
    [[ -x "$bin" ]] && "$bin" --headless --no-sandbox --version >/dev/null 2>&1
}

if usable; then
    echo "$bin"
    exit 0
fi

command -v flock >/dev/null || die "\`flock\` not found (util-linux)"
lock="${TMPDIR:-/tmp}/blobtier-install-chromium.lock"
exec 9>"$lock" || die "cannot open lock file \`$lock\`"
if ! flock -n 9; then
    echo "install-chromium: another process is installing; waiting for \`$lock\`" >&2
    flock -w 1800 9 || die "timed out after 30 min waiting for \`$lock\`"
fi
if usable; then
    echo "$bin"
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    die "\`$bin\` is missing and this user can neither install packages (not root) nor use sudo without a password: install Debian's \`chromium\` package"
fi
command -v apt-get >/dev/null || die "\`apt-get\` not found: install Debian's \`chromium\` package by hand"

start=$SECONDS
echo "install-chromium: installing Debian's chromium (about 1-2 min, ~300 MB)" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q >&2 || die "\`apt-get update\` failed"
"${as_root[@]}" apt-get install -y -q chromium >&2 \
    || die "\`apt-get install -y chromium\` failed"
usable || die "\`$bin\` was installed but does not start (\`$bin --headless --version\`)"
echo "install-chromium: done in $((SECONDS - start)) s" >&2
echo "$bin"

#!/usr/bin/env bash
# Install DuckDB's Python package (tests/setup/requirements-duckdb.txt) into a cached venv for
# the analyst-query test (tests/it/analyst.rs), which runs every docs/analyst/*.sql with DuckDB
# over a lake built from sample-data/.
#
# The venv lives at ${XDG_CACHE_HOME:-$HOME/.cache}/blobtier/venv-duckdb-<key>, where <key> is
# the first 12 hex digits of the sha256 of the requirements file, so editing the pins gives a
# new venv and never a half-updated old one. A `.complete` marker is written only after pip
# succeeded and DuckDB answered a query; without it the directory is deleted and rebuilt. An
# flock serialises installs, so test processes started at the same time install once and the
# others wait.
#
# Idempotent. Progress goes to stderr; the last line on stdout is the venv path.
# Exits non-zero with a message naming the failed step. It never skips.
#
# Environment: BLOBTIER_PYTHON (default `python3`) is the interpreter for the venv (3.11 is
# known to work).
set -euo pipefail

die() {
    echo "install-duckdb: error: $*" >&2
    exit 1
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
requirements="$here/requirements-duckdb.txt"
[[ -r "$requirements" ]] || die "cannot read \`$requirements\`"

command -v sha256sum >/dev/null || die "\`sha256sum\` not found (coreutils)"
command -v flock >/dev/null || die "\`flock\` not found (util-linux)"
key="$(sha256sum "$requirements" | cut -c1-12)"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/blobtier"
venv="$cache/venv-duckdb-$key"
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
    echo "install-duckdb: another process is installing; waiting for \`$venv.lock\`" >&2
    flock -w 900 9 || die "timed out after 15 min waiting for \`$venv.lock\` (another install hung?)"
fi

# Another process may have finished the install while this one waited.
if usable; then
    echo "$venv"
    exit 0
fi

start=$SECONDS
echo "install-duckdb: installing DuckDB into \`$venv\` (about 20 s; 60 MB)" >&2
rm -rf "$venv" || die "cannot remove incomplete venv \`$venv\`"

command -v "$python" >/dev/null || die "\`$python\` not found; install Python 3.11 or set BLOBTIER_PYTHON"
"$python" -m venv "$venv" >&2 ||
    die "\`$python -m venv $venv\` failed (on Debian/Ubuntu: apt-get install python3-venv)"

"$venv/bin/python" -m pip install \
    --disable-pip-version-check --no-input --progress-bar off \
    --requirement "$requirements" >&2 ||
    die "\`pip install -r $requirements\` failed (see the pip output above; PyPI must be reachable)"

# Run a query once, so a broken wheel fails here with DuckDB's own message.
"$venv/bin/python" -c '
import duckdb
assert duckdb.sql("SELECT CAST(DATE '"'"'2026-11-26'"'"' - INTERVAL '"'"'30'"'"' DAY AS DATE) AS d").fetchall()[0][0].isoformat() == "2026-10-27"
' >&2 || die "DuckDB installed but did not run a query (see the Python error above)"

touch "$marker" || die "cannot write \`$marker\`"
echo "install-duckdb: done in $((SECONDS - start)) s" >&2
echo "$venv"

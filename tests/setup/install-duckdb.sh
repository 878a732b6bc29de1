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

name=install-duckdb
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/setup/venv-lib.sh
source "$here/venv-lib.sh"

check() {
    # Run a query once, so a broken wheel fails here with DuckDB's own message.
    "$1/bin/python" -c '
import duckdb
assert duckdb.sql("SELECT CAST(DATE '"'"'2026-11-26'"'"' - INTERVAL '"'"'30'"'"' DAY AS DATE) AS d").fetchall()[0][0].isoformat() == "2026-10-27"
' >&2 || die "DuckDB installed but did not run a query (see the Python error above)"
}

venv_install duckdb "$here/requirements-duckdb.txt" 900 "installing DuckDB (about 20 s; 60 MB)" check

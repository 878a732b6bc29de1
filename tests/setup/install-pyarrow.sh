#!/usr/bin/env bash
# Install pyarrow (tests/setup/requirements-pyarrow.txt) into a cached venv for the ORC
# inventory test (tests/it/orc.rs), which writes a real ORC data file with pyarrow's ORC writer.
#
# The venv lives at ${XDG_CACHE_HOME:-$HOME/.cache}/blobtier/venv-pyarrow-<key> (see
# venv-lib.sh: keyed by the requirements file's hash, a `.complete` marker, an flock).
#
# Idempotent. Progress goes to stderr; the last line on stdout is the venv path.
# Exits non-zero with a message naming the failed step. It never skips.
#
# Environment: BLOBTIER_PYTHON (default `python3`) is the interpreter for the venv (3.11 is
# known to work).
set -euo pipefail

die() {
    echo "install-pyarrow: error: $*" >&2
    exit 1
}

name=install-pyarrow
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/setup/venv-lib.sh
source "$here/venv-lib.sh"

check() {
    # Write and read back one ORC file, so a broken wheel fails here with pyarrow's message.
    "$1/bin/python" -c '
import io, pyarrow as pa, pyarrow.orc as orc
buf = io.BytesIO()
orc.write_table(pa.table({"key": ["a"], "size": pa.array([1], pa.int64())}), buf)
assert orc.ORCFile(io.BytesIO(buf.getvalue())).read().num_rows == 1
' >&2 || die "pyarrow installed but did not write an ORC file (see the Python error above)"
}

venv_install pyarrow "$here/requirements-pyarrow.txt" 900 "installing pyarrow (about 30 s; 45 MB)" check

#!/usr/bin/env bash
# Install the pinned Python packages one group of integration tests needs into a cached venv:
#
#   tests/setup/install-venv.sh KIND
#
#   localstack  LocalStack (S3 only, host mode, no Docker) for every LocalStack test
#               (tests/setup/requirements-localstack.txt; about 1-3 min and 630 MB once)
#   pyspark     PySpark for the Spark parity tests (tests/it/spark.rs, spark/requirements.txt;
#               2-3 min once, a 456 MB sdist built locally; Java 17 or 21 must be on PATH or
#               in JAVA_HOME)
#   duckdb      DuckDB for the analyst-query and DuckDB tests (tests/it/analyst.rs, duckdb.rs;
#               tests/setup/requirements-duckdb.txt)
#   pyarrow     pyarrow's ORC writer for the ORC inventory test (tests/it/orc.rs;
#               tests/setup/requirements-pyarrow.txt)
#
# The venv lives at ${XDG_CACHE_HOME:-$HOME/.cache}/blobtier/venv-KIND-<key>, where <key> is the
# first 12 hex digits of the sha256 of KIND's requirements file, so editing the pins gives a new
# venv and never a half-updated old one. A `.complete` marker is written only after pip
# succeeded and KIND's check passed (the package imports and does its job once: a query, an ORC
# file, Spark starting); without the marker the directory is deleted and rebuilt. An flock
# serialises installs, so test processes started at the same time install once and the others
# wait.
#
# Idempotent. Progress goes to stderr; the last line on stdout is the venv path.
# Exits non-zero with a message naming the failed step. It never skips.
#
# Environment: BLOBTIER_PYTHON (default `python3`) is the interpreter for the venv (Python 3.11
# is known to work; LocalStack 4.4.0 does not support 3.13+).
set -euo pipefail

kind=${1:-}
name="install-venv${kind:+ $kind}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/setup/install-lib.sh
source "$here/install-lib.sh"

check_localstack() {
    # Check the imports that the test harness relies on, so a broken set of pins fails here with
    # the Python traceback instead of as a server that never becomes healthy.
    "$1/bin/python" -c 'import localstack.runtime.main, localstack.services.s3.provider' >&2 ||
        die "LocalStack installed but importing it failed (see the traceback above)"

    # Prebuild LocalStack's service catalog index. Otherwise every server builds it on its first
    # request (3-5 s). The harness links it into each server's private FILESYSTEM_ROOT.
    local static="$1/localstack-fs/usr/lib/localstack"
    mkdir -p "$static" || die "cannot create \`$static\`"
    env OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$1/localstack-fs" \
        "$1/bin/python" -m localstack.aws.spec >&2 ||
        die "building LocalStack's service catalog failed (see the traceback above)"
}

# Spark needs a JVM; said before spending minutes on pip.
need_java() {
    local java
    if [[ -n "${JAVA_HOME:-}" ]]; then
        java="$JAVA_HOME/bin/java"
    else
        java="$(command -v java || true)"
    fi
    [[ -n "$java" && -x "$java" ]] ||
        die "no \`java\` on PATH and no JAVA_HOME: Spark 4 needs Java 17 or 21 (apt-get install openjdk-17-jre-headless)"
    "$java" -version >/dev/null 2>&1 || die "\`$java -version\` failed"
}

check_pyspark() {
    [[ -x "$1/bin/spark-submit" ]] || die "pyspark installed but \`$1/bin/spark-submit\` is missing"

    # Start Spark once and run a query, so a JVM that cannot start (wrong Java version, no loopback
    # address) fails here with Spark's own message instead of in the middle of a test.
    echo "$name: checking that Spark starts (local[1], 10-30 s)" >&2
    smoke="$(mktemp -d)" || die "cannot create a temp directory"
    trap 'rm -rf "$smoke"' EXIT
    cat >"$smoke/smoke.py" <<'PY'
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("install-pyspark").getOrCreate()
assert spark.sql("SELECT datediff(DATE '2026-01-08', DATE '2026-01-01') AS d").first().d == 7
spark.stop()
PY
    env SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$1/bin/python" PYSPARK_DRIVER_PYTHON="$1/bin/python" \
        SPARK_LOCAL_DIRS="$smoke" \
        "$1/bin/spark-submit" --master 'local[1]' --conf spark.ui.enabled=false --conf spark.log.level=WARN \
        --conf spark.driver.bindAddress=127.0.0.1 --conf spark.driver.host=127.0.0.1 \
        "$smoke/smoke.py" >&2 ||
        die "PySpark installed but Spark did not run a query (see Spark's output above; it needs Java 17 or 21)"
}

check_duckdb() {
    # Run a query once, so a broken wheel fails here with DuckDB's own message.
    "$1/bin/python" -c '
import duckdb
assert duckdb.sql("SELECT CAST(DATE '"'"'2026-11-26'"'"' - INTERVAL '"'"'30'"'"' DAY AS DATE) AS d").fetchall()[0][0].isoformat() == "2026-10-27"
' >&2 || die "DuckDB installed but did not run a query (see the Python error above)"
}

check_pyarrow() {
    # Write and read back one ORC file, so a broken wheel fails here with pyarrow's message.
    "$1/bin/python" -c '
import io, pyarrow as pa, pyarrow.orc as orc
buf = io.BytesIO()
orc.write_table(pa.table({"key": ["a"], "size": pa.array([1], pa.int64())}), buf)
assert orc.ORCFile(io.BytesIO(buf.getvalue())).read().num_rows == 1
' >&2 || die "pyarrow installed but did not write an ORC file (see the Python error above)"
}

# KIND → requirements file, how long to wait for another process's install (s), what is said.
case "$kind" in
    localstack)
        requirements="$here/requirements-localstack.txt" wait=1800
        message="installing LocalStack (about 1-3 min, 630 MB)"
        ;;
    pyspark)
        need_java
        requirements="$(cd "$here/../.." && pwd)/spark/requirements.txt" wait=1800
        message="installing PySpark (2-3 min: a 456 MB sdist built locally; 520 MB)"
        ;;
    duckdb)
        requirements="$here/requirements-duckdb.txt" wait=900
        message="installing DuckDB (about 20 s; 60 MB)"
        ;;
    pyarrow)
        requirements="$here/requirements-pyarrow.txt" wait=900
        message="installing pyarrow (about 30 s; 45 MB)"
        ;;
    *) die "usage: install-venv.sh localstack|pyspark|duckdb|pyarrow (got \`$kind\`)" ;;
esac

[[ -r "$requirements" ]] || die "cannot read \`$requirements\`"
command -v sha256sum >/dev/null || die "\`sha256sum\` not found (coreutils)"
key="$(sha256sum "$requirements" | cut -c1-12)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/blobtier"
venv="$cache/venv-$kind-$key"
marker="$venv/.complete"
python="${BLOBTIER_PYTHON:-python3}"

# A venv is usable when its marker exists and its interpreter still starts (the base
# interpreter it links to may have been removed or upgraded since).
usable() {
    [[ -f "$marker" ]] && "$venv/bin/python" -c '' 2>/dev/null
}

exit_if_usable "$venv"
mkdir -p "$cache" || die "cannot create cache directory \`$cache\`"
lock_install "$venv.lock" "$wait" "$venv"

start=$SECONDS
echo "$name: $message; venv \`$venv\`" >&2
rm -rf "$venv" || die "cannot remove incomplete venv \`$venv\`"
command -v "$python" >/dev/null || die "\`$python\` not found; install Python 3.11 or set BLOBTIER_PYTHON"
"$python" -m venv "$venv" >&2 ||
    die "\`$python -m venv $venv\` failed (on Debian/Ubuntu: apt-get install python3-venv)"
"$venv/bin/python" -m pip install \
    --disable-pip-version-check --no-input --progress-bar off \
    --requirement "$requirements" >&2 ||
    die "\`pip install -r $requirements\` failed (see the pip output above; PyPI must be reachable)"
"check_$kind" "$venv"
touch "$marker" || die "cannot write \`$marker\`"
echo "$name: done in $((SECONDS - start)) s" >&2
echo "$venv"

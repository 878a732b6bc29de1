#!/usr/bin/env bash
# Install PySpark (spark/requirements.txt) into a cached venv for the Spark parity test
# (tests/it/spark.rs), which runs spark/run_stats.py with `spark-submit --master local[2]`.
#
# The venv lives at ${XDG_CACHE_HOME:-$HOME/.cache}/blobtier/venv-pyspark-<key>, where <key> is
# the first 12 hex digits of the sha256 of spark/requirements.txt, so editing the pins gives a
# new venv and never a half-updated old one. A `.complete` marker is written only after pip
# succeeded and Spark answered a query; without it the directory is deleted and rebuilt. An
# flock serialises installs, so test processes started at the same time install once and the
# others wait.
#
# Idempotent. Progress goes to stderr; the last line on stdout is the venv path.
# Exits non-zero with a message naming the failed step. It never skips.
#
# Environment: BLOBTIER_PYTHON (default `python3`) is the interpreter for the venv (3.11 is
# known to work). Java 17 or 21 must be on PATH or in JAVA_HOME.
set -euo pipefail

die() {
    echo "install-pyspark: error: $*" >&2
    exit 1
}

name=install-pyspark
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/setup/venv-lib.sh
source "$here/venv-lib.sh"

# Spark needs a JVM; say so before spending minutes on pip.
if [[ -n "${JAVA_HOME:-}" ]]; then
    java="$JAVA_HOME/bin/java"
else
    java="$(command -v java || true)"
fi
[[ -n "$java" && -x "$java" ]] ||
    die "no \`java\` on PATH and no JAVA_HOME: Spark 4 needs Java 17 or 21 (apt-get install openjdk-17-jre-headless)"
"$java" -version >/dev/null 2>&1 || die "\`$java -version\` failed"

check() {
    [[ -x "$1/bin/spark-submit" ]] || die "pyspark installed but \`$1/bin/spark-submit\` is missing"

    # Start Spark once and run a query, so a JVM that cannot start (wrong Java version, no loopback
    # address) fails here with Spark's own message instead of in the middle of a test.
    echo "install-pyspark: checking that Spark starts (local[1], 10-30 s)" >&2
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

venv_install pyspark "$(cd "$here/../.." && pwd)/spark/requirements.txt" 1800 "installing PySpark (2-3 min: a 456 MB sdist built locally; 520 MB)" check

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

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
requirements="$(cd "$here/../.." && pwd)/spark/requirements.txt"
[[ -r "$requirements" ]] || die "cannot read \`$requirements\`"

command -v sha256sum >/dev/null || die "\`sha256sum\` not found (coreutils)"
command -v flock >/dev/null || die "\`flock\` not found (util-linux)"
key="$(sha256sum "$requirements" | cut -c1-12)"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/blobtier"
venv="$cache/venv-pyspark-$key"
marker="$venv/.complete"
python="${BLOBTIER_PYTHON:-python3}"

# Spark needs a JVM; say so before spending minutes on pip.
if [[ -n "${JAVA_HOME:-}" ]]; then
    java="$JAVA_HOME/bin/java"
else
    java="$(command -v java || true)"
fi
[[ -n "$java" && -x "$java" ]] ||
    die "no \`java\` on PATH and no JAVA_HOME: Spark 4 needs Java 17 or 21 (apt-get install openjdk-17-jre-headless)"
"$java" -version >/dev/null 2>&1 || die "\`$java -version\` failed"

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
    echo "install-pyspark: another process is installing; waiting for \`$venv.lock\`" >&2
    flock -w 1800 9 || die "timed out after 30 min waiting for \`$venv.lock\` (another install hung?)"
fi

# Another process may have finished the install while this one waited.
if usable; then
    echo "$venv"
    exit 0
fi

start=$SECONDS
echo "install-pyspark: installing PySpark into \`$venv\` (2-3 min: a 456 MB sdist built locally; 520 MB)" >&2
rm -rf "$venv" || die "cannot remove incomplete venv \`$venv\`"

command -v "$python" >/dev/null || die "\`$python\` not found; install Python 3.11 or set BLOBTIER_PYTHON"
"$python" -m venv "$venv" >&2 ||
    die "\`$python -m venv $venv\` failed (on Debian/Ubuntu: apt-get install python3-venv)"

"$venv/bin/python" -m pip install \
    --disable-pip-version-check --no-input --progress-bar off \
    --requirement "$requirements" >&2 ||
    die "\`pip install -r $requirements\` failed (see the pip output above; PyPI must be reachable)"

[[ -x "$venv/bin/spark-submit" ]] || die "pyspark installed but \`$venv/bin/spark-submit\` is missing"

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
env SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$venv/bin/python" PYSPARK_DRIVER_PYTHON="$venv/bin/python" \
    SPARK_LOCAL_DIRS="$smoke" \
    "$venv/bin/spark-submit" --master 'local[1]' --conf spark.ui.enabled=false --conf spark.log.level=WARN \
    --conf spark.driver.bindAddress=127.0.0.1 --conf spark.driver.host=127.0.0.1 \
    "$smoke/smoke.py" >&2 ||
    die "PySpark installed but Spark did not run a query (see Spark's output above; it needs Java 17 or 21)"

touch "$marker" || die "cannot write \`$marker\`"
echo "install-pyspark: done in $((SECONDS - start)) s" >&2
echo "$venv"

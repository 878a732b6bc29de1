# Shared helpers for the benchmark scripts (sourced).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${BENCH_OUT:-$ROOT/bench/out}"
mkdir -p "$OUT"

bench_venv() {
  local hash venv
  hash=$(sha256sum "$ROOT/bench/requirements.txt" | cut -c1-12)
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/blobtier/venv-bench-$hash"
  if [ ! -f "$venv/.complete" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q -r "$ROOT/bench/requirements.txt" >&2
    touch "$venv/.complete"
  fi
  echo "$venv"
}

# Where cargo puts its builds (CARGO_TARGET_DIR is honoured).
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

build_release() {
  # BLOBTIER=/path/to/blobtier benchmarks a binary built earlier.
  if [ -z "${BLOBTIER:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked --bin blobtier >&2)
    BLOBTIER="$TARGET/release/blobtier"
  fi
  export BLOBTIER  # bench/duckdb_stats.py expands the query with `$BLOBTIER sql`
}

build_generator() {
  (cd "$ROOT" && cargo build --release --locked --example gen-sample >&2)
  GEN="$TARGET/release/examples/gen-sample"
}

# measure NAME CMD... : runs CMD under /usr/bin/time -v; prints "seconds peak_rss_kib" and keeps the logs.
measure() {
  local name=$1; shift
  /usr/bin/time -v -o "$OUT/$name.time" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err" || { cat "$OUT/$name.err" >&2; return 1; }
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$OUT/$name.time" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$OUT/$name.time" | awk '{print $NF}')
  # h:mm:ss or m:ss.cc -> seconds
  python3 -c "import sys; p=sys.argv[1].split(':'); print(sum(float(x)*60**i for i,x in enumerate(reversed(p))), sys.argv[2])" "$wall" "$rss"
}

# measure_cpu NAME CMD... : like measure, and the CPU share (e.g. 185 for 185 %) as a third field.
measure_cpu() {
  local name=$1
  read -r secs rss < <(measure "$@")
  echo "$secs $rss $(grep "Percent of CPU" "$OUT/$name.time" | awk '{print $NF}' | tr -d %)"
}

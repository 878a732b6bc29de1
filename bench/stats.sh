#!/usr/bin/env bash
# stats: blobtier vs DuckDB running the same SQL on the same Parquet, in one run.
# Usage: bench/stats.sh [ROWS ...]   (default: 5000000 50000000; ≥ 1 M digests, ≥ 100 k clients)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_release
VENV=$(bench_venv)
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(5000000 50000000)
{
  echo "| pull rows | digests | clients | blobtier s | blobtier peak RSS MiB | DuckDB s | DuckDB peak RSS MiB | blobtier / DuckDB time | rows equal |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for n in "${SIZES[@]}"; do
    lake="$OUT/stats-lake-$n"
    digests=1000000; clients=100000
    [ -d "$lake/pulls" ] || "$VENV/bin/python" "$ROOT/bench/gen_pulls.py" "$lake" "$n" "$digests" "$clients" >&2
    rm -rf "$lake/digest_stats" "$lake/_tmp" "$lake/_lock"
    read -r bt_s bt_rss < <(measure "blobtier-stats-$n" "$BLOBTIER" stats --lake "$lake" --as-of 2026-11-26)
    read -r dd_s dd_rss < <(measure "duckdb-stats-$n" "$VENV/bin/python" "$ROOT/bench/duckdb_stats.py" "$lake" 2026-11-26 "$OUT/duckdb-stats-$n.parquet")
    same=$("$VENV/bin/python" "$ROOT/bench/compare_stats.py" "$lake/digest_stats/as_of=2026-11-26/part-0.parquet" "$OUT/duckdb-stats-$n.parquet")
    python3 - "$n" "$digests" "$clients" "$bt_s" "$bt_rss" "$dd_s" "$dd_rss" "$same" <<'PY'
import sys
n, d, c = map(int, sys.argv[1:4]); bt, btr, dd, ddr = map(float, sys.argv[4:8]); same = sys.argv[8]
print(f"| {n:,} | {d:,} | {c:,} | {bt:.1f} | {btr/1024:,.0f} | {dd:.1f} | {ddr/1024:,.0f} | {bt/dd:.2f}× | {same} |")
PY
  done
} | tee "$OUT/stats.md"

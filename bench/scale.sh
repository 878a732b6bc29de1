#!/usr/bin/env bash
# scale: `stats` + `plan` at growing sizes, with DuckDB running the same stats SQL on the same
# Parquet in the same run (issue: one machine as far as it goes).
# Usage: bench/scale.sh [ROWS ...]   (default: 10000000 100000000 500000000)
# Env: DIGESTS (default 10 M: also the number of blobs planned), CLIENTS (default 1 M),
#      SKIP_DUCKDB=1 to time blobtier only, KEEP=1 to keep the generated lakes.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_release
VENV=$(bench_venv)
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000000 100000000 500000000)
digests=${DIGESTS:-10000000}
clients=${CLIENTS:-1000000}
as_of=2026-11-26
{
  echo "| pull rows | digests | clients | Parquet GiB | blobtier stats s | rows/s | peak RSS MiB | DuckDB s | DuckDB peak RSS MiB | blobtier / DuckDB | rows equal | plan s | plan peak RSS MiB | actions |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for n in "${SIZES[@]}"; do
    lake="$OUT/scale-lake-$n"
    [ -f "$lake/.complete" ] || { "$VENV/bin/python" "$ROOT/bench/gen_pulls.py" "$lake" "$n" "$digests" "$clients" >&2 && touch "$lake/.complete"; }
    rm -rf "$lake/digest_stats" "$lake/decisions" "$lake/plan" "$lake/hot_set" "$lake/_tmp" "$lake/_lock"
    gib=$(du -sb "$lake/pulls" | awk '{printf "%.1f", $1 / 2^30}')
    read -r bt_s bt_rss < <(measure "scale-stats-$n" "$BLOBTIER" stats --lake "$lake" --as-of $as_of)
    if [ -z "${SKIP_DUCKDB:-}" ]; then
      # DuckDB may fail (out of memory or of temp disk for its spill): record why, go on.
      if dd=$(measure "scale-duckdb-$n" "$VENV/bin/python" "$ROOT/bench/duckdb_stats.py" "$lake" $as_of "$OUT/scale-duckdb-$n.parquet" 2>/dev/null); then
        read -r dd_s dd_rss <<< "$dd"
        same=$("$VENV/bin/python" "$ROOT/bench/compare_stats.py" "$lake/digest_stats/as_of=$as_of/part-0.parquet" "$OUT/scale-duckdb-$n.parquet")
      else
        dd_s=0; dd_rss=0
        same="DuckDB failed after $(grep 'Elapsed' "$OUT/scale-duckdb-$n.time" | awk '{print $NF}') at $(grep 'Maximum resident' "$OUT/scale-duckdb-$n.time" | awk '{printf "%.0f", $NF / 1024}') MiB: $(grep -o '[A-Za-z]*Error: .*' "$OUT/scale-duckdb-$n.err" | tail -1 | sed 's/file "[^"]*"/a temp file/' | cut -c1-120)"
      fi
      rm -rf "$OUT/scale-duckdb-$n.parquet.tmp"
      rm -f "$OUT/scale-duckdb-$n.parquet"
    else
      dd_s=0; dd_rss=0; same="not run"
    fi
    read -r pl_s pl_rss < <(measure "scale-plan-$n" "$BLOBTIER" plan --lake "$lake" --as-of $as_of)
    actions=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['totals']['actions'])" "$OUT/scale-plan-$n.out")
    python3 - "$n" "$digests" "$clients" "$gib" "$bt_s" "$bt_rss" "$dd_s" "$dd_rss" "$same" "$pl_s" "$pl_rss" "$actions" <<'PY'
import sys
n, d, c = map(int, sys.argv[1:4]); gib = sys.argv[4]
bt, btr, dd, ddr = map(float, sys.argv[5:9]); same = sys.argv[9]
pl, plr, acts = float(sys.argv[10]), float(sys.argv[11]), int(sys.argv[12])
ratio = f"{bt / dd:.2f}×" if dd > 0 else "—"
ddc = f"{dd:.1f}" if dd > 0 else "—"
ddr_c = f"{ddr / 1024:,.0f}" if dd > 0 else "—"
print(f"| {n:,} | {d:,} | {c:,} | {gib} | {bt:.1f} | {n / bt:,.0f} | {btr / 1024:,.0f} | {ddc} | {ddr_c} | {ratio} | {same} | {pl:.1f} | {plr / 1024:,.0f} | {acts:,} |")
PY
    [ -n "${KEEP:-}" ] || rm -rf "$lake"
  done
} | tee "$OUT/scale.md"

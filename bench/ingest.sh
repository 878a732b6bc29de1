#!/usr/bin/env bash
# Ingest throughput: blobtier against two DuckDB baselines on the same generated files, in one run.
#   - the DIY query a user writes (bench/duckdb_diy.py): DuckDB's read_csv / read_json readers,
#     blobtier's pull rules, per-digest 7/30/90-day pulls and distinct clients in one SQL. It
#     does ingest and stats at once, so it is timed against `blobtier ingest` + `blobtier stats`
#     run back to back, and its counts are compared with blobtier's (`exact` or how many differ);
#   - a regular expression per line writing the pulls as Parquet (bench/duckdb_ingest.py),
#     timed against `blobtier ingest` alone.
# The inventory (needed by `stats`, not by the DIY query) is ingested before the clock starts.
# Each command runs RUNS times (default 3; the regex baseline REGEX_RUNS times, default RUNS, 0 = not at all):
# the table shows the median wall time, and the CPU share and peak RSS of that median run.
# Usage: bench/ingest.sh [LINES_PER_FORMAT] [FORMAT ...]   (default 5000000, all four formats)
# Prints a Markdown table per format and writes them to bench/out/ingest.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${1:-5000000}
shift || true
FORMATS=("$@")
[ ${#FORMATS[@]} -gt 0 ] || FORMATS=(s3-access registry-json registry-combined notifications)
RUNS=${RUNS:-3}
REGEX_RUNS=${REGEX_RUNS:-$RUNS}
build_release
VENV=$(bench_venv)
DATA="$OUT/data-$N"
if [ ! -f "$DATA/expected.json" ]; then
  build_generator
  rm -rf "$DATA"
  "$GEN" --lines-per-format "$N" --out "$DATA" >&2
fi
AS_OF=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['end_date'])" "$DATA/expected.json")
MANIFEST=$(find -L "$DATA/inventory" -path "*daily-csv/${AS_OF}T*" -name manifest.json | head -1)
export BLOBTIER_CLIENT_KEY=benchmark-secret-0123456789

# median NAME RUNS CMD... : runs CMD RUNS times (measure_cpu, logs NAME-1 …); prints
# "seconds peak_rss_kib cpu_percent" of the run with the median wall time.
median() {
  local name=$1 runs=$2; shift 2
  for i in $(seq 1 "$runs"); do
    measure_cpu "$name-$i" "$@"
  done | sort -n | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}

# ingest_and_stats FMT DIR LAKE : one fresh lake (inventory first, off the clock), then ingest
# and stats measured; prints "ingest_s ingest_rss ingest_cpu stats_s stats_rss stats_cpu".
ingest_and_stats() {
  local fmt=$1 dir=$2 lake=$3 run=$4
  rm -rf "$lake"
  "$BLOBTIER" ingest --lake "$lake" --inventory "$MANIFEST" > "$OUT/blobtier-inventory.out" 2>&1 || { cat "$OUT/blobtier-inventory.out" >&2; return 1; }
  read -r in_s in_rss in_cpu < <(measure_cpu "blobtier-ingest-$fmt-$run" "$BLOBTIER" ingest --lake "$lake" --logs "$fmt:$dir" --max-bad-ratio 1)
  read -r st_s st_rss st_cpu < <(measure_cpu "blobtier-stats-$fmt-$run" "$BLOBTIER" stats --lake "$lake" --as-of "$AS_OF")
  echo "$in_s $in_rss $in_cpu $st_s $st_rss $st_cpu"
}

{
  echo "load before the runs: $(uptime | sed 's/.*load average/load average/')"
  echo
  for fmt in "${FORMATS[@]}"; do
    dir="$DATA/logs/$fmt"
    # Decompressed size and line count of the inputs.
    read -r lines bytes < <(find -L "$dir" -type f -print0 | xargs -0 -n1 sh -c 'case "$(head -c4 "$0" | od -An -tx1 | tr -d " ")" in 1f8b*) zcat "$0";; 28b52ffd) zstd -dc "$0";; *) cat "$0";; esac' | wc -lc)
    files=$(find -L "$dir" -type f | wc -l)
    lake="$OUT/lake-$fmt"
    # blobtier: ingest + stats on a fresh lake per run; the median by ingest + stats.
    read -r in_s in_rss in_cpu st_s st_rss st_cpu < <(
      for i in $(seq 1 "$RUNS"); do ingest_and_stats "$fmt" "$dir" "$lake" "$i"; done |
        awk '{ print $1 + $4, $0 }' | sort -n | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }' | cut -d' ' -f2-)
    read -r diy_s diy_rss diy_cpu < <(median "duckdb-diy-$fmt" "$RUNS" "$VENV/bin/python" "$ROOT/bench/duckdb_diy.py" "$fmt" "$dir" "$AS_OF" "$OUT/diy-$fmt.parquet")
    # REGEX_RUNS=0 leaves the regex baseline out (it takes minutes on S3 logs): its row says so.
    rx_s=0 rx_rss=0 rx_cpu=0
    if [ "$REGEX_RUNS" -gt 0 ]; then
      read -r rx_s rx_rss rx_cpu < <(median "duckdb-regex-$fmt" "$REGEX_RUNS" "$VENV/bin/python" "$ROOT/bench/duckdb_ingest.py" "$fmt" "$dir")
    fi
    same=$("$VENV/bin/python" "$ROOT/bench/compare_diy.py" "$lake/digest_stats/as_of=$AS_OF/part-0.parquet" "$OUT/diy-$fmt.parquet")
    python3 - "$fmt" "$lines" "$bytes" "$files" "$RUNS" "$REGEX_RUNS" "$same" \
      "$in_s" "$in_rss" "$in_cpu" "$st_s" "$st_rss" "$st_cpu" \
      "$diy_s" "$diy_rss" "$diy_cpu" "$rx_s" "$rx_rss" "$rx_cpu" <<'PY'
import sys
fmt, lines, b, files, runs, rx_runs, same = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
ins, inr, inc, sts, str_, stc, diy, diyr, diyc, rx, rxr, rxc = map(float, sys.argv[8:20])
both = ins + sts
mib = lambda kib: f"{kib / 1024:,.0f}"
print(f"**{fmt}**: {lines:,} lines, {b / 1e6:,.0f} MB uncompressed, {files} files; "
      f"median of {runs} runs (regex: {rx_runs}); DIY counts vs blobtier: {same}")
print()
print("| command | wall s | CPU | peak RSS MiB |")
print("|---|---|---|---|")
print(f"| blobtier ingest | {ins:.2f} | {inc:.0f} % | {mib(inr)} |")
print(f"| blobtier stats | {sts:.2f} | {stc:.0f} % | {mib(str_)} |")
print(f"| **blobtier ingest + stats** | **{both:.2f}** | | {mib(max(inr, str_))} |")
print(f"| DuckDB DIY (`read_csv` / `read_json`, ingest + stats in one SQL) | {diy:.2f} | {diyc:.0f} % | {mib(diyr)} |")
if rx > 0:
    print(f"| DuckDB regex (ingest only) | {rx:.2f} | {rxc:.0f} % | {mib(rxr)} |")
else:
    print("| DuckDB regex (ingest only) | not run (`REGEX_RUNS=0`) | | |")
print()
regex = f"**{ins / rx:.2f}×**" if rx > 0 else "not run"
print(f"blobtier ingest + stats / DIY: **{both / diy:.2f}×**; blobtier ingest / regex: {regex}")
print()
PY
  done
} | tee "$OUT/ingest.md"

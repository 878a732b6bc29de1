#!/usr/bin/env bash
# Ingest throughput: blobtier against two DuckDB baselines on the same generated files, in one run.
#   - the DIY query a user writes (bench/duckdb_diy.py): DuckDB's read_csv / read_json readers,
#     blobtier's pull rules, per-digest 7/30/90-day pulls and distinct clients in one SQL. It
#     does ingest and stats at once, so it is timed against `blobtier ingest` + `blobtier stats`
#     run back to back, and its counts are compared with blobtier's (`exact` or how many differ);
#   - a regular expression per line writing the pulls as Parquet (bench/duckdb_ingest.py),
#     timed against `blobtier ingest` alone.
# The inventory (needed by `stats`, not by the DIY query) is ingested before the clock starts.
# Usage: bench/ingest.sh [LINES_PER_FORMAT] [FORMAT ...]   (default 5000000, all four formats)
# Prints a Markdown table and writes it to bench/out/ingest.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${1:-5000000}
shift || true
FORMATS=("$@")
[ ${#FORMATS[@]} -gt 0 ] || FORMATS=(s3-access registry-json registry-combined notifications)
build_release
build_generator
VENV=$(bench_venv)
DATA="$OUT/data-$N"
if [ ! -f "$DATA/expected.json" ]; then
  rm -rf "$DATA"
  "$GEN" --lines-per-format "$N" --out "$DATA" >&2
fi
AS_OF=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['end_date'])" "$DATA/expected.json")
MANIFEST=$(find "$DATA/inventory" -path "*daily-csv/${AS_OF}T*" -name manifest.json | head -1)
export BLOBTIER_CLIENT_KEY=benchmark-secret-0123456789
{
  echo "| format | lines | MB | blobtier ingest s | CPU | peak RSS MiB | + stats s | DIY DuckDB s | DIY peak RSS MiB | blobtier / DIY | DIY counts | regex DuckDB s | blobtier ingest / regex |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for fmt in "${FORMATS[@]}"; do
    dir="$DATA/logs/$fmt"
    # Decompressed size and line count of the inputs.
    read -r lines bytes < <(find "$dir" -type f -print0 | xargs -0 -n1 sh -c 'case "$(head -c4 "$0" | od -An -tx1 | tr -d " ")" in 1f8b*) zcat "$0";; 28b52ffd) zstd -dc "$0";; *) cat "$0";; esac' | wc -lc)
    lake="$OUT/lake-$fmt"
    rm -rf "$lake"
    "$BLOBTIER" ingest --lake "$lake" --inventory "$MANIFEST" > /dev/null 2>&1
    read -r in_s in_rss in_cpu < <(measure_cpu "blobtier-ingest-$fmt" "$BLOBTIER" ingest --lake "$lake" --logs "$fmt:$dir" --max-bad-ratio 1)
    read -r st_s st_rss < <(measure "blobtier-stats-$fmt" "$BLOBTIER" stats --lake "$lake" --as-of "$AS_OF")
    read -r diy_s diy_rss < <(measure "duckdb-diy-$fmt" "$VENV/bin/python" "$ROOT/bench/duckdb_diy.py" "$fmt" "$dir" "$AS_OF" "$OUT/diy-$fmt.parquet")
    read -r rx_s rx_rss < <(measure "duckdb-regex-$fmt" "$VENV/bin/python" "$ROOT/bench/duckdb_ingest.py" "$fmt" "$dir")
    same=$("$VENV/bin/python" "$ROOT/bench/compare_diy.py" "$lake/digest_stats/as_of=$AS_OF/part-0.parquet" "$OUT/diy-$fmt.parquet")
    python3 - "$fmt" "$lines" "$bytes" "$in_s" "$in_rss" "$in_cpu" "$st_s" "$st_rss" "$diy_s" "$diy_rss" "$rx_s" "$same" <<'PY'
import sys
fmt, lines, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ins, inr, cpu, sts, str_, diy, diyr, rx = map(float, sys.argv[4:12])
same = sys.argv[12]
both = ins + sts
print(f"| {fmt} | {lines:,} | {b/1e6:,.0f} | {ins:.1f} | {cpu:.0f} % | {max(inr, str_)/1024:,.0f} | {both:.1f} "
      f"| {diy:.1f} | {diyr/1024:,.0f} | {both/diy:.2f}× | {same} | {rx:.1f} | {ins/rx:.2f}× |")
PY
  done
} | tee "$OUT/ingest.md"

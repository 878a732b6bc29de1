#!/usr/bin/env bash
# Ingest throughput: blobtier vs DuckDB on the same generated files, in one run.
# Usage: bench/ingest.sh [LINES_PER_FORMAT]   (default 5000000)
# Prints a Markdown table (lines/s, MB/s, peak RSS, ratio) and writes it to bench/out/ingest.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${1:-5000000}
build_release
build_generator
VENV=$(bench_venv)
DATA="$OUT/data-$N"
if [ ! -f "$DATA/expected.json" ]; then
  rm -rf "$DATA"
  "$GEN" --lines-per-format "$N" --out "$DATA" >&2
fi
export BLOBTIER_CLIENT_KEY=benchmark-secret-0123456789
{
  echo "| format | lines | MB (uncompressed) | blobtier s | blobtier lines/s | blobtier MB/s | blobtier peak RSS MiB | DuckDB s | DuckDB peak RSS MiB | DuckDB / blobtier time |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for fmt in s3-access registry-json registry-combined notifications; do
    dir="$DATA/logs/$fmt"
    # Decompressed size and line count of the inputs.
    read -r lines bytes < <(find "$dir" -type f -print0 | xargs -0 -n1 sh -c 'case "$(head -c4 "$0" | od -An -tx1 | tr -d " ")" in 1f8b*) zcat "$0";; 28b52ffd) zstd -dc "$0";; *) cat "$0";; esac' | wc -lc)
    rm -rf "$OUT/lake-$fmt"
    read -r bt_s bt_rss < <(measure "blobtier-$fmt" "$BLOBTIER" ingest --lake "$OUT/lake-$fmt" --logs "$fmt:$dir" --max-bad-ratio 1)
    read -r dd_s dd_rss < <(measure "duckdb-$fmt" "$VENV/bin/python" "$ROOT/bench/duckdb_ingest.py" "$fmt" "$dir")
    python3 - "$fmt" "$lines" "$bytes" "$bt_s" "$bt_rss" "$dd_s" "$dd_rss" <<'PY'
import sys
fmt, lines, b, bt, btr, dd, ddr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *map(float, sys.argv[4:])
mb = b / 1e6
print(f"| {fmt} | {lines:,} | {mb:,.0f} | {bt:.1f} | {lines/bt:,.0f} | {mb/bt:,.0f} | {btr/1024:,.0f} | {dd:.1f} | {ddr/1024:,.0f} | {dd/bt:.2f}× |")
PY
  done
} | tee "$OUT/ingest.md"

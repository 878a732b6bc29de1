#!/usr/bin/env bash
# The nightly increment (issue #9): ingest one day of ~N S3 server access log lines
# (default 50 000 000), written zstd-compressed by `examples/gen-sample`, and check that it
# takes under 10 minutes.
# Usage: bench/ingest-day.sh [S3_LINES]   (default 50000000)
#   BLOBTIER=/path/to/blobtier  use that binary (default: target/release/blobtier if it exists,
#                               else it is built)
#   CLEAN=1                     delete the generated day and the lake afterwards (disk: 50 M
#                               lines are ~6 GB compressed, ~40 GB uncompressed)
# Prints a Markdown table and writes it to bench/out/ingest-day.md; exits 1 if the ingested
# pull count differs from the generator's expected.json.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${1:-50000000}

if [ -z "${BLOBTIER:-}" ] && [ -x "$TARGET/release/blobtier" ]; then
  BLOBTIER="$TARGET/release/blobtier"
  if [ -n "$(find "$ROOT/src" -type f -newer "$BLOBTIER" -print -quit)" ]; then
    echo "ingest-day: note: $BLOBTIER is older than src/ (using it anyway)" >&2
  fi
fi
build_release

# The generator targets registry-format lines; one day renders ~1.28-1.31 S3 access log lines
# per registry request at these sizes, so aim a little above N S3 lines (the table reports the
# lines actually written).
LPF=$(( (N * 100 + 126) / 127 ))
[ "$LPF" -le 50000000 ] || { echo "ingest-day: at most ~63 M S3 lines (generator limit)" >&2; exit 2; }
DATA="$OUT/day-s3-$N"
LOGS="$DATA/logs/s3-access"
if [ ! -f "$DATA/expected.json" ]; then
  build_generator
  rm -rf "$DATA"
  res=$(measure "gen-day-$N" "$GEN" --lines-per-format "$LPF" --days 1 \
    --formats s3-access --s3-compress zstd --out "$DATA")
  read -r gen_s gen_rss <<< "$res"
  echo "ingest-day: generated in ${gen_s} s, peak RSS $((gen_rss / 1024)) MiB: $(tail -1 "$OUT/gen-day-$N.err")" >&2
fi

# Lines and uncompressed bytes of the inputs (counted once).
if [ ! -f "$DATA/uncompressed.txt" ]; then
  find "$LOGS" -type f -print0 | sort -z | xargs -0 zstd -dcq | wc -lc > "$DATA/uncompressed.txt.tmp"
  mv "$DATA/uncompressed.txt.tmp" "$DATA/uncompressed.txt"
fi
read -r lines bytes < "$DATA/uncompressed.txt"
compressed=$(find "$LOGS" -type f -printf '%s\n' | python3 -c 'import sys; print(sum(map(int, sys.stdin)))')

export BLOBTIER_CLIENT_KEY=benchmark-secret-0123456789
LAKE="$OUT/lake-day-$N"
rm -rf "$LAKE"
res=$(measure "ingest-day-$N" "$BLOBTIER" ingest --lake "$LAKE" \
  --logs "s3-access:$LOGS" --max-bad-ratio 1)
read -r bt_s bt_rss <<< "$res"

status=0
cpu=$(grep "Percent of CPU" "$OUT/ingest-day-$N.time" | awk '{print $NF}')
python3 - "$lines" "$bytes" "$compressed" "$bt_s" "$bt_rss" "$cpu" "$OUT/ingest-day-$N.out" "$DATA/expected.json" <<'PY' | tee "$OUT/ingest-day.md" || status=$?
import json, sys
lines, b, cb = map(int, sys.argv[1:4])
s, rss = map(float, sys.argv[4:6])
cpu = sys.argv[6]
got = json.load(open(sys.argv[7]))["totals"]
exp = json.load(open(sys.argv[8]))["formats"]["s3-access"]
ok = got["pulls"] == exp["pulls"] and got["lines"] == exp["lines"] == lines
print("| lines | compressed GB (zstd) | uncompressed GB | blobtier s | lines/s | MB/s (uncompressed) | CPU (of 200 %) | peak RSS MiB | pulls ingested / expected | under 10 min |")
print("|---|---|---|---|---|---|---|---|---|---|")
print(f"| {lines:,} | {cb/1e9:.2f} | {b/1e9:.2f} | {s:.1f} | {lines/s:,.0f} | {b/1e6/s:,.0f} | {cpu} | {rss/1024:,.0f} "
      f"| {got['pulls']:,} / {exp['pulls']:,} {'(equal)' if ok else '**(DIFFERENT)**'} "
      f"| {'**yes**' if s < 600 else '**no**'} ({s/60:.1f} min) |")
sys.exit(0 if ok else 1)
PY

if [ "${CLEAN:-0}" = 1 ]; then
  rm -rf "$DATA" "$LAKE"
fi
exit "$status"

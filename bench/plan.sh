#!/usr/bin/env bash
# plan: time and peak RSS of `blobtier plan` over N blobs (default 10 M), after `stats`.
# Usage: bench/plan.sh [BLOBS]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_release
VENV=$(bench_venv)
N=${1:-10000000}
lake="$OUT/plan-lake-$N"
[ -d "$lake/pulls" ] || "$VENV/bin/python" "$ROOT/bench/gen_pulls.py" "$lake" $((N * 2)) "$N" 200000 >&2
rm -rf "$lake/digest_stats" "$lake/decisions" "$lake/plan" "$lake/hot_set" "$lake/_tmp" "$lake/_lock"
read -r st_s st_rss < <(measure "plan-stats-$N" "$BLOBTIER" stats --lake "$lake" --as-of 2026-11-26)
read -r pl_s pl_rss < <(measure "plan-$N" "$BLOBTIER" plan --lake "$lake" --as-of 2026-11-26)
actions=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['totals']['actions'])" "$OUT/plan-$N.out")
{
  echo "| blobs | stats s | stats peak RSS MiB | plan s | plan peak RSS MiB | actions |"
  echo "|---|---|---|---|---|---|"
  python3 -c "import sys; n,a,b,c,d,e=sys.argv[1:]; print(f'| {int(n):,} | {float(a):.1f} | {float(b)/1024:,.0f} | {float(c):.1f} | {float(d)/1024:,.0f} | {int(e):,} |')" "$N" "$st_s" "$st_rss" "$pl_s" "$pl_rss" "$actions"
} | tee "$OUT/plan.md"

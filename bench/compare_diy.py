"""Compares the per-digest counts of the DIY DuckDB query (bench/duckdb_diy.py) with blobtier's
digest_stats: pulls and distinct clients in the last 7, 30 and 90 days, for every digest either
side saw pulled. Prints `exact` or `N of M digests differ`.
Usage: compare_diy.py DIGEST_STATS.parquet DIY.parquet"""
import sys

import duckdb

ours, diy = sys.argv[1], sys.argv[2]
cols = ", ".join(f"{k}_{n}d" for n in (7, 30, 90) for k in ("pulls", "unique_clients"))
q = f"SELECT digest, {cols} FROM read_parquet('{{}}') WHERE pulls_90d > 0"
con = duckdb.connect()
a = f"({q.format(ours)})"
b = f"({q.format(diy)})"
differ = con.execute(
    f"SELECT count(DISTINCT digest) FROM (({a} EXCEPT ALL {b}) UNION ALL ({b} EXCEPT ALL {a}))"
).fetchone()[0]
total = con.execute(f"SELECT count(*) FROM (SELECT digest FROM {a} UNION SELECT digest FROM {b})").fetchone()[0]
print("exact" if differ == 0 else f"{differ} of {total} digests differ")

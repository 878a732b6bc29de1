"""Prints `yes` when two digest_stats Parquet files hold the same rows (every compared column,
as multisets), else `NO <counts>`. Usage: compare_stats.py A.parquet B.parquet"""
import sys

import duckdb

a, b = sys.argv[1], sys.argv[2]
cols = ("digest, bucket, in_inventory, pulls_7d, pulls_30d, pulls_90d, unique_clients_7d, "
        "unique_clients_30d, unique_clients_90d, unique_pull_ratio_30d, bytes_served_30d, "
        "repos_90d, ci_share_30d, scanner_pulls_30d, last_pull_at, first_pull_at, age_days, "
        "days_since_last_pull")
q = f"SELECT {cols} FROM read_parquet('{{}}')"
con = duckdb.connect()
con.execute("SET threads = 2")
d = con.execute(
    f"SELECT COUNT(*) FROM (({q.format(a)}) EXCEPT ALL ({q.format(b)})) "
    f"UNION ALL SELECT COUNT(*) FROM (({q.format(b)}) EXCEPT ALL ({q.format(a)}))"
).fetchall()
print("yes" if d == [(0,), (0,)] else f"NO {d}")

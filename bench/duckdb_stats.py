"""DuckDB running queries/digest_stats.sql (expanded for DuckDB by tools/sqltemplate.py) on a
lake, writing the result to Parquet like `blobtier stats`. Used by bench/stats.sh.
Usage: duckdb_stats.py LAKE AS_OF OUT_PARQUET"""
import os
import sys

import duckdb

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import sqltemplate  # noqa: E402

lake, as_of, out = sys.argv[1], sys.argv[2], sys.argv[3]
root = os.path.join(os.path.dirname(__file__), "..")
text = open(os.path.join(root, "queries", "digest_stats.sql")).read()
windows = [7, 30, 90]
sql = sqltemplate.expand(text, windows, sqltemplate.params(as_of, windows), "duckdb")
snaps = sorted(d for d in os.listdir(f"{lake}/inventory") if d.startswith("snapshot=") and d[9:] <= as_of)
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SET TimeZone = 'UTC'")
con.execute(f"CREATE VIEW pulls AS SELECT * FROM read_parquet('{lake}/pulls/*/*.parquet', hive_partitioning = true, hive_types = {{'date': VARCHAR}})")
con.execute(f"CREATE VIEW inventory AS SELECT * FROM read_parquet('{lake}/inventory/{snaps[-1]}/*.parquet')")
con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
print(con.execute(f"SELECT COUNT(*) FROM read_parquet('{out}')").fetchone()[0])

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
# Spill next to the output (and nowhere else), so a benchmark script can clean it up.
con.execute(f"SET temp_directory = '{out}.tmp'")
con.execute("SET TimeZone = 'UTC'")
con.execute(f"CREATE VIEW pulls AS SELECT * FROM read_parquet('{lake}/pulls/*/*.parquet', hive_partitioning = true, hive_types = {{'date': VARCHAR}})")
con.execute(f"CREATE VIEW inventory AS SELECT * FROM read_parquet('{lake}/inventory/{snaps[-1]}/*.parquet')")
# Tables the benchmark lake does not have (no manifest requests, no image graph): empty, with
# the lake's schemas (src/stats/mod.rs `empty_table`).
EMPTY = {
    "manifest_pulls": "repo VARCHAR, reference VARCHAR, client VARCHAR, ua VARCHAR, ua_class VARCHAR, source VARCHAR, requests BIGINT, first_at TIMESTAMPTZ, last_at TIMESTAMPTZ, date VARCHAR",
    "tags": "repo VARCHAR, tag VARCHAR, manifest VARCHAR, link_fingerprint VARCHAR",
    "manifest_refs": "manifest VARCHAR, digest VARCHAR, role VARCHAR",
    "blob_refs": "digest VARCHAR, role VARCHAR, media_type VARCHAR, in_storage BOOLEAN, size BIGINT, ref_manifests BIGINT, ref_repos BIGINT, ref_tags BIGINT, referenced_by_tag BOOLEAN",
}
for table, cols in EMPTY.items():
    if table == "manifest_pulls" and os.path.isdir(f"{lake}/manifest_pulls"):
        con.execute(f"CREATE VIEW manifest_pulls AS SELECT * FROM read_parquet('{lake}/manifest_pulls/*/*.parquet', hive_partitioning = true, hive_types = {{'date': VARCHAR}})")
    else:
        con.execute(f"CREATE TABLE {table} ({cols})")
con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
print(con.execute(f"SELECT COUNT(*) FROM read_parquet('{out}')").fetchone()[0])

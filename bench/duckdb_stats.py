"""DuckDB running queries/digest_stats.sql (as `blobtier sql --dialect duckdb` expands it) on a
lake, writing the result to Parquet like `blobtier stats`. Used by bench/stats.sh, bench/scale.sh
and the DuckDB parity test (tests/it/stats.rs).

Usage: duckdb_stats.py LAKE AS_OF OUT_PARQUET [WINDOWS [--include-scanners]]
The blobtier binary is $BLOBTIER (else `blobtier` on PATH). Tables as blobtier registers them:
`pulls`, `failed_pulls` and `manifest_pulls` with their Hive `date` a string, the latest inventory snapshot on or
before as-of, the newest part file of each graph table in the latest `blob_refs` snapshot on or
before as-of, and an empty table of blobtier's schema (`blobtier sql --schema`) for what the lake
lacks."""
import glob
import os
import shutil
import subprocess
import sys

import duckdb

lake, as_of, out = sys.argv[1], sys.argv[2], sys.argv[3]
windows = sys.argv[4] if len(sys.argv) > 4 else "7,30,90"
include_scanners = "--include-scanners" in sys.argv[5:]
blobtier = os.environ.get("BLOBTIER") or shutil.which("blobtier") or sys.exit(
    "duckdb_stats: error: set BLOBTIER to the blobtier binary")


def sql(*args):
    return subprocess.run([blobtier, "sql", "--dialect", "duckdb", *args], check=True,
                          capture_output=True, text=True).stdout


def latest(table, max_date):
    """The newest `snapshot=D` directory of `table` with D <= max_date (None if none)."""
    snaps = sorted(d for d in glob.glob(f"{lake}/{table}/snapshot=*")
                   if os.path.basename(d)[9:] <= max_date)
    return snaps[-1] if snaps else None


def newest_part(snapshot_dir):
    parts = sorted(glob.glob(f"{snapshot_dir}/part-*.parquet"))
    return parts[-1] if parts else None


con = duckdb.connect()
con.execute("SET threads = 2")
# Spill next to the output (and nowhere else), so a benchmark script can clean it up.
con.execute(f"SET temp_directory = '{out}.tmp'")
con.execute("SET TimeZone = 'UTC'")
views = {}
for table in ("pulls", "failed_pulls", "manifest_pulls"):
    if glob.glob(f"{lake}/{table}/date=*/*.parquet"):
        views[table] = (f"read_parquet('{lake}/{table}/*/*.parquet', hive_partitioning = true, "
                        "hive_types = {'date': VARCHAR}, union_by_name = true)")
inventory = latest("inventory", as_of)
if inventory is None:
    sys.exit(f"duckdb_stats: error: no inventory snapshot on or before {as_of}")
views["inventory"] = f"read_parquet('{inventory}/*.parquet')"
graph = latest("blob_refs", as_of)
if graph is not None:
    day = os.path.basename(graph)
    parts = {t: newest_part(f"{lake}/{t}/{day}") for t in ("blob_refs", "manifest_refs", "tags")}
    if all(parts.values()):
        views.update({t: f"read_parquet('{p}')" for t, p in parts.items()})
for table in ("pulls", "failed_pulls", "manifest_pulls", "inventory", "blob_refs",
              "manifest_refs", "tags"):
    if table in views:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM {views[table]}")
    else:
        con.execute(f"CREATE TABLE {table} ({sql('--schema', table).strip()})")
args = ["--as-of", as_of, "--windows", windows] + (["--include-scanners"] if include_scanners else [])
query = sql(*args, "digest_stats")
con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
print(con.execute(f"SELECT COUNT(*) FROM read_parquet('{out}')").fetchone()[0])

"""Generates a lake with compacted pulls (the `pulls` table layout of docs/schemas.md, as
`blobtier ingest` writes it: one file per day, rows sorted by digest, row groups bounded) and
a matching inventory snapshot, for the stats/plan/scale benchmarks.

ROWS pull rows over DAYS days ending on AS_OF (more rows on recent days), DIGESTS digests with
skewed popularity (a few hot layers, a long cold tail), CLIENTS clients. Digests are real
sha256 hex strings (uniform over the digest space, like a registry's), so digest-range
execution splits the work evenly. One day is generated at a time: memory stays bounded by one
day's rows whatever ROWS is.

Usage: gen_pulls.py LAKE ROWS DIGESTS CLIENTS [AS_OF] [DAYS]"""
import datetime as dt
import os
import shutil
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

lake, rows, digests, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
as_of = dt.date.fromisoformat(sys.argv[5] if len(sys.argv) > 5 else "2026-11-26")
days = int(sys.argv[6]) if len(sys.argv) > 6 else 90
# Row groups as `blobtier ingest` bounds them (src/io.rs: ROW_GROUP_ROWS).
row_group = int(os.environ.get("ROW_GROUP_ROWS", 16384))

shutil.rmtree(lake, ignore_errors=True)
os.makedirs(lake)
con = duckdb.connect()
con.execute("SET threads = 2")


def share(k):
    """P(day offset = k) when the offset is floor(u^1.5 * days): recent days see more pulls."""
    return ((k + 1) / days) ** (2 / 3) - (k / days) ** (2 / 3)


counts = [int(rows * share(k)) for k in range(days)]
counts[0] += rows - sum(counts)
total = 0
for k, n in enumerate(counts):
    day = as_of - dt.timedelta(days=k)
    con.execute(f"SELECT setseed({(k + 1) / (days + 2):.6f})").fetchall()
    tbl = con.sql(
        f"""
        SELECT
          'sha256:' || sha256(CAST(CAST(floor(pow(random(), 3) * {digests}) AS BIGINT) AS VARCHAR)) AS digest,
          lpad(printf('%x', CAST(floor(random() * {clients}) AS BIGINT)), 32, '0') AS client,
          'repo' || CAST(floor(random() * 500) AS INTEGER) AS repo,
          (['ci', 'ci', 'human', 'scanner', 'other'])[1 + CAST(floor(random() * 5) AS INTEGER)] AS ua_class,
          's3-access' AS source,
          CAST(1 + floor(pow(random(), 8) * 50) AS BIGINT) AS pulls,
          CAST(floor(random() * 1e8) AS BIGINT) AS bytes,
          CAST(TIMESTAMPTZ '{day} 00:00:00+00' + to_seconds(CAST(floor(random() * 43200) AS BIGINT)) AS TIMESTAMPTZ) AS first_at,
          CAST(TIMESTAMPTZ '{day} 12:00:00+00' + to_seconds(CAST(floor(random() * 43200) AS BIGINT)) AS TIMESTAMPTZ) AS last_at
        FROM range({n})
        ORDER BY digest, client, repo, ua_class
        """
    ).to_arrow_table()
    # Timestamps as blobtier writes them: microseconds, time zone "UTC".
    for name in ("first_at", "last_at"):
        i = tbl.schema.get_field_index(name)
        tbl = tbl.set_column(i, name, tbl.column(name).cast(pa.timestamp("us", tz="UTC")))
    out = f"{lake}/pulls/date={day}"
    os.makedirs(out)
    pq.write_table(tbl, f"{out}/part-bench.parquet", compression="zstd", row_group_size=row_group)
    total += tbl.num_rows
    del tbl

os.makedirs(f"{lake}/inventory/snapshot={as_of}")
inv = con.sql(
    f"""
    SELECT 'registry-prod' AS bucket,
           'docker/registry/v2/blobs/sha256/' || substr(h, 1, 2) || '/' || h || '/data' AS "key",
           CAST(NULL AS VARCHAR) AS version_id, TRUE AS is_latest, FALSE AS is_delete_marker,
           CAST(1024 + floor(pow(random(), 4) * 2e9) AS BIGINT) AS size,
           CAST(TIMESTAMPTZ '{as_of} 00:00:00+00' - to_days(CAST(floor(random() * 700) AS INTEGER)) AS TIMESTAMPTZ) AS last_modified,
           md5(h) AS etag,
           (['STANDARD', 'STANDARD', 'STANDARD', 'STANDARD_IA', 'GLACIER_IR'])[1 + CAST(floor(random() * 5) AS INTEGER)] AS storage_class,
           CAST(NULL AS VARCHAR) AS intelligent_tiering_access_tier,
           'sha256:' || h AS digest, 'blob' AS kind, CAST(NULL AS VARCHAR) AS repo,
           'SSE-S3' AS encryption_status, FALSE AS is_multipart_uploaded
    FROM (SELECT sha256(CAST(i AS VARCHAR)) AS h FROM range({digests}) t(i))
    ORDER BY digest
    """
).to_arrow_table()
i = inv.schema.get_field_index("last_modified")
inv = inv.set_column(i, "last_modified", inv.column("last_modified").cast(pa.timestamp("us", tz="UTC")))
pq.write_table(inv, f"{lake}/inventory/snapshot={as_of}/part-bench.parquet", compression="zstd", row_group_size=row_group)
print(total, inv.num_rows)

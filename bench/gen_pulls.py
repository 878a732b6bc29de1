"""Generates a lake with compacted pulls (the `pulls` table layout of docs/schemas.md) and a
matching inventory snapshot, for the stats benchmark: ROWS pull rows over DAYS days ending on
AS_OF, DIGESTS digests with skewed (Zipf-like) popularity, CLIENTS clients.
Usage: gen_pulls.py LAKE ROWS DIGESTS CLIENTS [AS_OF] [DAYS]"""
import os
import shutil
import sys

import duckdb

lake, rows, digests, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
as_of = sys.argv[5] if len(sys.argv) > 5 else "2026-11-26"
days = int(sys.argv[6]) if len(sys.argv) > 6 else 90
shutil.rmtree(lake, ignore_errors=True)
os.makedirs(lake)
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SELECT setseed(0.42)")
con.execute(
    f"""
    COPY (
      SELECT
        CAST(DATE '{as_of}' - CAST(floor(pow(random(), 1.5) * {days}) AS INTEGER) AS VARCHAR) AS "date",
        'sha256:' || lpad(printf('%x', CAST(floor(pow(random(), 3) * {digests}) AS BIGINT)), 64, '0') AS digest,
        lpad(printf('%x', CAST(floor(random() * {clients}) AS BIGINT)), 32, '0') AS client,
        'repo' || CAST(floor(random() * 500) AS INTEGER) AS repo,
        (['ci', 'ci', 'human', 'scanner', 'other'])[1 + CAST(floor(random() * 5) AS INTEGER)] AS ua_class,
        's3-access' AS source,
        CAST(1 + floor(pow(random(), 8) * 50) AS BIGINT) AS pulls,
        CAST(floor(random() * 1e8) AS BIGINT) AS bytes,
        CAST(TIMESTAMPTZ '2026-01-01 00:00:00+00' AS TIMESTAMPTZ) AS first_at,
        CAST(TIMESTAMPTZ '2026-01-01 00:00:00+00' AS TIMESTAMPTZ) AS last_at
      FROM range({rows})
    ) TO '{lake}/pulls' (FORMAT parquet, PARTITION_BY ("date"), COMPRESSION zstd, FILENAME_PATTERN 'part-bench-{{i}}')
    """
)
# first_at/last_at inside the row's day.
os.makedirs(f"{lake}/inventory/snapshot={as_of}")
con.execute(
    f"""
    COPY (
      SELECT 'registry-prod' AS bucket,
             'docker/registry/v2/blobs/sha256/' || substr(h, 1, 2) || '/' || h || '/data' AS "key",
             CAST(NULL AS VARCHAR) AS version_id, TRUE AS is_latest, FALSE AS is_delete_marker,
             CAST(1024 + floor(pow(random(), 4) * 2e9) AS BIGINT) AS size,
             CAST(TIMESTAMPTZ '2026-11-26 00:00:00+00' - to_days(CAST(floor(random() * 700) AS INTEGER)) AS TIMESTAMPTZ) AS last_modified,
             md5(h) AS etag,
             (['STANDARD', 'STANDARD', 'STANDARD', 'STANDARD_IA', 'GLACIER_IR'])[1 + CAST(floor(random() * 5) AS INTEGER)] AS storage_class,
             CAST(NULL AS VARCHAR) AS intelligent_tiering_access_tier,
             'sha256:' || h AS digest, 'blob' AS kind, CAST(NULL AS VARCHAR) AS repo,
             'SSE-S3' AS encryption_status, FALSE AS is_multipart_uploaded
      FROM (SELECT lpad(printf('%x', i), 64, '0') AS h FROM range({digests}) t(i))
    ) TO '{lake}/inventory/snapshot={as_of}/part-bench.parquet' (FORMAT parquet, COMPRESSION zstd)
    """
)
print(con.execute(f"SELECT COUNT(*), COUNT(DISTINCT digest) FROM read_parquet('{lake}/pulls/*/*.parquet')").fetchone())

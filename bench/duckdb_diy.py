"""The query a user writes instead of running blobtier: DuckDB's own readers (`read_csv` for the
space-separated S3 access log and the combined access log, `read_json` for the registry's JSON
log and for notifications), the blob pulls kept by blobtier's rules, and per digest the pulls
and distinct clients of the last 7, 30 and 90 days up to AS_OF — ingest and stats in one SQL.
Scanner user agents (blobtier's default list) are left out of the counts, as blobtier does.

It is the strongest baseline we know a user would pick: no regular expression per line, the
readers run on every core. It is not exact where blobtier is (a truncated quote shifts the
columns of the lines after it, `ignore_errors` drops what the reader cannot split), which
bench/ingest.sh reports by comparing its counts with blobtier's.

Usage: duckdb_diy.py FORMAT DIR AS_OF OUT.parquet        (prints `pulls=N digests=M`)
Used by bench/ingest.sh; not part of blobtier."""
import os
import sys

import duckdb

fmt, root, as_of, out = sys.argv[1:5]
con = duckdb.connect()
con.execute("SET threads = 2")
# Every file under DIR; DuckDB detects gzip/zstd by the name, so compressed inputs keep theirs.
glob = os.path.join(root, "**", "*")

BLOB_KEY = r"^docker/registry/v2/blobs/sha256/[0-9a-f]{2}/[0-9a-f]{64}/data$"
BLOB_URI = r"^/v2/.+/blobs/sha256:[0-9a-f]{64}(\?.*)?$"
SCANNERS = ["trivy", "grype", "clair", "amazon inspector", "amazoninspector", "aws-inspector",
            "inspector2", "prisma", "twistlock"]
scanner = " OR ".join(f"contains(lower(ua), '{s}')" for s in SCANNERS)

S3_COLUMNS = ["owner", "bucket", "time", "tz", "ip", "requester", "request_id", "operation", "key",
              "request_uri", "status", "error_code", "bytes_sent", "object_size", "total_time",
              "turnaround", "referer", "ua", "version_id", "host_id", "sig", "cipher", "auth",
              "host", "tls", "access_point", "acl", "source_region", "extra1", "extra2", "extra3"]
CLF_COLUMNS = ["ip", "ident", "user", "time", "tz", "request", "status", "size", "referer", "ua"]


def csv(columns):
    cols = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)
    return (f"read_csv('{glob}', delim=' ', quote='\"', escape='\"', header=false, "
            f"columns={{{cols}}}, null_padding=true, ignore_errors=true, "
            f"max_line_size=1048576, auto_detect=false, parallel=true)")


if fmt == "s3-access":
    pulls = f"""
      SELECT try_strptime(time || ' ' || tz, '[%d/%b/%Y:%H:%M:%S %z]') AS ts,
             'sha256:' || split_part(key, '/', 7) AS digest, ip AS client, ua
      FROM {csv(S3_COLUMNS)}
      WHERE operation = 'REST.GET.OBJECT' AND status IN ('200', '206')
        AND coalesce(auth, '-') <> 'AuthHeader' AND regexp_matches(key, '{BLOB_KEY}')"""
elif fmt == "registry-combined":
    pulls = f"""
      SELECT try_strptime(time || ' ' || tz, '[%d/%b/%Y:%H:%M:%S %z]') AS ts,
             regexp_extract(request, '/blobs/(sha256:[0-9a-f]{{64}})', 1) AS digest,
             ip AS client, ua
      FROM {csv(CLF_COLUMNS)}
      WHERE starts_with(request, 'GET ') AND status IN ('200', '206', '307')
        AND regexp_matches(split_part(request, ' ', 2), '{BLOB_URI}')"""
elif fmt == "registry-json":
    pulls = f"""
      SELECT TRY_CAST("time" AS TIMESTAMPTZ) AS ts,
             regexp_extract("http.request.uri", '/blobs/(sha256:[0-9a-f]{{64}})', 1) AS digest,
             regexp_replace("http.request.remoteaddr", ':[0-9]+$', '') AS client,
             "http.request.useragent" AS ua
      FROM read_json('{glob}', format='newline_delimited', ignore_errors=true,
             columns={{'time': 'VARCHAR', 'msg': 'VARCHAR', 'http.request.method': 'VARCHAR',
                       'http.request.uri': 'VARCHAR', 'http.response.status': 'BIGINT',
                       'http.request.remoteaddr': 'VARCHAR', 'http.request.useragent': 'VARCHAR'}})
      WHERE msg = 'response completed' AND "http.request.method" = 'GET'
        AND "http.response.status" IN (200, 206, 307)
        AND regexp_matches("http.request.uri", '{BLOB_URI}')"""
elif fmt == "notifications":
    pulls = f"""
      SELECT TRY_CAST(e."timestamp" AS TIMESTAMPTZ) AS ts, e.target.digest AS digest,
             regexp_replace(e.request.addr, ':[0-9]+$', '') AS client, e.request.useragent AS ua
      FROM (SELECT unnest(events) AS e
            FROM read_json('{glob}', format='auto', ignore_errors=true,
              columns={{'events': 'STRUCT("timestamp" VARCHAR, action VARCHAR,
                target STRUCT(mediaType VARCHAR, digest VARCHAR),
                request STRUCT(addr VARCHAR, method VARCHAR, useragent VARCHAR))[]'}}))
      WHERE e.action = 'pull' AND e.request.method = 'GET'
        AND e.target.mediaType NOT LIKE '%manifest%' AND e.target.mediaType NOT LIKE '%image.index%'"""
else:
    sys.exit(f"unknown format {fmt}")

windows = ", ".join(
    f"count(*) FILTER (WHERE d > DATE '{as_of}' - {n}) AS pulls_{n}d, "
    f"count(DISTINCT client) FILTER (WHERE d > DATE '{as_of}' - {n}) AS unique_clients_{n}d"
    for n in (7, 30, 90))
con.execute(f"""
  COPY (
    SELECT digest, {windows}, max(ts) AS last_pull_at
    FROM (SELECT *, CAST(timezone('UTC', ts) AS DATE) AS d FROM ({pulls}))
    WHERE d <= DATE '{as_of}' AND NOT coalesce({scanner}, false)
    GROUP BY digest
  ) TO '{out}' (FORMAT parquet)""")
n, d = con.execute(f"SELECT sum(pulls_90d), count(*) FROM read_parquet('{out}')").fetchone()
print(f"pulls={n} digests={d}")

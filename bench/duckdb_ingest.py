"""DuckDB doing what `blobtier ingest` does for one log format: read every file (decompressing
gzip/zstd as detected from the content), keep the blob pulls by the same rules, aggregate them
per day, digest, client, user agent and repository, and write Hive-partitioned Parquet.
Used by bench/ingest.sh for the comparison; not part of blobtier."""
import os
import sys
import tempfile

import duckdb

fmt, root = sys.argv[1], sys.argv[2]
files = []
for d, _, names in os.walk(root):
    for n in sorted(names):
        p = os.path.join(d, n)
        with open(p, "rb") as f:
            head = f.read(4)
        comp = "gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head == b"\x28\xb5\x2f\xfd" else "none"
        files.append((p, comp))

con = duckdb.connect()
con.execute("SET threads = 2")


def lines_union():
    parts = [
        f"SELECT line FROM read_csv('{p}', columns={{'line': 'VARCHAR'}}, delim=E'\\x01', quote='', escape='', header=false, compression='{c}', ignore_errors=true, max_line_size=2097152)"
        for p, c in files
    ]
    return " UNION ALL ".join(parts)


if fmt == "s3-access":
    pulls = f"""
    WITH l AS ({lines_union()}),
    f AS (
      SELECT regexp_extract(line, '^\\S+ \\S+ \\[([^\\]]+)\\] (\\S+) \\S+ \\S+ (\\S+) (\\S+) (?:"[^"]*"|-) (\\S+) \\S+ (\\S+) \\S+ \\S+ \\S+ (?:"[^"]*"|-) ("[^"]*"|-) \\S+ \\S+ \\S+ \\S+ (\\S+)',
             ['ts', 'ip', 'op', 'key', 'status', 'sent', 'ua', 'auth']) AS r
      FROM l
    )
    SELECT try_strptime(r.ts, '%d/%b/%Y:%H:%M:%S %z') AS ts,
           'sha256:' || regexp_extract(r.key, '([0-9a-f]{{64}})/data$', 1) AS digest,
           r.ip AS client, NULL AS repo, trim(r.ua, '"') AS ua,
           TRY_CAST(NULLIF(r.sent, '-') AS BIGINT) AS bytes
    FROM f
    WHERE r.op = 'REST.GET.OBJECT' AND r.status IN ('200', '206') AND r.auth <> 'AuthHeader'
      AND regexp_matches(r.key, 'docker/registry/v2/blobs/sha256/[0-9a-f]{{2}}/[0-9a-f]{{64}}/data$')
    """
elif fmt == "registry-json":
    parts = [
        f"""SELECT * FROM read_json('{p}', format='newline_delimited', compression='{c}', ignore_errors=true,
             columns={{'time': 'VARCHAR', 'msg': 'VARCHAR', 'http.request.method': 'VARCHAR', 'http.request.uri': 'VARCHAR',
                       'http.response.status': 'BIGINT', 'http.response.written': 'BIGINT', 'http.request.remoteaddr': 'VARCHAR',
                       'http.request.useragent': 'VARCHAR'}})"""
        for p, c in files
    ]
    pulls = f"""
    WITH j AS ({" UNION ALL ".join(parts)})
    SELECT TRY_CAST("time" AS TIMESTAMPTZ) AS ts,
           regexp_extract("http.request.uri", '/blobs/(sha256:[0-9a-f]{{64}})', 1) AS digest,
           regexp_replace("http.request.remoteaddr", ':\\d+$', '') AS client,
           regexp_extract("http.request.uri", '^/v2/(.+)/blobs/', 1) AS repo,
           "http.request.useragent" AS ua, "http.response.written" AS bytes
    FROM j
    WHERE msg = 'response completed' AND "http.request.method" = 'GET' AND "http.response.status" IN (200, 206, 307)
      AND regexp_matches("http.request.uri", '^/v2/.+/blobs/sha256:[0-9a-f]{{64}}(\\?.*)?$')
    """
elif fmt == "registry-combined":
    pulls = f"""
    WITH l AS ({lines_union()}),
    f AS (
      SELECT regexp_extract(line, '^(\\S+) \\S+ \\S+ \\[([^\\]]+)\\] "(\\S+) (\\S+) [^"]*" (\\d+) (\\S+)(?: "(?:[^"\\\\]|\\\\.)*" "((?:[^"\\\\]|\\\\.)*)")?',
             ['ip', 'ts', 'method', 'uri', 'status', 'size', 'ua']) AS r
      FROM l
    )
    SELECT try_strptime(r.ts, '%d/%b/%Y:%H:%M:%S %z') AS ts,
           regexp_extract(r.uri, '/blobs/(sha256:[0-9a-f]{{64}})', 1) AS digest,
           r.ip AS client, regexp_extract(r.uri, '^/v2/(.+)/blobs/', 1) AS repo, r.ua AS ua,
           TRY_CAST(NULLIF(r.size, '-') AS BIGINT) AS bytes
    FROM f
    WHERE r.method = 'GET' AND r.status IN ('200', '206', '307')
      AND regexp_matches(r.uri, '^/v2/.+/blobs/sha256:[0-9a-f]{{64}}(\\?.*)?$')
    """
elif fmt == "notifications":
    parts = [
        f"""SELECT * FROM read_json('{p}', format='newline_delimited', compression='{c}', ignore_errors=true,
             columns={{'events': 'STRUCT("timestamp" VARCHAR, action VARCHAR, target STRUCT(mediaType VARCHAR, digest VARCHAR, size BIGINT, repository VARCHAR), request STRUCT(addr VARCHAR, method VARCHAR, useragent VARCHAR))[]'}})"""
        for p, c in files
    ]
    pulls = f"""
    WITH j AS ({" UNION ALL ".join(parts)}), e AS (SELECT unnest(events) AS e FROM j)
    SELECT TRY_CAST(e."timestamp" AS TIMESTAMPTZ) AS ts, e.target.digest AS digest,
           regexp_replace(e.request.addr, ':\\d+$', '') AS client, e.target.repository AS repo,
           e.request.useragent AS ua, e.target.size AS bytes
    FROM e
    WHERE e.action = 'pull' AND e.request.method = 'GET'
      AND e.target.mediaType NOT LIKE '%manifest%' AND e.target.mediaType NOT LIKE '%image.index%'
      AND regexp_matches(e.target.digest, '^sha256:[0-9a-f]{{64}}$')
    """
else:
    sys.exit(f"unknown format {fmt}")

out = tempfile.mkdtemp(prefix="duckdb-ingest-")
con.execute(
    f"""
    COPY (
      SELECT CAST(ts AS DATE) AS "date", digest, client, repo,
             CASE WHEN lower(ua) SIMILAR TO '.*(trivy|grype|clair|inspector|prisma|twistlock).*' THEN 'scanner'
                  WHEN lower(ua) SIMILAR TO '.*(buildkit|kaniko|containerd|cri-o|skopeo|crane).*' THEN 'ci'
                  WHEN lower(ua) SIMILAR TO '.*(docker/|podman).*' THEN 'human' ELSE 'other' END AS ua_class,
             COUNT(*) AS pulls, SUM(COALESCE(bytes, 0)) AS bytes, MIN(ts) AS first_at, MAX(ts) AS last_at
      FROM ({pulls})
      WHERE ts IS NOT NULL AND digest <> ''
      GROUP BY ALL
    ) TO '{out}' (FORMAT parquet, PARTITION_BY ("date"), COMPRESSION zstd)
    """
)
n = con.execute(f"SELECT SUM(pulls) FROM read_parquet('{out}/*/*.parquet')").fetchone()[0]
print(f"pulls={n}")

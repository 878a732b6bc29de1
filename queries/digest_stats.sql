-- digest_stats: one row per blob of the latest inventory snapshot on or before ${as_of},
-- plus digests pulled but absent from the inventory (in_inventory = false).
--
-- Portable SQL (Polars SQL ∩ Spark SQL). Parameters and the two template constructs are
-- expanded by blobtier (src/query/template.rs; `blobtier sql --dialect spark|duckdb|trino`
-- prints the text other engines run):
--   ${name}                  a parameter (dates are 'YYYY-MM-DD' strings)
--   -- @each window / @end   the enclosed lines repeated for each window N, {N} → N
--   {{days_between(a, b)}}   whole days from date a to date b: the one dialect difference
-- Tables: pulls (lake `pulls/`, hive column `date`), failed_pulls (lake `failed_pulls/`, hive
-- column `date`), inventory (one snapshot),
-- manifest_pulls (lake `manifest_pulls/`, hive column `date`), and one image-graph snapshot:
-- tags (repo, tag → manifest), manifest_refs (manifest → every blob reachable from it, itself
-- and index children included), blob_refs (per blob). Without a graph the last three are
-- empty: manifest_pulls_* are then 0 and referenced_by_tag, ref_repos NULL (unknown).
--
-- One pull, counted once whatever the sources (docs/ingest.md, "One pull, several sources"):
-- a row's side is `s3` for the storage's logs (s3-access, cloudfront) and `registry` for the
-- registry's own (registry-json, -text, -combined, notifications). ${pull_source} keeps both
-- (`auto`) or one side. Per (day, digest, client, ua_class):
--   registry side  the largest count of its sources: the registry's log lines and its
--                  notifications describe the same requests (a 307, a notification);
--   s3 side        the sum of its sources: S3 and the CDN serve different requests;
--   pulls          the larger of the two sides: each 307 led to one GET of the storage (or
--                  of the CDN) by the same client for the same blob, on the same day.
-- All of it in one GROUP BY: one sum per registry source (every registry-side format of the
-- lake is listed; a test checks the list against blobtier's formats), the largest of those and
-- of the s3 side's sum. Pulls are counts (never negative), so a source absent that day adds a
-- 0 that never wins.
WITH p0 AS (
  SELECT
    digest,
    client,
    repo,
    ua_class,
    pulls,
    bytes,
    first_at,
    last_at,
    CAST(`date` AS DATE) AS day,
    CASE WHEN source IN ('s3-access', 'cloudfront') THEN 's3' ELSE 'registry' END AS side,
    source
  FROM pulls
  WHERE CAST(`date` AS DATE) <= CAST('${as_of}' AS DATE)
    AND ('${pull_source}' = 'auto'
      OR (CASE WHEN source IN ('s3-access', 'cloudfront') THEN 's3' ELSE 'registry' END) = '${pull_source}')
),
p AS (
  SELECT
    digest,
    client,
    ua_class,
    GREATEST(SUM(CASE WHEN source = 'registry-json' THEN pulls ELSE 0 END),
             SUM(CASE WHEN source = 'registry-text' THEN pulls ELSE 0 END),
             SUM(CASE WHEN source = 'registry-combined' THEN pulls ELSE 0 END),
             SUM(CASE WHEN source = 'notifications' THEN pulls ELSE 0 END),
             SUM(CASE WHEN side = 's3' THEN pulls ELSE 0 END)) AS pulls,
    GREATEST(SUM(CASE WHEN source = 'registry-json' THEN bytes ELSE 0 END),
             SUM(CASE WHEN source = 'registry-text' THEN bytes ELSE 0 END),
             SUM(CASE WHEN source = 'registry-combined' THEN bytes ELSE 0 END),
             SUM(CASE WHEN source = 'notifications' THEN bytes ELSE 0 END),
             SUM(CASE WHEN side = 's3' THEN bytes ELSE 0 END)) AS bytes,
    MIN(first_at) AS first_at,
    MAX(last_at) AS last_at,
    day,
    CASE WHEN ua_class = 'scanner' AND NOT ${include_scanners} THEN 0 ELSE 1 END AS counted
  FROM p0
  WHERE day > CAST('${from_max}' AS DATE)
  GROUP BY day, digest, client, ua_class
),
-- Days before the longest window count in no window: they give a digest only its earliest and
-- latest counted pull (the same whatever the sources, so no per-day reconciliation), one
-- row per digest instead of one per day, client and class: a lake kept for a year is
-- regrouped per day on the longest window's days only.
po AS (
  SELECT
    digest,
    MAX(CASE WHEN ua_class <> 'scanner' OR ${include_scanners} THEN last_at END) AS last_pull_at,
    MIN(CASE WHEN ua_class <> 'scanner' OR ${include_scanners} THEN first_at END) AS first_pull_at
  FROM p0
  WHERE day <= CAST('${from_max}' AS DATE)
  GROUP BY digest
),
-- Per (digest, client) first: a client counts in window N when its latest counted pull is
-- inside the window, so distinct clients become plain sums (COUNT(DISTINCT …) per window
-- was the slowest and most memory-hungry part of this query on every engine).
pc AS (
  SELECT
    digest,
    client,
    -- @each window
    SUM(CASE WHEN counted = 1 AND day > CAST('${from_{N}}' AS DATE) THEN pulls ELSE 0 END) AS pulls_{N}d,
    -- @end
    MAX(CASE WHEN counted = 1 THEN day END) AS client_last_day,
    SUM(CASE WHEN day > CAST('${from_30}' AS DATE) THEN bytes ELSE 0 END) AS bytes_served_30d,
    SUM(CASE WHEN counted = 1 AND day > CAST('${from_30}' AS DATE) THEN pulls ELSE 0 END) AS counted_pulls_30d,
    SUM(CASE WHEN counted = 1 AND ua_class = 'ci' AND day > CAST('${from_30}' AS DATE) THEN pulls ELSE 0 END) AS ci_pulls_30d,
    SUM(CASE WHEN ua_class = 'scanner' AND day > CAST('${from_30}' AS DATE) THEN pulls ELSE 0 END) AS scanner_pulls_30d,
    MAX(CASE WHEN counted = 1 THEN last_at END) AS last_pull_at,
    MIN(CASE WHEN counted = 1 THEN first_at END) AS first_pull_at,
    SUM(CASE WHEN day > CAST('${from_max}' AS DATE) THEN pulls ELSE 0 END) AS pulls_longest
  FROM p
  GROUP BY digest, client
),
rp0 AS (
  SELECT digest, repo
  FROM p0
  WHERE (ua_class <> 'scanner' OR ${include_scanners}) AND repo IS NOT NULL
    AND day > CAST('${from_90}' AS DATE)
  GROUP BY digest, repo
),
rp AS (
  SELECT digest AS r_digest, COUNT(*) AS repos_90d FROM rp0 GROUP BY digest
),
agg0 AS (
  SELECT
    digest,
    -- @each window
    SUM(pulls_{N}d) AS pulls_{N}d,
    SUM(CASE WHEN client IS NOT NULL AND client_last_day > CAST('${from_{N}}' AS DATE) THEN 1 ELSE 0 END) AS unique_clients_{N}d,
    -- @end
    SUM(bytes_served_30d) AS bytes_served_30d,
    SUM(counted_pulls_30d) AS counted_pulls_30d,
    SUM(ci_pulls_30d) AS ci_pulls_30d,
    SUM(scanner_pulls_30d) AS scanner_pulls_30d,
    MAX(last_pull_at) AS last_pull_at,
    MIN(first_pull_at) AS first_pull_at,
    SUM(pulls_longest) AS pulls_longest
  FROM pc
  GROUP BY digest
),
-- Digests pulled before the longest window: their earliest and latest pulls join the recent
-- ones (a digest pulled only then has no window counts, and stays out unless inventoried).
agg1 AS (
  SELECT
    COALESCE(r.digest, o.digest) AS digest,
    -- @each window
    r.pulls_{N}d AS pulls_{N}d,
    r.unique_clients_{N}d AS unique_clients_{N}d,
    -- @end
    r.bytes_served_30d AS bytes_served_30d,
    r.counted_pulls_30d AS counted_pulls_30d,
    r.ci_pulls_30d AS ci_pulls_30d,
    r.scanner_pulls_30d AS scanner_pulls_30d,
    -- GREATEST and LEAST of a NULL differ between engines (Trino: NULL): never give them one.
    GREATEST(COALESCE(r.last_pull_at, o.last_pull_at), COALESCE(o.last_pull_at, r.last_pull_at)) AS last_pull_at,
    LEAST(COALESCE(r.first_pull_at, o.first_pull_at), COALESCE(o.first_pull_at, r.first_pull_at)) AS first_pull_at,
    r.pulls_longest AS pulls_longest
  FROM agg0 r FULL OUTER JOIN po o ON r.digest = o.digest
),
agg AS (
  SELECT * FROM agg1 LEFT JOIN rp ON agg1.digest = rp.r_digest
),
inv AS (
  SELECT digest AS inv_digest, bucket, `key`, version_id, etag, size, storage_class, last_modified
  FROM inventory
  WHERE kind = 'blob' AND is_latest AND NOT is_delete_marker
),
joined AS (
  SELECT * FROM inv FULL OUTER JOIN agg ON inv.inv_digest = agg.digest
),
mp AS (
  SELECT
    repo,
    reference,
    requests,
    last_at,
    CAST(`date` AS DATE) AS day,
    CASE WHEN ua_class = 'scanner' AND NOT ${include_scanners} THEN 0 ELSE 1 END AS counted
  FROM manifest_pulls
  WHERE CAST(`date` AS DATE) <= CAST('${as_of}' AS DATE)
),
-- A pull by tag is resolved through the snapshot's tags; a pull by digest names the manifest.
mres AS (
  SELECT
    COALESCE(t.manifest, mp.reference) AS pulled_manifest,
    mp.requests AS requests,
    mp.last_at AS last_at,
    mp.day AS day,
    mp.counted AS counted
  FROM mp LEFT JOIN tags t ON mp.repo = t.repo AND mp.reference = t.tag
),
magg AS (
  SELECT
    r.digest AS m_digest,
    SUM(CASE WHEN mres.counted = 1 AND mres.day > CAST('${from_30}' AS DATE) THEN mres.requests ELSE 0 END) AS m_pulls_30d,
    SUM(CASE WHEN mres.counted = 1 AND mres.day > CAST('${from_90}' AS DATE) THEN mres.requests ELSE 0 END) AS m_pulls_90d,
    MAX(CASE WHEN mres.counted = 1 THEN mres.last_at END) AS m_last_at
  FROM mres JOIN manifest_refs r ON mres.pulled_manifest = r.manifest
  GROUP BY r.digest
),
refs AS (
  SELECT digest AS ref_digest, referenced_by_tag AS ref_by_tag, ref_repos AS ref_repo_count
  FROM blob_refs
),
-- Failed GETs of blobs (403 InvalidObjectState for an archived blob), scanners as in pulls_*.
fp AS (
  SELECT
    digest AS f_digest,
    -- @each window
    SUM(CASE WHEN CAST(`date` AS DATE) > CAST('${from_{N}}' AS DATE) THEN requests ELSE 0 END) AS f_pulls_{N}d,
    -- @end
    MAX(last_at) AS f_last_at
  FROM failed_pulls
  WHERE CAST(`date` AS DATE) <= CAST('${as_of}' AS DATE)
    AND (ua_class <> 'scanner' OR ${include_scanners})
  GROUP BY digest
),
keyed AS (
  SELECT COALESCE(inv_digest, digest) AS row_digest, * FROM joined
),
graphed AS (
  SELECT * FROM keyed
  LEFT JOIN magg ON keyed.row_digest = magg.m_digest
  LEFT JOIN refs ON keyed.row_digest = refs.ref_digest
  LEFT JOIN fp ON keyed.row_digest = fp.f_digest
)
SELECT
  row_digest AS digest,
  bucket,
  `key`,
  version_id,
  etag,
  size,
  storage_class,
  last_modified,
  CAST({{days_between(CAST(last_modified AS DATE), CAST('${as_of}' AS DATE))}} AS BIGINT) AS age_days,
  CASE WHEN inv_digest IS NULL THEN FALSE ELSE TRUE END AS in_inventory,
  -- @each window
  CAST(COALESCE(pulls_{N}d, 0) AS BIGINT) AS pulls_{N}d,
  -- @end
  -- @each window
  CAST(COALESCE(unique_clients_{N}d, 0) AS BIGINT) AS unique_clients_{N}d,
  -- @end
  -- @each window
  CASE WHEN COALESCE(pulls_{N}d, 0) = 0 THEN NULL
       ELSE CAST(unique_clients_{N}d AS DOUBLE) / CAST(pulls_{N}d AS DOUBLE) END AS unique_pull_ratio_{N}d,
  -- @end
  CAST(COALESCE(bytes_served_30d, 0) AS BIGINT) AS bytes_served_30d,
  CAST(COALESCE(repos_90d, 0) AS BIGINT) AS repos_90d,
  CASE WHEN COALESCE(counted_pulls_30d, 0) = 0 THEN NULL
       ELSE CAST(ci_pulls_30d AS DOUBLE) / CAST(counted_pulls_30d AS DOUBLE) END AS ci_share_30d,
  CAST(COALESCE(scanner_pulls_30d, 0) AS BIGINT) AS scanner_pulls_30d,
  last_pull_at,
  CAST({{days_between(CAST(last_pull_at AS DATE), CAST('${as_of}' AS DATE))}} AS BIGINT) AS days_since_last_pull,
  first_pull_at,
  CAST(COALESCE(m_pulls_30d, 0) AS BIGINT) AS manifest_pulls_30d,
  CAST(COALESCE(m_pulls_90d, 0) AS BIGINT) AS manifest_pulls_90d,
  m_last_at AS last_manifest_pull_at,
  ref_by_tag AS referenced_by_tag,
  CAST(ref_repo_count AS BIGINT) AS ref_repos,
  -- @each window
  CAST(COALESCE(f_pulls_{N}d, 0) AS BIGINT) AS failed_pulls_{N}d,
  -- @end
  f_last_at AS last_failed_pull_at
FROM graphed
WHERE inv_digest IS NOT NULL OR pulls_longest > 0
ORDER BY digest, bucket

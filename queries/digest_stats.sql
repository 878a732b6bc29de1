-- digest_stats: one row per blob of the latest inventory snapshot on or before ${as_of},
-- plus digests pulled but absent from the inventory (in_inventory = false).
--
-- Portable SQL (Polars SQL ∩ Spark SQL). Parameters and the two template constructs are
-- expanded by blobtier (src/stats/template.rs) and by spark/run_stats.py alike:
--   ${name}                  a parameter (dates are 'YYYY-MM-DD' strings)
--   -- @each window / @end   the enclosed lines repeated for each window N, {N} → N
--   {{days_between(a, b)}}   whole days from date a to date b: the one dialect difference
-- Tables: pulls (lake `pulls/`, hive column `date`), inventory (one snapshot).
WITH p AS (
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
    CASE WHEN ua_class = 'scanner' AND NOT ${include_scanners} THEN 0 ELSE 1 END AS counted
  FROM pulls
  WHERE CAST(`date` AS DATE) <= CAST('${as_of}' AS DATE)
),
agg AS (
  SELECT
    digest,
    -- @each window
    SUM(CASE WHEN counted = 1 AND day > CAST('${from_{N}}' AS DATE) THEN pulls ELSE 0 END) AS pulls_{N}d,
    COUNT(DISTINCT CASE WHEN counted = 1 AND day > CAST('${from_{N}}' AS DATE) THEN client END) AS unique_clients_{N}d,
    -- @end
    SUM(CASE WHEN day > CAST('${from_30}' AS DATE) THEN bytes ELSE 0 END) AS bytes_served_30d,
    COUNT(DISTINCT CASE WHEN counted = 1 AND day > CAST('${from_90}' AS DATE) THEN repo END) AS repos_90d,
    SUM(CASE WHEN counted = 1 AND day > CAST('${from_30}' AS DATE) THEN pulls ELSE 0 END) AS counted_pulls_30d,
    SUM(CASE WHEN counted = 1 AND ua_class = 'ci' AND day > CAST('${from_30}' AS DATE) THEN pulls ELSE 0 END) AS ci_pulls_30d,
    SUM(CASE WHEN ua_class = 'scanner' AND day > CAST('${from_30}' AS DATE) THEN pulls ELSE 0 END) AS scanner_pulls_30d,
    MAX(CASE WHEN counted = 1 THEN last_at END) AS last_pull_at,
    MIN(CASE WHEN counted = 1 THEN first_at END) AS first_pull_at,
    SUM(CASE WHEN day > CAST('${from_max}' AS DATE) THEN pulls ELSE 0 END) AS pulls_longest
  FROM p
  GROUP BY digest
),
inv AS (
  SELECT digest AS inv_digest, bucket, `key`, version_id, etag, size, storage_class, last_modified
  FROM inventory
  WHERE kind = 'blob' AND is_latest AND NOT is_delete_marker
),
joined AS (
  SELECT * FROM inv FULL OUTER JOIN agg ON inv.inv_digest = agg.digest
)
SELECT
  COALESCE(inv_digest, digest) AS digest,
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
  first_pull_at
FROM joined
WHERE inv_digest IS NOT NULL OR pulls_longest > 0
ORDER BY digest, bucket

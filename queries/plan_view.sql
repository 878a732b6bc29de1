-- plan_view: digest_stats as the plan sees it. `blobtier plan` applies its tier rules to these
-- rows and decides on them, so Spark, DuckDB and the analysts can see the numbers it used.
--
-- Rows: the blobs of the inventory snapshot (in_inventory); digests only in the logs have no
-- object to move. A manifest pull is a use of every blob the manifest reaches (a client with
-- the layers cached pulls only the manifest), so with ${count_manifest_pulls} = TRUE:
--   pulls_30d, pulls_90d   at least manifest_pulls_30d, manifest_pulls_90d;
--   last_pull_at           the later of the last blob pull and the last manifest pull;
--   days_since_last_pull   the fewer days of the two.
-- pulls_7d has no manifest counterpart (the plan's `kept:recent_manifest_pull` is its safety
-- net). days_since_last_manifest_pull is added either way; every other column passes as is.
-- GREATEST and LEAST skip NULL arguments in Polars, Spark and DuckDB (Trino: see docs/scale.md).
--
-- Table: digest_stats (one as_of partition with the image-graph columns; blobtier reads
-- partitions written before the image graph existed as they are). Parameters: ${as_of},
-- ${count_manifest_pulls}; the windows are those of digest_stats. Expanded by blobtier
-- (src/query/template.rs), see queries/digest_stats.sql.
WITH s AS (
  SELECT
    *,
    CAST({{days_between(CAST(last_manifest_pull_at AS DATE), CAST('${as_of}' AS DATE))}} AS BIGINT) AS days_since_last_manifest_pull
  FROM digest_stats
  WHERE in_inventory
)
SELECT
  digest,
  bucket,
  `key`,
  version_id,
  etag,
  size,
  storage_class,
  last_modified,
  age_days,
  in_inventory,
  -- @each window
  CASE WHEN ${count_manifest_pulls} AND {N} = 30 THEN GREATEST(pulls_{N}d, manifest_pulls_30d)
       WHEN ${count_manifest_pulls} AND {N} = 90 THEN GREATEST(pulls_{N}d, manifest_pulls_90d)
       ELSE pulls_{N}d END AS pulls_{N}d,
  -- @end
  -- @each window
  unique_clients_{N}d,
  -- @end
  -- @each window
  unique_pull_ratio_{N}d,
  -- @end
  bytes_served_30d,
  repos_90d,
  ci_share_30d,
  scanner_pulls_30d,
  CASE WHEN ${count_manifest_pulls} THEN GREATEST(last_pull_at, last_manifest_pull_at)
       ELSE last_pull_at END AS last_pull_at,
  CASE WHEN ${count_manifest_pulls} THEN LEAST(days_since_last_pull, days_since_last_manifest_pull)
       ELSE days_since_last_pull END AS days_since_last_pull,
  first_pull_at,
  manifest_pulls_30d,
  manifest_pulls_90d,
  last_manifest_pull_at,
  referenced_by_tag,
  ref_repos,
  -- @each window
  failed_pulls_{N}d,
  -- @end
  last_failed_pull_at,
  days_since_last_manifest_pull
FROM s

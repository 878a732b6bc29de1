-- Digests and bytes by storage class, pulled vs not pulled in 90 days (over digest_stats).
SELECT
  COALESCE(storage_class, '(not in inventory)') AS storage_class,
  COUNT(*) AS digests,
  SUM(COALESCE(size, 0)) AS bytes,
  SUM(CASE WHEN pulls_90d > 0 THEN 1 ELSE 0 END) AS pulled_90d,
  SUM(CASE WHEN pulls_90d = 0 THEN 1 ELSE 0 END) AS not_pulled_90d
FROM digest_stats
GROUP BY COALESCE(storage_class, '(not in inventory)')
ORDER BY storage_class

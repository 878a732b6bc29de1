-- Blobs of the newest inventory snapshot that nobody but scanners pulled in the 30 days up to
-- that snapshot: how many, and how many bytes, per storage class.
WITH snap AS (
  SELECT MAX(CAST(snapshot AS DATE)) AS d FROM inventory
),
blobs AS (
  SELECT i.digest, i.size, i.storage_class
  FROM inventory i CROSS JOIN snap
  WHERE CAST(i.snapshot AS DATE) = snap.d
    AND i.kind = 'blob' AND i.is_latest AND NOT i.is_delete_marker
),
recent AS (
  SELECT DISTINCT p.digest
  FROM pulls p CROSS JOIN snap
  WHERE p.ua_class <> 'scanner'
    AND CAST(p.date AS DATE) > snap.d - INTERVAL '30' DAY
    AND CAST(p.date AS DATE) <= snap.d
)
SELECT storage_class, COUNT(*) AS blobs, SUM(size) AS bytes
FROM blobs
WHERE digest NOT IN (SELECT digest FROM recent)
GROUP BY storage_class
ORDER BY storage_class;

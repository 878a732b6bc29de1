-- The ten most pulled blobs over everything in the lake (ties by digest).
SELECT digest, SUM(pulls) AS pulls
FROM pulls
GROUP BY digest
ORDER BY pulls DESC, digest
LIMIT 10;

-- Blob pulls per day, and how many of them were vulnerability scanners.
SELECT
  CAST(date AS DATE) AS day,
  SUM(pulls) AS pulls,
  SUM(CASE WHEN ua_class = 'scanner' THEN pulls ELSE 0 END) AS scanner_pulls
FROM pulls
GROUP BY CAST(date AS DATE)
ORDER BY day;

-- Top 10 digests by pulls in the last 30 days (over digest_stats).
SELECT digest, pulls_30d, unique_clients_30d, unique_pull_ratio_30d, size, storage_class
FROM digest_stats
ORDER BY pulls_30d DESC, digest
LIMIT 10

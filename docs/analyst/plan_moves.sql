-- What the newest plan would move: blobs, bytes and 12-month net savings per move.
SELECT
  from_class,
  to_class,
  COUNT(*) AS blobs,
  SUM(size) AS bytes,
  SUM(net_savings_12m) AS net_savings_12m
FROM plan
WHERE action <> 'none'
  AND as_of = (SELECT MAX(as_of) FROM plan)
GROUP BY from_class, to_class
ORDER BY bytes DESC, from_class, to_class;

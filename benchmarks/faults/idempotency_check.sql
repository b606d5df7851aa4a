-- Scenario 6's check: with the client's acknowledged keys in the temp table acks (key, status, replayed,
-- attempts), one line per violation: a key applied more than once, or an acknowledged key never applied.
SELECT 'applied ' || count(*) || ' times: ' || tag FROM faults_idem.applied GROUP BY tag HAVING count(*) > 1
UNION ALL
SELECT 'acknowledged but not applied: ' || a.key FROM acks a
WHERE NOT EXISTS (SELECT FROM faults_idem.applied p WHERE p.tag = a.key);

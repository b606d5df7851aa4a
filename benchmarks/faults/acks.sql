-- Acknowledged writes that the database does not hold, and builds acknowledged as claimed twice.
-- Input: a table `acks (fn, k1, k2, k3)` loaded from the loader's --ack-log files (tab-separated, '-' =
-- no key); output: one row per lost write (problem, fn, keys). No rows = every acknowledged write is there.
SELECT 'lost' AS problem, a.fn, concat_ws(' ', a.k1, a.k2, a.k3) AS keys
FROM acks a
WHERE CASE a.fn
    WHEN 'add_widget' THEN NOT EXISTS (SELECT FROM widgets.widgets w WHERE w.serial_number = a.k1)
    -- the association is still there (the suite never removes one)
    WHEN 'associate_widgets' THEN NOT EXISTS (
        SELECT FROM widgets.slots s
        JOIN widgets.widgets w1 ON w1.id = s.widget_id
        JOIN widgets.widgets w2 ON w2.id = s.partner_id
        WHERE w1.serial_number = a.k1 AND w2.serial_number = a.k2 AND s.port::text = a.k3)
    -- the VM is there and still running (the suite never releases one)
    WHEN 'allocate_vm' THEN NOT EXISTS (SELECT FROM vms.vms v WHERE v.id = a.k1::bigint AND v.state = 'running')
    -- the assignment (project, epoch) is live or in the history
    WHEN 'acquire_node' THEN NOT EXISTS (SELECT FROM compute.assignments x WHERE x.project_id = a.k1 AND x.epoch = a.k2::bigint)
                         AND NOT EXISTS (SELECT FROM compute.assignment_history h WHERE h.project_id = a.k1 AND h.epoch = a.k2::bigint)
    -- the claim still holds: same lease token (a lost claim would have been claimed again with another)
    WHEN 'claim_build' THEN NOT EXISTS (SELECT FROM workspaces.builds b WHERE b.id = a.k1::bigint AND b.lease_token = a.k2::uuid)
    ELSE false
END
UNION ALL
SELECT 'claimed twice', 'claim_build', format('build %s acknowledged to %s claims', k1, count(*))
FROM acks WHERE fn = 'claim_build' GROUP BY k1 HAVING count(*) > 1;

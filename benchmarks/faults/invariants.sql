-- Invariants of every service, as queries that return the violations (no rows = all hold). One row per
-- violation: (invariant, detail). Used by the fault suite (benchmarks/faults/run.sh) after each scenario;
-- runs on any database of the platform, as the superuser (it reads the private schemas).

-- widgets: at most 3 slots per widget, numbered 1..3
SELECT 'widget slots: at most 3, numbered 1..3' AS invariant, format('widget %s: %s slots', widget_id, count(*)) AS detail
FROM widgets.slots GROUP BY widget_id HAVING count(*) > 3 OR max(slot_no) > 3 OR min(slot_no) < 1
UNION ALL
-- widgets: associations are symmetric (A's slot names B => B has a slot of that port naming A)
SELECT 'widget associations symmetric', format('widget %s slot %s -> %s (%s) has no partner slot', s.widget_id, s.slot_no, s.partner_id, s.port)
FROM widgets.slots s
WHERE s.partner_id IS NOT NULL
  AND NOT EXISTS (SELECT FROM widgets.slots r WHERE r.widget_id = s.partner_id AND r.partner_id = s.widget_id AND r.port = s.port)
UNION ALL
-- widgets: two widgets share a port type at most once, and never with themselves
SELECT 'widget associations once per port', format('widgets %s and %s over %s: %s slots', widget_id, partner_id, port, count(*))
FROM widgets.slots WHERE partner_id IS NOT NULL GROUP BY widget_id, partner_id, port HAVING count(*) > 1
UNION ALL
SELECT 'widget not associated with itself', format('widget %s slot %s', widget_id, slot_no)
FROM widgets.slots WHERE partner_id = widget_id
UNION ALL
-- VMs: a server's free capacity is its total minus what its running VMs hold, and never negative
SELECT 'VM capacity not exceeded', format('server %s: ram %s/%s free, running VMs hold %s; cpu %s/%s free, hold %s; ips %s/%s free, hold %s',
       s.name, s.available_ram, s.total_ram, coalesce(v.ram, 0), s.available_cpu, s.total_cpu, coalesce(v.cpu, 0),
       s.available_ips, s.total_ips, coalesce(v.n, 0))
FROM vms.servers s
LEFT JOIN (SELECT server_id, sum(ram) AS ram, sum(cpu) AS cpu, count(*) AS n FROM vms.vms WHERE state = 'running' GROUP BY server_id) v
       ON v.server_id = s.id
WHERE s.available_ram <> s.total_ram - coalesce(v.ram, 0) OR s.available_cpu <> s.total_cpu - coalesce(v.cpu, 0)
   OR s.available_ips <> s.total_ips - coalesce(v.n, 0)
   OR s.available_ram < 0 OR s.available_cpu < 0 OR s.available_ips < 0
UNION ALL
-- VMs: a running VM's address is in its server's subnet and held by no other running VM
SELECT 'VM addresses in their server''s subnet', format('vm %s ip %s on server %s', v.id, v.ip, v.server_id)
FROM vms.vms v JOIN vms.servers s ON s.id = v.server_id
WHERE v.state = 'running' AND NOT v.ip << s.subnet
UNION ALL
SELECT 'VM addresses held once', format('ip %s held by %s running VMs', ip, count(*))
FROM vms.vms WHERE state = 'running' GROUP BY ip HAVING count(*) > 1
UNION ALL
-- compute: one project per node, one node per project, within the cap
SELECT 'one project per compute node', format('node %s runs %s projects', node_id, count(*))
FROM compute.assignments GROUP BY node_id HAVING count(*) > 1
UNION ALL
SELECT 'one compute node per project', format('project %s on %s nodes', project_id, count(*))
FROM compute.assignments GROUP BY project_id HAVING count(*) > 1
UNION ALL
SELECT 'running projects within the cap', format('%s running, cap %s', (SELECT count(*) FROM compute.assignments), max_running_projects)
FROM compute.settings WHERE (SELECT count(*) FROM compute.assignments) > max_running_projects
UNION ALL
-- compute: an assignment's epoch is newer than its node's registration, and epochs are never reused
SELECT 'assignment epochs fresh', format('assignment %s of node %s (node epoch %s)', a.epoch, a.node_id, a.node_epoch)
FROM compute.assignments a WHERE a.epoch <= a.node_epoch
   OR EXISTS (SELECT FROM compute.assignment_history h WHERE h.epoch = a.epoch)
UNION ALL
-- builds: claimed by one holder at a time (IN_PROGRESS <=> a lease), never more claims than allowed
SELECT 'build leases consistent', format('build %s: %s, lease %s, attempts %s/%s', id, status, lease_token, attempts, max_attempts)
FROM workspaces.builds
WHERE (status = 'IN_PROGRESS') <> (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL)
   OR attempts > max_attempts OR (status = 'SCHEDULED' AND lease_token IS NOT NULL)
UNION ALL
SELECT 'build lease tokens unique', format('lease %s held by %s builds', lease_token, count(*))
FROM workspaces.builds WHERE lease_token IS NOT NULL GROUP BY lease_token HAVING count(*) > 1
UNION ALL
-- workspaces: a host's used disk is what its workspaces reserve, within its capacity
SELECT 'workspace disk within host capacity', format('host %s: disk_used %s, workspaces reserve %s, capacity %s', h.name, h.disk_used, coalesce(w.gb, 0), h.disk_capacity)
FROM workspaces.hosts h
LEFT JOIN (SELECT host_id, sum(disk_gb) AS gb FROM workspaces.workspaces GROUP BY host_id) w ON w.host_id = h.id
WHERE h.disk_used <> coalesce(w.gb, 0) OR h.disk_used > h.disk_capacity;

-- Data the fault suite's load works on (benchmarks/faults/run.sh, loader scenario `faults`), in a freshly
-- migrated database of the suite's own cluster. Run as the superuser. Psql variables: pairs (widget pairs
-- per scenario), scenarios (how many pair sets: fpair1- .. fpairN-), projects, nodes.
\set ON_ERROR_STOP 1
BEGIN;
-- Widgets: per scenario s, pairs fpair<s>-<m>a / fpair<s>-<m>b with one free P slot each; the loader
-- associates each pair at most once.
INSERT INTO widgets.widgets (serial_number, name)
SELECT format('fpair%s-%s%s', s, m, side), 'faults pair'
FROM generate_series(1, :scenarios) s, generate_series(1, :pairs) m, (VALUES ('a'), ('b')) v(side);
INSERT INTO widgets.slots (widget_id, slot_no, port)
SELECT w.id, 1, 'P' FROM widgets.widgets w WHERE w.serial_number LIKE 'fpair%';

-- VM servers with room for every allocation of the run (1 GB, 1 CPU each): 8 x 65,534 addresses.
SELECT api.register_server('faults-' || i, 4000000, 100000, format('10.%s.0.0/16', 100 + i)::cidr)
FROM generate_series(1, 8) i;

-- Compute nodes: more than projects, alive for the whole run (no heartbeats are sent). Every project
-- is the one faults user's (the loader's token), so the per-user cap must let one user run them all.
SELECT api.set_compute_settings(heartbeat_timeout_seconds => 86400, idle_release_seconds => 86400,
                                max_running_projects => 100, max_running_projects_per_user => 100);
SELECT api.register_node('faults-node-' || i, 8192) FROM generate_series(1, :nodes) i;

-- Builds to claim: one image of one project, many scheduled builds (leases last 60 s; nothing requeues).
INSERT INTO workspaces.projects (name) VALUES ('faults');
INSERT INTO workspaces.images (project_id, name, arch)
SELECT id, 'faults-image', 'x86_64' FROM workspaces.projects WHERE name = 'faults';
INSERT INTO workspaces.builds (image_id, change_number, requested_by)
SELECT i.id, g, 'faults' FROM workspaces.images i, generate_series(1, 20000) g WHERE i.name = 'faults-image';
COMMIT;
ANALYZE;

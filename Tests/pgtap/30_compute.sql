-- Compute nodes: the specification a DBA reads. Every rule of the API called as the roles the gateway
-- switches to (app_user, worker, operator), on the database clock moved by the test-only hook
-- compute._test_advance_clock (nothing sleeps), then the constraints straight against the tables.
-- The hook is not part of the product: `gateway migrate` never installs it (checked first, below);
-- this file installs it from Tests/fixtures/compute_clock.sql inside its own transaction (rolled back).
-- Each known risk of the product's original design (docs/requirements.md, compute nodes) has a test
-- whose description starts with `known risk:` and says what this design does about it (the concurrent
-- ones also run for real in Tests/IntegrationTests/ComputeConcurrencyTests.swift).
-- Run by `make test` (pg_prove) on the freshly migrated test database; everything is rolled back.
BEGIN;
SELECT plan(172);

-- What `gateway migrate` alone gives (production): no test hooks, compute._now() is the real clock.
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
      AND n.nspname NOT LIKE 'test\_%' AND p.proname LIKE '\_test\_%'
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'table compute.clock' WHERE to_regclass('compute.clock') IS NOT NULL
$$, 'a migrated database has no test hooks: no _test_ function, no compute.clock (tests install them: Tests/fixtures)');
SELECT ok((SELECT prosrc !~ 'clock' FROM pg_proc WHERE oid = 'compute._now()'::regprocedure),
          'in production compute._now() is the database''s now(), with no offset to read');

-- The test-only clock: compute.clock and compute._test_advance_clock, rolled back with this file.
\ir ../fixtures/compute_clock.sql

-- call(role, expression): evaluates the expression as that role with a token's claims, as the gateway
-- would, and returns its value as jsonb, or the error as {error, message, detail, hint}.
-- p_claims adds to or replaces the token's claims (a node agent's `node`, another user's `sub`).
CREATE FUNCTION pg_temp.call(p_role text, p_expression text, p_claims jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v_result jsonb; v_code text; v_message text; v_detail text; v_hint text;
BEGIN
    PERFORM set_config('request.jwt.claims', (jsonb_build_object('role', p_role, 'sub', 'tester') || p_claims)::text, true);
    PERFORM set_config('role', p_role, true);
    BEGIN
        EXECUTE format('SELECT to_jsonb(%s)', p_expression) INTO v_result;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_result := jsonb_build_object('error', v_code, 'message', v_message,
                                       'detail', nullif(v_detail, ''), 'hint', nullif(v_hint, ''));
    END;
    RESET ROLE;
    RETURN v_result;
END $$;
-- Shorthands for the three callers; epoch(node): the node's current registration epoch.
CREATE FUNCTION pg_temp.app(p text) RETURNS jsonb LANGUAGE sql AS $$ SELECT pg_temp.call('app_user', p) $$;
CREATE FUNCTION pg_temp.worker(p text) RETURNS jsonb LANGUAGE sql AS $$ SELECT pg_temp.call('worker', p) $$;
-- agent(node, p): the node agent of that node (a worker token with the claim "node": node).
CREATE FUNCTION pg_temp.agent(p_node text, p text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.call('worker', p, jsonb_build_object('node', p_node)) $$;
CREATE FUNCTION pg_temp.op(p text) RETURNS jsonb LANGUAGE sql AS $$ SELECT pg_temp.call('operator', p) $$;
CREATE FUNCTION pg_temp.epoch(p_node text) RETURNS bigint LANGUAGE sql AS $$
    SELECT l.epoch FROM compute.node_leases l JOIN compute.nodes n ON n.id = l.node_id WHERE n.name = p_node $$;
CREATE FUNCTION pg_temp.beat(p_node text, p_usage text DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.agent(p_node, format('api.node_heartbeat(%L, %s, %L)', p_node, coalesce(pg_temp.epoch(p_node), 0), p_usage)) $$;

-- Start from an empty cluster, default settings, clock offset 0 (whatever other tests left; rolled back).
DELETE FROM compute.assignments; DELETE FROM compute.assignment_history; DELETE FROM compute.projects;
DELETE FROM compute.node_leases; DELETE FROM compute.nodes;
DELETE FROM compute.settings; INSERT INTO compute.settings DEFAULT VALUES;
UPDATE compute.clock SET offset_by = '0';

------------------------------------------------------------------------------------------------------
-- Structure
------------------------------------------------------------------------------------------------------
SELECT has_schema('compute', 'the private schema compute exists');
SELECT tables_are('compute', ARRAY['nodes', 'node_leases', 'projects', 'owners', 'assignments', 'assignment_history',
                                   'settings', 'slots', 'clock'], 'compute has exactly its nine tables (clock: the test fixture)');
SELECT results_eq(
    $$SELECT (conrelid::regclass::text || ' ' || conname) COLLATE "default" FROM pg_constraint
      WHERE connamespace = 'compute'::regnamespace AND contype IN ('u', 'p', 'f') ORDER BY 1$$,
    ARRAY['compute.assignment_history assignment_history_pkey',
          'compute.assignments assignments_node_id_fkey', 'compute.assignments assignments_node_id_key',
          'compute.assignments assignments_pkey', 'compute.assignments assignments_project_id_fkey',
          'compute.assignments assignments_project_id_key', 'compute.assignments assignments_slot_no_fkey',
          'compute.assignments assignments_slot_no_key', 'compute.clock clock_pkey',
          'compute.node_leases node_leases_epoch_key', 'compute.node_leases node_leases_node_id_fkey',
          'compute.node_leases node_leases_pkey', 'compute.nodes nodes_name_key', 'compute.nodes nodes_pkey',
          'compute.owners owners_pkey', 'compute.projects projects_pkey', 'compute.settings settings_pkey', 'compute.slots slots_pkey'],
    'keys: one project per node (assignments_node_id_key), one live assignment per project, one slot per running project');
SELECT ok((SELECT NOT seqcycle FROM pg_sequence WHERE seqrelid = 'compute.epochs'::regclass),
          'epochs come from a sequence that never cycles: an epoch only grows');
SELECT is((SELECT compute._settings_json(s)::jsonb FROM compute.settings s),
          '{"memory_limit_mb": 4096, "heartbeat_timeout_seconds": 60, "idle_release_seconds": 1800,
            "max_running_projects": 100, "spare_nodes": 0, "retry_after_seconds": 10, "over_limit_retry_seconds": 60,
            "max_running_projects_per_user": 10}'::jsonb,
          'defaults: 4 GB per project, dead after 60 s without a heartbeat, at most 100 running projects');
SELECT is((SELECT count(*) FROM compute.slots WHERE slot_no <= 100), 100::bigint, '100 running-project slots');

-- Who may execute what: exactly these grants (the owner aside), nothing to PUBLIC.
SELECT results_eq(
    $$SELECT (p.oid::regprocedure::text || ' ' || coalesce(
                 (SELECT string_agg(r.rolname, ',' ORDER BY r.rolname) FROM aclexplode(p.proacl) a
                  JOIN pg_roles r ON r.oid = a.grantee
                  WHERE a.privilege_type = 'EXECUTE' AND r.rolname <> 'platform_owner'), '-')) COLLATE "default"
      FROM pg_proc p
      WHERE p.pronamespace = 'api'::regnamespace AND p.proname IN
             ('acquire_node', 'register_node', 'node_heartbeat', 'leave_node', 'drain_node', 'release_idle_projects',
              'surplus_idle_nodes', 'list_compute_nodes', 'compute_settings', 'set_compute_settings',
              'set_project_owner')
      ORDER BY 1$$,
    ARRAY['api.acquire_node(text) app_user',
          'api.compute_settings() operator',
          'api.drain_node(text) operator',
          'api.leave_node(text,bigint) worker',
          'api.list_compute_nodes() operator',
          'api.node_heartbeat(text,bigint,jsonb) worker',
          'api.register_node(text,integer) worker',
          'api.release_idle_projects() operator',
          'api.set_compute_settings(integer,integer,integer,integer,integer,integer,integer,integer) operator',
          'api.set_project_owner(text,text) operator',
          'api.surplus_idle_nodes() operator'],
    'each API function is executable by exactly the role that needs it');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.pronamespace = 'compute'::regnamespace
      AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a
                                       WHERE a.grantee <> 'platform_owner'::regrole AND a.privilege_type = 'EXECUTE'))
$$, 'the private helpers of compute are executable by nobody but the owner');
SELECT ok(NOT has_function_privilege('app_user', 'compute._test_advance_clock(interval)', 'EXECUTE')
          AND NOT has_function_privilege('worker', 'compute._test_advance_clock(interval)', 'EXECUTE')
          AND NOT has_function_privilege('operator', 'compute._test_advance_clock(interval)', 'EXECUTE')
          AND NOT has_function_privilege('web_anon', 'compute._test_advance_clock(interval)', 'EXECUTE')
          AND NOT has_table_privilege('operator', 'compute.clock', 'UPDATE'),
          'the test clock hook is executable by no API role, and no API role may write the clock');
SELECT is(pg_temp.worker($$compute._now()$$) ->> 'error', '42501', 'an API role cannot even read the clock helper directly');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.pronamespace IN ('api'::regnamespace, 'compute'::regnamespace) AND p.prosecdef
      AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
$$, 'every SECURITY DEFINER function sets search_path');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.pronamespace IN ('api'::regnamespace, 'compute'::regnamespace)
      AND (p.pronamespace = 'compute'::regnamespace OR p.proname IN ('acquire_node', 'register_node', 'node_heartbeat', 'leave_node', 'drain_node',
                            'release_idle_projects', 'surplus_idle_nodes', 'list_compute_nodes', 'compute_settings',
                            'set_compute_settings'))
      AND obj_description(p.oid, 'pg_proc') IS NULL
$$, 'every function of the domain has a COMMENT');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE (p.pronamespace = 'compute'::regnamespace
           OR (p.pronamespace = 'api'::regnamespace AND p.proname IN ('acquire_node', 'register_node', 'node_heartbeat',
               'leave_node', 'drain_node', 'release_idle_projects', 'surplus_idle_nodes', 'list_compute_nodes',
               'compute_settings', 'set_compute_settings')))
      AND (p.prosrc ~ '(;|\mBEGIN|\mTHEN|\mELSE|\mLOOP)\s*LOOP\M' OR p.prosrc ~ '\mWHILE\M')   -- keywords are upper case
$$, 'no unbounded retry loop: every loop of the domain is a FOR over a bounded range or a query');
CREATE TEMP TABLE contended AS
    SELECT pg_temp.call('postgres', $$compute._raise_busy('Concurrent acquisitions took every free slot this call picked (10 attempts).', 1)$$) AS e;
SELECT is((SELECT (e ->> 'detail')::jsonb FROM contended), '{"status": 503, "headers": {"Retry-After": "1"}}'::jsonb,
          'when a retry loop gives up the caller gets 503 with Retry-After (1 s: contention passes quickly)');
SELECT is((SELECT (e ->> 'message')::jsonb ->> 'code' FROM contended), 'PT503', '... code PT503, "come back later"');

------------------------------------------------------------------------------------------------------
-- Permissions and arguments
------------------------------------------------------------------------------------------------------
SELECT is(pg_temp.app($$api.register_node('x', 1024)$$) ->> 'error', '42501', 'app_user cannot register nodes');
SELECT is(pg_temp.worker($$api.acquire_node('p')$$) ->> 'error', '42501', 'worker cannot acquire nodes');
SELECT is(pg_temp.op($$api.node_heartbeat('x', 1, '{}')$$) ->> 'error', '42501', 'operator cannot send heartbeats');
SELECT is(pg_temp.call('web_anon', $$api.acquire_node('p')$$) ->> 'error', '42501', 'web_anon cannot acquire nodes');
SELECT is(pg_temp.app($$api.acquire_node('')$$) ->> 'error', '22023', 'an empty project id is 400');
SELECT is(pg_temp.app($$api.acquire_node(NULL)$$) ->> 'error', '22023', 'a null project id is 400');
SELECT is(pg_temp.agent('n0', $$api.register_node('n0', 0)$$) ->> 'error', '22023', 'memory_mb 0 is 400');
SELECT is(pg_temp.agent('nobody', $$api.node_heartbeat('nobody', 1, '{}')$$) ->> 'error', 'PT404', 'a heartbeat of an unknown node is 404');
SELECT is(pg_temp.op($$api.set_compute_settings(heartbeat_timeout_seconds => 0)$$) ->> 'error', '22023',
          'a zero heartbeat timeout is refused (400)');
-- Input bounds (docs/limits.md): names up to 200 characters (the columns' own limit), usage up to 64 KiB.
SELECT is(pg_temp.app(format('api.acquire_node(%L)', repeat('p', 201))) ->> 'message', 'project_id must be at most 200 characters',
          'a project id of 201 characters is 400, naming the argument and its maximum');
SELECT is(ARRAY[pg_temp.agent(repeat('n', 201), format('api.register_node(%L, 1024)', repeat('n', 201))) ->> 'message',
                pg_temp.agent(repeat('n', 201), format('api.node_heartbeat(%L, 1, %L)', repeat('n', 201), '{}')) ->> 'message',
                pg_temp.agent(repeat('n', 201), format('api.leave_node(%L, 1)', repeat('n', 201))) ->> 'message',
                pg_temp.op(format('api.drain_node(%L)', repeat('n', 201))) ->> 'message'],
          ARRAY['name must be at most 200 characters', 'node must be at most 200 characters',
                'node must be at most 200 characters', 'node must be at most 200 characters'],
          'node names of 201 characters are 400 in register_node, node_heartbeat, leave_node and drain_node');
SELECT is(pg_temp.agent('n0', format('api.node_heartbeat(%L, 1, %L)', 'n0',
                                     (SELECT jsonb_object_agg('project-' || i, 1) FROM generate_series(1, 5000) i))) ->> 'message',
          'usage must be at most 65536 bytes of JSON', 'a heartbeat''s usage above 64 KiB is 400');
SELECT is(pg_temp.op($$api.drain_node('')$$) ->> 'error', '22023', 'draining an empty node name is 400');

------------------------------------------------------------------------------------------------------
-- Registration and acquisition
------------------------------------------------------------------------------------------------------
SELECT is(pg_temp.app($$api.acquire_node('p1')$$) ->> 'error', 'PGRST', 'no node at all: 503 (come back later)');

SELECT is(pg_temp.agent('n1', $$api.register_node('n1', 8192)$$) - 'node_id' - 'epoch' - 'registered_at',
          '{"node": "n1", "state": "live", "memory_mb": 8192, "heartbeat_timeout_seconds": 60, "released_projects": []}'::jsonb,
          'register_node returns the node, live, with its epoch');
DO $do$ BEGIN PERFORM pg_temp.agent('n2', $$api.register_node('n2', 8192)$$), pg_temp.agent('n3', $$api.register_node('n3', 8192)$$); END $do$;
SELECT ok(pg_temp.epoch('n1') < pg_temp.epoch('n2') AND pg_temp.epoch('n2') < pg_temp.epoch('n3'),
          'each registration gets a greater epoch');

-- Agents' identities: a node agent's token names its node ("node" claim); it acts for that node only.
CREATE TEMP TABLE n2_before AS SELECT l.* FROM compute.node_leases l JOIN compute.nodes n ON n.id = l.node_id WHERE n.name = 'n2';
SELECT is(pg_temp.agent('n1', format('api.node_heartbeat(%L, %s, %L)', 'n2', pg_temp.epoch('n2'), '{}')) ->> 'error', 'PT403',
          'the agent of n1 cannot send n2''s heartbeat (403)');
SELECT is(pg_temp.agent('n1', $$api.register_node('n2', 8192)$$) ->> 'error', 'PT403',
          'the agent of n1 cannot register n2 again (which would end n2''s assignments): 403');
SELECT is(pg_temp.agent('n1', format('api.leave_node(%L, %s)', 'n2', pg_temp.epoch('n2'))) ->> 'error', 'PT403',
          'the agent of n1 cannot make n2 leave: 403');
SELECT is(pg_temp.agent('n1', $$api.register_node('n9', 8192)$$) ->> 'error', 'PT403',
          'nor register a node of another name');
SELECT is(pg_temp.worker(format('api.node_heartbeat(%L, %s, %L)', 'n2', pg_temp.epoch('n2'), '{}')) ->> 'error', 'PT403',
          'a worker token naming no node acts for none (403)');
SELECT is(pg_temp.call('worker', format('api.leave_node(%L, %s)', 'n2', pg_temp.epoch('n2')), '{"host": "n2"}') ->> 'error', 'PT403',
          'a host agent''s token naming "n2" is not the node agent of n2 (403)');
SELECT ok((SELECT l.epoch = b.epoch AND l.last_heartbeat_at = b.last_heartbeat_at
           FROM compute.node_leases l JOIN n2_before b USING (node_id))
          AND NOT EXISTS (SELECT FROM compute.nodes WHERE name = 'n9'),
          '... and the refused calls changed nothing');
SELECT is(pg_temp.agent('n2', format('api.node_heartbeat(%L, %s, %L)', 'n2', pg_temp.epoch('n2'), '{}')) ->> 'node', 'n2',
          'the agent of n2 sends n2''s heartbeat');
SELECT is(ARRAY[pg_temp.agent('n1', $$api.drain_node('n1')$$) ->> 'error',
                pg_temp.agent('n1', $$(SELECT count(*) FROM api.release_idle_projects())$$) ->> 'error',
                pg_temp.agent('n1', $$(SELECT count(*) FROM api.surplus_idle_nodes())$$) ->> 'error'],
          ARRAY['42501', '42501', '42501'],
          'drain_node, release_idle_projects and surplus_idle_nodes are the operator''s, not even a node''s own (42501)');

SELECT is(pg_temp.app($$api.acquire_node('p1')$$) - 'node_id' - 'epoch' - 'assigned_at',
          '{"project_id": "p1", "node": "n1", "new": true, "previous_epoch": null}'::jsonb,
          'acquire_node assigns a free live node to a new project');
CREATE TEMP TABLE first_p1 AS SELECT pg_temp.app($$api.acquire_node('p1')$$) AS a;
SELECT is((SELECT a - 'new' FROM first_p1), (SELECT to_jsonb(x) - 'new' FROM (
              SELECT 'p1' AS project_id, 'n1' AS node, n.id AS node_id, a.epoch, a.assigned_at, NULL::bigint AS previous_epoch
              FROM compute.assignments a JOIN compute.nodes n ON n.id = a.node_id WHERE a.project_id = 'p1') x),
          'acquire_node again: the same node and epoch');
SELECT is((SELECT a -> 'new' FROM first_p1), 'false'::jsonb, '... marked not new');
SELECT ok((SELECT a.epoch > pg_temp.epoch('n1') FROM compute.assignments a WHERE a.project_id = 'p1'),
          'an assignment''s epoch is greater than its node''s registration epoch');
SELECT is(pg_temp.app($$api.acquire_node('p2')$$) ->> 'node', 'n2', 'p2 gets n2');
SELECT is(pg_temp.app($$api.acquire_node('p3')$$) ->> 'node', 'n3', 'p3 gets n3');

CREATE TEMP TABLE busy AS SELECT pg_temp.app($$api.acquire_node('p4')$$) AS e;
SELECT is((SELECT e ->> 'error' FROM busy), 'PGRST', 'every node busy: SQLSTATE PGRST (full control of the response)');
SELECT is((SELECT (e ->> 'message')::jsonb - 'details' - 'hint' FROM busy),
          '{"code": "PT503", "message": "All compute nodes are busy. Please come back later."}'::jsonb,
          '... code PT503: all compute nodes are busy, come back later');
SELECT is((SELECT (e ->> 'detail')::jsonb FROM busy), '{"status": 503, "headers": {"Retry-After": "10"}}'::jsonb,
          '... status 503 with Retry-After');
SELECT ok(NOT EXISTS (SELECT FROM compute.projects WHERE id = 'p4'), '... and nothing was stored for p4');

SELECT throws_ok($$INSERT INTO compute.assignments (project_id, node_id, node_epoch, slot_no, assigned_at)
                   SELECT 'p1', id, 0, 99, now() FROM compute.nodes WHERE name = 'n3'$$,
                 '23505', NULL,
                 'known risk: concurrent calls assign a project twice - a project cannot be assigned twice: assignments_project_id_key refuses a second live assignment (ComputeConcurrencyTests runs 20 concurrent acquisitions of one project)');
INSERT INTO compute.projects (id, first_seen_at, last_used_at) VALUES ('px', now(), now());
SELECT throws_ok($$INSERT INTO compute.assignments (project_id, node_id, node_epoch, slot_no, assigned_at)
                   SELECT 'px', id, 0, 99, now() FROM compute.nodes WHERE name = 'n1'$$,
                 '23505', NULL, 'a node cannot hold two projects: assignments_node_id_key');

------------------------------------------------------------------------------------------------------
-- Heartbeats, memory, death after 60 s of database time
------------------------------------------------------------------------------------------------------
SELECT is(pg_temp.beat('n1', '{"p1": 1000, "ghost": 5}') - 'heartbeat_at' - 'projects' - 'epoch',
          '{"node": "n1", "state": "live", "stop": ["ghost"], "over_limit": [], "memory_limit_mb": 4096}'::jsonb,
          'a heartbeat renews the lease; a reported project that is not the node''s is listed in stop');
SELECT is(pg_temp.beat('n1') -> 'projects' -> 0 ->> 'epoch',
          (SELECT epoch::text FROM compute.assignments WHERE project_id = 'p1'),
          'the heartbeat answer lists the node''s projects with their assignment epochs (fencing tokens)');
SELECT is((SELECT memory_mb FROM compute.projects WHERE id = 'p1'), 1000, 'the heartbeat recorded p1''s memory');
SELECT ok(NOT EXISTS (SELECT FROM compute.projects WHERE id = 'ghost'), 'a project that is not the node''s is not recorded');
SELECT is(pg_temp.agent('n1', format('api.node_heartbeat(%L, %s, %L)', 'n1', pg_temp.epoch('n1'), '{"p1": -1}')) ->> 'error',
          '22023', 'a negative usage is 400');

DO $do$ BEGIN PERFORM compute._test_advance_clock('45 s'); END $do$;
DO $do$ BEGIN PERFORM pg_temp.beat('n1'), pg_temp.beat('n3'); END $do$;
DO $do$ BEGIN PERFORM compute._test_advance_clock('14 s'); END $do$;   -- n2: 59 s without a heartbeat
SELECT is(pg_temp.app($$api.acquire_node('p2')$$) - 'node_id' - 'epoch' - 'assigned_at',
          '{"project_id": "p2", "node": "n2", "new": false, "previous_epoch": null}'::jsonb,
          'after 59 s without a heartbeat the node still holds its project');
CREATE TEMP TABLE p2_old AS SELECT epoch FROM compute.assignments WHERE project_id = 'p2';
DO $do$ BEGIN PERFORM compute._test_advance_clock('2 s'); END $do$;    -- n2: 61 s
SELECT is(pg_temp.app($$api.acquire_node('p2')$$) ->> 'error', 'PGRST',
          'after 61 s n2 is dead; with no free node p2 gets 503 (come back later)');
SELECT is((SELECT epoch FROM compute.assignments WHERE project_id = 'p2'), (SELECT epoch FROM p2_old),
          '... and the 503 changed nothing');
DO $do$ BEGIN PERFORM pg_temp.agent('n4', $$api.register_node('n4', 8192)$$); END $do$;
CREATE TEMP TABLE p2_new AS SELECT pg_temp.app($$api.acquire_node('p2')$$) AS a;
SELECT is((SELECT a ->> 'node' FROM p2_new), 'n4',
          'known risk: a failed node keeps its project unreachable for the heartbeat timeout (60 s) - the same bound here, judged by the database clock: after 60 s the next acquire_node moves the project to a live node');
SELECT ok((SELECT (a ->> 'epoch')::bigint > (SELECT epoch FROM p2_old) AND (a ->> 'previous_epoch')::bigint = (SELECT epoch FROM p2_old) FROM p2_new),
          '... with a greater epoch; the answer names the ended one');
SELECT is((SELECT end_reason::text FROM compute.assignment_history WHERE epoch = (SELECT epoch FROM p2_old)), 'node_dead',
          '... the dead node''s assignment ended (history: node_dead)');

-- The zombie: n2 comes back and sends heartbeats with its old epoch.
CREATE TEMP TABLE n2_lease AS SELECT * FROM compute.node_leases WHERE epoch = pg_temp.epoch('n2');
CREATE TEMP TABLE zombie AS SELECT pg_temp.beat('n2', '{"p2": 3000}') AS e;
SELECT is((SELECT e ->> 'error' FROM zombie), 'PT409',
          'known risk: a zombie node (does no work, still sends heartbeats) - a heartbeat after the lease expired is refused with 409: a dead node stays dead until it registers again');
SELECT alike((SELECT e ->> 'message' FROM zombie), '%lease of compute node ''n2'' expired%', '... saying the lease expired');
SELECT ok((SELECT l.last_heartbeat_at = o.last_heartbeat_at FROM compute.node_leases l JOIN n2_lease o USING (node_id))
          AND (SELECT memory_mb IS NULL FROM compute.projects WHERE id = 'p2'),
          '... and changed nothing: neither its lease nor p2''s memory');
CREATE TEMP TABLE n2_old AS SELECT pg_temp.epoch('n2') AS epoch;
SELECT ok((pg_temp.agent('n2', $$api.register_node('n2', 8192)$$) ->> 'epoch')::bigint > (SELECT epoch FROM n2_old),
          'the zombie registers again: a new, greater epoch');
SELECT is(pg_temp.agent('n2', format('api.node_heartbeat(%L, %s, %L)', 'n2', (SELECT epoch FROM n2_old), '{"p2": 3000}')) ->> 'error',
          'PT409', 'a heartbeat with the old epoch is refused: stale epoch (409)');
SELECT is(pg_temp.beat('n2', '{"p2": 3000}') -> 'stop', '["p2"]'::jsonb,
          'with the new epoch the heartbeat is accepted, and p2 (now on n4) is in stop: the node must stop serving it');
SELECT ok((SELECT memory_mb IS NULL FROM compute.projects WHERE id = 'p2'), '... and its report for p2 is not recorded');

------------------------------------------------------------------------------------------------------
-- Leaving, joining
------------------------------------------------------------------------------------------------------
SELECT is(pg_temp.agent('n3', format('api.leave_node(%L, %s)', 'n3', pg_temp.epoch('n3') - 1)) ->> 'error', 'PT409',
          'leave_node with a stale epoch is 409');
SELECT ok(pg_temp.epoch('n3') IS NOT NULL, '... and changed nothing');
SELECT is(pg_temp.agent('n3', format('api.leave_node(%L, %s)', 'n3', pg_temp.epoch('n3'))) - 'epoch',
          '{"node": "n3", "state": "left", "released_projects": ["p3"]}'::jsonb,
          'leave_node ends the node''s assignments at once');
SELECT is(pg_temp.app($$api.acquire_node('p3')$$) ->> 'node', 'n2',
          'known risk: requests fail while a node is moved - a node that leaves gracefully hands its project back at once: the next acquire_node gets another node, no timeout');
SELECT is(pg_temp.app($$api.acquire_node('p5')$$) ->> 'error', 'PGRST',
          'known risk: a node that left the cluster is assigned - never here: a left node is not picked (503 rather than n3)');
SELECT is(pg_temp.beat('n3') ->> 'error', 'PT409', 'a node that left gets 409 on heartbeats');
SELECT is(pg_temp.agent('n5', $$api.register_node('n5', 8192)$$) ->> 'state', 'live', 'n5 joins');
SELECT is(pg_temp.app($$api.acquire_node('p5')$$) ->> 'node', 'n5',
          'known risk: 503 while recently joined nodes are not yet usable - not here: a node is usable by the next acquire_node as soon as its registration commits');
SELECT is(pg_temp.app($$api.acquire_node('p2')$$) ->> 'node', 'n4',
          'known risk: a failed request (even a 404) is no reason to reassign - reassignment follows heartbeats only: while its lease is fresh acquire_node answers the same node');

------------------------------------------------------------------------------------------------------
-- Memory limit
------------------------------------------------------------------------------------------------------
CREATE TEMP TABLE p1_over AS SELECT pg_temp.beat('n1', '{"p1": 5000}') AS b;
SELECT is((SELECT b -> 'over_limit' FROM p1_over), '[{"project_id": "p1", "memory_mb": 5000}]'::jsonb,
          'a heartbeat reporting 5000 MB lists p1 as over the limit');
SELECT ok((SELECT over_limit_since IS NOT NULL FROM compute.projects WHERE id = 'p1'), '... and marks the project');
SELECT is((SELECT b -> 'stop' FROM p1_over), '["p1"]'::jsonb, '... tells the node to stop it at once');
SELECT ok(NOT EXISTS (SELECT FROM compute.assignments WHERE project_id = 'p1')
          AND (SELECT end_reason::text = 'over_limit' AND peak_memory_mb = 5000 FROM compute.assignment_history
               WHERE project_id = 'p1' ORDER BY epoch DESC LIMIT 1),
          '... and ends its assignment (history: over_limit, peak 5000 MB): its node and slot are free for others at once');
CREATE TEMP TABLE too_big AS SELECT pg_temp.app($$api.acquire_node('p1')$$) AS e;
SELECT is((SELECT e ->> 'error' FROM too_big), 'PT413', 'acquire_node for a project above the limit: 413');
SELECT is((SELECT e ->> 'message' FROM too_big), 'project ''p1'' uses 5000 MB of memory, above the limit of 4096 MB per project',
          '... saying how much it uses and what the limit is');
SELECT alike((SELECT e ->> 'hint' FROM too_big), 'Reduce the project''s data to less than 4096 MB%', '... and what to do');
SELECT alike((SELECT e ->> 'detail' FROM too_big), '%It may be started again, and measured anew, from %',
          '... and from when it may run again (no operator needed)');
SELECT is(pg_temp.op($$api.set_compute_settings(memory_limit_mb => 8192)$$) ->> 'memory_limit_mb', '8192',
          'an operator raises the limit');
SELECT ok((SELECT over_limit_since IS NULL FROM compute.projects WHERE id = 'p1'), '... the mark follows the limit');
SELECT is(pg_temp.app($$api.acquire_node('p1')$$) ->> 'node', 'n1', '... and p1 runs again on its node');
DO $do$ BEGIN PERFORM pg_temp.op($$api.set_compute_settings(memory_limit_mb => 4096)$$); END $do$;
SELECT is(pg_temp.beat('n1', '{"p1": 3000}') -> 'over_limit', '[]'::jsonb, 'back under the limit: no longer listed');
SELECT ok((SELECT over_limit_since IS NULL AND memory_mb = 3000 FROM compute.projects WHERE id = 'p1'), '... nor marked');

------------------------------------------------------------------------------------------------------
-- Cap on running projects
------------------------------------------------------------------------------------------------------
DO $do$ BEGIN PERFORM pg_temp.agent('n6', $$api.register_node('n6', 8192)$$); END $do$;
DO $do$ BEGIN PERFORM pg_temp.op($$api.set_compute_settings(max_running_projects => 4)$$); END $do$;
SELECT is((SELECT count(*) FROM compute.assignments), 4::bigint, '4 projects run (p1, p2, p3, p5)');
SELECT is((SELECT max(slot_no) FROM compute.assignments), 4, 'lowering the cap moved the running projects into the slots under it');
CREATE TEMP TABLE capped AS SELECT pg_temp.app($$api.acquire_node('p6')$$) AS e;
SELECT is((SELECT (e ->> 'message')::jsonb ->> 'details' FROM capped), 'Running projects: 4; the cluster runs at most 4 at once.',
          'at the cap a new project gets 503 although n6 is free');
SELECT is(pg_temp.app($$api.acquire_node('p1')$$) ->> 'node', 'n1', '... running projects are still answered');
DO $do$ BEGIN PERFORM pg_temp.op($$api.set_compute_settings(max_running_projects => 100)$$); END $do$;
SELECT is(pg_temp.app($$api.acquire_node('p6')$$) ->> 'node', 'n6', 'the cap raised: p6 runs on n6');

------------------------------------------------------------------------------------------------------
-- Drain, idle release, surplus
------------------------------------------------------------------------------------------------------
SELECT is(pg_temp.op($$api.drain_node('n4')$$) -> 'projects' -> 0 ->> 'project_id', 'p2',
          'drain_node returns the projects still on the node');
SELECT is(pg_temp.app($$api.acquire_node('p2')$$) ->> 'node', 'n4', 'a draining node keeps serving its project');
SELECT is(pg_temp.op($$api.drain_node('nobody')$$) ->> 'error', 'PT404', 'draining an unknown node is 404');
SELECT is(pg_temp.op($$api.drain_node('n3')$$) ->> 'error', 'PT409', 'draining a node that left is 409');
SELECT is(pg_temp.beat('n4') ->> 'state', 'draining', 'the heartbeat answer tells the node it is draining');
DO $do$ BEGIN PERFORM pg_temp.agent('n7', $$api.register_node('n7', 8192)$$); END $do$;
SELECT is(pg_temp.app($$api.acquire_node('p7')$$) ->> 'node', 'n7', 'a new project is placed on a live node, not the draining one');
SELECT is(pg_temp.agent('n4', format('api.register_node(%L, 8192)', 'n4')) ->> 'state', 'draining',
          'a draining node that registers again stays draining (its old project is released)');

DO $do$ BEGIN PERFORM pg_temp.op($$api.set_compute_settings(idle_release_seconds => 120)$$); END $do$;
DO $do$ BEGIN PERFORM compute._test_advance_clock('50 s'); END $do$;
DO $do$ BEGIN PERFORM pg_temp.beat(n) FROM unnest(ARRAY['n1', 'n2', 'n4', 'n5', 'n6', 'n7']) n; END $do$;
DO $do$ BEGIN PERFORM pg_temp.app($$api.acquire_node('p5')$$), pg_temp.app($$api.acquire_node('p7')$$); END $do$;
DO $do$ BEGIN PERFORM compute._test_advance_clock('50 s'); END $do$;
DO $do$ BEGIN PERFORM pg_temp.beat(n) FROM unnest(ARRAY['n1', 'n2', 'n4', 'n5', 'n6', 'n7']) n; END $do$;
SELECT is(pg_temp.op($$(SELECT jsonb_agg(r.project_id ORDER BY r.project_id) FROM api.release_idle_projects() r)$$), NULL,
          'release_idle_projects: nothing is idle for 120 s yet');
DO $do$ BEGIN PERFORM compute._test_advance_clock('50 s'); END $do$;   -- p1, p3, p6 last used 150 s ago; p5, p7 100 s ago
DO $do$ BEGIN PERFORM pg_temp.beat(n) FROM unnest(ARRAY['n1', 'n2', 'n4', 'n5', 'n6', 'n7']) n; END $do$;
SELECT is(pg_temp.op($$(SELECT jsonb_agg(jsonb_build_array(r.project_id, r.node, r.reason) ORDER BY r.project_id) FROM api.release_idle_projects() r)$$),
          '[["p1", "n1", "idle"], ["p3", "n2", "idle"], ["p6", "n6", "idle"]]'::jsonb,
          'release_idle_projects ends the assignments of projects idle longer than 120 s');
SELECT is(pg_temp.app($$api.acquire_node('p5')$$) ->> 'node', 'n5', '... recently used projects keep their nodes');
SELECT is((SELECT peak_memory_mb FROM compute.assignment_history WHERE project_id = 'p1' ORDER BY epoch DESC LIMIT 1), 3000,
          'the ended assignment records the peak memory its node reported');
SELECT is(pg_temp.op($$(SELECT jsonb_agg(jsonb_build_array(r.node, r.reason) ORDER BY r.reason = 'idle', r.last_peak_memory_mb DESC NULLS LAST, r.node) FROM api.surplus_idle_nodes() r)$$),
          '[["n4", "drained"], ["n1", "idle"], ["n2", "idle"], ["n6", "idle"]]'::jsonb,
          'surplus_idle_nodes: the drained node without projects, and every idle live node (spare_nodes 0)');
SELECT is(pg_temp.op($$(SELECT jsonb_agg(r.node) FROM api.surplus_idle_nodes() r WHERE r.reason = 'idle')$$) -> 0, '"n1"'::jsonb,
          'known risk: a node that once grew never shrinks - the idle node whose last project grew largest (3000 MB) is the first an autoscaler is told to remove');
DO $do$ BEGIN PERFORM pg_temp.op($$api.set_compute_settings(spare_nodes => 2)$$); END $do$;
SELECT is(pg_temp.op($$(SELECT jsonb_agg(r.node ORDER BY r.node) FROM api.surplus_idle_nodes() r WHERE r.reason = 'idle')$$),
          '["n1"]'::jsonb, 'with spare_nodes 2, two idle nodes are kept as spares');
DO $do$ BEGIN PERFORM pg_temp.app($$api.acquire_node('p7')$$); END $do$;
DO $do$ BEGIN PERFORM compute._test_advance_clock('30 s'); END $do$;
DO $do$ BEGIN PERFORM pg_temp.beat(n) FROM unnest(ARRAY['n1', 'n2', 'n4', 'n6', 'n7']) n; END $do$;   -- not n5
DO $do$ BEGIN PERFORM compute._test_advance_clock('31 s'); END $do$;  -- n5: 61 s without a heartbeat, the others 31 s
SELECT is(pg_temp.op($$(SELECT jsonb_agg(r.node) FROM api.surplus_idle_nodes() r WHERE r.reason = 'dead')$$),
          '["n5"]'::jsonb, 'a dead node is reported for removal too');
SELECT is(pg_temp.op($$(SELECT jsonb_agg(jsonb_build_array(r.project_id, r.reason)) FROM api.release_idle_projects() r)$$),
          '[["p5", "node_dead"]]'::jsonb, 'release_idle_projects also ends assignments on dead nodes');

------------------------------------------------------------------------------------------------------
-- Invariants
------------------------------------------------------------------------------------------------------
SELECT is_empty($$SELECT project_id FROM compute.assignment_history GROUP BY project_id
                  HAVING array_agg(epoch ORDER BY assigned_at, epoch) <> array_agg(epoch ORDER BY epoch)$$,
                'the epochs of a project''s assignments only grow');
SELECT is_empty($$SELECT a.epoch FROM compute.assignments a JOIN compute.nodes n ON n.id = a.node_id WHERE n.state = 'left'$$,
                'no live assignment on a node that left');
SELECT is_empty($$SELECT n.id FROM compute.nodes n LEFT JOIN compute.node_leases l ON l.node_id = n.id
                  WHERE (n.state = 'left') <> (l.node_id IS NULL)$$,
                'a node has a lease exactly while it is registered');
SELECT is_empty($$SELECT h.epoch FROM compute.assignment_history h JOIN compute.assignments a USING (epoch)$$,
                'an assignment is live or history, never both');
SELECT is(pg_temp.op($$api.compute_settings()$$) ->> 'spare_nodes', '2', 'compute_settings returns the settings');
SELECT is(pg_temp.op($$(SELECT count(*) FROM api.list_compute_nodes())$$), '7'::jsonb, 'list_compute_nodes lists every node');

------------------------------------------------------------------------------------------------------
-- Over the memory limit is not for ever: probation (a project fails while it uses more than the limit,
-- not for good)
------------------------------------------------------------------------------------------------------
DO $do$ BEGIN PERFORM compute._test_advance_clock('61 s'); END $do$;   -- every node so far is dead
DO $do$ BEGIN PERFORM pg_temp.agent('n8', $$api.register_node('n8', 8192)$$); END $do$;
SELECT is(pg_temp.app($$api.acquire_node('p8')$$) ->> 'node', 'n8', 'p8 runs on n8');
SELECT is(pg_temp.beat('n8', '{"p8": 5000}') -> 'stop', '["p8"]'::jsonb, 'p8 grows to 5000 MB: stopped at once');
SELECT is(pg_temp.app($$api.acquire_node('p8')$$) ->> 'error', 'PT413', '... and refused (413)');
DO $do$ BEGIN PERFORM compute._test_advance_clock('59 s'); PERFORM pg_temp.beat('n8'); END $do$;
SELECT is(pg_temp.app($$api.acquire_node('p8')$$) ->> 'error', 'PT413', 'still refused 59 s after the report (over_limit_retry_seconds 60)');
DO $do$ BEGIN PERFORM compute._test_advance_clock('2 s'); END $do$;
CREATE TEMP TABLE probation AS SELECT pg_temp.app($$api.acquire_node('p8')$$) AS a;
SELECT is((SELECT a ->> 'node' FROM probation), 'n8',
          '61 s after the report p8 runs again, on probation: no operator needed');
SELECT ok((SELECT memory_mb IS NULL AND over_limit_since IS NULL FROM compute.projects WHERE id = 'p8'),
          '... the old figure expired with its assignment: the node measures it anew');
SELECT is(pg_temp.beat('n8', '{"p8": 4500}') -> 'over_limit', '[{"project_id": "p8", "memory_mb": 4500}]'::jsonb,
          'still above the limit: listed and stopped at the first heartbeat');
SELECT is(pg_temp.app($$api.acquire_node('p8')$$) ->> 'error', 'PT413', '... and refused again at once');
DO $do$ BEGIN PERFORM compute._test_advance_clock('30 s'); PERFORM pg_temp.beat('n8'); PERFORM compute._test_advance_clock('31 s'); END $do$;
SELECT is(pg_temp.app($$api.acquire_node('p8')$$) ->> 'new', 'true', 'the user reduced the data: 61 s later it runs again');
SELECT is(pg_temp.beat('n8', '{"p8": 2000}') -> 'stop', '[]'::jsonb, '... measured under the limit: it keeps running');
SELECT is(pg_temp.app($$api.acquire_node('p8')$$) ->> 'new', 'false', '... on the same assignment');
SELECT is(pg_temp.op($$api.set_compute_settings(over_limit_retry_seconds => 300)$$) ->> 'over_limit_retry_seconds', '300',
          'an operator sets how long a project above the limit waits before it is measured again');

------------------------------------------------------------------------------------------------------
-- Owners: a project is its first acquirer's; a per-user cap on running projects
------------------------------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.as_user(p_sub text, p text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_temp.call('app_user', p, jsonb_build_object('sub', p_sub)) $$;
DO $do$ BEGIN PERFORM pg_temp.agent(n, format('api.register_node(%L, 8192)', n)) FROM unnest(ARRAY['n10', 'n11', 'n12', 'n13', 'n14']) n; END $do$;
SELECT is(pg_temp.as_user('alice', $$api.acquire_node('pa1')$$) ->> 'node', 'n10', 'alice acquires pa1');
SELECT is((SELECT owner_id FROM compute.projects WHERE id = 'pa1'), 'alice', '... and owns it: the first acquirer claims a project');
CREATE TEMP TABLE pa1_before AS SELECT last_used_at FROM compute.projects WHERE id = 'pa1';
DO $do$ BEGIN PERFORM compute._test_advance_clock('1 s'); END $do$;
CREATE TEMP TABLE not_yours AS SELECT pg_temp.as_user('bob', $$api.acquire_node('pa1')$$) AS e;
SELECT is((SELECT e ->> 'error' FROM not_yours), 'PT403', 'bob cannot acquire alice''s project: 403');
SELECT is((SELECT e ->> 'message' FROM not_yours), 'project ''pa1'' belongs to another user', '... saying so');
SELECT ok((SELECT p.last_used_at = b.last_used_at FROM compute.projects p, pa1_before b WHERE p.id = 'pa1'),
          '... and his calls do not keep it from going idle (last_used_at unchanged)');
SELECT is(pg_temp.call('app_user', $$api.acquire_node('pz')$$, '{"sub": null}') ->> 'error', 'PT401',
          'a token without a user (no sub) acquires nothing: 401');
INSERT INTO compute.projects (id, first_seen_at, last_used_at) VALUES ('legacy', now(), now());
SELECT is(pg_temp.as_user('bob', $$api.acquire_node('legacy')$$) ->> 'node', 'n11',
          'a project without an owner (acquired before projects had owners) is claimed by its next acquirer');
SELECT is((SELECT owner_id FROM compute.projects WHERE id = 'legacy'), 'bob', '... bob''s now');
SELECT is(pg_temp.as_user('alice', $$api.acquire_node('legacy')$$) ->> 'error', 'PT403', '... and no longer alice''s to take');

DO $do$ BEGIN PERFORM pg_temp.op($$api.set_compute_settings(max_running_projects_per_user => 2)$$); END $do$;
SELECT is(pg_temp.as_user('alice', $$api.acquire_node('pa2')$$) ->> 'node', 'n12', 'alice runs a second project');
CREATE TEMP TABLE third AS SELECT pg_temp.as_user('alice', $$api.acquire_node('pa3')$$) AS e;
SELECT is((SELECT e ->> 'error' FROM third), 'PGRST', 'a third one, with max_running_projects_per_user 2: refused');
SELECT is((SELECT (e ->> 'detail')::jsonb FROM third), '{"status": 429, "headers": {"Retry-After": "10"}}'::jsonb,
          '... 429 Too Many Requests with Retry-After');
SELECT is((SELECT (e ->> 'message')::jsonb - 'hint' FROM third),
          '{"code": "PT429", "message": "You already run 2 projects, the most one user may run at once. Please come back later.",
            "details": "max_running_projects_per_user is 2; free compute nodes remain for other users."}'::jsonb,
          '... saying why');
SELECT ok(NOT EXISTS (SELECT FROM compute.projects WHERE id = 'pa3'), '... and nothing was stored for pa3');
SELECT is(pg_temp.as_user('alice', $$api.acquire_node('pa1')$$) ->> 'node', 'n10', 'alice''s running projects are still answered');
SELECT is(pg_temp.as_user('carol', $$api.acquire_node('pc1')$$) ->> 'node', 'n13',
          'carol is not held back by alice''s cap: she gets a node');
DO $do$ BEGIN PERFORM pg_temp.agent('n12', format('api.leave_node(%L, %s)', 'n12', pg_temp.epoch('n12'))); END $do$;
SELECT is(pg_temp.as_user('alice', $$api.acquire_node('pa3')$$) ->> 'node', 'n14', 'pa2''s node left: alice may run pa3');
SELECT is(pg_temp.op($$api.compute_settings()$$) ->> 'max_running_projects_per_user', '2', 'compute_settings shows the per-user cap');

------------------------------------------------------------------------------------------------------
-- Projects from before owners (migration 0013), and the operator's say over owners
------------------------------------------------------------------------------------------------------
DO $do$ BEGIN PERFORM pg_temp.agent(n, format('api.register_node(%L, 8192)', n)) FROM unnest(ARRAY['n15', 'n16']) n; END $do$;
SELECT is(pg_temp.as_user('dave', $$api.acquire_node('pd1')$$) ->> 'node', 'n15', 'dave acquires pd1');
-- As a project running when 0013 was applied: a live assignment, no owner recorded.
UPDATE compute.projects SET owner_id = NULL WHERE id = 'pd1';
CREATE TEMP TABLE pd1_before AS SELECT last_used_at FROM compute.projects WHERE id = 'pd1';
DO $do$ BEGIN PERFORM compute._test_advance_clock('1 s'); END $do$;
CREATE TEMP TABLE unclaimed AS SELECT pg_temp.as_user('mallory', $$api.acquire_node('pd1')$$) AS e;
SELECT is((SELECT e ->> 'error' FROM unclaimed), 'PT403',
          'a running project without an owner (from before owners) is not handed to a new acquirer: 403');
SELECT is((SELECT e ->> 'message' FROM unclaimed), 'project ''pd1'' has no owner and is running: an operator must assign it',
          '... saying an operator must assign it');
SELECT ok((SELECT p.owner_id IS NULL AND p.last_used_at = b.last_used_at FROM compute.projects p, pd1_before b WHERE p.id = 'pd1'),
          '... nothing changed: still nobody''s, and the refused call does not keep it from going idle');
SELECT is(pg_temp.as_user('dave', $$api.acquire_node('pd1')$$) ->> 'error', 'PT403',
          '... not even for the user who runs it: nobody recorded who that is');
SELECT is(pg_temp.op($$api.set_project_owner('pd1', 'dave')$$),
          '{"project_id": "pd1", "owner": "dave", "previous_owner": null, "node": "n15"}'::jsonb,
          'an operator assigns it to its user (set_project_owner)');
SELECT is(pg_temp.as_user('dave', $$api.acquire_node('pd1')$$) - 'assigned_at' - 'epoch' - 'node_id',
          '{"project_id": "pd1", "node": "n15", "new": false, "previous_epoch": null}'::jsonb,
          '... who gets its live node back');
SELECT is(pg_temp.as_user('mallory', $$api.acquire_node('pd1')$$) ->> 'message', 'project ''pd1'' belongs to another user',
          '... and nobody else does');
-- An idle project without an owner runs nothing of anyone's: its next acquirer claims it, even a squatter.
INSERT INTO compute.projects (id, first_seen_at, last_used_at) VALUES ('pd2', now(), now());
SELECT is(pg_temp.as_user('mallory', $$api.acquire_node('pd2')$$) ->> 'node', 'n16',
          'an idle project without an owner is claimed by its next acquirer');
SELECT is(pg_temp.op($$api.set_project_owner('pd2', 'dave')$$) ->> 'previous_owner', 'mallory',
          'an operator gives a squatted project to its user');
SELECT is(pg_temp.as_user('dave', $$api.acquire_node('pd2')$$) ->> 'node', 'n16', '... who gets its node');
SELECT is(pg_temp.as_user('mallory', $$api.acquire_node('pd2')$$) ->> 'error', 'PT403', '... and the squatter no longer does');
SELECT is(pg_temp.op($$api.set_project_owner('pd2', NULL)$$) -> 'owner', 'null'::jsonb, 'an operator clears an owner (NULL)');
SELECT ok((SELECT owner_id IS NULL FROM compute.projects WHERE id = 'pd2'), '... the project is nobody''s');
SELECT is(pg_temp.as_user('mallory', $$api.acquire_node('pd2')$$) ->> 'error', 'PT403',
          '... and, running, claimable by nobody until an operator assigns it or it is released');
SELECT is(pg_temp.op($$api.set_project_owner('nope', 'dave')$$) ->> 'error', 'PT404', 'set_project_owner: unknown project 404');
SELECT is(pg_temp.op($$api.set_project_owner('', 'dave')$$) ->> 'error', '22023', '... empty project_id 400');
SELECT is(pg_temp.op($$api.set_project_owner('pd1', '')$$) ->> 'error', '22023', '... empty owner 400 (NULL clears)');
SELECT is(pg_temp.op(format('api.set_project_owner(%L, %L)', 'pd1', repeat('x', 256))) ->> 'message',
          'owner must be at most 255 characters', '... owner above 255 characters 400');
SELECT is(pg_temp.app($$api.set_project_owner('pd1', 'tester')$$) ->> 'error', '42501',
          'a user cannot give himself a project: operators only');
SELECT is((SELECT owner_id FROM compute.projects WHERE id = 'pd1'), 'dave', '... nothing changed by the refused calls');

SELECT * FROM finish();
ROLLBACK;

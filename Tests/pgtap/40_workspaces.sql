-- Workspaces, hosts and host agents (sql/workspaces.sql): the specification a DBA reads. Every state
-- transition of a workspace, placement on the least-loaded host holding the image, row level security
-- between users, the host agents' fenced tasks and reconciliation, the compatibility REST routes and the
-- errors, called as the roles the gateway switches to. The build queue is specified in 41_builds.sql,
-- the e-mail outbox in 42_notifications.sql; the schema they share is checked here once.
-- Time is moved by editing updated_at, never by sleeping.
-- Run by `make test` (pg_prove) on the freshly migrated test database; everything is rolled back.
BEGIN;
SELECT plan(116);

-- explain_list(): the plan of list_workspaces' query, with sequential scans off (the tables are tiny
-- here; the point is that the index matches without a Sort).
CREATE FUNCTION pg_temp.explain_list() RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL enable_seqscan = off;
    RETURN QUERY EXECUTE $q$EXPLAIN (COSTS OFF) SELECT w.id FROM workspaces.workspaces w
        WHERE w.owner = 'alice' ORDER BY w.id$q$;
    RESET enable_seqscan;
END $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO app_user, operator, worker, web_anon, platform_owner;

-- Start from empty tables (whatever other tests left; rolled back at the end).
SELECT test_helpers.empty_workspace_tables();

------------------------------------------------------------------------------------------------------
-- Structure
------------------------------------------------------------------------------------------------------
SELECT has_schema('workspaces', 'the private schema workspaces exists');
SELECT enum_has_labels('workspaces', 'build_status', ARRAY['SCHEDULED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'CANCELLED'],
                       'build statuses');
SELECT enum_has_labels('workspaces', 'workspace_state', ARRAY['PROVISIONING', 'CLEANING', 'READY', 'DELETING', 'FAILED'],
                       'workspace states');
SELECT is(
    (SELECT pg_get_indexdef('workspaces.builds_claim_idx'::regclass)),
    'CREATE INDEX builds_claim_idx ON workspaces.builds USING btree (priority DESC, run_at, id) WHERE ((status = ''SCHEDULED''::workspaces.build_status) AND due)',
    'the claim index is partial on due SCHEDULED builds and ordered like the claim');
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'workspaces.workspaces'::regclass), 'RLS is enabled on workspaces');
SELECT results_eq(
    $$SELECT (p.oid::regprocedure::text || ' ' || coalesce(array_to_string(p.proargnames, ','), '')) COLLATE "default"
      FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace AND p.proname IN
      ('create_workspace', 'list_workspaces', 'delete_workspace', 'schedule_image_build', 'cancel_build', 'retry_build',
       'claim_host_task', 'report_task_success', 'report_task_failure', 'reconcile_host', 'claim_build',
       'heartbeat_build', 'complete_build', 'requeue_expired_builds', 'register_host', 'add_host_image',
       'set_host_availability', 'list_hosts', 'report_host_disk') ORDER BY 1$$,
    ARRAY['api.add_host_image(text,text,text) host,image,arch',
          'api.cancel_build(bigint) build_id',
          'api.claim_build(text) worker',
          'api.claim_host_task(text) host',
          'api.complete_build(bigint,uuid,text,text) build_id,lease_token,status,log',
          'api.create_workspace(text,text,text) project_name,parent_name,arch',
          'api.delete_workspace(bigint) workspace_id',
          'api.heartbeat_build(bigint,uuid) build_id,lease_token',
          'api.list_hosts() ',
          'api.list_workspaces() workspace_id,project,parent_name,arch,host,hostname,ip,state,created_at',
          'api.reconcile_host(text,text[]) host,container_ids',
          'api.register_host(text,integer) name,disk_capacity',
          'api.report_host_disk(text,bigint,bigint) host,used_bytes,free_bytes',
          'api.report_task_failure(bigint,uuid,text) workspace_id,task_token,reason',
          'api.report_task_success(bigint,uuid,text,inet) workspace_id,task_token,hostname,ip',
          'api.requeue_expired_builds() ',
          'api.retry_build(bigint) build_id',
          'api.schedule_image_build(text,text,bigint,integer,timestamp with time zone,text,text) image_name,project,change,priority,run_at,idempotency_key,arch',
          'api.set_host_availability(text,boolean) name,available'],
    'api has exactly the documented workspace and build functions');
SELECT results_eq(
    $$SELECT (p.proname::text || ':' || string_agg(r, ',' ORDER BY r)) COLLATE "default"
      FROM pg_proc p, unnest(ARRAY['app_user', 'worker', 'operator', 'web_anon']) r
      WHERE p.pronamespace = 'api'::regnamespace AND has_function_privilege(r, p.oid, 'EXECUTE')
        AND p.proname IN ('create_workspace', 'list_workspaces', 'delete_workspace', 'schedule_image_build', 'cancel_build',
          'retry_build', 'claim_host_task', 'report_task_success', 'report_task_failure', 'reconcile_host', 'claim_build',
          'heartbeat_build', 'complete_build', 'requeue_expired_builds', 'register_host', 'add_host_image',
          'set_host_availability', 'list_hosts', 'report_host_disk')
      GROUP BY p.proname ORDER BY 1$$,
    ARRAY['add_host_image:operator', 'cancel_build:app_user,operator', 'claim_build:worker', 'claim_host_task:worker',
          'complete_build:worker', 'create_workspace:app_user', 'delete_workspace:app_user', 'heartbeat_build:worker',
          'list_hosts:operator', 'list_workspaces:app_user', 'reconcile_host:worker', 'register_host:operator',
          'report_host_disk:worker', 'report_task_failure:worker', 'report_task_success:worker', 'requeue_expired_builds:operator,worker',
          'retry_build:app_user,operator', 'schedule_image_build:app_user', 'set_host_availability:operator'],
    'each function is executable by exactly the roles that need it');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE p.pronamespace = 'workspaces'::regnamespace
        AND (obj_description(p.oid, 'pg_proc') IS NULL OR p.proowner <> 'platform_owner'::regrole)$$,
    'every private helper has a COMMENT and belongs to platform_owner');

------------------------------------------------------------------------------------------------------
-- Operator: hosts; what the other roles may not do
------------------------------------------------------------------------------------------------------
SELECT test_helpers.as_role('operator');
SELECT is((api.register_host('h1', 100) ->> 'disk_capacity')::int, 100, 'register_host h1 (100 GB)');
SELECT is((api.register_host('h2', 100) ->> 'disk_used')::int, 0, 'register_host h2 starts empty');
SELECT api.register_host('h3', 100);
SELECT is(test_helpers.error_of($$SELECT api.register_host('h1', 5)$$) ->> 'code', 'PT409', 'duplicate host name -> 409');
SELECT is(test_helpers.error_of($$SELECT api.register_host('hx', 0)$$) ->> 'code', '22023', 'disk capacity 0 -> 400');
SELECT is(test_helpers.error_of($$SELECT api.add_host_image('h1', 'nope')$$) ->> 'code', 'PT404', 'unknown image -> 404');
SELECT is(test_helpers.error_of($$SELECT api.set_host_availability('nope', true)$$) ->> 'code', 'PT404', 'unknown host -> 404');
SELECT is(test_helpers.error_of($$SELECT api.create_workspace('p')$$) ->> 'code', '42501', 'operator cannot create workspaces');

SELECT test_helpers.as_role('worker');
SELECT is(test_helpers.error_of($$SELECT api.register_host('hw', 5)$$) ->> 'code', '42501', 'worker cannot register hosts');
SELECT is(test_helpers.error_of($$SELECT api.schedule_image_build('i', 'p', 1)$$) ->> 'code', '42501', 'worker cannot schedule builds');
RESET ROLE;
SET LOCAL ROLE web_anon;
SELECT is(test_helpers.error_of($$SELECT api.list_workspaces()$$) ->> 'code', '42501', 'web_anon cannot list workspaces');
RESET ROLE;

-- A READY image to place workspaces from: alice's first build of img at change 100, done by a worker
-- (the queue itself is specified in 41_builds.sql).
SELECT test_helpers.as_user('alice');
SELECT api.schedule_image_build('img', 'proj', 100) ->> 'build_id' AS b1 \gset
SELECT test_helpers.as_role('worker');
SELECT api.claim_build('w1') ->> 'lease_token' AS t1 \gset
SELECT api.complete_build(:b1, :'t1', 'SUCCEEDED', 'built ok') ->> 'status';
RESET ROLE;

------------------------------------------------------------------------------------------------------
-- Workspaces: placement
------------------------------------------------------------------------------------------------------
SELECT test_helpers.as_user('alice');
SELECT results_eq($$SELECT (e ->> 'code'), (e ->> 'message')::json ->> 'message', e ->> 'detail'
                    FROM test_helpers.error_of('SELECT api.create_workspace(''proj'')') e$$,
                  $$VALUES ('PGRST', 'no host holds image img (x86_64)', '{"status" : 503, "headers" : {"Retry-After" : "30"}}')$$,
                  'no host holds the image -> 503 saying so, with Retry-After');
SELECT test_helpers.as_role('operator');
SELECT api.add_host_image(h, 'img') FROM unnest(ARRAY['h1', 'h2', 'h3']) h;
SELECT api.add_host_image('h1', 'img');   -- idempotent
SELECT api.set_host_availability(h, false) FROM unnest(ARRAY['h1', 'h2', 'h3']) h;
SELECT test_helpers.as_user('alice');
SELECT is((test_helpers.error_of($$SELECT api.create_workspace('proj')$$) ->> 'message')::json ->> 'message',
          'every host holding image img (x86_64) is unavailable', 'all hosts unavailable -> 503 saying so');
SELECT test_helpers.as_role('operator');
SELECT api.set_host_availability(h, true) FROM unnest(ARRAY['h1', 'h2', 'h3']) h;
RESET ROLE;
UPDATE workspaces.hosts SET disk_used = 30 WHERE name = 'h1';
UPDATE workspaces.hosts SET disk_used = 10 WHERE name = 'h2';
UPDATE workspaces.hosts SET disk_used = 20 WHERE name = 'h3';
SELECT test_helpers.as_user('alice');
SELECT api.create_workspace('proj') AS w1 \gset
SELECT results_eq(format($$SELECT %L::json ->> 'host', %L::json ->> 'state', %L::json ->> 'owner'$$, :'w1', :'w1', :'w1'),
                  $$VALUES ('h2', 'PROVISIONING', 'alice')$$, 'create_workspace: the least used host, PROVISIONING');
SELECT api.create_workspace('proj', 'img', 'x86_64') AS w2 \gset
SELECT is(:'w2'::json ->> 'host', 'h2', 'h2 (20 GB now) ties with h3 (20 GB): lower id');
SELECT is(api.create_workspace('proj') ->> 'host', 'h3', 'then h3 (h2 has 30 GB, h3 20 GB)');
RESET ROLE;
SELECT results_eq($$SELECT name COLLATE "default", disk_used FROM workspaces.hosts ORDER BY name$$,
                  $$VALUES ('h1', 30), ('h2', 30), ('h3', 30)$$, 'each creation took 10 GB of its host: usage spread');
SELECT test_helpers.as_user('bob');
SELECT api.create_workspace('proj') ->> 'workspace_id' AS wb \gset
RESET ROLE;
UPDATE workspaces.hosts SET disk_used = 95;
SELECT test_helpers.as_user('alice');
SELECT is((test_helpers.error_of($$SELECT api.create_workspace('proj')$$) ->> 'message')::json ->> 'message',
          'no host holding image img (x86_64) has 10 GB of free disk', 'all hosts full -> 503 saying so');
RESET ROLE;
UPDATE workspaces.hosts h SET disk_used = (SELECT coalesce(sum(w.disk_gb), 0) FROM workspaces.workspaces w WHERE w.host_id = h.id);
SELECT is((SELECT count(*)::int FROM workspaces.hosts h
           WHERE disk_used <> (SELECT coalesce(sum(w.disk_gb), 0) FROM workspaces.workspaces w WHERE w.host_id = h.id)), 0,
          'host disk_used = sum of its workspaces (restored for the rest of the test)');

------------------------------------------------------------------------------------------------------
-- Workspaces: RLS and isolation
------------------------------------------------------------------------------------------------------
SELECT test_helpers.as_user('alice');
SELECT is((SELECT count(*)::int FROM api.list_workspaces()), 3, 'alice lists her 3 workspaces');
SELECT is((SELECT count(*)::int FROM workspaces.workspaces), 3, 'reading the table directly, RLS shows only hers');
SELECT is(test_helpers.error_of(format('SELECT api.delete_workspace(%s)', :wb)) ->> 'code', 'PT404', 'alice cannot delete bob''s workspace (404)');
SELECT test_helpers.as_user('bob');
SELECT results_eq($$SELECT workspace_id::text FROM api.list_workspaces()$$, ARRAY[:'wb'], 'bob lists only his own');
SELECT is(test_helpers.error_of(format('SELECT api.delete_workspace(%s)', :'w1'::json ->> 'workspace_id')) ->> 'code', 'PT404',
          'bob cannot delete alice''s workspace (404)');
SELECT is(test_helpers.error_of('INSERT INTO workspaces.workspaces (owner) VALUES (''bob'')') ->> 'code', '42501',
          'app_user cannot write the table directly');
SELECT set_config('request.jwt.claims', '{"role":"app_user"}', true);
SELECT is(test_helpers.error_of('SELECT api.list_workspaces()') ->> 'code', 'PT401', 'no sub in the token -> 401');
RESET ROLE;
SELECT ok((SELECT string_agg(line, E'\n') FROM pg_temp.explain_list() line) LIKE '%workspaces_owner_idx%',
          'list_workspaces'' query uses the owner index');

------------------------------------------------------------------------------------------------------
-- Host agents: provision -> READY, failure -> CLEANING -> PROVISIONING, FAILED after max_attempts,
-- delete -> gone, reconcile
------------------------------------------------------------------------------------------------------
SELECT (:'w1'::json ->> 'workspace_id') AS w1id, (:'w2'::json ->> 'workspace_id') AS w2id \gset
SELECT test_helpers.as_agent('host', 'nope');
SELECT is(test_helpers.error_of($$SELECT api.claim_host_task('nope')$$) ->> 'code', 'PT404', 'claim for an unknown host -> 404');
SELECT test_helpers.as_agent('host', 'h2');
SELECT api.claim_host_task('h2') AS task \gset
SELECT results_eq(format($$SELECT %L::json ->> 'workspace_id', %L::json ->> 'task', %L::json ->> 'container_name', %L::json ->> 'image'$$,
                         :'task', :'task', :'task', :'task'),
                  format($$VALUES (%L, 'provision', %L, 'img')$$, :'w1id', 'ws-' || :'w1id'), 'h2''s agent gets the provision task of w1');
SELECT :'task'::json ->> 'task_token' AS t1 \gset
SELECT api.claim_host_task('h2') AS task2 \gset
SELECT is(:'task2'::json ->> 'workspace_id', :'w2id', 'the next claim gets w2 (w1 is claimed)');
SELECT :'task2'::json ->> 'task_token' AS t2 \gset
SELECT is(api.claim_host_task('h2')::text, NULL, 'then nothing');
SELECT is(test_helpers.error_of(format('SELECT api.report_task_success(%s, %L)', :w1id, :'t1')) ->> 'code', '22023',
          'provision success without hostname and ip -> 400');
SELECT is(test_helpers.error_of(format('SELECT api.report_task_success(%s, NULL, %L, %L)', :w1id, 'ws1.example', '10.0.0.5')) ->> 'code', '22023',
          'a report without the claim''s task_token -> 400');
SELECT is(test_helpers.error_of(format('SELECT api.report_task_success(%s, %L, %L, %L)', :w1id, :'t2', 'ws1.example', '10.0.0.5')) ->> 'code', 'PT409',
          'a report with another claim''s token -> 409');
SELECT is(test_helpers.error_of(format('SELECT api.report_task_success(%s, %L, %L, %L)', 0, :'t1', 'x', '10.0.0.5')) ->> 'code', 'PT404',
          'a report of an unknown workspace -> 404');
SELECT results_eq(format($$SELECT r ->> 'state', r ->> 'hostname', r ->> 'ip' FROM api.report_task_success(%s, %L, 'ws1.example', '10.0.0.5') r$$, :w1id, :'t1'),
                  $$VALUES ('READY', 'ws1.example', '10.0.0.5')$$, 'provision success: READY with hostname and ip');
SELECT is(test_helpers.error_of(format('SELECT api.report_task_success(%s, %L, %L, %L)', :w1id, :'t1', 'x', '10.0.0.6')) ->> 'code', 'PT409',
          'a READY workspace has no task to report (409), not even with the token of its finished task');
SELECT is(api.report_task_failure(:w2id, :'t2', 'docker: setup failed') ->> 'state', 'CLEANING',
          'provision failure: CLEANING (stale container removed before the retry)');
SELECT is(test_helpers.error_of(format('SELECT api.report_task_failure(%s, %L, %L)', :w2id, :'t2', 'again')) ->> 'code', 'PT409',
          'the reported task''s token is spent: reporting it again -> 409');
SELECT api.claim_host_task('h2') AS task \gset
SELECT is(:'task'::json ->> 'task', 'cleanup', 'the agent gets the cleanup task');
SELECT is(api.report_task_success(:w2id, (:'task'::json ->> 'task_token')::uuid) ->> 'state', 'PROVISIONING', 'cleanup done: PROVISIONING again, fresh state');
SELECT api.claim_host_task('h2') AS task \gset
SELECT is(:'task'::json ->> 'task', 'provision', 'the retry is a provision task');
SELECT is(api.report_task_failure(:w2id, (:'task'::json ->> 'task_token')::uuid, 'again') ->> 'state', 'CLEANING', 'second failure: CLEANING');
SELECT api.claim_host_task('h2') AS task \gset
SELECT is(api.report_task_failure(:w2id, (:'task'::json ->> 'task_token')::uuid, 'cleanup failed') ->> 'state', 'CLEANING', 'a failed cleanup is tried again');
SELECT api.report_task_success(:w2id, (api.claim_host_task('h2') ->> 'task_token')::uuid);
SELECT is(api.report_task_failure(:w2id, (api.claim_host_task('h2') ->> 'task_token')::uuid, 'third') ->> 'state', 'FAILED', 'third provision failure (max_attempts 3): FAILED');
RESET ROLE;
SELECT is((SELECT attempts FROM workspaces.workspaces WHERE id = :w2id), 3, '... after 3 attempts');
-- a claimed task is handed out again after 5 minutes (the agent may have died)
SELECT test_helpers.as_user('alice');
SELECT api.delete_workspace(:w1id) ->> 'state' AS st \gset
SELECT is(:'st'::text, 'DELETING', 'delete_workspace: DELETING');
SELECT is(api.delete_workspace(:w1id) ->> 'state', 'DELETING', 'deleting again changes nothing');
SELECT test_helpers.as_agent('host', 'h2');
SELECT api.claim_host_task('h2') AS task \gset
SELECT is(:'task'::json ->> 'task', 'delete', 'the agent gets the delete task');
SELECT :'task'::json ->> 'task_token' AS t_old \gset
SELECT is(api.claim_host_task('h2')::text, NULL, 'not again while claimed');
RESET ROLE;
UPDATE workspaces.workspaces SET task_claimed_at = now() - interval '6 minutes' WHERE id = :w1id;
SELECT test_helpers.as_agent('host', 'h2');
SELECT api.claim_host_task('h2') AS task \gset
SELECT is(:'task'::json ->> 'workspace_id', :'w1id', 'handed out again after 5 minutes');
SELECT is(test_helpers.error_of(format('SELECT api.report_task_success(%s, %L)', :w1id, :'t_old')) ->> 'code', 'PT409',
          'the first agent''s late report (its claim expired and the task was claimed again) -> 409');
SELECT is(api.report_task_failure(:w1id, (:'task'::json ->> 'task_token')::uuid, 'busy') ->> 'state', 'DELETING', 'a failed delete stays DELETING');
SELECT is(api.report_task_success(:w1id, (api.claim_host_task('h2') ->> 'task_token')::uuid)::jsonb, jsonb_build_object('workspace_id', :w1id, 'state', 'DELETED'),
          'delete success: DELETED');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM workspaces.workspaces WHERE id = :w1id), 0, 'the row is gone');
SELECT is((SELECT disk_used FROM workspaces.hosts WHERE name = 'h2'), 10, 'its 10 GB went back to h2 (w2, FAILED, keeps its 10)');

-- a workspace deleted while its provision is under way. The late provision report is
-- stale (409): it neither makes the workspace READY nor deletes the row and returns the disk while the
-- container it made runs on; the delete task that follows removes the container, then the row goes.
UPDATE workspaces.hosts SET is_available = (name = 'h2');   -- so the new workspace goes to h2
SELECT test_helpers.as_user('alice');
SELECT api.create_workspace('proj') ->> 'workspace_id' AS w4id \gset
RESET ROLE;
UPDATE workspaces.hosts SET is_available = true;
SELECT test_helpers.as_agent('host', 'h2');
SELECT api.claim_host_task('h2') AS task \gset
SELECT is(:'task'::json ->> 'workspace_id', :'w4id', 'h2''s agent claims the provision of a new workspace');
SELECT test_helpers.as_user('alice');
SELECT api.delete_workspace(:w4id);
SELECT test_helpers.as_agent('host', 'h2');
SELECT is(test_helpers.error_of(format('SELECT api.report_task_success(%s, %L, %L, %L)', :w4id, :'task'::json ->> 'task_token', 'ws4', '10.0.0.8')) ->> 'code',
          'PT409', 'the provision report of a workspace deleted meanwhile is stale -> 409');
SELECT is(test_helpers.error_of(format('SELECT api.report_task_failure(%s, %L, %L)', :w4id, :'task'::json ->> 'task_token', 'x')) ->> 'code',
          'PT409', 'its failure report too');
RESET ROLE;
SELECT results_eq(format('SELECT state::text, disk_gb FROM workspaces.workspaces WHERE id = %s', :w4id),
                  $$VALUES ('DELETING', 10)$$, 'the workspace is still DELETING and holds its disk');
SELECT test_helpers.as_agent('host', 'h2');
SELECT api.claim_host_task('h2') AS task \gset
SELECT is(:'task'::json ->> 'task', 'delete', 'the delete task is handed out at once (the old claim ended with the deletion)');
SELECT is(api.report_task_success(:w4id, (:'task'::json ->> 'task_token')::uuid) ->> 'state', 'DELETED', 'the container removed, the row goes');
RESET ROLE;
SELECT is((SELECT disk_used FROM workspaces.hosts WHERE name = 'h2'), 10, 'h2''s disk is back to w2''s 10 GB');

-- reconcile: h3 has alice's third workspace; make it READY, then its container vanishes
SELECT id AS w3id FROM workspaces.workspaces WHERE host_name = 'h3' AND owner = 'alice' \gset
SELECT test_helpers.as_agent('host', 'h3');
SELECT api.report_task_success(:w3id, (api.claim_host_task('h3') ->> 'task_token')::uuid, 'ws3', '10.0.0.7');
SELECT is(api.reconcile_host('h3', ARRAY['stray-1'])::jsonb, '{"failed": [], "deleted": [], "remove": ["stray-1"]}',
          'reconcile: a READY workspace changed within the last minute is not judged yet; unknown containers are returned');
RESET ROLE;
UPDATE workspaces.workspaces SET updated_at = now() - interval '2 minutes' WHERE id = :w3id;
SELECT test_helpers.as_agent('host', 'h3');
SELECT is(api.reconcile_host('h3', ARRAY['ws-' || :w3id, 'stray-1'])::jsonb, '{"failed": [], "deleted": [], "remove": ["stray-1"]}',
          'reconcile: the container is there, the workspace stays READY');
SELECT is(api.reconcile_host('h3', ARRAY[]::text[])::jsonb, jsonb_build_object('failed', ARRAY[:w3id], 'deleted', '[]'::jsonb, 'remove', '[]'::jsonb),
          'reconcile: a READY workspace whose container vanished -> FAILED');
SELECT test_helpers.as_agent('host', 'h2');
SELECT is(api.reconcile_host('h2', ARRAY['ws-' || :w2id])::jsonb, jsonb_build_object('failed', '[]'::jsonb, 'deleted', '[]'::jsonb, 'remove', ARRAY['ws-' || :w2id]),
          'reconcile: the container of a FAILED workspace is returned for removal');
RESET ROLE;
SELECT test_helpers.as_user('alice');
SELECT api.delete_workspace(:w3id);
SELECT test_helpers.as_agent('host', 'h3');
SELECT is(api.reconcile_host('h3', ARRAY[]::text[])::jsonb, jsonb_build_object('failed', '[]'::jsonb, 'deleted', ARRAY[:w3id], 'remove', '[]'::jsonb),
          'reconcile: a DELETING workspace whose container is gone is deleted');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM workspaces.hosts h
           WHERE disk_used <> (SELECT coalesce(sum(w.disk_gb), 0) FROM workspaces.workspaces w WHERE w.host_id = h.id)), 0,
          'host disk_used = sum of its workspaces after all transitions');
SELECT test_helpers.as_user('alice');
SELECT results_eq($$SELECT state FROM api.list_workspaces()$$, ARRAY['FAILED'], 'alice has her FAILED workspace left');
RESET ROLE;

-- report_host_disk: the agent's measurement of its host, shown to operators by list_hosts
SELECT test_helpers.as_agent('host', 'h3');
SELECT is((api.report_host_disk('h3', 5368709120, 1073741824) ->> 'disk_measured_bytes')::bigint, 5368709120::bigint,
          'report_host_disk records the bytes the engine uses');
SELECT is((api.report_host_disk('h3', 6442450944) ->> 'disk_free_bytes'), NULL, 'free_bytes is optional (unknown: null)');
SELECT test_helpers.as_agent('host', 'nope');
SELECT is(test_helpers.error_of($$SELECT api.report_host_disk('nope', 1)$$) ->> 'code', 'PT404', 'report_host_disk: unknown host -> 404');
SELECT test_helpers.as_agent('host', 'h3');
SELECT is(test_helpers.error_of($$SELECT api.report_host_disk('h3', -1)$$) ->> 'code', '22023', 'report_host_disk: negative bytes -> 400');
SELECT is(test_helpers.error_of($$SELECT api.report_host_disk('h3', NULL)$$) ->> 'code', '22023', 'report_host_disk: used_bytes is required');
SELECT is(test_helpers.error_of($$SELECT api.list_hosts()$$) ->> 'code', '42501', 'worker cannot list hosts');
RESET ROLE;
SELECT test_helpers.as_role('operator');
SELECT is((SELECT (j ->> 'disk_measured_bytes')::bigint FROM api.list_hosts() j WHERE j ->> 'name' = 'h3'), 6442450944::bigint,
          'list_hosts shows the last measurement');
SELECT ok((SELECT (j ->> 'disk_measured_at') IS NOT NULL AND (j ->> 'disk_used')::int = 0 FROM api.list_hosts() j WHERE j ->> 'name' = 'h3'),
          'list_hosts keeps the reservation (disk_used) apart from the measurement');
SELECT is(test_helpers.error_of($$SELECT api.report_host_disk('h3', 1)$$) ->> 'code', '42501', 'operator cannot report a host''s disk');
RESET ROLE;

-- a host agent's token names its host (gateway token --role worker --host h2); it
-- claims, reports, reconciles and reports disk only for that host. A worker token naming no host acts
-- for none.
SELECT id AS wh1 FROM workspaces.workspaces WHERE host_name = 'h1' ORDER BY id LIMIT 1 \gset
SELECT test_helpers.as_agent('host', 'h2');
SELECT is(test_helpers.error_of($$SELECT api.claim_host_task('h1')$$) ->> 'code', 'PT403', 'the agent of h2 cannot claim h1''s tasks (403)');
SELECT is(test_helpers.error_of($$SELECT api.reconcile_host('h1', ARRAY[]::text[])$$) ->> 'code', 'PT403', '... nor reconcile h1 (403)');
SELECT is(test_helpers.error_of($$SELECT api.report_host_disk('h1', 1)$$) ->> 'code', 'PT403', '... nor report h1''s disk (403)');
SELECT is(test_helpers.error_of(format('SELECT api.report_task_failure(%s, gen_random_uuid(), %L)', :wh1, 'x')) ->> 'code', 'PT403',
          '... nor report a task of a workspace on h1 (403)');
SELECT test_helpers.as_agent('host', 'h1');
SELECT is(api.claim_host_task('h1') ->> 'workspace_id', :'wh1', 'h1''s own agent claims h1''s task');
SELECT test_helpers.as_role('worker');
SELECT is(test_helpers.error_of($$SELECT api.claim_host_task('h1')$$) ->> 'code', 'PT403', 'a worker token naming no host claims nothing (403)');
SELECT is(test_helpers.error_of($$SELECT api.reconcile_host('h1', ARRAY[]::text[])$$) ->> 'code', 'PT403', '... reconciles nothing (403)');
SELECT is(test_helpers.error_of($$SELECT api.report_host_disk('h1', 1)$$) ->> 'code', 'PT403', '... reports no disk (403)');
SELECT is(test_helpers.error_of($$SELECT api.claim_notifications('m')$$) ->> 'code', 'PT403', '... and reads no mail (403)');
SELECT is(test_helpers.error_of($$SELECT api.ack_notifications(ARRAY[1]::bigint[])$$) ->> 'code', 'PT403', '... nor acknowledges any (403)');
SELECT test_helpers.as_agent('host', 'h1');
SELECT is(test_helpers.error_of($$SELECT api.claim_notifications('h1')$$) ->> 'code', 'PT403', 'a host agent reads no mail (403)');
SELECT test_helpers.as_agent('mailer', 'm');
SELECT is(test_helpers.error_of($$SELECT api.claim_host_task('h1')$$) ->> 'code', 'PT403', 'a mailer claims no host task (403)');
SELECT is(test_helpers.error_of($$SELECT api.claim_notifications('m9')$$) ->> 'code', 'PT403', 'a mailer claims only under its own name (403)');
RESET ROLE;

------------------------------------------------------------------------------------------------------
-- The compatibility REST routes: nginx passes the path's userId in x-a4c-user-id; it must be the token's user
------------------------------------------------------------------------------------------------------
SELECT test_helpers.as_user('alice');
SELECT set_config('request.headers', '{"x-a4c-user-id":"bob"}', true);
SELECT is(test_helpers.error_of('SELECT api.list_user_workspaces()') ->> 'code', 'PT403', 'GET /v1/users/bob/workspaces with alice''s token -> 403');
SELECT is(test_helpers.error_of($$SELECT api.create_user_workspace('{"projectName":"proj"}')$$) ->> 'code', 'PT403',
          'POST /v1/users/bob/workspaces -> 403');
SELECT is(test_helpers.error_of(format('SELECT api.delete_user_workspace(%s)', :w2id)) ->> 'code', 'PT403',
          'DELETE /v1/users/bob/workspaces/{id} -> 403');
SELECT is(test_helpers.error_of($$SELECT api.schedule_user_image_build('{"imageName":"img","project":"proj","change":5}')$$) ->> 'code',
          'PT403', 'POST /v1/users/bob/image-schedules -> 403');
SELECT set_config('request.headers', '{"x-a4c-user-id":"alice","idempotency-key":"rest-1"}', true);
SELECT results_eq($$SELECT state FROM api.list_user_workspaces()$$, ARRAY['FAILED'], 'GET /v1/users/alice/workspaces lists hers');
SELECT is(api.create_user_workspace('{"projectName":"proj","parentName":"img","arch":"x86_64"}') ->> 'state', 'PROVISIONING',
          'POST creates a workspace from the product''s camelCase body');
SELECT is(current_setting('response.status'), '201', '... answered 201');
SELECT is(test_helpers.error_of($$SELECT api.schedule_user_image_build('{"imageName":"img","project":"proj","change":"x"}')$$) ->> 'code',
          '22023', 'a change that is not a number -> 400');
SELECT api.schedule_user_image_build('{"imageName":"img","project":"proj","change":7}') ->> 'build_id' AS rb \gset
SELECT is(api.schedule_user_image_build('{"imageName":"img","project":"proj","change":7}') ->> 'build_id', :'rb',
          'the Idempotency-Key header makes the repeated POST return the same build');
SELECT is(api.delete_user_workspace(:w2id) ->> 'state', 'DELETING', 'DELETE marks the workspace DELETING');
SELECT is(current_setting('response.status'), '202', '... answered 202');
SELECT set_config('request.headers', '', true);
RESET ROLE;


-- Every text, array and JSON argument has a maximum (docs/limits.md); over it is a 400 naming the
-- argument, and nothing changes.
SELECT test_helpers.as_user('alice');
SELECT is(test_helpers.error_of($$SELECT api.create_workspace(repeat('p', 201))$$) ->> 'message',
          'project_name must be at most 200 characters', 'create_workspace: a 201-character project_name -> 400 naming it');
SELECT is(test_helpers.error_of($$SELECT api.create_user_workspace(json_build_object('projectName', repeat('p', 5000)))$$) ->> 'message',
          'body must be at most 4096 bytes of JSON', 'a REST body over 4 KiB -> 400');
SELECT test_helpers.as_agent('host', 'h1');
SELECT is(test_helpers.error_of($$SELECT api.reconcile_host('h1', array_fill('c'::text, ARRAY[10001]))$$) ->> 'message',
          'container_ids must have at most 10000 elements', 'reconcile_host: 10,001 containers -> 400');
SELECT is(test_helpers.error_of($$SELECT api.report_task_failure(1, gen_random_uuid(), repeat('r', 65537))$$) ->> 'code',
          '22023', 'report_task_failure: a reason over 64 Ki characters -> 400');
RESET ROLE;

------------------------------------------------------------------------------------------------------
-- Constraints hold on their own
------------------------------------------------------------------------------------------------------
SELECT throws_ok($$UPDATE workspaces.hosts SET disk_used = disk_capacity + 1 WHERE name = 'h1'$$, '23514', NULL,
                 'disk_used cannot exceed the capacity');
SELECT throws_ok(format($$UPDATE workspaces.workspaces SET state = 'READY', hostname = NULL WHERE id = %s$$, :w2id), '23514', NULL,
                 'a READY workspace has a hostname and ip');

SELECT * FROM finish();
ROLLBACK;

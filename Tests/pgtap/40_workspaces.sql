-- Workspaces and image builds: the specification a DBA reads. Every state transition of a workspace
-- and of a build, the lease fencing, expiry with backoff and the attempt limit, cancellation, row level
-- security between users, placement and the errors, called as the roles the gateway switches to.
-- Time is moved by editing lease_expires_at / run_at / updated_at, never by sleeping.
-- Run by `make test` (pg_prove) on the freshly migrated test database; everything is rolled back.
BEGIN;
SELECT plan(245);

-- explain_claim() / explain_list(): the plans of claim_build's CTE and list_workspaces' query, with
-- sequential scans off (the tables are tiny here; the point is that the index matches without a Sort).
CREATE FUNCTION pg_temp.explain_claim() RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL enable_seqscan = off;
    RETURN QUERY EXECUTE $q$EXPLAIN (COSTS OFF) SELECT b.id FROM workspaces.builds b
        WHERE b.status = 'SCHEDULED' AND b.due AND b.run_at <= now() ORDER BY b.priority DESC, b.run_at, b.id
        LIMIT 1 FOR UPDATE SKIP LOCKED$q$;
    RESET enable_seqscan;
END $$;
CREATE FUNCTION pg_temp.explain_list() RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL enable_seqscan = off;
    RETURN QUERY EXECUTE $q$EXPLAIN (COSTS OFF) SELECT w.id FROM workspaces.workspaces w
        WHERE w.owner = 'alice' ORDER BY w.id$q$;
    RESET enable_seqscan;
END $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO app_user, operator, worker, web_anon, platform_owner;

-- Start from empty tables (whatever other tests left; rolled back at the end).
DELETE FROM workspaces.notifications;
DELETE FROM workspaces.workspaces;
DELETE FROM workspaces.builds;
DELETE FROM workspaces.host_images;
DELETE FROM workspaces.hosts;
DELETE FROM workspaces.images;
DELETE FROM workspaces.projects;

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
-- Operator: hosts; app_user: the first build creates the project and image
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

SELECT test_helpers.as_user('alice');
SELECT is(test_helpers.error_of($$SELECT api.create_workspace('proj')$$) ->> 'code', 'PT404', 'unknown project -> 404');
SELECT is(test_helpers.error_of($$SELECT api.schedule_image_build('img', 'proj', 0)$$) ->> 'code', '22023', 'change 0 -> 400');
SELECT is(test_helpers.error_of($$SELECT api.schedule_image_build('img', 'proj', 1, 5000)$$) ->> 'code', '22023', 'priority out of range -> 400');
SELECT api.schedule_image_build('img', 'proj', 100, idempotency_key => 'k1') ->> 'build_id' AS b1 \gset
SELECT is(api.schedule_image_build('img', 'proj', 100, idempotency_key => 'k1') ->> 'build_id', :'b1',
          'the same idempotency key returns the first build');
SELECT is(test_helpers.error_of($$SELECT api.schedule_image_build('img', 'proj', 101, idempotency_key => 'k1')$$) ->> 'code',
          'PT409', 'the key reused with other arguments -> 409');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM workspaces.builds), 1, 'one build was queued');
SELECT is((SELECT status::text FROM workspaces.images WHERE name = 'img'), 'BUILDING', 'the new image is BUILDING');
SELECT test_helpers.as_user('alice');
SELECT is(test_helpers.error_of($$SELECT api.create_workspace('proj')$$) ->> 'code', 'PGRST', 'image being built -> 503');
SELECT is(test_helpers.error_of($$SELECT api.create_workspace('proj')$$) ->> 'detail',
          '{"status" : 503, "headers" : {"Retry-After" : "60"}}', '... with Retry-After');
SELECT is(test_helpers.error_of($$SELECT api.create_workspace('proj', 'other')$$) ->> 'code', 'PT404', 'unknown parent image -> 404');
SELECT is(test_helpers.error_of($$SELECT api.create_workspace('proj', 'img', 'arm64')$$) ->> 'code', 'PT404', 'no image for that arch -> 404');
SELECT is(test_helpers.error_of($$SELECT api.claim_build('w')$$) ->> 'code', '42501', 'app_user cannot claim builds');
SELECT is(test_helpers.error_of($$SELECT api.cancel_build(0)$$) ->> 'code', 'PT404', 'cancel of an unknown build -> 404');
RESET ROLE;

------------------------------------------------------------------------------------------------------
-- Build: SCHEDULED -> IN_PROGRESS -> SUCCEEDED, heartbeat, fencing, outbox, NOTIFY
------------------------------------------------------------------------------------------------------
SELECT test_helpers.as_role('worker');
SELECT api.claim_build('w1') AS c1 \gset
SELECT is((:'c1'::json ->> 'build_id'), :'b1', 'claim_build returns the queued build');
SELECT is((:'c1'::json ->> 'attempts')::int, 1, '... as attempt 1');
SELECT is((:'c1'::json ->> 'image') || '/' || (:'c1'::json ->> 'project') || '/' || (:'c1'::json ->> 'change'),
          'img/proj/100', '... with the image, project and change');
SELECT ok((:'c1'::json ->> 'lease_token') IS NOT NULL, '... and a lease token');
SELECT is(api.claim_build('w2')::text, NULL, 'nothing else to claim -> null');
SELECT is(test_helpers.error_of(format('SELECT api.heartbeat_build(%s, gen_random_uuid())', :b1)) ->> 'code', 'PT409',
          'heartbeat with a wrong token -> 409');
SELECT is(test_helpers.error_of('SELECT api.heartbeat_build(0, gen_random_uuid())') ->> 'code', 'PT404', 'heartbeat of an unknown build -> 404');
RESET ROLE;
UPDATE workspaces.builds SET lease_expires_at = now() + interval '1 second' WHERE id = :b1;
SELECT test_helpers.as_role('worker');
SELECT is((api.heartbeat_build(:b1, (:'c1'::json ->> 'lease_token')::uuid) ->> 'cancel_requested')::boolean, false,
          'heartbeat with the token: no cancellation requested');
RESET ROLE;
SELECT is((SELECT lease_expires_at FROM workspaces.builds WHERE id = :b1), now() + interval '60 seconds',
          '... and the lease runs 60 s from now');
SELECT test_helpers.as_role('worker');
SELECT is(test_helpers.error_of(format('SELECT api.complete_build(%s, %L, %L)', :b1, :'c1'::json ->> 'lease_token', 'DONE')) ->> 'code',
          '22023', 'complete with an unknown status -> 400');
SELECT is(test_helpers.error_of(format('SELECT api.complete_build(%s, gen_random_uuid(), %L)', :b1, 'SUCCEEDED')) ->> 'code',
          'PT409', 'complete with a wrong token -> 409');
RESET ROLE;
SELECT is((SELECT status::text FROM workspaces.builds WHERE id = :b1), 'IN_PROGRESS', '... and the build is unchanged');
SELECT test_helpers.as_role('worker');
SELECT is(api.complete_build(:b1, (:'c1'::json ->> 'lease_token')::uuid, 'SUCCEEDED', 'built ok') ->> 'status',
          'SUCCEEDED', 'complete with the token: SUCCEEDED');
SELECT is(test_helpers.error_of(format('SELECT api.complete_build(%s, %L, %L)', :b1, :'c1'::json ->> 'lease_token', 'FAILED')) ->> 'code',
          'PT409', 'completing twice -> 409');
RESET ROLE;
SELECT results_eq($$SELECT status::text, log, lease_token IS NULL, finished_at IS NOT NULL FROM workspaces.builds WHERE id = $$ || :b1,
                  $$VALUES ('SUCCEEDED', 'built ok', true, true)$$, 'the build is SUCCEEDED with its log, no lease');
SELECT results_eq($$SELECT status::text, change_number FROM workspaces.images WHERE name = 'img'$$,
                  $$VALUES ('READY', 100::bigint)$$, 'the image is READY at change 100');
SELECT results_eq($$SELECT recipient, kind, payload ->> 'status', subject FROM workspaces.notifications$$,
                  $$VALUES ('alice', 'build_finished', 'SUCCEEDED', 'Image build $$ || :b1 || $$ of img (x86_64) at change 100: SUCCEEDED')$$,
                  'the requester''s e-mail is in the outbox');
-- NOTIFY is delivered only at commit (this test rolls back): check that the senders send it. That the
-- mailer is woken only when no older mail waits is shown over real connections (BuildQueueNotifyTests).
SELECT is((SELECT count(*)::int FROM pg_proc WHERE oid IN ('api.schedule_image_build'::regproc,
                                                        'api.retry_build'::regproc, 'api.requeue_expired_builds'::regproc)
             AND prosrc LIKE '%pg_notify(''builds''%'), 3,
          'scheduling, retry and requeue NOTIFY builds (workers wake)');
SELECT ok((SELECT prosrc FROM pg_proc WHERE oid = 'workspaces._finish_build'::regproc) LIKE '%pg_notify(''notifications''%',
          'a final state NOTIFYs notifications (the mailer wakes)');

------------------------------------------------------------------------------------------------------
-- Claim order: priority DESC, run_at, id; future run_at is not due
------------------------------------------------------------------------------------------------------
SELECT test_helpers.as_user('alice');
SELECT api.schedule_image_build('img', 'proj', 101) ->> 'build_id' AS q_low \gset
SELECT api.schedule_image_build('img', 'proj', 102, 10) ->> 'build_id' AS q_high \gset
SELECT api.schedule_image_build('img', 'proj', 103, 50, now() + interval '1 hour') ->> 'build_id' AS q_later \gset
SELECT api.schedule_image_build('img', 'proj', 104, 10, '-infinity') AS q_inf \gset
SELECT :'q_inf'::json ->> 'build_id' AS q_high_early \gset
SELECT is((:'q_inf'::json ->> 'run_at')::timestamptz, now(), 'run_at -infinity means now: it does not jump the queue (issue 16 item 10)');
RESET ROLE;
UPDATE workspaces.builds SET run_at = now() - interval '1 minute' WHERE id = :q_high_early;   -- it has waited a minute
SELECT test_helpers.as_role('worker');
SELECT is(api.claim_build('w') ->> 'build_id', :'q_high_early', 'highest priority, earliest run_at first');
SELECT is(api.claim_build('w') ->> 'build_id', :'q_high', 'then the same priority, later run_at');
SELECT is(api.claim_build('w') ->> 'build_id', :'q_low', 'then the lower priority');
SELECT is(api.claim_build('w')::text, NULL, 'a build due in an hour is not claimed yet');
RESET ROLE;
SELECT ok((SELECT string_agg(line, E'\n') FROM pg_temp.explain_claim() line) LIKE '%Index Scan using builds_claim_idx%'
          AND (SELECT string_agg(line, E'\n') FROM pg_temp.explain_claim() line) NOT LIKE '%Sort%',
          'the claim walks builds_claim_idx in order (no Sort)');
UPDATE workspaces.builds SET status = 'CANCELLED', finished_at = now(), lease_token = NULL, lease_expires_at = NULL
WHERE id IN (:q_low, :q_high, :q_high_early, :q_later);

-- Issue 16 item 10: run_at is bounded (at most 30 days ahead), priorities above 100 are the operators'.
SELECT test_helpers.as_user('alice');
SELECT is(test_helpers.error_of($$SELECT api.schedule_image_build('img', 'proj', 105, 0, now() + interval '31 days')$$) ->> 'code',
          '22023', 'run_at beyond the 30-day horizon -> 400');
SELECT is(test_helpers.error_of($$SELECT api.schedule_image_build('img', 'proj', 105, 101)$$) ->> 'code', 'PT403',
          'a user asking for priority 101 (the operators'') -> 403');
SELECT api.schedule_image_build('img', 'proj', 105, 100) ->> 'build_id' AS q_top \gset
SELECT is(test_helpers.error_of(format('SELECT api.set_build_priority(%s, 500)', :q_top)) ->> 'code', '42501',
          'a user cannot raise it (set_build_priority is the operators'')');
SELECT test_helpers.as_role('operator');
SELECT is(api.set_build_priority(:q_top, 500) ->> 'priority', '500', 'an operator puts the build everyone waits for first');
SELECT is(test_helpers.error_of(format('SELECT api.set_build_priority(%s, 5000)', :q_top)) ->> 'code', '22023', '... within -1000..1000');
RESET ROLE;
UPDATE workspaces.builds SET status = 'CANCELLED', finished_at = now() WHERE id = :q_top;

-- ... and a claim does not walk builds that are not due: 20,000 builds backing off (requeued after
-- their leases expired) at the highest user priority sit in front of every due build in the claim's
-- order, yet a claim reads only a few pages of the claim index, not theirs.
INSERT INTO workspaces.builds (image_id, change_number, requested_by, priority, status, attempts, max_attempts,
                               lease_token, lease_expires_at, worker, started_at)
SELECT i.id, g, 'walker', 100, 'IN_PROGRESS', 1, 3, gen_random_uuid(), now() - interval '1 second', 'gone', now()
FROM workspaces.images i, generate_series(1, 20000) g WHERE i.name = 'img';
SELECT test_helpers.as_role('worker');
SELECT sum((api.requeue_expired_builds() ->> 'requeued')::int) FROM generate_series(1, 20);
RESET ROLE;
ANALYZE workspaces.builds;                -- re-plans the claim (cached per session) for this many rows
CREATE TEMP TABLE claim_blocks AS SELECT pg_stat_get_xact_blocks_fetched('workspaces.builds_claim_idx'::regclass) AS before;
SELECT test_helpers.as_role('worker');
SELECT api.claim_build('walker-test');
RESET ROLE;
SELECT cmp_ok(pg_stat_get_xact_blocks_fetched('workspaces.builds_claim_idx'::regclass) - (SELECT before FROM claim_blocks), '<', 10::bigint,
              'a claim reads a few pages of the claim index, not the 20,000 builds that are not due yet (about 140 before)');
DELETE FROM workspaces.builds WHERE requested_by = 'walker';

------------------------------------------------------------------------------------------------------
-- Batches: claim_builds(n) and complete_builds, each result fenced on its own
------------------------------------------------------------------------------------------------------
SELECT test_helpers.as_user('alice');
SELECT api.schedule_image_build('img', 'proj', 150) ->> 'build_id' AS k1 \gset
SELECT api.schedule_image_build('img', 'proj', 151, 5) ->> 'build_id' AS k2 \gset
SELECT api.schedule_image_build('img', 'proj', 152) ->> 'build_id' AS k3 \gset
SELECT test_helpers.as_role('worker');
SELECT is(test_helpers.error_of($$SELECT api.claim_builds('w', 0)$$) ->> 'code', '22023', 'claim_builds(0) -> 400');
SELECT is(test_helpers.error_of($$SELECT api.claim_builds('w', 1001)$$) ->> 'code', '22023', 'claim_builds(1001) -> 400');
SELECT api.claim_builds('w', 2) AS kc \gset
SELECT is((SELECT array_agg((c ->> 'build_id')::bigint) FROM json_array_elements(:'kc') c),
          ARRAY[:k2, :k1]::bigint[], 'claim_builds(2) claims two builds in claim order (priority first)');
SELECT is((SELECT count(DISTINCT c ->> 'lease_token')::int FROM json_array_elements(:'kc') c), 2, '... each with its own lease token');
SELECT api.claim_builds('w', 10) AS kc3 \gset
SELECT is(json_array_length(:'kc3'), 1, 'claim_builds(10) with one build due claims that one');
SELECT is(api.claim_builds('w', 10)::text, '[]', 'nothing due -> []');
-- Malformed batches: 400 and nothing changes.
SELECT is(test_helpers.error_of($$SELECT api.complete_builds('{}')$$) ->> 'code', '22023', 'complete_builds of an object -> 400');
SELECT is(test_helpers.error_of($$SELECT api.complete_builds('[]')$$) ->> 'code', '22023', 'complete_builds of [] -> 400');
SELECT is(test_helpers.error_of(format($$SELECT api.complete_builds('[{"build_id": %s, "lease_token": %s, "status": "SUCCEEDED"},
                                                                 {"build_id": %s, "lease_token": "not-a-uuid", "status": "SUCCEEDED"}]')$$,
                                  :k1, :'kc'::json -> 1 -> 'lease_token', :k2)) ->> 'message',
          'results[1]: lease_token must be the UUID the claim returned', 'a malformed result -> 400 naming it');
SELECT is(test_helpers.error_of(format($$SELECT api.complete_builds('[{"build_id": %s, "lease_token": %s, "status": "DONE"}]')$$,
                                  :k1, :'kc'::json -> 1 -> 'lease_token')) ->> 'code', '22023', 'an unknown status -> 400');
SELECT is(test_helpers.error_of(format($$SELECT api.complete_builds('[{"build_id": %s, "lease_token": %s, "status": "FAILED", "colour": 1}]')$$,
                                  :k1, :'kc'::json -> 1 -> 'lease_token')) ->> 'code', '22023', 'an unknown key -> 400');
SELECT is(test_helpers.error_of(format($$SELECT api.complete_builds('[{"build_id": %s, "lease_token": %s, "status": "FAILED"},
                                                                 {"build_id": %s, "lease_token": %s, "status": "FAILED"}]')$$,
                                  :k1, :'kc'::json -> 1 -> 'lease_token', :k1, :'kc'::json -> 1 -> 'lease_token')) ->> 'message',
          format('build %s appears more than once', :k1), 'the same build twice -> 400');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM workspaces.builds WHERE id IN (:k1, :k2, :k3) AND status = 'IN_PROGRESS'), 3,
          '... and after the 400s all three builds are still IN_PROGRESS');
SELECT test_helpers.as_role('worker');
SELECT api.complete_builds(json_build_array(
    json_build_object('build_id', :k2, 'lease_token', :'kc'::json -> 0 -> 'lease_token', 'status', 'SUCCEEDED', 'log', 'ok 2'),
    json_build_object('build_id', :k3, 'lease_token', gen_random_uuid(), 'status', 'SUCCEEDED'),
    json_build_object('build_id', 0, 'lease_token', gen_random_uuid(), 'status', 'FAILED'),
    json_build_object('build_id', :k1, 'lease_token', :'kc'::json -> 1 -> 'lease_token', 'status', 'FAILED', 'log', 'broke'))) AS kr \gset
SELECT is((SELECT array_agg(coalesce(r ->> 'status', r -> 'error' ->> 'code') ORDER BY o) FROM json_array_elements(:'kr') WITH ORDINALITY x(r, o)),
          ARRAY['SUCCEEDED', 'PT409', 'PT404', 'FAILED'], 'complete_builds answers each result in input order: done, 409 stale token, 404 unknown, done');
SELECT is((SELECT array_agg((r ->> 'build_id')::bigint ORDER BY o) FROM json_array_elements(:'kr') WITH ORDINALITY x(r, o)),
          ARRAY[:k2, :k3, 0, :k1]::bigint[], '... each naming its build');
RESET ROLE;
SELECT results_eq(format($$SELECT id, status::text, log FROM workspaces.builds WHERE id IN (%s, %s, %s) ORDER BY id$$, :k1, :k2, :k3),
                  format($$VALUES (%s::bigint, 'FAILED', 'broke'), (%s, 'SUCCEEDED', 'ok 2'), (%s, 'IN_PROGRESS', NULL)$$, :k1, :k2, :k3),
                  'the fenced results were applied, the stale one changed nothing');
SELECT is((SELECT count(*)::int FROM workspaces.notifications WHERE (payload ->> 'build_id')::bigint IN (:k1, :k2, :k3)), 2,
          'one e-mail per completed build of the batch');
UPDATE workspaces.builds SET status = 'CANCELLED', finished_at = now(), lease_token = NULL, lease_expires_at = NULL WHERE id = :k3;

------------------------------------------------------------------------------------------------------
-- Lease expiry: requeue with attempts counted and backoff with jitter; FAILED after max_attempts
------------------------------------------------------------------------------------------------------
SELECT test_helpers.as_user('alice');
SELECT api.schedule_image_build('img', 'proj', 200) ->> 'build_id' AS b2 \gset
RESET ROLE;
UPDATE workspaces.builds SET max_attempts = 3 WHERE id = :b2;
SELECT test_helpers.as_role('worker');
SELECT api.claim_build('w1') ->> 'lease_token' AS t21 \gset
SELECT is(api.requeue_expired_builds() ->> 'requeued', '0', 'a live lease is not requeued');
RESET ROLE;
UPDATE workspaces.builds SET lease_expires_at = now() - interval '1 second' WHERE id = :b2;
SELECT test_helpers.as_role('worker');
SELECT is(api.requeue_expired_builds()::jsonb, '{"requeued": 1, "failed": 0, "cancelled": 0}', 'an expired lease is requeued');
RESET ROLE;
SELECT results_eq($$SELECT status::text, attempts, lease_token IS NULL, run_at BETWEEN now() + interval '5 s' AND now() + interval '10 s'
                    FROM workspaces.builds WHERE id = $$ || :b2,
                  $$VALUES ('SCHEDULED', 1, true, true)$$, 'SCHEDULED, attempt 1 counted, run_at in now + [5 s, 10 s)');
SELECT alike((SELECT last_error FROM workspaces.builds WHERE id = :b2), 'attempt 1: the lease of worker w1 expired at %', '... with the reason');
SELECT test_helpers.as_role('worker');
SELECT is(api.claim_build('w2')::text, NULL, 'not claimable during the backoff');
RESET ROLE;
UPDATE workspaces.builds SET run_at = now() - interval '1 second' WHERE id = :b2;
SELECT test_helpers.as_role('worker');
SELECT api.claim_build('w2') AS c22 \gset
SELECT is((:'c22'::json ->> 'attempts')::int, 2, 'claimed again after the backoff: attempt 2');
SELECT isnt(:'c22'::json ->> 'lease_token', :'t21', '... with a fresh token');
SELECT is(test_helpers.error_of(format('SELECT api.complete_build(%s, %L, %L)', :b2, :'t21', 'SUCCEEDED')) ->> 'code', 'PT409',
          'the first worker''s stale token -> 409');
SELECT is(test_helpers.error_of(format('SELECT api.heartbeat_build(%s, %L)', :b2, :'t21')) ->> 'detail',
          'The build is IN_PROGRESS now: your lease expired and the build was requeued, claimed by another worker or finished.',
          '... heartbeat too, saying why');
RESET ROLE;
SELECT results_eq($$SELECT status::text, worker, lease_token::text FROM workspaces.builds WHERE id = $$ || :b2,
                  format($$VALUES ('IN_PROGRESS', 'w2', %L)$$, :'c22'::json ->> 'lease_token'),
                  'the stale token changed nothing: still the second worker''s lease');
UPDATE workspaces.builds SET lease_expires_at = now() - interval '1 second' WHERE id = :b2;
SELECT test_helpers.as_role('operator');
SELECT is(api.requeue_expired_builds() ->> 'requeued', '1', 'operator may requeue too');
RESET ROLE;
SELECT ok((SELECT run_at BETWEEN now() + interval '10 s' AND now() + interval '20 s' FROM workspaces.builds WHERE id = :b2),
          'attempt 2 backs off in now + [10 s, 20 s) (doubled)');
UPDATE workspaces.builds SET run_at = now() - interval '1 second' WHERE id = :b2;
SELECT test_helpers.as_role('worker');
SELECT is(api.claim_build('w3') ->> 'attempts', '3', 'attempt 3 (the last)');
RESET ROLE;
UPDATE workspaces.builds SET lease_expires_at = now() - interval '1 second' WHERE id = :b2;
SELECT test_helpers.as_role('worker');
SELECT is(api.requeue_expired_builds()::jsonb, '{"requeued": 0, "failed": 1, "cancelled": 0}', 'after max_attempts: FAILED');
RESET ROLE;
SELECT results_eq($$SELECT status::text, attempts, finished_at IS NOT NULL FROM workspaces.builds WHERE id = $$ || :b2,
                  $$VALUES ('FAILED', 3, true)$$, 'FAILED with 3 attempts');
SELECT is((SELECT payload ->> 'status' FROM workspaces.notifications WHERE (payload ->> 'build_id')::bigint = :b2), 'FAILED',
          'the failure e-mail is in the outbox');
SELECT is((SELECT status::text FROM workspaces.images WHERE name = 'img'), 'READY', 'a failed rebuild leaves a built image READY');
SELECT ok((SELECT sum(power(2, a))::int FROM generate_series(1, 1) a) > 0 AND
          (SELECT bool_and(d >= interval '5 s' AND d < interval '10 s') FROM (SELECT workspaces._backoff(1) d FROM generate_series(1, 200)) s)
          AND (SELECT count(DISTINCT d) > 150 FROM (SELECT workspaces._backoff(1) d FROM generate_series(1, 200)) s),
          '_backoff(1) is jittered within [5 s, 10 s)');
SELECT is((SELECT max(workspaces._backoff(30)) <= interval '1 hour' FROM generate_series(1, 50)), true, 'backoff is capped at 1 h');

-- retry_build: FAILED -> SCHEDULED with attempts reset
SELECT test_helpers.as_user('bob');
SELECT is(test_helpers.error_of(format('SELECT api.retry_build(%s)', :b2)) ->> 'code', 'PT404', 'bob cannot retry alice''s build (404)');
SELECT test_helpers.as_user('alice');
SELECT results_eq(format('SELECT r ->> %L, r ->> %L FROM api.retry_build(%s) r', 'status', 'attempts', :b2),
                  $$VALUES ('SCHEDULED', '0')$$, 'retry_build: FAILED -> SCHEDULED, attempts 0');
SELECT is(test_helpers.error_of(format('SELECT api.retry_build(%s)', :b2)) ->> 'code', 'PT409', 'retry of a SCHEDULED build -> 409');

------------------------------------------------------------------------------------------------------
-- Cancellation
------------------------------------------------------------------------------------------------------
SELECT is(api.cancel_build(:b2) ->> 'status', 'CANCELLED', 'cancel a SCHEDULED build: CANCELLED at once');
SELECT is(test_helpers.error_of(format('SELECT api.cancel_build(%s)', :b2)) ->> 'code', 'PT409', 'cancel twice -> 409');
SELECT is(api.retry_build(:b2) ->> 'status', 'SCHEDULED', 'a CANCELLED build can be retried');
SELECT test_helpers.as_role('worker');
SELECT api.claim_build('w4') ->> 'lease_token' AS t24 \gset
SELECT test_helpers.as_user('bob');
SELECT is(test_helpers.error_of(format('SELECT api.cancel_build(%s)', :b2)) ->> 'code', 'PT404', 'bob cannot cancel alice''s build (404)');
SELECT test_helpers.as_role('operator');
SELECT results_eq(format('SELECT r ->> %L, r ->> %L FROM api.cancel_build(%s) r', 'status', 'cancel_requested', :b2),
                  $$VALUES ('IN_PROGRESS', 'true')$$, 'operator cancels an IN_PROGRESS build: cancel_requested');
SELECT test_helpers.as_role('worker');
SELECT is((api.heartbeat_build(:b2, :'t24') ->> 'cancel_requested')::boolean, true, 'the worker learns it on its heartbeat');
SELECT is(api.complete_build(:b2, :'t24', 'CANCELLED', 'stopped') ->> 'status', 'CANCELLED', '... and completes it CANCELLED');
-- an expired lease of a build asked to cancel becomes CANCELLED, not requeued
SELECT test_helpers.as_user('alice');
SELECT api.schedule_image_build('img', 'proj', 300) ->> 'build_id' AS b3 \gset
SELECT test_helpers.as_role('worker');
SELECT is(api.claim_build('w5') ->> 'build_id', :'b3', 'claim b3');
SELECT test_helpers.as_user('alice');
SELECT api.cancel_build(:b3);
RESET ROLE;
UPDATE workspaces.builds SET lease_expires_at = now() - interval '1 second' WHERE id = :b3;
SELECT test_helpers.as_role('worker');
SELECT is(api.requeue_expired_builds()::jsonb, '{"requeued": 0, "failed": 0, "cancelled": 1}',
          'an expired lease with cancellation requested -> CANCELLED');
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

-- Issue 16 item 3: a workspace deleted while its provision is under way. The late provision report is
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

-- Issue 16 item 9: a host agent's token names its host (gateway token --role worker --host h2); it
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
-- The seed's REST routes: nginx passes the path's userId in x-a4c-user-id; it must be the token's user
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
          'POST creates a workspace from the seed''s camelCase body');
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

------------------------------------------------------------------------------------------------------
-- The mailer: claim the outbox with a lease, acknowledge, fail with backoff, dead letters
------------------------------------------------------------------------------------------------------
DELETE FROM workspaces.notifications;
INSERT INTO workspaces.notifications (recipient, kind, subject, body)
SELECT 'm' || g, 'build_finished', 'subject ' || g, 'body ' || g FROM generate_series(1, 3) g;
SELECT min(id) AS n1 FROM workspaces.notifications \gset
SELECT test_helpers.as_agent('mailer', 'm');
SELECT is(test_helpers.error_of($$SELECT api.claim_notifications('m', 0)$$) ->> 'code', '22023', 'claim_notifications(0) -> 400');
SELECT api.claim_notifications('m', 2) AS mc \gset
SELECT is((SELECT array_agg(c ->> 'recipient' ORDER BY (c ->> 'id')::bigint) FROM json_array_elements(:'mc') c),
          ARRAY['m1', 'm2'], 'claim_notifications(2) claims the two oldest e-mails');
SELECT is((SELECT array_agg((c ->> 'attempts')::int) FROM json_array_elements(:'mc') c), ARRAY[1, 1], '... as attempt 1');
RESET ROLE;
SELECT is((SELECT array_agg(mailer ORDER BY id) FROM workspaces.notifications WHERE id IN (:n1, :n1 + 1)), ARRAY['m', 'm'],
          '... each marked with the mailer holding its lease');
SELECT test_helpers.as_agent('mailer', 'm');
SELECT test_helpers.as_agent('mailer', 'm2');
SELECT is((SELECT array_agg(c ->> 'recipient') FROM json_array_elements(api.claim_notifications('m2', 10)) c),
          ARRAY['m3'], 'a second mailer gets only what is not leased');
SELECT test_helpers.as_agent('mailer', 'm3');
SELECT is(api.claim_notifications('m3', 10)::text, '[]', 'everything leased -> []');
SELECT is(api.ack_notifications(ARRAY[:n1, :n1 + 1]::bigint[]) ->> 'acknowledged', '0',
          'a mailer cannot acknowledge mail another mailer claimed (ignored)');
SELECT is(test_helpers.error_of(format('SELECT api.fail_notification(%s, %L)', :n1, 'x')) ->> 'code', 'PT403',
          '... nor fail it (403)');
SELECT test_helpers.as_agent('mailer', 'm');
SELECT is(api.ack_notifications(ARRAY[:n1, :n1 + 1, 0]::bigint[]) ->> 'acknowledged', '2',
          'ack_notifications marks the delivered ones sent (unknown ids ignored)');
SELECT is(api.ack_notifications(ARRAY[:n1]::bigint[]) ->> 'acknowledged', '0', 'acknowledging again is harmless');
SELECT is(test_helpers.error_of($$SELECT api.ack_notifications('{}')$$) ->> 'code', '22023', 'ack_notifications of no ids -> 400');
SELECT test_helpers.as_agent('mailer', 'm2');   -- m3's e-mail is leased to mailer m2
SELECT is((api.fail_notification(:n1 + 2, 'mailbox full') ->> 'gives_up')::boolean, false,
          'fail_notification keeps the e-mail for another try');
SELECT is(test_helpers.error_of(format('SELECT api.fail_notification(%s, %L)', :n1, 'x')) ->> 'code', 'PT409', 'failing a sent e-mail -> 409');
SELECT is(test_helpers.error_of($$SELECT api.fail_notification(0, 'x')$$) ->> 'code', 'PT404', 'failing an unknown e-mail -> 404');
RESET ROLE;
SELECT results_eq(format($$SELECT last_error, lease_expires_at BETWEEN now() + interval '5 seconds' AND now() + interval '10 seconds',
                                 sent_at IS NULL FROM workspaces.notifications WHERE id = %s$$, :n1 + 2),
                  $$VALUES ('mailbox full', true, true)$$, '... with its error, retried after a 5-10 s backoff');
SELECT is((SELECT count(*)::int FROM workspaces.notifications WHERE sent_at IS NOT NULL), 2, 'two e-mails are sent');
UPDATE workspaces.notifications SET lease_expires_at = now() - interval '1 second', attempts = 9 WHERE id = :n1 + 2;
SELECT test_helpers.as_agent('mailer', 'm');
SELECT is((SELECT (c ->> 'attempts')::int FROM json_array_elements(api.claim_notifications('m', 10)) c), 10,
          'after the backoff it is claimed again (attempt 10)');
SELECT is((api.fail_notification(:n1 + 2, 'still full') ->> 'gives_up')::boolean, true, '... and after 10 failures the mailer gives up');
RESET ROLE;
UPDATE workspaces.notifications SET lease_expires_at = now() - interval '1 second' WHERE id = :n1 + 2;
SELECT test_helpers.as_agent('mailer', 'm');
SELECT is(api.claim_notifications('m', 10)::text, '[]', 'a dead letter is never claimed again');
RESET ROLE;

-- Issue 16 item 11: idempotency keys are per user. Bob repeating alice's key gets a build of his own,
-- not a 409 naming hers; each user's repeat returns that user's first build.
SELECT test_helpers.as_user('bob');
SELECT api.schedule_image_build('img', 'proj', 101, idempotency_key => 'k1') ->> 'build_id' AS bob_k1 \gset
SELECT isnt(:'bob_k1'::text, :'b1'::text, 'another user''s key k1 (other arguments) queues a build of his own, no 409');
SELECT is(api.schedule_image_build('img', 'proj', 101, idempotency_key => 'k1') ->> 'build_id', :'bob_k1',
          'his repeat returns his build');
SELECT test_helpers.as_user('alice');
SELECT is(api.schedule_image_build('img', 'proj', 100, idempotency_key => 'k1') ->> 'build_id', :'b1',
          'alice''s repeat still returns hers');
RESET ROLE;

-- Issue 16 item 13: every text, array and JSON argument has a maximum (docs/limits.md); over it is a
-- 400 naming the argument, and nothing changes.
SELECT test_helpers.as_user('alice');
SELECT is(test_helpers.error_of($$SELECT api.create_workspace(repeat('p', 201))$$) ->> 'message',
          'project_name must be at most 200 characters', 'create_workspace: a 201-character project_name -> 400 naming it');
SELECT is(test_helpers.error_of($$SELECT api.schedule_image_build('img', 'proj', 900, idempotency_key => repeat('k', 201))$$) ->> 'message',
          'idempotency_key must be at most 200 characters', 'schedule_image_build: a 201-character key -> 400');
SELECT is(test_helpers.error_of($$SELECT api.create_user_workspace(json_build_object('projectName', repeat('p', 5000)))$$) ->> 'message',
          'body must be at most 4096 bytes of JSON', 'a REST body over 4 KiB -> 400');
SELECT test_helpers.as_agent('host', 'h1');
SELECT is(test_helpers.error_of($$SELECT api.reconcile_host('h1', array_fill('c'::text, ARRAY[10001]))$$) ->> 'message',
          'container_ids must have at most 10000 elements', 'reconcile_host: 10,001 containers -> 400');
SELECT is(test_helpers.error_of($$SELECT api.report_task_failure(1, gen_random_uuid(), repeat('r', 65537))$$) ->> 'code',
          '22023', 'report_task_failure: a reason over 64 Ki characters -> 400');
SELECT test_helpers.as_role('worker');
SELECT is(test_helpers.error_of($$SELECT api.complete_build(1, gen_random_uuid(), 'SUCCEEDED', repeat('l', 1048577))$$) ->> 'message',
          'log must be at most 1048576 characters', 'complete_build: a log over 1 Mi characters -> 400');
SELECT is(test_helpers.error_of($$SELECT api.claim_build(repeat('w', 201))$$) ->> 'message',
          'worker must be at most 200 characters', 'claim_build: a 201-character worker name -> 400');
RESET ROLE;

-- Issue 16 item 5: the build queue is for build workers. A token naming another kind of agent (host,
-- node, mailer) gets 403 on every build-queue call; a plain worker token works.
SELECT test_helpers.as_agent('host', 'h1');
SELECT is(test_helpers.error_of($$SELECT api.claim_build('w')$$) ->> 'code', 'PT403', 'a host agent''s token cannot claim a build (403)');
SELECT is(test_helpers.error_of($$SELECT api.heartbeat_build(1, gen_random_uuid())$$) ->> 'code', 'PT403', '... nor heartbeat one');
SELECT test_helpers.as_agent('node', 'n1');
SELECT is(test_helpers.error_of($$SELECT api.claim_builds('w', 5)$$) ->> 'code', 'PT403', 'a node agent''s token cannot claim builds (403)');
SELECT is(test_helpers.error_of($$SELECT api.complete_build(1, gen_random_uuid(), 'FAILED')$$) ->> 'code', 'PT403', '... nor fail one');
SELECT is(test_helpers.error_of(format($$SELECT api.complete_builds('[{"build_id": 1, "lease_token": "%s", "status": "FAILED"}]')$$, gen_random_uuid())) ->> 'code',
          'PT403', '... nor a batch');
SELECT test_helpers.as_agent('mailer', 'm');
SELECT is(test_helpers.error_of($$SELECT api.requeue_expired_builds()$$) ->> 'code', 'PT403', 'a mailer''s token cannot requeue builds (403)');
SELECT test_helpers.as_role('worker');
SELECT is(test_helpers.error_of($$SELECT api.claim_build('w')$$), NULL, 'a plain worker token claims builds');
SELECT is(test_helpers.error_of($$SELECT api.requeue_expired_builds()$$), NULL, '... and requeues them');
SELECT test_helpers.as_role('operator');
SELECT is(test_helpers.error_of($$SELECT api.requeue_expired_builds()$$), NULL, 'an operator requeues them');
RESET ROLE;

-- Issue 16 item 4b: the mailer check reads the role the gateway switched to, not the payload's "role"
-- field (the role claim key is configurable): a worker token carrying "role": "operator" beside its
-- real role claim and no mailer claim is refused, not taken for an operator.
SELECT set_config('request.jwt.claims', '{"https://example/role": "worker", "role": "operator"}', true), set_config('role', 'worker', true);
SELECT is(test_helpers.error_of($$SELECT api.ack_notifications(ARRAY[1]::bigint[])$$) ->> 'code', 'PT403',
          'a worker token with a payload "role": "operator" cannot acknowledge mail (403)');
RESET ROLE;

------------------------------------------------------------------------------------------------------
-- Constraints hold on their own
------------------------------------------------------------------------------------------------------
SELECT throws_ok($$UPDATE workspaces.hosts SET disk_used = disk_capacity + 1 WHERE name = 'h1'$$, '23514', NULL,
                 'disk_used cannot exceed the capacity');
SELECT throws_ok(format($$UPDATE workspaces.builds SET status = 'IN_PROGRESS' WHERE id = %s$$, :b1), '23514', NULL,
                 'IN_PROGRESS without a lease is refused');
SELECT throws_ok(format($$UPDATE workspaces.builds SET finished_at = NULL WHERE id = %s$$, :b1), '23514', NULL,
                 'a final build has finished_at');
SELECT throws_ok(format($$UPDATE workspaces.workspaces SET state = 'READY', hostname = NULL WHERE id = %s$$, :w2id), '23514', NULL,
                 'a READY workspace has a hostname and ip');

SELECT * FROM finish();
ROLLBACK;

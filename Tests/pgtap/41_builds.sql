-- The build queue (sql/builds.sql): the specification a DBA reads. Scheduling (idempotency keys per user,
-- bounded run_at and priority), the claim order and its index, batches, the lease fencing, expiry with
-- backoff and the attempt limit, cancellation, the e-mail and NOTIFY of a finished build, and who may
-- work the queue, called as the roles the gateway switches to. Time is moved by editing
-- lease_expires_at / run_at, never by sleeping.
-- Run by `make test` (pg_prove) on the freshly migrated test database; everything is rolled back.
BEGIN;
SELECT plan(109);

-- explain_claim(): the plan of claim_build's CTE, with sequential scans off (the tables are tiny here;
-- the point is that the index matches without a Sort).
CREATE FUNCTION pg_temp.explain_claim() RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL enable_seqscan = off;
    RETURN QUERY EXECUTE $q$EXPLAIN (COSTS OFF) SELECT b.id FROM workspaces.builds b
        WHERE b.status = 'SCHEDULED' AND b.due AND b.run_at <= now() ORDER BY b.priority DESC, b.run_at, b.id
        LIMIT 1 FOR UPDATE SKIP LOCKED$q$;
    RESET enable_seqscan;
END $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO app_user, operator, worker, web_anon, platform_owner;

-- Start from empty tables (whatever other tests left; rolled back at the end).
SELECT test_helpers.empty_workspace_tables();

------------------------------------------------------------------------------------------------------
-- app_user: the first build creates the project and image
------------------------------------------------------------------------------------------------------
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
SELECT is((:'q_inf'::json ->> 'run_at')::timestamptz, now(), 'run_at -infinity means now: it does not jump the queue');
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

-- run_at is bounded (at most 30 days ahead), priorities above 100 are the operators'.
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

-- idempotency keys are per user. Bob repeating alice's key gets a build of his own,
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

-- Every text argument has a maximum (docs/limits.md); over it is a 400 naming the argument.
SELECT test_helpers.as_user('alice');
SELECT is(test_helpers.error_of($$SELECT api.schedule_image_build('img', 'proj', 900, idempotency_key => repeat('k', 201))$$) ->> 'message',
          'idempotency_key must be at most 200 characters', 'schedule_image_build: a 201-character key -> 400');
SELECT test_helpers.as_role('worker');
SELECT is(test_helpers.error_of($$SELECT api.complete_build(1, gen_random_uuid(), 'SUCCEEDED', repeat('l', 1048577))$$) ->> 'message',
          'log must be at most 1048576 characters', 'complete_build: a log over 1 Mi characters -> 400');
SELECT is(test_helpers.error_of($$SELECT api.claim_build(repeat('w', 201))$$) ->> 'message',
          'worker must be at most 200 characters', 'claim_build: a 201-character worker name -> 400');
RESET ROLE;

-- the build queue is for build workers. A token naming another kind of agent (host,
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

------------------------------------------------------------------------------------------------------
-- Constraints hold on their own
------------------------------------------------------------------------------------------------------
SELECT throws_ok(format($$UPDATE workspaces.builds SET status = 'IN_PROGRESS' WHERE id = %s$$, :b1), '23514', NULL,
                 'IN_PROGRESS without a lease is refused');
SELECT throws_ok(format($$UPDATE workspaces.builds SET finished_at = NULL WHERE id = %s$$, :b1), '23514', NULL,
                 'a final build has finished_at');

SELECT * FROM finish();
ROLLBACK;

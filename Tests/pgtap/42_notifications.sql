-- The e-mail outbox (sql/notifications.sql): the specification a DBA reads. A mailer claims unsent mail
-- with a lease, acknowledges it, reports refusals (retried with backoff, given up after 10), and acts
-- only for the mail it claimed under its own name; nobody else reads mail. That every final build state
-- writes its e-mail is specified in 41_builds.sql.
-- Run by `make test` (pg_prove) on the freshly migrated test database; everything is rolled back.
BEGIN;
SELECT plan(20);

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO app_user, operator, worker, web_anon, platform_owner;

-- Start from empty tables (whatever other tests left; rolled back at the end).
SELECT test_helpers.empty_workspace_tables();

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


-- the mailer check reads the role the gateway switched to, not the payload's "role"
-- field (the role claim key is configurable): a worker token carrying "role": "operator" beside its
-- real role claim and no mailer claim is refused, not taken for an operator.
SELECT set_config('request.jwt.claims', '{"https://example/role": "worker", "role": "operator"}', true), set_config('role', 'worker', true);
SELECT is(test_helpers.error_of($$SELECT api.ack_notifications(ARRAY[1]::bigint[])$$) ->> 'code', 'PT403',
          'a worker token with a payload "role": "operator" cannot acknowledge mail (403)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

-- Live events (sql/events.sql): who may listen to which channel (api.can_listen, as the gateway calls
-- it for GET /notify/<channel>), and the build-status / workspace-status events the status changes
-- announce on their user's channel. NOTIFY is delivered only at commit and this file rolls back, so
-- events._emit is replaced, inside the transaction, by one that records what it was asked to send.
BEGIN;
SELECT plan(16);

-- pgTAP's functions, called while acting as a role (rolled back).
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO app_user;
CREATE FUNCTION pg_temp.as_user(p_sub text) RETURNS void LANGUAGE sql AS $$
    SELECT set_config('request.jwt.claims', json_build_object('sub', p_sub, 'role', 'app_user')::text, true),
           set_config('role', 'app_user', true);
$$;

CREATE FUNCTION pg_temp.as_admin() RETURNS void LANGUAGE sql AS $$
    SELECT set_config('role', 'postgres', true), set_config('request.jwt.claims', '', true);
$$;
GRANT EXECUTE ON FUNCTION pg_temp.as_user(text), pg_temp.as_admin() TO app_user;

-- Channels
SELECT pg_temp.as_user('ev-alice');
SELECT is(api.my_event_channel(), 'user-' || md5('ev-alice'), 'a user''s channel is user- and the md5 of their sub');
SELECT ok(length(api.my_event_channel()) <= 63, 'a channel name fits PostgreSQL''s 63 bytes');
SELECT is(api.can_listen('user-' || md5('ev-alice')), true, 'a user may listen to their own channel');
SELECT is(api.can_listen('user-' || md5('ev-bob')), false, 'not to another user''s (403)');
SELECT is(api.can_listen('builds'), NULL, 'any other channel is none of theirs (null: 404)');
SELECT throws_ok($$SELECT api.can_listen(repeat('x', 64))$$, '22023', 'channel must be at most 63 characters',
    'a channel longer than PostgreSQL allows is a 400');
SELECT pg_temp.as_admin();
SELECT set_config('request.jwt.claims', json_build_object('role', 'app_user')::text, true), set_config('role', 'app_user', true);
SELECT throws_ok($$SELECT api.can_listen('user-' || md5('ev-alice'))$$, 'PT401', NULL, 'a token without a sub may not listen (401)');
SELECT pg_temp.as_admin();
SELECT is((SELECT array_agg(r.rolname ORDER BY r.rolname) FROM pg_roles r
           WHERE has_function_privilege(r.oid, 'api.can_listen(text)', 'EXECUTE') AND r.rolname IN ('app_user', 'worker', 'operator', 'web_anon')),
          ARRAY['app_user']::name[], 'only app_user may ask can_listen');

-- Events: record what would be sent.
CREATE TABLE pg_temp.sent (id serial, channel text, payload json);
GRANT ALL ON pg_temp.sent, pg_temp.sent_id_seq TO PUBLIC;
CREATE OR REPLACE FUNCTION events._emit(p_sub text, p_payload json) RETURNS void LANGUAGE sql
SET search_path = '' AS $$ INSERT INTO pg_temp.sent (channel, payload) VALUES (events._user_channel(p_sub), p_payload) $$;

INSERT INTO workspaces.projects (name) VALUES ('ev-project');
INSERT INTO workspaces.images (project_id, name, arch, status, change_number, built_at)
    SELECT p.id, 'ev-image', 'x86_64', 'READY', 1, now() FROM workspaces.projects p WHERE p.name = 'ev-project';
INSERT INTO workspaces.hosts (name, disk_capacity) VALUES ('ev-host', 1000);

-- Builds: a new build and each status change reach the requester's channel, nothing else does.
INSERT INTO workspaces.builds (image_id, change_number, requested_by, run_at)
    SELECT i.id, 2, 'ev-alice', now() + interval '20 days' FROM workspaces.images i WHERE i.name = 'ev-image';
SELECT is((SELECT channel FROM pg_temp.sent ORDER BY id DESC LIMIT 1), 'user-' || md5('ev-alice'),
          'a new build is announced on its requester''s channel');
SELECT is((SELECT payload->>'event' || ' ' || (payload->>'status') || ' ' || (payload->>'change') FROM pg_temp.sent ORDER BY id DESC LIMIT 1),
          'build-status SCHEDULED 2', 'as a build-status event with its status and change');
SELECT is((SELECT (payload->>'build')::bigint FROM pg_temp.sent ORDER BY id DESC LIMIT 1),
          (SELECT b.id FROM workspaces.builds b WHERE b.requested_by = 'ev-alice' AND b.change_number = 2), 'naming the build');
SELECT b.id AS build_id FROM workspaces.builds b WHERE b.requested_by = 'ev-alice' AND b.change_number = 2 \gset
SELECT pg_temp.as_user('ev-alice');
SELECT lives_ok(format('SELECT api.cancel_build(%s)', :build_id), 'the user cancels the build');
SELECT pg_temp.as_admin();
SELECT is((SELECT payload->>'status' FROM pg_temp.sent ORDER BY id DESC LIMIT 1), 'CANCELLED', 'the cancellation is announced');
UPDATE workspaces.builds SET priority = 5 WHERE requested_by = 'ev-alice';
SELECT is((SELECT count(*)::int FROM pg_temp.sent), 2, 'a change that is not the status announces nothing');

-- Workspaces: creation, state changes and removal reach the owner's channel.
INSERT INTO workspaces.workspaces (owner, project_id, project_name, image_id, arch, host_id, host_name, disk_gb)
    SELECT 'ev-bob', p.id, p.name, i.id, 'x86_64', h.id, h.name, 10
    FROM workspaces.projects p, workspaces.images i, workspaces.hosts h
    WHERE p.name = 'ev-project' AND i.name = 'ev-image' AND h.name = 'ev-host';
UPDATE workspaces.workspaces SET state = 'READY', hostname = 'ws', ip = '10.0.0.1' WHERE owner = 'ev-bob';
UPDATE workspaces.workspaces SET last_error = 'nothing' WHERE owner = 'ev-bob';
DELETE FROM workspaces.workspaces WHERE owner = 'ev-bob';
SELECT is((SELECT array_agg(payload->>'status' ORDER BY id) FROM pg_temp.sent WHERE channel = 'user-' || md5('ev-bob')),
          ARRAY['PROVISIONING', 'READY', 'DELETED'], 'a workspace''s states reach its owner, in order, once each');
SELECT is((SELECT DISTINCT payload->>'event' FROM pg_temp.sent WHERE channel = 'user-' || md5('ev-bob')), 'workspace-status',
          'as workspace-status events');

SELECT * FROM finish();
ROLLBACK;

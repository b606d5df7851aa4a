-- The security check: nothing of ours is executable by PUBLIC; each caller role executes exactly its
-- allow-list (written out here, from the grants in sql/*.sql and the callers each service has,
-- docs/requirements.md); the authenticator is NOINHERIT and executes nothing itself but the gateway's key expiry; row level
-- security is on for every user-owned table. A new function, grant or user table makes this file fail
-- until the allow-list (or the policy) is updated on purpose.
BEGIN;
SELECT plan(26);

-- "Ours": the schemas owned by platform_owner, plus public; extension members (pgTAP) and the
-- integration tests' fixtures (test_*) are not.
CREATE TEMP VIEW our_functions AS
    SELECT p.oid, p.oid::regprocedure::text AS signature, p.proacl, p.prosecdef, p.proconfig
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE (n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = 'platform_owner') OR n.nspname = 'public')
      AND n.nspname NOT LIKE 'test\_%'
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e');

CREATE TEMP VIEW our_schemas AS
    SELECT n.oid, n.nspname, n.nspacl FROM pg_namespace n
    WHERE n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = 'platform_owner') AND n.nspname NOT LIKE 'test\_%';

-- 1. PUBLIC --------------------------------------------------------------------------------------
SELECT ok((SELECT count(*) >= 50 FROM our_functions), 'the checks below see the project''s functions (not vacuous)');

SELECT is_empty($$
    SELECT signature FROM our_functions
    WHERE proacl IS NULL
       OR EXISTS (SELECT FROM aclexplode(proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
$$, 'no function of ours is executable by PUBLIC');

SELECT is_empty($$
    SELECT s.nspname || ' ' || a.privilege_type FROM our_schemas s, LATERAL aclexplode(s.nspacl) a WHERE a.grantee = 0
$$, 'PUBLIC has no privilege on any schema of ours');

SELECT is_empty($$
    SELECT c.oid::regclass::text || ' ' || a.privilege_type
    FROM pg_class c JOIN our_schemas s ON s.oid = c.relnamespace, LATERAL aclexplode(c.relacl) a
    WHERE a.grantee = 0
$$, 'PUBLIC has no privilege on any table, view or sequence of ours');

SELECT ok((SELECT count(*) > 0 FROM pg_default_acl d
           WHERE d.defaclrole = 'platform_owner'::regrole AND d.defaclobjtype = 'f'
             AND NOT EXISTS (SELECT FROM aclexplode(d.defaclacl) a WHERE a.grantee = 0)),
          'functions platform_owner creates later are not executable by PUBLIC either (default privileges)');

-- 2. Allow-lists: what each caller role can execute, inherited grants included ----------------------
CREATE TEMP TABLE allow_list (rolname name, signature text, PRIMARY KEY (rolname, signature));
INSERT INTO allow_list VALUES
    -- widgets: anonymous callers
    ('web_anon', 'api.add_widget(text,character varying,text[])'),
    ('web_anon', 'api.add_widget(text,text,text[])'),
    ('web_anon', 'api.associate_widgets(text,text,text)'),
    ('web_anon', 'api.get_widget(text)'),
    ('web_anon', 'api.remove_association(text,text,text)'),
    ('web_anon', 'api.remove_widget(text)'),
    -- people: their VMs, a node for their project, their workspaces and image builds
    ('app_user', 'api.acquire_node(text)'),
    ('app_user', 'api.allocate_vm(integer,integer)'),
    ('app_user', 'api.release_vm(bigint)'),
    ('app_user', 'api.list_my_vms(boolean)'),
    ('app_user', 'api.create_workspace(text,text,text)'),
    ('app_user', 'api.list_workspaces()'),
    ('app_user', 'api.delete_workspace(bigint)'),
    ('app_user', 'api.schedule_image_build(text,text,bigint,integer,timestamp with time zone,text,text)'),
    ('app_user', 'api.cancel_build(bigint)'),
    ('app_user', 'api.retry_build(bigint)'),
    ('app_user', 'api.create_user_workspace(json)'),
    ('app_user', 'api.list_user_workspaces()'),
    ('app_user', 'api.delete_user_workspace(bigint)'),
    ('app_user', 'api.schedule_user_image_build(json)'),
    ('app_user', 'api.my_event_channel()'),
    ('app_user', 'api.can_listen(text)'),
    --   private helpers the SECURITY INVOKER functions above call as app_user
    ('app_user', 'auth.current_user_id()'),
    ('app_user', 'auth.check_text(text,text,integer)'),
    ('app_user', 'auth.check_json(jsonb,text,integer)'),
    ('app_user', 'workspaces._check_path_user()'),
    ('app_user', 'workspaces._check_body(json)'),
    ('app_user', 'events._user_channel(text)'),
    -- agents: compute nodes, host agents, build workers
    ('worker', 'api.register_node(text,integer)'),
    ('worker', 'api.node_heartbeat(text,bigint,jsonb)'),
    ('worker', 'api.leave_node(text,bigint)'),
    ('worker', 'api.claim_host_task(text)'),
    ('worker', 'api.report_task_success(bigint,uuid,text,inet)'),
    ('worker', 'api.report_task_failure(bigint,uuid,text)'),
    ('worker', 'api.reconcile_host(text,text[])'),
    ('worker', 'api.report_host_disk(text,bigint,bigint)'),
    ('worker', 'api.claim_build(text)'),
    ('worker', 'api.heartbeat_build(bigint,uuid)'),
    ('worker', 'api.complete_build(bigint,uuid,text,text)'),
    ('worker', 'api.requeue_expired_builds()'),
    ('worker', 'api.claim_builds(text,integer)'),
    ('worker', 'api.complete_builds(json)'),
    --   the mailer delivering the notification outbox (runs with a worker token)
    ('worker', 'api.claim_notifications(text,integer)'),
    ('worker', 'api.ack_notifications(bigint[])'),
    ('worker', 'api.fail_notification(bigint,text)'),
    -- operators: servers, nodes, hosts, and any build
    ('operator', 'api.register_server(text,integer,integer,cidr)'),
    ('operator', 'api.set_server_availability(text,boolean)'),
    ('operator', 'api.drain_server(text)'),
    ('operator', 'api.list_servers()'),
    ('operator', 'api.drain_node(text)'),
    ('operator', 'api.release_idle_projects()'),
    ('operator', 'api.surplus_idle_nodes()'),
    ('operator', 'api.list_compute_nodes()'),
    ('operator', 'api.compute_settings()'),
    ('operator', 'api.set_compute_settings(integer,integer,integer,integer,integer,integer,integer,integer)'),
    ('operator', 'api.set_project_owner(text,text)'),
    ('operator', 'api.register_host(text,integer)'),
    ('operator', 'api.add_host_image(text,text,text)'),
    ('operator', 'api.set_host_availability(text,boolean)'),
    ('operator', 'api.list_hosts()'),
    ('operator', 'api.requeue_expired_builds()'),
    ('operator', 'api.cancel_build(bigint)'),
    ('operator', 'api.set_build_priority(bigint,integer)'),
    ('operator', 'api.retry_build(bigint)'),
    -- every caller: the gateway's Idempotency-Key claim and store, run in the caller's own transaction
    -- (SECURITY DEFINER; the caller is read from the transaction, sql/gateway.sql)
    ('web_anon', 'gateway.claim_idempotency_key(text,text)'),
    ('app_user', 'gateway.claim_idempotency_key(text,text)'),
    ('worker', 'gateway.claim_idempotency_key(text,text)'),
    ('operator', 'gateway.claim_idempotency_key(text,text)'),
    ('web_anon', 'gateway.store_idempotent_result(text,text,integer,text,text,text,text,text)'),
    ('app_user', 'gateway.store_idempotent_result(text,text,integer,text,text,text,text,text)'),
    ('worker', 'gateway.store_idempotent_result(text,text,integer,text,text,text,text,text)'),
    ('operator', 'gateway.store_idempotent_result(text,text,integer,text,text,text,text,text)');

SELECT set_eq(
    $$SELECT signature FROM our_functions WHERE has_function_privilege('web_anon', oid, 'EXECUTE')$$,
    $$SELECT signature FROM allow_list WHERE rolname = 'web_anon'$$,
    'web_anon executes exactly its allow-list');
SELECT set_eq(
    $$SELECT signature FROM our_functions WHERE has_function_privilege('app_user', oid, 'EXECUTE')$$,
    $$SELECT signature FROM allow_list WHERE rolname = 'app_user'$$,
    'app_user executes exactly its allow-list');
SELECT set_eq(
    $$SELECT signature FROM our_functions WHERE has_function_privilege('worker', oid, 'EXECUTE')$$,
    $$SELECT signature FROM allow_list WHERE rolname = 'worker'$$,
    'worker executes exactly its allow-list');
SELECT set_eq(
    $$SELECT signature FROM our_functions WHERE has_function_privilege('operator', oid, 'EXECUTE')$$,
    $$SELECT signature FROM allow_list WHERE rolname = 'operator'$$,
    'operator executes exactly its allow-list');

-- 2b. Agents' identities: one worker role, but each agent's token names the agent (a `host`, `node` or
-- `mailer` claim) and every function an agent calls checks it with auth.require_agent, in its body or in
-- the private helper it calls. This is the map of which claim each worker function checks; the build
-- worker's calls check none (a build is fenced by its lease token, and any worker may take any due build).
-- A new worker function, or one that stops checking its claim, makes this fail until the map is updated.
CREATE TEMP TABLE agent_claims (signature text, kind text, PRIMARY KEY (signature, kind));
INSERT INTO agent_claims VALUES
    ('api.register_node(text,integer)', 'node'),
    ('api.node_heartbeat(text,bigint,jsonb)', 'node'),
    ('api.leave_node(text,bigint)', 'node'),
    ('api.claim_host_task(text)', 'host'),
    ('api.report_task_success(bigint,uuid,text,inet)', 'host'),
    ('api.report_task_failure(bigint,uuid,text)', 'host'),
    ('api.reconcile_host(text,text[])', 'host'),
    ('api.report_host_disk(text,bigint,bigint)', 'host'),
    ('api.claim_notifications(text,integer)', 'mailer'),
    ('api.ack_notifications(bigint[])', 'mailer'),
    ('api.fail_notification(bigint,text)', 'mailer'),
    ('api.claim_build(text)', 'none'),
    ('api.claim_builds(text,integer)', 'none'),
    ('api.heartbeat_build(bigint,uuid)', 'none'),
    ('api.complete_build(bigint,uuid,text,text)', 'none'),
    ('api.complete_builds(json)', 'none'),
    ('api.requeue_expired_builds()', 'none'),
    -- the gateway's Idempotency-Key claim and store: any caller's, for its own keys
    ('gateway.claim_idempotency_key(text,text)', 'none'),
    ('gateway.store_idempotent_result(text,text,integer,text,text,text,text,text)', 'none');

CREATE TEMP VIEW checked_claims AS
    WITH checks AS (   -- functions whose own body checks a claim, with the kinds they check
        SELECT p.oid, n.nspname || '.' || p.proname AS name, m[1] AS kind
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
             LATERAL regexp_matches(p.prosrc, 'auth\.require_agent\(\s*''(\w+)''', 'g') AS m
    ), worker_functions AS (
        SELECT f.oid, f.signature, p.prosrc FROM our_functions f JOIN pg_proc p ON p.oid = f.oid
        WHERE has_function_privilege('worker', f.oid, 'EXECUTE')
    )
    SELECT w.signature, coalesce((SELECT string_agg(DISTINCT c.kind, ',') FROM checks c
                                  WHERE c.oid = w.oid OR w.prosrc ~ ('\m' || replace(c.name, '.', '\.') || '\(')), 'none') AS kind
    FROM worker_functions w;

SELECT set_eq('SELECT signature, kind FROM checked_claims', 'SELECT signature, kind FROM agent_claims',
    'every agent function checks the token''s claim for its kind of agent (host, node, mailer); build calls none');

SELECT results_eq($$SELECT count(*)::int FROM agent_claims WHERE kind <> 'none'$$, $$VALUES (11)$$,
    'the map is not vacuous: 11 functions act for a named agent');

SELECT is_empty($$
    SELECT signature FROM our_functions f
    WHERE signature LIKE 'api.%'
      AND NOT EXISTS (SELECT FROM allow_list l WHERE l.signature = f.signature)
$$, 'every api function is on some allow-list (none is left uncallable or forgotten here)');

SELECT is_empty($$
    SELECT f.signature FROM our_functions f, LATERAL aclexplode(f.proacl) a
    WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> 'platform_owner'::regrole
      AND a.grantee NOT IN ('web_anon'::regrole, 'app_user'::regrole, 'worker'::regrole, 'operator'::regrole)
      AND (a.grantee, f.signature) <> ('authenticator'::regrole, 'gateway.delete_expired_idempotency_keys(integer)')
$$, 'EXECUTE is granted to the caller roles only (and the gateway''s key expiry to its login)');

SELECT is_empty($$
    SELECT signature FROM our_functions
    WHERE prosecdef AND NOT EXISTS (SELECT FROM unnest(proconfig) c WHERE c LIKE 'search\_path=%')
$$, 'every SECURITY DEFINER function of ours pins its search_path');

-- 3. The caller roles and the authenticator ------------------------------------------------------
SELECT ok((SELECT rolcanlogin AND NOT rolinherit AND NOT rolsuper AND NOT rolbypassrls AND NOT rolcreaterole
                  AND NOT rolcreatedb AND NOT rolreplication
           FROM pg_roles WHERE rolname = 'authenticator'),
          'authenticator is LOGIN NOINHERIT, and no superuser, BYPASSRLS, CREATEROLE, CREATEDB or REPLICATION');

SELECT set_eq($$
    SELECT signature FROM our_functions WHERE has_function_privilege('authenticator', oid, 'EXECUTE')
$$, ARRAY['gateway.delete_expired_idempotency_keys(integer)'],
    'authenticator executes no function of ours directly (only after SET ROLE) but the gateway''s expiry of Idempotency-Key answers');

SELECT is_empty($$
    SELECT c.oid::regclass::text FROM pg_class c JOIN our_schemas s ON s.oid = c.relnamespace
    WHERE has_table_privilege('authenticator', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
$$, 'authenticator reads or writes no table of ours directly');

SELECT set_eq(
    $$SELECT r.rolname::text FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
      WHERE m.member = 'authenticator'::regrole$$,
    ARRAY['web_anon', 'app_user', 'worker', 'operator'],
    'authenticator may switch to the four caller roles and to nothing else');

SELECT is_empty($$
    SELECT rolname FROM pg_roles
    WHERE rolname IN ('web_anon', 'app_user', 'worker', 'operator', 'platform_owner')
      AND (rolcanlogin OR rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb OR rolreplication)
$$, 'the caller roles and the owner cannot log in and have no superuser, BYPASSRLS or CREATE* attributes');

SELECT is_empty($$
    SELECT m.rolname || ' in ' || r.rolname FROM pg_auth_members a
    JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
    WHERE m.rolname IN ('web_anon', 'app_user', 'worker', 'operator', 'platform_owner')
$$, 'no caller role (nor the owner) is a member of another role');

-- 4. Row level security on user-owned tables -----------------------------------------------------
-- A user-owned table has a column naming a user (the token's sub): owner, requested_by, recipient, ...
CREATE TEMP VIEW user_tables AS
    SELECT DISTINCT c.oid, c.oid::regclass::text AS name, c.relrowsecurity, c.relowner
    FROM pg_class c JOIN our_schemas s ON s.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'p')
      AND a.attname IN ('owner', 'owner_id', 'user_id', 'sub', 'requested_by', 'recipient', 'created_by');

SELECT set_has($$SELECT name FROM user_tables$$,
    $$VALUES ('vms.vms'), ('workspaces.workspaces'), ('workspaces.builds'), ('workspaces.notifications')$$,
    'the user-owned tables are found (VMs, workspaces, builds, notifications)');

SELECT is_empty($$SELECT name FROM user_tables WHERE NOT relrowsecurity$$,
    'row level security is enabled on every user-owned table');

SELECT is_empty($$
    SELECT t.name || ' ' || r.rolname FROM user_tables t
    CROSS JOIN pg_roles r
    WHERE r.rolname IN ('web_anon', 'app_user', 'worker', 'operator')
      AND has_table_privilege(r.rolname, t.oid, 'SELECT')
      AND NOT EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = t.oid
                      AND (p.polroles = '{0}' OR r.oid = ANY (p.polroles))
                      AND pg_get_expr(p.polqual, p.polrelid) LIKE '%request.jwt.claims%sub%')
$$, 'a caller role that may read a user-owned table reads it through a policy on the token''s sub');

-- Not FORCEd: the owner's SECURITY DEFINER functions must see every user's rows (drain_server,
-- claim_build); what keeps users apart there is the explicit filter on auth.current_user_id(). The
-- owner therefore must be a role nobody can log in as or switch to (checked above and here).
SELECT is_empty($$SELECT name FROM user_tables WHERE relowner <> 'platform_owner'::regrole$$,
    'every user-owned table belongs to platform_owner (NOLOGIN, no member can switch to it)');

SELECT is_empty($$
    SELECT t.name || ' ' || r.rolname || ' ' || priv FROM user_tables t
    CROSS JOIN pg_roles r CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) priv
    WHERE r.rolname IN ('web_anon', 'app_user', 'worker', 'operator', 'authenticator')
      AND has_table_privilege(r.rolname, t.oid, priv)
$$, 'no caller role writes a user-owned table directly (only through the api functions)');

-- Behaviour: with RLS on and a grant, app_user would see only its own builds and notifications.
SET LOCAL ROLE platform_owner;
INSERT INTO workspaces.notifications (recipient, kind, subject, body)
VALUES ('security-alice', 'test', 's', 'b'), ('security-bob', 'test', 's', 'b');
GRANT SELECT ON workspaces.notifications TO app_user;   -- rolled back with the test
RESET ROLE;
SET LOCAL ROLE app_user;
SELECT set_config('request.jwt.claims', '{"role":"app_user","sub":"security-alice"}', true);
-- (pgTAP's functions are not executable by app_user: read as app_user, judge as the superuser)
SELECT coalesce(string_agg(recipient, ',' ORDER BY recipient), '') AS seen_recipients
FROM workspaces.notifications WHERE kind = 'test' \gset
RESET ROLE;
SELECT is(:'seen_recipients'::text, 'security-alice', 'under RLS a user reads only its own notifications');

SELECT * FROM finish();
ROLLBACK;

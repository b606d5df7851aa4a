-- Time limits (migration 0015, docs/limits.md): every role the gateway serves the API as, and its
-- login role, has a statement_timeout, a lock_timeout and an idle_in_transaction_session_timeout in this
-- database; functions that legitimately need longer carry their own SET. The gateway applies the
-- request roles' settings and a function's statement_timeout in each request's transaction
-- (Tests/IntegrationTests/GatewayTimeLimitsTests.swift shows it over HTTP).
BEGIN;
SELECT plan(6);

-- The settings of a role in this database (ALTER ROLE ... IN DATABASE), as name=value, by name.
CREATE FUNCTION pg_temp.settings_of(p_role text) RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(c ORDER BY c), '{}')
    FROM pg_db_role_setting s, unnest(s.setconfig) c
    WHERE s.setrole = p_role::regrole
      AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
$$;

SELECT results_eq(
    $$SELECT r, pg_temp.settings_of(r) FROM unnest(ARRAY['web_anon', 'app_user', 'worker', 'operator', 'authenticator']) r$$,
    $$VALUES ('web_anon', ARRAY['idle_in_transaction_session_timeout=10s', 'lock_timeout=2s', 'statement_timeout=5s']),
             ('app_user', ARRAY['idle_in_transaction_session_timeout=10s', 'lock_timeout=2s', 'statement_timeout=5s']),
             ('worker', ARRAY['idle_in_transaction_session_timeout=10s', 'lock_timeout=2s', 'statement_timeout=10s']),
             ('operator', ARRAY['idle_in_transaction_session_timeout=10s', 'lock_timeout=5s', 'statement_timeout=10s']),
             ('authenticator', ARRAY['idle_in_transaction_session_timeout=10s', 'lock_timeout=5s', 'statement_timeout=10s'])$$,
    'each API role and the login role have the documented time limits in this database');

-- Any role the gateway may switch to (a membership of authenticator) has all three: a new role
-- without limits fails here.
SELECT is_empty($$
    SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
    WHERE m.member = 'authenticator'::regrole
      AND (SELECT count(*) FROM unnest(pg_temp.settings_of(r.rolname::text)) c
           WHERE c ~ '^(statement_timeout|lock_timeout|idle_in_transaction_session_timeout)=') <> 3
$$, 'every role the gateway switches to has statement_timeout, lock_timeout and idle_in_transaction_session_timeout');

SELECT is_empty($$
    SELECT r.rolname, c FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid,
         unnest(pg_temp.settings_of(r.rolname::text)) c
    WHERE m.member = 'authenticator'::regrole AND c ~ '=0$'
$$, 'no limit is 0 (off)');

-- Per-function overrides: allocate_vm waits, by design, for the best server's row (sql/vms.sql).
SELECT is((SELECT array_agg(c ORDER BY c) FROM pg_proc p, unnest(p.proconfig) c
           WHERE p.oid = 'api.allocate_vm(integer,integer)'::regprocedure AND c NOT LIKE 'search_path=%'),
          ARRAY['lock_timeout=5s', 'statement_timeout=10s'],
          'api.allocate_vm may wait 5 s for a server row and run 10 s (app_user: 2 s and 5 s)');

-- An override never outlasts nginx's proxy_read_timeout (15 s): the gateway must answer first.
SELECT is_empty($$
    SELECT p.oid::regprocedure, c FROM pg_proc p, unnest(p.proconfig) c
    WHERE p.pronamespace = 'api'::regnamespace AND c ~ '^statement_timeout='
      AND (split_part(c, '=', 2)::interval >= interval '15 seconds' OR split_part(c, '=', 2) IN ('0', '0ms'))
$$, 'no api function''s statement_timeout reaches nginx''s 15 s proxy_read_timeout or turns the limit off');

-- SET ROLE (what the gateway does per request) does not apply a role's settings: the reason the
-- gateway applies them itself. In psql as the superuser the session's own value stays.
SET LOCAL ROLE web_anon;
SELECT set_config('test.lock_timeout_seen', current_setting('lock_timeout'), true);
RESET ROLE;
SELECT isnt(current_setting('test.lock_timeout_seen'), '2s', 'switching role does not apply the role''s settings by itself');

SELECT * FROM finish();
ROLLBACK;

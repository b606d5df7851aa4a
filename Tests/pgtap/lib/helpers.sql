-- Helpers of the pgTAP files, installed once in the test database by the test harness (scripts/test.sh,
-- before pg_prove) in their own schema, so every file uses the same definitions. Callable by every role
-- the files switch to (granted below): the request context they set is what the gateway would set for a token.
CREATE SCHEMA IF NOT EXISTS test_helpers;   -- (a re-run replaces the definitions)
GRANT USAGE ON SCHEMA test_helpers TO app_user, operator, worker, web_anon;

-- error_of(sql): runs sql and returns the error it raised as {code,message,detail,hint} (NULL if none),
-- so that DETAIL and HINT can be asserted too (throws_ok checks only code and message).
CREATE OR REPLACE FUNCTION test_helpers.error_of(p_sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v_code text; v_message text; v_detail text; v_hint text;
BEGIN
    EXECUTE p_sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    RETURN jsonb_build_object('code', v_code, 'message', v_message,
                              'detail', nullif(v_detail, ''), 'hint', nullif(v_hint, ''));
END $$;

-- as_user(sub): the request context the gateway sets for a token of app_user with this sub.
CREATE OR REPLACE FUNCTION test_helpers.as_user(p_sub text) RETURNS void LANGUAGE sql AS $$
    SELECT set_config('request.jwt.claims', json_build_object('sub', p_sub, 'role', 'app_user')::text, true),
           set_config('role', 'app_user', true);
$$;

-- as_role(role): a token of a role without a sub (worker, operator).
CREATE OR REPLACE FUNCTION test_helpers.as_role(p_role text) RETURNS void LANGUAGE sql AS $$
    SELECT set_config('request.jwt.claims', json_build_object('role', p_role)::text, true),
           set_config('role', p_role, true);
$$;

-- as_agent(kind, name): a worker token naming its agent, as `gateway token --role worker --host h1` (or
-- --mailer m) mints it.
CREATE OR REPLACE FUNCTION test_helpers.as_agent(p_kind text, p_name text) RETURNS void LANGUAGE sql AS $$
    SELECT set_config('request.jwt.claims', json_build_object('role', 'worker', p_kind, p_name)::text, true),
           set_config('role', 'worker', true);
$$;

-- empty_workspace_tables(): the workspace domain's tables emptied, children first, for a file that
-- starts from nothing (called before any role switch; the file's transaction rolls it back).
CREATE OR REPLACE FUNCTION test_helpers.empty_workspace_tables() RETURNS void LANGUAGE sql AS $$
    DELETE FROM workspaces.notifications;
    DELETE FROM workspaces.workspaces;
    DELETE FROM workspaces.builds;
    DELETE FROM workspaces.host_images;
    DELETE FROM workspaces.hosts;
    DELETE FROM workspaces.images;
    DELETE FROM workspaces.projects;
$$;

-- To the roles the files switch to (nothing in this database is executable by PUBLIC).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA test_helpers FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test_helpers TO app_user, operator, worker, web_anon;

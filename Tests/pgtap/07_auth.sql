-- Who may act for whom: auth.require_agent, the check every agent function makes.
-- The gateway sets request.jwt.claims and switches role with set_config('role', ...); here a SECURITY
-- DEFINER wrapper stands in for the api functions (which are SECURITY DEFINER too), so current_user is
-- the owner inside while the `role` setting is the caller's, as in a real call.
BEGIN;
SELECT plan(8);

CREATE FUNCTION pg_temp.act_for(p_kind text, p_name text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    PERFORM auth.require_agent(p_kind, p_name);
    RETURN 'allowed';
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.act_for(text, text) TO worker, operator;

-- as(role, claims): the caller the gateway would make of a token
CREATE FUNCTION pg_temp.call_as(p_role text, p_claims text, p_kind text, p_name text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_result text;
BEGIN
    PERFORM set_config('request.jwt.claims', p_claims, true);
    EXECUTE format('SET LOCAL ROLE %I', p_role);
    BEGIN
        v_result := pg_temp.act_for(p_kind, p_name);
    EXCEPTION WHEN SQLSTATE 'PT403' THEN
        v_result := 'PT403: ' || SQLERRM;
    END;
    RESET ROLE;
    PERFORM set_config('request.jwt.claims', '', true);
    RETURN v_result;
END
$$;

SELECT is(pg_temp.call_as('worker', '{"role":"worker","host":"h1"}', 'host', 'h1'), 'allowed',
    'the agent of host h1 acts for h1');
SELECT is(pg_temp.call_as('worker', '{"role":"worker","host":"h2"}', 'host', 'h1'),
    'PT403: this token may not act for host ''h1''', 'the agent of h2 may not act for h1 (403)');
SELECT is(pg_temp.call_as('worker', '{"role":"worker"}', 'host', 'h1'),
    'PT403: this token may not act for host ''h1''', 'a worker token naming no agent acts for none (403)');
SELECT is(pg_temp.call_as('worker', '{"role":"worker","node":"h1"}', 'host', 'h1'),
    'PT403: this token may not act for host ''h1''', 'a node''s agent is not a host''s agent of the same name (403)');
SELECT is(pg_temp.call_as('worker', '{"role":"worker","mailer":"m1"}', 'mailer', 'm1'), 'allowed',
    'the mailer m1 acts as m1');
SELECT is(pg_temp.call_as('operator', '{"role":"operator"}', 'node', 'n1'), 'allowed',
    'an operator acts for any agent');
-- The gateway's role claim key is configurable (jwt-role-claim-key): the payload's "role" field is not
-- necessarily the role the call runs as, and must not make a worker an operator.
SELECT is(pg_temp.call_as('worker', '{"role":"operator","app":{"role":"worker"},"host":"h2"}', 'host', 'h1'),
    'PT403: this token may not act for host ''h1''',
    'a payload "role":"operator" does not make a worker an operator (the role switched to decides)');
SELECT is(pg_temp.act_for('host', 'h1'), 'allowed', 'a DBA in psql (no claims at all) acts for any agent');

SELECT * FROM finish();
ROLLBACK;

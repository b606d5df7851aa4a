-- Who is calling: helpers every domain uses. Re-applied on every migrate, before the domains' files.
SET LOCAL ROLE platform_owner;

-- The caller's user id: the token's sub claim; PT401 (401) when the request carries none.
CREATE OR REPLACE FUNCTION auth.current_user_id()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_sub text;
BEGIN
    v_sub := nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub';
    IF v_sub IS NULL OR v_sub = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT401',
            MESSAGE = 'this call needs a signed-in user',
            DETAIL = 'The access token has no "sub" claim naming the user.',
            HINT = 'Send "Authorization: Bearer <token>" with a token whose "sub" is your user id.';
    END IF;
    RETURN v_sub;
END
$$;
REVOKE ALL ON FUNCTION auth.current_user_id() FROM PUBLIC;
-- SECURITY INVOKER readers (list_my_vms, list_workspaces) call it as app_user.
GRANT EXECUTE ON FUNCTION auth.current_user_id() TO app_user;
COMMENT ON FUNCTION auth.current_user_id() IS 'The token''s sub (the user id); PT401 (401) when missing.';

-- Input bounds. Every text, array and JSON parameter of an api function passes through one of these
-- before use (Tests/pgtap/95_input_bounds.sql walks api's functions and fails on one that does not), so
-- an oversized value is a 400 naming the argument and its maximum, never a slow call, a bloated row or
-- a 500 from a btree index's row-size limit. The maxima are listed in docs/limits.md. NULL passes: whether
-- an argument may be missing is the calling function's own rule.
CREATE OR REPLACE FUNCTION auth.check_text(p_value text, p_argument text, p_max integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = ''
AS $$
BEGIN
    IF length(p_value) > p_max THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('%s must be at most %s characters', p_argument, p_max),
            DETAIL = format('Got %s characters.', length(p_value)),
            HINT = format('Send a shorter "%s".', p_argument);
    END IF;
    RETURN p_value;
END
$$;
REVOKE ALL ON FUNCTION auth.check_text(text, text, integer) FROM PUBLIC;
-- The REST routes' SECURITY INVOKER helpers (workspaces._check_path_user) call it as app_user.
GRANT EXECUTE ON FUNCTION auth.check_text(text, text, integer) TO app_user;
COMMENT ON FUNCTION auth.check_text(text, text, integer) IS
    'Input bound: the value, or 22023 (400) naming the argument when it has more than p_max characters.';

-- An array: at most p_max_elements elements, each (when text) at most p_max_length characters.
CREATE OR REPLACE FUNCTION auth.check_array(p_value anyarray, p_argument text, p_max_elements integer,
                                            p_max_length integer DEFAULT NULL)
RETURNS anyarray
LANGUAGE plpgsql IMMUTABLE
SET search_path = ''
AS $$
DECLARE
    v_longest integer;
BEGIN
    IF cardinality(p_value) > p_max_elements THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('%s must have at most %s elements', p_argument, p_max_elements),
            DETAIL = format('Got %s elements.', cardinality(p_value)),
            HINT = format('Send a shorter "%s" array (or split the call).', p_argument);
    END IF;
    IF p_max_length IS NOT NULL THEN
        SELECT max(length(e::text)) INTO v_longest FROM unnest(p_value) AS e;
        IF v_longest > p_max_length THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('each element of %s must be at most %s characters', p_argument, p_max_length),
                DETAIL = format('The longest has %s characters.', v_longest),
                HINT = format('Send shorter elements in "%s".', p_argument);
        END IF;
    END IF;
    RETURN p_value;
END
$$;
REVOKE ALL ON FUNCTION auth.check_array(anyarray, text, integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION auth.check_array(anyarray, text, integer, integer) IS
    'Input bound: the array, or 22023 (400) when it has more than p_max_elements elements or an element longer than p_max_length characters.';

-- A JSON document: at most p_max_bytes bytes as text.
CREATE OR REPLACE FUNCTION auth.check_json(p_value jsonb, p_argument text, p_max_bytes integer)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = ''
AS $$
BEGIN
    IF octet_length(p_value::text) > p_max_bytes THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('%s must be at most %s bytes of JSON', p_argument, p_max_bytes),
            DETAIL = format('Got %s bytes.', octet_length(p_value::text)),
            HINT = format('Send a smaller "%s".', p_argument);
    END IF;
    RETURN p_value;
END
$$;
REVOKE ALL ON FUNCTION auth.check_json(jsonb, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.check_json(jsonb, text, integer) TO app_user;   -- workspaces._check_body
COMMENT ON FUNCTION auth.check_json(jsonb, text, integer) IS
    'Input bound: the document, or 22023 (400) naming the argument when it is larger than p_max_bytes bytes.';

-- Agents' identities. A worker token names the one agent it is: a `host` claim (the host agent of that
-- workspace host), a `node` claim (the node agent of that compute node) or a `mailer` claim (the mail
-- sender); `gateway token --host/--node/--mailer` mints them. A call that acts for an agent passes the
-- kind and the name it acts for: PT403 (403) unless the token names exactly that agent. Operators act
-- for any agent (they register and repair them by hand).
CREATE OR REPLACE FUNCTION auth.require_agent(p_kind text, p_name text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_claims json := nullif(current_setting('request.jwt.claims', true), '')::json;
    v_named text := v_claims ->> p_kind;
BEGIN
    -- Every call through the gateway carries claims; none at all is a DBA in psql. The caller's role is
    -- the `role` setting the gateway switched to (SECURITY DEFINER changes current_user, not that
    -- setting), never the payload's "role" field: the gateway's role claim key is configurable
    -- (jwt-role-claim-key), so a payload may carry a "role" that is not the role it runs as.
    IF v_claims IS NULL OR current_setting('role', true) = 'operator' THEN
        RETURN;
    END IF;
    IF v_named IS NULL OR v_named IS DISTINCT FROM p_name THEN
        RAISE EXCEPTION USING ERRCODE = 'PT403',
            MESSAGE = format('this token may not act for %s %s', p_kind, coalesce(quote_literal(p_name), 'null')),
            DETAIL = CASE WHEN v_named IS NULL THEN format('The token has no "%s" claim naming the %s.', p_kind, p_kind)
                          ELSE format('The token is the agent of %s %s.', p_kind, quote_literal(v_named)) END,
            HINT = format('Use the token minted for this %s: gateway token --role worker --%s %s.', p_kind, p_kind, coalesce(p_name, '<name>'));
    END IF;
END
$$;
REVOKE ALL ON FUNCTION auth.require_agent(text, text) FROM PUBLIC;
COMMENT ON FUNCTION auth.require_agent(text, text) IS
    'PT403 (403) unless the token names the agent p_kind (host, node, mailer) = p_name; operators and DBA sessions without claims (psql) pass.';

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

-- The platform's caller roles beyond the anonymous one. A valid token's role claim names one of them;
-- the gateway (logged in as authenticator) switches to it for the request. Each function is granted to
-- exactly the roles that need it, in sql/.
--   app_user  people who own VMs and workspaces; identified by the token's `sub`
--   worker    build workers and host or node agents
--   operator  registers servers, hosts and nodes
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['app_user', 'worker', 'operator'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
        END IF;
        EXECUTE format('GRANT %I TO authenticator', v_role);
    END LOOP;
END
$$;

-- Roles of the PostgREST model. Roles are cluster-wide, so this migration is written to run in every
-- database of the cluster (the test database shares the roles with the main one).
--   platform_owner  owns the schemas, tables and functions (NOLOGIN; migrations SET ROLE to it)
--   authenticator   the gateway's login: LOGIN NOINHERIT, it can only switch to the roles granted to it
--   web_anon        the anonymous caller (NOLOGIN)
-- The authenticator's password is not set here: `make up` sets it from .data/secrets (generated once),
-- and production sets it from its own secret store.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'platform_owner') THEN
        CREATE ROLE platform_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator LOGIN NOINHERIT NOCREATEDB NOCREATEROLE NOSUPERUSER;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'web_anon') THEN
        CREATE ROLE web_anon NOLOGIN;
    END IF;
END
$$;

GRANT web_anon TO authenticator;

-- The owner creates the project's schemas in this database.
DO $$
BEGIN
    EXECUTE format('GRANT CREATE, CONNECT, TEMPORARY ON DATABASE %I TO platform_owner', current_database());
END
$$;

-- Nothing new is executable by PUBLIC: every function must be granted to the roles that need it.
ALTER DEFAULT PRIVILEGES FOR ROLE platform_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
-- Nobody but the owner may create objects in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

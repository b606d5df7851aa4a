-- The platform's foundation: roles of the PostgREST model, migration bookkeeping, and the rule that
-- nothing is executable by PUBLIC. Run by `make test` (pg_prove) on the freshly migrated test database.
BEGIN;
SELECT plan(14);

-- Roles
SELECT has_role('platform_owner', 'the owner role exists');
SELECT has_role('authenticator', 'the gateway login role exists');
SELECT has_role('web_anon', 'the anonymous role exists');
SELECT ok((SELECT rolcanlogin AND NOT rolinherit AND NOT rolsuper FROM pg_roles WHERE rolname = 'authenticator'),
          'authenticator is LOGIN NOINHERIT and not a superuser');
SELECT ok((SELECT NOT rolcanlogin FROM pg_roles WHERE rolname = 'web_anon'), 'web_anon cannot log in');
SELECT ok((SELECT NOT rolcanlogin FROM pg_roles WHERE rolname = 'platform_owner'), 'platform_owner cannot log in');
SELECT ok(pg_has_role('authenticator', 'web_anon', 'MEMBER'), 'authenticator may switch to web_anon');
SELECT ok(NOT pg_has_role('authenticator', 'platform_owner', 'MEMBER'), 'authenticator may not become the owner');

-- Nothing in the project's schemas is executable by PUBLIC (a NULL proacl means PUBLIC may execute).
SELECT is_empty($$
    SELECT p.oid::regprocedure::text
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public')
      AND n.nspname NOT LIKE 'pg\_%'
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
      AND (p.proacl IS NULL
           OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
$$, 'no function in the project''s schemas is executable by PUBLIC');

SELECT ok((SELECT count(*) > 0 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'api'),
          'the exposed schema api has functions (so the check above is not vacuous)');
SELECT ok(EXISTS (SELECT FROM pg_default_acl d JOIN pg_roles r ON r.oid = d.defaclrole
                  WHERE r.rolname = 'platform_owner' AND d.defaclobjtype = 'f'),
          'default privileges of platform_owner revoke EXECUTE on new functions from PUBLIC');

-- Every schema and function of the project belongs to the owner, not to a login role.
SELECT is_empty($$
    SELECT n.nspname FROM pg_namespace n
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND n.nspname NOT LIKE 'pg\_%'
      AND n.nspname NOT LIKE 'test\_%' AND n.nspowner <> 'platform_owner'::regrole
$$, 'the project''s schemas are owned by platform_owner');

-- Migration bookkeeping
SELECT has_table('public', 'schema_migrations', 'schema_migrations records applied migrations');
SELECT ok((SELECT bool_and(length(checksum) = 64 AND applied_at IS NOT NULL) AND count(*) >= 2
           FROM public.schema_migrations), 'each applied migration has a SHA-256 checksum and a time');

SELECT * FROM finish();
ROLLBACK;

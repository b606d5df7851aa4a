-- Grants across the platform: every function of the exposed schema is callable by at least one of
-- the API roles and by nothing else (not PUBLIC, not the authenticator directly); nothing in the
-- private schemas is callable by an API role; the API roles own nothing and touch no table directly.
BEGIN;
SELECT plan(6);

CREATE TEMP TABLE api_roles (rolname name PRIMARY KEY);
INSERT INTO api_roles VALUES ('web_anon'), ('app_user'), ('worker'), ('operator');

SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE p.pronamespace = 'api'::regnamespace
      AND NOT EXISTS (SELECT FROM api_roles r WHERE has_function_privilege(r.rolname, p.oid, 'EXECUTE'))
$$, 'every api function is executable by at least one API role');

SELECT is_empty($$
    SELECT p.oid::regprocedure::text || ' -> ' || g.rolname
    FROM pg_proc p, LATERAL aclexplode(p.proacl) a JOIN pg_roles g ON g.oid = a.grantee
    WHERE p.pronamespace = 'api'::regnamespace AND a.privilege_type = 'EXECUTE'
      AND g.rolname NOT IN (SELECT rolname FROM api_roles) AND g.oid <> p.proowner
$$, 'api functions are granted to API roles only (no login role, no PUBLIC)');

SELECT is_empty($$
    SELECT p.oid::regprocedure::text || ' -> ' || g.rolname
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
         LATERAL aclexplode(p.proacl) a JOIN pg_roles g ON g.oid = a.grantee
    WHERE n.nspname NOT IN ('api', 'public', 'pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
      AND n.nspname NOT LIKE 'test\_%' AND a.privilege_type = 'EXECUTE' AND g.rolname IN (SELECT rolname FROM api_roles)
      AND p.prosecdef
      -- the gateway calls these two itself, in the caller's transaction (sql/gateway.sql: Idempotency-Key)
      AND p.oid::regprocedure::text NOT IN ('gateway.claim_idempotency_key(text,text)',
                                            'gateway.store_idempotent_result(text,text,integer,text,text,text,text,text)')
$$, 'no private SECURITY DEFINER helper is callable by an API role (only through api functions, or the gateway''s Idempotency-Key claim and store)');

SELECT is_empty($$
    SELECT c.oid::regclass::text || ' -> ' || g.rolname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
         LATERAL aclexplode(c.relacl) a JOIN pg_roles g ON g.oid = a.grantee
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND n.nspname NOT LIKE 'pg\_%'
      AND c.relkind IN ('r', 'p') AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
      AND g.rolname IN ('web_anon', 'authenticator')
$$, 'anonymous callers and the authenticator cannot write any table directly');

SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE p.pronamespace = 'api'::regnamespace AND p.prosecdef
      AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
$$, 'every SECURITY DEFINER api function pins its search_path');

SELECT is_empty($$
    SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
    WHERE r.rolname IN (SELECT rolname FROM api_roles) OR r.rolname = 'authenticator'
$$, 'no API role or the authenticator owns a relation');

SELECT * FROM finish();
ROLLBACK;

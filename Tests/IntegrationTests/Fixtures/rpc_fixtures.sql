-- Fixtures for the gateway's integration tests, modelled on PostgREST's RPC test fixtures
-- (test/spec/fixtures/schema.sql): one function per behaviour of /rpc/<fn>. Idempotent: the tests
-- apply it as superuser before starting the gateway (db-schemas = "test_rpc, api").
DROP SCHEMA IF EXISTS test_rpc CASCADE;
CREATE SCHEMA test_rpc;
GRANT USAGE ON SCHEMA test_rpc TO web_anon;

CREATE TABLE test_rpc.projects (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO test_rpc.projects VALUES (1, 'Windows 7'), (2, 'Windows 10'), (3, 'IOS'), (4, 'OSX'), (5, 'Orphan');
CREATE TABLE test_rpc.items (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
GRANT SELECT ON test_rpc.projects TO web_anon;
GRANT SELECT, INSERT ON test_rpc.items TO web_anon;
GRANT USAGE ON SEQUENCE test_rpc.items_id_seq TO web_anon;

-- Named-argument scalar.
CREATE FUNCTION test_rpc.add_them(a integer, b integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$;

-- Scalar text, no arguments.
CREATE FUNCTION test_rpc.hello() RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'Hello' $$;

-- Scalar NULL.
CREATE FUNCTION test_rpc.ret_null() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT NULL::integer $$;

-- SETOF a table type.
CREATE FUNCTION test_rpc.get_projects_below(id integer) RETURNS SETOF test_rpc.projects
LANGUAGE sql STABLE AS $$ SELECT * FROM test_rpc.projects p WHERE p.id < get_projects_below.id ORDER BY p.id $$;

-- SETOF scalar, and an empty set.
CREATE FUNCTION test_rpc.numbers(n integer) RETURNS SETOF integer
LANGUAGE sql IMMUTABLE AS $$ SELECT generate_series(1, n) $$;

-- RETURNS TABLE.
CREATE FUNCTION test_rpc.project_names() RETURNS TABLE (id integer, name text)
LANGUAGE sql STABLE AS $$ SELECT id, name FROM test_rpc.projects ORDER BY id LIMIT 2 $$;

-- Composite.
CREATE FUNCTION test_rpc.get_project(id integer) RETURNS test_rpc.projects
LANGUAGE sql STABLE AS $$ SELECT * FROM test_rpc.projects p WHERE p.id = get_project.id $$;

-- OUT parameters (composite).
CREATE FUNCTION test_rpc.out_params(x integer, OUT doubled integer, OUT label text)
LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2, 'x' || x $$;

-- Void.
CREATE FUNCTION test_rpc.ret_void() RETURNS void
LANGUAGE sql IMMUTABLE AS $$ SELECT $$;

-- Overloads chosen by argument names.
CREATE FUNCTION test_rpc.overloaded() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'none' $$;
CREATE FUNCTION test_rpc.overloaded(a integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'a=' || a $$;
CREATE FUNCTION test_rpc.overloaded(a integer, b integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'a+b=' || (a + b) $$;

-- Ambiguous overloads: same argument names, different types (300 PGRST203).
CREATE FUNCTION test_rpc.ambiguous(x integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'int' $$;
CREATE FUNCTION test_rpc.ambiguous(x text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'text' $$;

-- Defaults.
CREATE FUNCTION test_rpc.with_default(a integer, b integer DEFAULT 100) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$;

-- Variadic (repeated query keys) and an array parameter.
CREATE FUNCTION test_rpc.variadic_param(VARIADIC v text[] DEFAULT '{}') RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT v $$;
CREATE FUNCTION test_rpc.sum_array(arr integer[]) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(sum(x), 0)::integer FROM unnest(arr) x $$;

-- A single unnamed json / jsonb parameter receives the whole body.
CREATE FUNCTION test_rpc.single_json_param(json) RETURNS json
LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;
CREATE FUNCTION test_rpc.single_jsonb_param(jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;

-- Errors.
CREATE FUNCTION test_rpc.raise_exception() RETURNS void
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'plain error' USING DETAIL = 'some detail', HINT = 'some hint'; END $$;
CREATE FUNCTION test_rpc.assert_false() RETURNS void
LANGUAGE plpgsql AS $$ BEGIN ASSERT false, 'assertion failed here'; END $$;
CREATE FUNCTION test_rpc.raise_pt402() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN RAISE SQLSTATE 'PT402' USING MESSAGE = 'Payment Required', DETAIL = 'Quota exceeded', HINT = 'Upgrade'; END $$;
CREATE FUNCTION test_rpc.raise_pgrst() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  RAISE SQLSTATE 'PGRST' USING
    MESSAGE = '{"code":"123","message":"Custom message","details":"Custom details","hint":"Custom hint"}',
    DETAIL = '{"status":332,"status_text":"My status","headers":{"X-Header":"my value"}}';
END $$;
CREATE FUNCTION test_rpc.divide(a integer, b integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT a / b $$;

-- response.status / response.headers set by the function.
CREATE FUNCTION test_rpc.teapot() RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('response.status', '418', true);
  PERFORM set_config('response.headers', '[{"X-Teapot": "short and stout"}, {"Cache-Control": "no-store"}]', true);
  RETURN 'I am a teapot';
END $$;
CREATE FUNCTION test_rpc.bad_status() RETURNS text
LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('response.status', 'not a number', true); RETURN 'x'; END $$;
CREATE FUNCTION test_rpc.bad_headers() RETURNS text
LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('response.headers', '{"not": "an array"}', true); RETURN 'x'; END $$;

-- A function that writes (GET -> 405 through the read-only transaction; duplicate -> 409).
CREATE FUNCTION test_rpc.add_item(name text) RETURNS integer
LANGUAGE sql VOLATILE AS $$ INSERT INTO test_rpc.items (name) VALUES (add_item.name) RETURNING id $$;

-- The request context the gateway sets transaction-locally.
CREATE FUNCTION test_rpc.request_context() RETURNS json
LANGUAGE sql STABLE AS $$
  SELECT json_build_object(
    'role', current_user,
    'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'custom_header', current_setting('request.headers', true)::json ->> 'x-custom',
    'cookie', current_setting('request.cookies', true)::json ->> 'flavour',
    'read_only', current_setting('transaction_read_only'))
$$;

-- Slow call (pool timeout and graceful-shutdown tests).
CREATE FUNCTION test_rpc.sleep_for(seconds double precision) RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT pg_sleep(seconds)::text || 'slept' $$;

-- Only a privileged role may run it: the anonymous caller gets 42501 -> 401.
CREATE FUNCTION test_rpc.privileged() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT 'secret' $$;

COMMENT ON FUNCTION test_rpc.add_them(integer, integer) IS 'Adds two integers.';

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA test_rpc FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test_rpc TO web_anon;
REVOKE EXECUTE ON FUNCTION test_rpc.privileged() FROM web_anon;

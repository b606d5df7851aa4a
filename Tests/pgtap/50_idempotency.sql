-- The gateway's Idempotency-Key store (migration 0016, sql/gateway.sql). The gateway calls the claim after
-- its context statement (role switched with set_config('role', ...), claims in request.jwt.claims) and the
-- store inside the call's statement; pg_temp.attempt stands in for that transaction. Concurrency (the 409 of
-- a twin holding the key's lock) needs two sessions: GatewayIdempotencyTests covers it over HTTP.
BEGIN;
SELECT plan(20);

-- Runs p_sql as p_role with p_claims as the gateway would; 'ok', or the SQLSTATE, the error's code (for
-- RAISE SQLSTATE 'PGRST', from its JSON message) and its DETAIL.
CREATE FUNCTION pg_temp.attempt(p_role text, p_claims text, p_sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_result text := 'ok';
    v_state text;
    v_message text;
    v_detail text;
BEGIN
    PERFORM set_config('request.jwt.claims', p_claims, true);
    EXECUTE format('SET LOCAL ROLE %I', p_role);
    BEGIN
        EXECUTE p_sql;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
        v_result := v_state || ' ' || CASE WHEN v_state = 'PGRST' THEN v_message::json ->> 'code' || ' ' ELSE '' END
                    || coalesce(v_detail, '');
    END;
    RESET ROLE;
    PERFORM set_config('request.jwt.claims', '', true);
    RETURN v_result;
END
$$;

SELECT has_table('gateway', 'idempotency_keys', 'the store is a table of the gateway''s private schema');
SELECT is(pg_get_function_identity_arguments('gateway.claim_idempotency_key'::regproc), 'p_key text, p_request_hash text',
    'the claim takes no caller: it reads the role and sub the transaction carries');
SELECT is(pg_get_function_identity_arguments('gateway.store_idempotent_result'::regproc),
    'p_key text, p_request_hash text, p_ttl_seconds integer, p_body text, p_status text, p_headers text, p_count text, p_total text',
    'the store takes no caller either');
SELECT ok(NOT has_table_privilege('web_anon', 'gateway.idempotency_keys', 'SELECT')
          AND NOT has_table_privilege('app_user', 'gateway.idempotency_keys', 'SELECT, INSERT, UPDATE, DELETE'),
    'no caller role reads or writes the stored answers directly');

-- First request: nothing stored, the call runs and stores its row.
SELECT is(pg_temp.attempt('web_anon', '{"role":"web_anon"}', $$SELECT gateway.claim_idempotency_key('pgtap-k1', 'h1')$$), 'ok',
    'a new key: the claim lets the call run');
SELECT is(pg_temp.attempt('web_anon', '{"role":"web_anon"}',
    $$SELECT gateway.store_idempotent_result('pgtap-k1', 'h1', 60, '{"a":1}', '201', NULL, '1', NULL)$$), 'ok',
    'the call stores its result row');
SELECT results_eq($$SELECT role_name, subject, gateway._open_answer('pgtap-k1', result), expires_at - created_at
                     FROM gateway.idempotency_keys WHERE key_hash = gateway.key_hash('pgtap-k1')$$,
    $$VALUES ('web_anon'::text, ''::text, '["{\"a\":1}","201",null,"1",null]'::text, interval '60 seconds')$$,
    'stored for the role the transaction switched to (not the functions'' owner), no sub, kept for the TTL');
SELECT ok((SELECT position(convert_to('{"a":1}', 'UTF8') IN result) = 0 AND position(convert_to('pgtap-k1', 'UTF8') IN key_hash) = 0
           FROM gateway.idempotency_keys WHERE key_hash = gateway.key_hash('pgtap-k1')),
    'neither the answer nor the key is kept in clear: the key''s SHA-256, the answer encrypted');
SELECT throws_ok($$SELECT gateway._open_answer('pgtap-k2', result) FROM gateway.idempotency_keys WHERE key_hash = gateway.key_hash('pgtap-k1')$$,
    '39000', NULL, 'another key does not open the answer');

-- Retries.
SELECT is(pg_temp.attempt('web_anon', '{"role":"web_anon"}', $$SELECT gateway.claim_idempotency_key('pgtap-k1', 'h1')$$),
    'PGRPL ["{\"a\":1}","201",null,"1",null]',
    'the same caller, key and request: a replay (PGRPL) carrying the stored row; the call does not run');
SELECT is(pg_temp.attempt('web_anon', '{"role":"web_anon"}', $$SELECT gateway.claim_idempotency_key('pgtap-k1', 'h2')$$),
    'PGRST IK422 {"status":422,"headers":{}}', 'the same key with another request: 422');
SELECT is(pg_temp.attempt('web_anon', '{"role":"web_anon"}',
    $$SELECT gateway.store_idempotent_result('pgtap-k1', 'h1', 60, 'x', NULL, NULL, '1', NULL)$$),
    'PGRST IK409 {"status":409,"headers":{"Retry-After":"1"}}',
    'a second answer for a stored key (a claim that could not see the first): 409 + Retry-After, not a duplicate');

-- Callers: the role and the token's sub, from the transaction.
SELECT is(pg_temp.attempt('app_user', '{"role":"app_user","sub":"u1"}', $$SELECT gateway.claim_idempotency_key('pgtap-k1', 'h2')$$), 'ok',
    'another role with the same key is another caller');
SELECT is(pg_temp.attempt('app_user', '{"role":"app_user","sub":"u1"}',
    $$SELECT gateway.store_idempotent_result('pgtap-k1', 'h2', 60, '"u1"', NULL, NULL, '1', NULL)$$), 'ok',
    'user u1 stores its own answer under the same key');
SELECT is(pg_temp.attempt('app_user', '{"role":"app_user","sub":"u2"}', $$SELECT gateway.claim_idempotency_key('pgtap-k1', 'h2')$$), 'ok',
    'user u2 with the same key and request does not get u1''s answer');
SELECT is(pg_temp.attempt('app_user', '{"role":"app_user","sub":"u1"}', $$SELECT gateway.claim_idempotency_key('pgtap-k1', 'h2')$$),
    'PGRPL ["\"u1\"",null,null,"1",null]', 'user u1 gets its own');

-- Expiry: an expired answer is absent (the claim removes it, the call stores a new one); the expiry job
-- deletes expired rows and no fresh one.
INSERT INTO gateway.idempotency_keys (role_name, subject, key_hash, request_hash, result, created_at, expires_at)
SELECT 'web_anon', '', gateway.key_hash(k), 'h-old', gateway._seal_answer(k, '[null,null,null,"1",null]'),
       now() - interval '2 days', now() - interval '1 day'
FROM unnest(ARRAY['pgtap-old', 'pgtap-old2', 'pgtap-old3']) k;
SELECT is(pg_temp.attempt('web_anon', '{"role":"web_anon"}', $$SELECT gateway.claim_idempotency_key('pgtap-old', 'h-new')$$), 'ok',
    'an expired key is new again, whatever its request was');
SELECT is((SELECT count(*) FROM gateway.idempotency_keys WHERE key_hash = gateway.key_hash('pgtap-old')), 0::bigint,
    'the claim removed the expired answer (the call stores the new one)');
SELECT cmp_ok(gateway.delete_expired_idempotency_keys(500), '>=', 2, 'the expiry deletes expired answers');
SELECT results_eq($$SELECT k FROM gateway.idempotency_keys, unnest(ARRAY['pgtap-k1', 'pgtap-old2', 'pgtap-old3']) k
                     WHERE key_hash = gateway.key_hash(k) ORDER BY k$$,
    $$VALUES ('pgtap-k1'::text), ('pgtap-k1'::text)$$, 'and leaves the answers still in force');

SELECT * FROM finish();
ROLLBACK;

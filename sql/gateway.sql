-- The gateway's Idempotency-Key store (migration 0016, docs/idempotency.md). For a POST with the header
-- to a function that writes, the gateway runs, in the request's one transaction and pipeline:
--   1. gateway.claim_idempotency_key(key, hash), after the context statement set the caller's role and
--      claims: refuses a key whose first request still runs (409 + Retry-After), a key used for another
--      request (422), or answers with the stored result (SQLSTATE PGRPL, which aborts the transaction
--      before the call: the function does not run again);
--   2. the call, whose one statement also calls gateway.store_idempotent_result with the result row it
--      returns, so the answer is stored if and only if the call commits.
-- The caller (role + the token's sub) is read from the transaction's settings the gateway made, never
-- from an argument. The gateway's listener deletes expired answers (delete_expired_idempotency_keys).
SET LOCAL ROLE platform_owner;

-- What the table keeps of a key: its SHA-256 (the answer is found by it; the key itself is not kept).
CREATE OR REPLACE FUNCTION gateway.key_hash(p_key text)
RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = ''
AS $$ SELECT pg_catalog.sha256(pg_catalog.convert_to(p_key, 'UTF8')) $$;
REVOKE ALL ON FUNCTION gateway.key_hash(text) FROM PUBLIC;
COMMENT ON FUNCTION gateway.key_hash(text) IS 'The SHA-256 of an Idempotency-Key: how the store finds its answer.';

-- An answer's encryption: AES-256-CBC under a key derived from the client's key (another SHA-256 than
-- key_hash's, so the stored hash does not open the answer), a random IV in front. Only a request that
-- carries the key can read the answer back; a key the client chose at random cannot be guessed from
-- its hash.
CREATE OR REPLACE FUNCTION gateway._seal_answer(p_key text, p_answer text)
RETURNS bytea
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = ''
AS $$
DECLARE
    v_iv bytea := gateway.gen_random_bytes(16);
BEGIN
    RETURN v_iv || gateway.encrypt_iv(pg_catalog.convert_to(p_answer, 'UTF8'),
                                      pg_catalog.sha256(pg_catalog.convert_to('answer of ' || p_key, 'UTF8')),
                                      v_iv, 'aes-cbc/pad:pkcs');
END
$$;
REVOKE ALL ON FUNCTION gateway._seal_answer(text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION gateway._open_answer(p_key text, p_sealed bytea)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = ''
AS $$
    SELECT pg_catalog.convert_from(
        gateway.decrypt_iv(pg_catalog.substr(p_sealed, 17),
                           pg_catalog.sha256(pg_catalog.convert_to('answer of ' || p_key, 'UTF8')),
                           pg_catalog.substr(p_sealed, 1, 16), 'aes-cbc/pad:pkcs'), 'UTF8')
$$;
REVOKE ALL ON FUNCTION gateway._open_answer(text, bytea) FROM PUBLIC;
COMMENT ON FUNCTION gateway._open_answer(text, bytea) IS
    'Decrypts an answer stored for an Idempotency-Key (see _seal_answer): the key is needed.';

-- The 409 of a key whose first request has not finished (or committed the key meanwhile): retry later.
CREATE OR REPLACE FUNCTION gateway._raise_key_in_use(p_key text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
BEGIN
    RAISE SQLSTATE 'PGRST' USING
        MESSAGE = pg_catalog.json_build_object(
            'code', 'IK409',
            'message', 'A request with this Idempotency-Key is still being processed',
            'details', pg_catalog.format('Idempotency-Key %s: its first request has not finished.', p_key),
            'hint', 'Send the same request again after Retry-After seconds: you get its answer once it is done.')::text,
        DETAIL = '{"status":409,"headers":{"Retry-After":"1"}}';
END
$$;
COMMENT ON FUNCTION gateway._raise_key_in_use(text) IS
    'Raises the 409 + Retry-After of an Idempotency-Key whose first request is still running.';

-- Step 1 (see above). Takes a transaction-scoped advisory lock on the caller and key, held until the
-- call commits or rolls back, so a concurrent twin is refused at once instead of waiting; then looks the
-- key up in a fresh snapshot (each statement of a VOLATILE function takes one in READ COMMITTED), so an
-- answer committed just before the lock was free is seen.
CREATE OR REPLACE FUNCTION gateway.claim_idempotency_key(p_key text, p_request_hash text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_role text := pg_catalog.current_setting('role');
    v_subject text := coalesce(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sub', '');
    v_stored gateway.idempotency_keys;
BEGIN
    IF NOT pg_catalog.pg_try_advisory_xact_lock(
            pg_catalog.hashtextextended(pg_catalog.json_build_array(v_role, v_subject, p_key)::text, 0)) THEN
        PERFORM gateway._raise_key_in_use(p_key);
    END IF;
    SELECT * INTO v_stored FROM gateway.idempotency_keys
    WHERE role_name = v_role AND subject = v_subject AND key_hash = gateway.key_hash(p_key);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_stored.expires_at <= pg_catalog.now() THEN
        -- Expired: as if absent; the call's store writes the key again.
        DELETE FROM gateway.idempotency_keys
        WHERE role_name = v_role AND subject = v_subject AND key_hash = gateway.key_hash(p_key);
        RETURN;
    END IF;
    IF v_stored.request_hash <> p_request_hash THEN
        RAISE SQLSTATE 'PGRST' USING
            MESSAGE = pg_catalog.json_build_object(
                'code', 'IK422',
                'message', 'This Idempotency-Key was used for another request',
                'details', pg_catalog.format('Idempotency-Key %s was first sent with another method, path, body or headers at %s.',
                                             p_key, v_stored.created_at),
                'hint', 'Use a new key for a new request; a retry must repeat the first request exactly.')::text,
            DETAIL = '{"status":422,"headers":{}}';
    END IF;
    -- The first answer: the gateway renders it again (Idempotent-Replayed: true); the call does not run.
    RAISE SQLSTATE 'PGRPL' USING
        MESSAGE = 'replay of the answer stored for this Idempotency-Key',
        DETAIL = gateway._open_answer(p_key, v_stored.result);
END
$$;
REVOKE ALL ON FUNCTION gateway.claim_idempotency_key(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gateway.claim_idempotency_key(text, text) TO web_anon, app_user, worker, operator;
COMMENT ON FUNCTION gateway.claim_idempotency_key(text, text) IS
    'Idempotency-Key, before the call: 409 while the key''s first request runs, 422 for another request, PGRPL (replay) when answered.';

-- Step 2 (see above): called by the call's own statement with the row it returns. A second answer for
-- the same caller and key (possible only when the claim could not see the first one, in a REPEATABLE
-- READ or SERIALIZABLE transaction) is the same 409 as a concurrent twin: the retry gets the first.
CREATE OR REPLACE FUNCTION gateway.store_idempotent_result(p_key text, p_request_hash text, p_ttl_seconds integer,
                                                           p_body text, p_status text, p_headers text,
                                                           p_count text, p_total text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    INSERT INTO gateway.idempotency_keys (role_name, subject, key_hash, request_hash, result, expires_at)
    VALUES (pg_catalog.current_setting('role'),
            coalesce(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::json ->> 'sub', ''),
            gateway.key_hash(p_key), p_request_hash,
            gateway._seal_answer(p_key, pg_catalog.to_json(ARRAY[p_body, p_status, p_headers, p_count, p_total])::text),
            pg_catalog.now() + pg_catalog.make_interval(secs => p_ttl_seconds));
EXCEPTION WHEN unique_violation THEN
    PERFORM gateway._raise_key_in_use(p_key);
END
$$;
REVOKE ALL ON FUNCTION gateway.store_idempotent_result(text, text, integer, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gateway.store_idempotent_result(text, text, integer, text, text, text, text, text)
    TO web_anon, app_user, worker, operator;
COMMENT ON FUNCTION gateway.store_idempotent_result(text, text, integer, text, text, text, text, text) IS
    'Idempotency-Key, inside the call''s statement: stores its result row for the caller and key (409 if already stored).';

-- Expiry: deletes up to p_batch expired answers, oldest first, skipping rows another transaction holds
-- (a claim replacing an expired key, another gateway's expiry): it never waits for a writer. Returns the
-- number deleted; the gateway's listener calls it again while a batch comes back full.
CREATE OR REPLACE FUNCTION gateway.delete_expired_idempotency_keys(p_batch integer DEFAULT 500)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
    WITH expired AS (
        SELECT role_name, subject, key_hash FROM gateway.idempotency_keys
        WHERE expires_at < pg_catalog.now()
        ORDER BY expires_at
        LIMIT p_batch
        FOR UPDATE SKIP LOCKED
    ), deleted AS (
        DELETE FROM gateway.idempotency_keys k USING expired e
        WHERE k.role_name = e.role_name AND k.subject = e.subject AND k.key_hash = e.key_hash
        RETURNING 1
    )
    SELECT count(*)::integer FROM deleted
$$;
REVOKE ALL ON FUNCTION gateway.delete_expired_idempotency_keys(integer) FROM PUBLIC;
-- The gateway's own login runs it on its listener connection, outside any request.
GRANT EXECUTE ON FUNCTION gateway.delete_expired_idempotency_keys(integer) TO authenticator;
COMMENT ON FUNCTION gateway.delete_expired_idempotency_keys(integer) IS
    'Deletes up to p_batch expired Idempotency-Key answers (FOR UPDATE SKIP LOCKED: never waits); returns how many.';

-- The gateway's own state: answers kept for `Idempotency-Key` (docs/idempotency.md). A client that
-- retries a write after a timeout or a lost connection (allocate_vm, create_workspace) must get the
-- first answer again instead of a second VM; the answer is written in the same transaction as the call,
-- so it exists if and only if the call committed, whichever gateway answered and across restarts.
--
-- A schema of its own, never in db-schemas: no client reaches these rows or functions over HTTP. The
-- functions that claim, store and expire keys are in sql/gateway.sql.
SET LOCAL ROLE platform_owner;

CREATE SCHEMA gateway;
COMMENT ON SCHEMA gateway IS 'Private to the gateway (never exposed): answers kept for Idempotency-Key.';
REVOKE ALL ON SCHEMA gateway FROM PUBLIC;
-- Answers are kept encrypted (below): pgcrypto's AES, in this schema, installed by the migration's
-- superuser (an extension is not the owner's to create).
RESET ROLE;
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA gateway;
-- The database's default privileges give new functions to nobody: the owner's functions use these three.
GRANT EXECUTE ON FUNCTION gateway.gen_random_bytes(integer), gateway.encrypt_iv(bytea, bytea, bytea, text),
    gateway.decrypt_iv(bytea, bytea, bytea, text) TO platform_owner;
SET LOCAL ROLE platform_owner;
-- The claim and store run in the caller's transaction, as the caller's role (SECURITY DEFINER, sql/gateway.sql).
GRANT USAGE ON SCHEMA gateway TO web_anon, app_user, worker, operator;
-- The expiry runs on the gateway's own connection (its listener), as the login role.
GRANT USAGE ON SCHEMA gateway TO authenticator;

-- One answer per caller and key. The caller is the role the gateway switched to and the token's `sub`
-- ('' without one): keys of different callers never collide. request_hash covers what the gateway
-- renders the answer from (method, path and query, body, the headers that change it): the same key
-- with another request is refused. result is the call's result row as the gateway reads it (body,
-- response.status, response.headers, page count, total): a replay renders it again.
-- Answers hold secrets (allocate_vm returns a VM's private key, which the services never store): the
-- table keeps only the key's SHA-256 and the answer encrypted with a key derived from the client's key
-- (sql/gateway.sql), so reading the table (a DBA, a backup) does not give the answers back; only a
-- request carrying the key does.
CREATE TABLE gateway.idempotency_keys (
    role_name    text        NOT NULL,
    subject      text        NOT NULL,
    key_hash     bytea       NOT NULL,
    request_hash text        NOT NULL,
    result       bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (role_name, subject, key_hash),
    CONSTRAINT idempotency_keys_key_hash_length CHECK (octet_length(key_hash) = 32),
    -- a 16-byte IV and at least one AES block
    CONSTRAINT idempotency_keys_result_length CHECK (octet_length(result) >= 32)
);
COMMENT ON TABLE gateway.idempotency_keys IS
    'Idempotency-Key answers: written with the call''s transaction, replayed to the same caller and request until expires_at.';
-- The expiry deletes the oldest first, in small batches.
CREATE INDEX idempotency_keys_expires_at_idx ON gateway.idempotency_keys (expires_at);
-- Short-lived rows written at the rate of POSTs: vacuum them as a queue is vacuumed.
ALTER TABLE gateway.idempotency_keys SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);
REVOKE ALL ON gateway.idempotency_keys FROM PUBLIC;


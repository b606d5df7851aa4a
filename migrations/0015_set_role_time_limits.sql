-- Time limits for every role that serves the API (docs/limits.md). Without them a call waiting on a
-- lock, or a runaway statement, holds a pool connection (and its locks) for as long as it lasts, and the
-- client behind nginx has long given up.
--
-- How they apply. PostgreSQL applies a role's settings at login only, and the gateway logs in as
-- `authenticator` and switches role per request (set_config('role', ...)), so the request roles'
-- settings below are applied by the gateway itself: it reads them (pg_db_role_setting) with the schema
-- cache and sets them with set_config(..., true) in each request's transaction, before the role switch
-- (PostgREST's "impersonated role settings"). A function that legitimately needs longer says so with its
-- own SET clause (e.g. api.allocate_vm); the gateway hoists its statement_timeout into the transaction
-- (the timer starts with the statement, so PostgreSQL would not apply it to the call by itself);
-- lock_timeout in a function's SET clause PostgreSQL applies while the function runs.
-- The cache reloads on the NOTIFY every migrate sends; after changing these by hand: NOTIFY pgrst.
--
-- IN DATABASE: roles are shared by every database of the cluster (the test databases share them with
-- the main one), so each database's limits are its own and a migration never changes another's.
-- At login PostgreSQL prefers these over role-wide settings, and so does the gateway.
--
-- The values, and why:
--   statement_timeout 5 s (web_anon, app_user): every call of theirs takes milliseconds; 5 s leaves a
--     wide margin for a loaded machine and still answers before nginx's proxy_read_timeout (15 s) even
--     after the gateway's pool wait; 10 s (worker, operator): batched agent calls (claim_builds,
--     complete_builds, reconcile_host) and operator listings of a whole fleet are the largest calls.
--   lock_timeout 2 s (web_anon, app_user, worker): API calls hold row locks for milliseconds (the
--     longest, a VM's certificate signing, about 2 ms); waiting 2 s means a stuck or manual session
--     holds the row: answer (55P03, 500 as PostgREST does) instead of queueing every caller behind it.
--     5 s (operator): operator calls are rare and may wait behind a burst of allocations on a server row.
--   idle_in_transaction_session_timeout 10 s (all): the gateway never leaves a transaction open between
--     requests, so a session idle inside one is a hung client or gateway still holding locks: end it.
--   authenticator (the login role; PostgreSQL applies these at login): the same limits for whatever the
--     gateway runs as itself (the schema cache load, the LISTEN connection), 10 s / 5 s / 10 s.
-- (Comments edited after this migration ran; its statements are unchanged.)
-- earlier checksum: a648217d16f33bd5e36f0f4eea15d90f1cf0180919b57ae2fa1437c5ed067dc9
DO $$
DECLARE
    v_limit record;
BEGIN
    FOR v_limit IN
        SELECT * FROM (VALUES
            ('web_anon',      '5s',  '2s', '10s'),
            ('app_user',      '5s',  '2s', '10s'),
            ('worker',        '10s', '2s', '10s'),
            ('operator',      '10s', '5s', '10s'),
            ('authenticator', '10s', '5s', '10s')
        ) AS l(role, statement_timeout, lock_timeout, idle_in_transaction_session_timeout)
    LOOP
        EXECUTE format('ALTER ROLE %I IN DATABASE %I SET statement_timeout = %L',
                       v_limit.role, current_database(), v_limit.statement_timeout);
        EXECUTE format('ALTER ROLE %I IN DATABASE %I SET lock_timeout = %L',
                       v_limit.role, current_database(), v_limit.lock_timeout);
        EXECUTE format('ALTER ROLE %I IN DATABASE %I SET idle_in_transaction_session_timeout = %L',
                       v_limit.role, current_database(), v_limit.idle_in_transaction_session_timeout);
    END LOOP;
END
$$;

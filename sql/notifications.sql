-- The e-mail outbox: every final state of a build writes its e-mail to the requester into
-- workspaces.notifications in the same transaction (sql/builds.sql, _finish_build) and NOTIFYs channel
-- `notifications` when no older mail waits (a mailer with mail waiting is awake; a NOTIFY per completion
-- would serialise the commits). The mailer claims the outbox (claim_notifications, leased, at least
-- once), sends, and acknowledges (ack_notifications) or reports a refusal (fail_notification: retried
-- with backoff). Repeatable: re-applied on every migrate.
--
-- Who may call what (nothing is executable by PUBLIC):
--   worker    the mailer: claim_notifications, ack_notifications, fail_notification, only with a token
--             whose `mailer` claim names it (--mailer M), and only for the mail it claimed
SET LOCAL ROLE platform_owner;

-- When a signature changes, DROP FUNCTION IF EXISTS the old one here, above its replacement.

------------------------------------------------------------------------------------------------------
-- worker: the mailer (delivers the outbox)
------------------------------------------------------------------------------------------------------

-- The mailer the caller's token names (its mailer claim), whose mail it may acknowledge or fail; null for
-- operators and claim-less DBA sessions (they may act on any). PT403 for any other token.
CREATE OR REPLACE FUNCTION workspaces._caller_mailer()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_claims json := nullif(current_setting('request.jwt.claims', true), '')::json;
BEGIN
    -- The role the gateway switched to, not the payload's "role" field: the gateway's role claim key is
    -- configurable (jwt-role-claim-key), so a worker's payload may carry a "role": "operator" beside its
    -- real role claim.
    IF v_claims IS NULL OR current_setting('role', true) = 'operator' THEN
        RETURN NULL;
    END IF;
    PERFORM auth.require_agent('mailer', v_claims ->> 'mailer');   -- 403 without a mailer claim
    RETURN v_claims ->> 'mailer';
END
$$;
REVOKE ALL ON FUNCTION workspaces._caller_mailer() FROM PUBLIC;
COMMENT ON FUNCTION workspaces._caller_mailer() IS
    'Private: the mailer named by the token''s mailer claim; null for operators and DBA sessions; PT403 (403) for other tokens.';

-- Claims up to max_notifications unsent e-mails for `mailer` (recorded on them), oldest first: each
-- gets a 60 s lease and its attempt counted; mail leased to another mailer, or tried 10 times, is
-- skipped. The mailer sends them, then acknowledges with ack_notifications. Returns [{id, recipient, kind, subject, body, payload,
-- created_at, attempts}], [] when nothing waits (then wait for NOTIFY notifications, or poll).
CREATE OR REPLACE FUNCTION api.claim_notifications(mailer text, max_notifications integer DEFAULT 50)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_mail json;
BEGIN
    PERFORM auth.check_text(mailer, 'mailer', 200);
    -- Mail is personal: only a mailer's token (its mailer claim) reads it.
    PERFORM auth.require_agent('mailer', claim_notifications.mailer);
    IF claim_notifications.max_notifications IS NULL OR claim_notifications.max_notifications NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('max_notifications must be between 1 and 1000, got %s',
                             coalesce(claim_notifications.max_notifications::text, 'null'));
    END IF;
    WITH next AS MATERIALIZED (
        SELECT n.id FROM workspaces.notifications n
        WHERE n.sent_at IS NULL AND n.attempts < 10 AND (n.lease_expires_at IS NULL OR n.lease_expires_at < now())
        ORDER BY n.id
        LIMIT claim_notifications.max_notifications
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE workspaces.notifications n
        SET attempts = n.attempts + 1, lease_expires_at = now() + interval '60 seconds',
            mailer = left(claim_notifications.mailer, 200)
        FROM next WHERE n.id = next.id
        RETURNING n.*
    )
    SELECT coalesce(json_agg(json_build_object(
               'id', c.id, 'recipient', c.recipient, 'kind', c.kind, 'subject', c.subject, 'body', c.body,
               'payload', c.payload, 'created_at', c.created_at, 'attempts', c.attempts) ORDER BY c.id), '[]')
    INTO v_mail FROM claimed c;
    RETURN v_mail;
END
$$;
REVOKE ALL ON FUNCTION api.claim_notifications(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.claim_notifications(text, integer) TO worker;
COMMENT ON FUNCTION api.claim_notifications(text, integer) IS
    'Mailer: claims up to max_notifications (1..1000, default 50) unsent e-mails, oldest first, each leased 60 s; [] when none. 400 bad max_notifications; 403 the token is not this mailer''s.';

-- Marks e-mails as sent: {acknowledged: how many were unsent until now}. Ids already sent or unknown
-- are ignored (a retried acknowledgement is harmless).
CREATE OR REPLACE FUNCTION api.ack_notifications(ids bigint[])
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_mailer text := workspaces._caller_mailer();
    v_count  integer;
BEGIN
    PERFORM auth.check_array(ids, 'ids', 1000);
    IF ack_notifications.ids IS NULL OR cardinality(ack_notifications.ids) NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ids must be an array of 1 to 1000 notification ids';
    END IF;
    UPDATE workspaces.notifications n SET sent_at = now(), lease_expires_at = NULL, last_error = NULL
    WHERE n.id = ANY (ack_notifications.ids) AND n.sent_at IS NULL
      AND (v_mailer IS NULL OR n.mailer = v_mailer);     -- only mail this mailer claimed
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN json_build_object('acknowledged', v_count);
END
$$;
REVOKE ALL ON FUNCTION api.ack_notifications(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.ack_notifications(bigint[]) TO worker;
COMMENT ON FUNCTION api.ack_notifications(bigint[]) IS
    'Mailer: marks the e-mails it claimed sent; {acknowledged}. Already sent, unknown or other mailers'' ids are ignored. 400 no ids or more than 1000; 403 not a mailer''s token.';

-- A delivery failed: the e-mail keeps its error and becomes claimable again after a backoff (10 s *
-- 2^(attempts-1) with jitter) instead of at the end of its lease. 404 unknown, 409 already sent.
CREATE OR REPLACE FUNCTION api.fail_notification(id bigint, error text)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_mailer text := workspaces._caller_mailer();
    v_mail   workspaces.notifications;
BEGIN
    PERFORM auth.check_text(error, 'error', 65536);     -- kept: its first 2,000 characters
    SELECT n.* INTO v_mail FROM workspaces.notifications n WHERE n.id = fail_notification.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('notification %s does not exist', coalesce(fail_notification.id::text, 'null'));
    END IF;
    IF v_mail.sent_at IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('notification %s was already sent', v_mail.id);
    END IF;
    IF v_mailer IS NOT NULL AND v_mail.mailer IS DISTINCT FROM v_mailer THEN
        RAISE EXCEPTION USING ERRCODE = 'PT403',
            MESSAGE = format('mailer %s did not claim notification %s', quote_literal(v_mailer), v_mail.id),
            HINT = 'Report failures only of the mail your claim_notifications returned.';
    END IF;
    UPDATE workspaces.notifications n
    SET last_error = left(fail_notification.error, 2000),
        lease_expires_at = now() + workspaces._backoff(n.attempts)
    WHERE n.id = v_mail.id RETURNING * INTO v_mail;
    RETURN json_build_object('id', v_mail.id, 'attempts', v_mail.attempts, 'retry_after', v_mail.lease_expires_at,
                             'gives_up', v_mail.attempts >= 10);
END
$$;
REVOKE ALL ON FUNCTION api.fail_notification(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.fail_notification(bigint, text) TO worker;
COMMENT ON FUNCTION api.fail_notification(bigint, text) IS
    'Mailer: a delivery failed; keeps the error, claimable again after a backoff (none after 10 attempts). 404 unknown; 409 already sent; 403 not claimed by this mailer.';

-- Delivery of the outbox (workspaces.notifications): a mailer claims unsent mail with a lease, sends
-- it, and acknowledges what was sent. At least once: mail whose lease expires unacknowledged (the
-- mailer died or the send failed) is claimed again, up to 10 attempts; after that it stays unsent with
-- its last error for an operator to see. Functions are in sql/workspaces.sql (claim_notifications,
-- ack_notifications, fail_notification).
SET LOCAL ROLE platform_owner;

ALTER TABLE workspaces.notifications
    ADD COLUMN attempts integer NOT NULL DEFAULT 0 CONSTRAINT notifications_attempts_range CHECK (attempts BETWEEN 0 AND 10),
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN last_error text;
COMMENT ON COLUMN workspaces.notifications.attempts IS 'Deliveries tried (claims); mail is not claimed again after 10.';
COMMENT ON COLUMN workspaces.notifications.lease_expires_at IS 'A mailer is sending it until then; claimable again afterwards if still unsent.';
COMMENT ON COLUMN workspaces.notifications.last_error IS 'Why the last delivery failed (fail_notification).';

-- What a mailer claims and what tells it is awake: unsent mail that is still being tried. Dead letters
-- (10 attempts) leave the index, so they never slow the claim or the completion's wake-up check.
DROP INDEX workspaces.notifications_unsent_idx;
CREATE INDEX notifications_unsent_idx ON workspaces.notifications (id) WHERE sent_at IS NULL AND attempts < 10;

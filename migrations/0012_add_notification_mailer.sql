-- Which mailer holds (or last held) an e-mail's delivery lease, as builds.worker does for a build: an
-- operator looking at mail stuck in the outbox sees who was sending it. Set by claim_notifications.
SET LOCAL ROLE platform_owner;

ALTER TABLE workspaces.notifications ADD COLUMN mailer text;
COMMENT ON COLUMN workspaces.notifications.mailer IS 'The mailer that claimed it last (claim_notifications), whose lease lease_expires_at is.';

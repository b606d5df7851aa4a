-- Three table comments of 0006 described their tables by the product notes they came from, which are
-- not part of this repository. They now say what the tables are in the platform's own words
-- (docs/requirements.md states the requirements). Comments only: no data or structure changes.
SET LOCAL ROLE platform_owner;

COMMENT ON TABLE workspaces.workspaces IS
    'People''s workspaces: a container of an image on a host. A deleted workspace''s row goes once its container is removed. A row holds disk_gb of its host until it is deleted, FAILED ones too (their container may still be there until reconcile_host has it removed).';
COMMENT ON TABLE workspaces.builds IS
    'The image build queue (schedule_image_build, claim_build, complete_build). A worker claims a build with a lease (token, expiry); only that token may heartbeat or complete it.';
COMMENT ON TABLE workspaces.notifications IS
    'Outbox: e-mails to send (each finished build e-mails its requester). Written in the transaction of the event; a mailer sends them and sets sent_at.';

-- Row level security on every user-owned table (checked by Tests/pgtap/90_security.sql). vms.vms and
-- workspaces.workspaces have had it since 0004/0006; the two other tables that hold a user's rows did
-- not: workspaces.builds (requested_by, the sub who scheduled the build) and workspaces.notifications
-- (recipient, the sub to e-mail). No API role may read or write them today (no table grant: callers go
-- through the SECURITY DEFINER functions in api), so this changes no behaviour; it makes a future
-- `GRANT SELECT ... TO app_user` safe: the policies below show a user only its own rows, and without a
-- grant and a policy any other role sees nothing.
--
-- Enabled, not forced: the owner's SECURITY DEFINER functions (claim_build, requeue_expired_builds,
-- the mailer's reads) must see every user's rows, as in 0004/0006; they filter on the caller's sub
-- explicitly where a user is involved. platform_owner is NOLOGIN, so nobody logs in as the owner.
-- Tests/pgtap/90_security.sql checks that every table with a user column has row level security.
-- (Comments edited after this migration ran; its statements are unchanged.)
-- earlier checksum: 38e145d70663855032929d46b117f460777b39d3b6a2bb31d8f1a3980aaa6a0f
SET LOCAL ROLE platform_owner;

ALTER TABLE workspaces.builds ENABLE ROW LEVEL SECURITY;
CREATE POLICY builds_requested_by_select ON workspaces.builds FOR SELECT TO app_user
    USING (requested_by = nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub');
COMMENT ON POLICY builds_requested_by_select ON workspaces.builds IS
    'app_user reads only the builds it scheduled (requested_by is the token''s sub), once granted SELECT.';

ALTER TABLE workspaces.notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_recipient_select ON workspaces.notifications FOR SELECT TO app_user
    USING (recipient = nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub');
COMMENT ON POLICY notifications_recipient_select ON workspaces.notifications IS
    'app_user reads only the notifications addressed to it (recipient is the token''s sub), once granted SELECT.';

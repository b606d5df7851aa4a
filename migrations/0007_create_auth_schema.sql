-- A schema for what every domain needs to know about the caller (the token's user), so vms and
-- workspaces share one helper (sql/00_auth.sql) instead of each keeping a copy.
SET LOCAL ROLE platform_owner;

CREATE SCHEMA auth;
COMMENT ON SCHEMA auth IS 'Private: who the caller is, from the request''s JWT claims. Used by the domains'' functions.';
REVOKE ALL ON SCHEMA auth FROM PUBLIC;
-- SECURITY INVOKER readers (list_my_vms, list_workspaces) call auth.current_user_id() as app_user.
GRANT USAGE ON SCHEMA auth TO app_user;

-- One user's workspace list (about 10 workspaces among a million rows), as app_user with the token's sub.
\set user random(1, :users)
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"app_user","sub":"u' || :user || '"}', true);
SET LOCAL ROLE app_user;
SELECT count(*) FROM api.list_workspaces();
COMMIT;

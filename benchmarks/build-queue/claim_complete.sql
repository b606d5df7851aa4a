-- One job: claim the next build, then complete it with the lease token (two transactions, as a worker
-- does them: the build runs in between). \gset keeps the claim's answer for the completion.
SELECT c ->> 'build_id' AS build_id, c ->> 'lease_token' AS lease_token FROM api.claim_build('pgbench') c \gset
SELECT api.complete_build(:build_id::bigint, :lease_token::uuid, 'SUCCEEDED', 'ok');

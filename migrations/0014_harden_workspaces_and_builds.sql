-- Workspaces and image builds: the schema changes their fixes need (functions: sql/workspaces.sql, sql/builds.sql).
-- (Comments edited after this migration ran; its statements are unchanged.)
-- earlier checksum: d6b950e49a38a7592196ae341e11a7846e71ba717dd8670462721bee830a8944
SET LOCAL ROLE platform_owner;

-- Host-task reports are fenced, as build completions are by builds.lease_token. Each claim of a
-- workspace's task gets a fresh token; a report must carry the current one. delete_workspace clears it,
-- so the late report of a provision that was claimed before the deletion is refused (409) instead of
-- deleting the row and returning the disk while the container it created runs on. A re-claim after 5
-- minutes (the agent looked dead) also makes the first agent's token stale.
ALTER TABLE workspaces.workspaces ADD COLUMN task_token uuid;
COMMENT ON COLUMN workspaces.workspaces.task_token IS
    'The token of the current claim of its task (claim_host_task); only a report carrying it is accepted. null: unclaimed.';
-- Tasks claimed before this migration have no token, so their agent's report (without one, or with
-- none to match) would be refused and the task would stay with that agent until its 5-minute claim
-- lapsed. Release those claims: claim_host_task hands the tasks out again at once, each with a token.
-- Their agents (old binaries, no token in their reports) must be stopped for the upgrade and started
-- with the new version: a task it was working on is claimed again by the new agent, and every task
-- is idempotent (create or remove a named container; CLEANING removes a stale one first).
UPDATE workspaces.workspaces SET task_claimed_at = NULL
WHERE task_claimed_at IS NOT NULL AND task_token IS NULL AND state IN ('PROVISIONING', 'CLEANING', 'DELETING');

-- An idempotency key is the requester's, not global. With one global key another user's
-- repeat of a key got a 409 naming the first user's build, and anybody could squat keys others would
-- use. The key is unique per (requested_by, idempotency_key); the index also serves the lookup of the
-- first build of a repeated request.
ALTER TABLE workspaces.builds DROP CONSTRAINT builds_idempotency_key_key;
ALTER TABLE workspaces.builds
    ADD CONSTRAINT builds_requested_by_idempotency_key_key UNIQUE (requested_by, idempotency_key);

-- The claim walks only due builds. builds_claim_idx ordered (priority DESC, run_at, id) over
-- every SCHEDULED build made each claim step over all future builds of a higher priority before
-- reaching a due one (many far-future builds: every claim reads them all). A SCHEDULED build is now
-- `due` once its run_at has passed: scheduling for now sets it at once; a build scheduled for later
-- (or requeued with a backoff) waits in builds_not_due_idx until a claim promotes it (the claim first
-- flips the not-due builds whose run_at passed, an index range scan that reads only those). The claim
-- index holds due builds alone. Existing rows: due unless scheduled for later.
ALTER TABLE workspaces.builds ADD COLUMN due boolean NOT NULL DEFAULT true;
COMMENT ON COLUMN workspaces.builds.due IS
    'SCHEDULED builds: run_at has passed and the build is in the claim index (set by scheduling for now, or by a claim promoting it once run_at passed). false: waits for run_at.';
UPDATE workspaces.builds SET due = false WHERE status = 'SCHEDULED' AND run_at > now();
DROP INDEX workspaces.builds_claim_idx;
CREATE INDEX builds_claim_idx ON workspaces.builds (priority DESC, run_at, id) WHERE status = 'SCHEDULED' AND due;
-- the claim's promotion step: future builds by run_at
CREATE INDEX builds_not_due_idx ON workspaces.builds (run_at) WHERE status = 'SCHEDULED' AND NOT due;
